"""Who may change the app: readers ask, admins also reindex, upload, delete uploads and choose the LLM server.
Admin sign-in is Streamlit's OIDC login or a salted scrypt password hash, with a lockout after failed tries.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from qa.errors import ConfigError
from qa.settings import Settings

logger = logging.getLogger(__name__)

Role = Literal["reader", "admin"]
AccessMode = Literal["oidc", "password", "single-user", "admin-off"]

# scrypt at n=2**14, r=8 costs 16 MiB and tens of milliseconds: cheap for one sign-in, dear for a guesser.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
HASH_PREFIX = "scrypt"
MIN_PASSWORD_CHARS = 8


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """`scrypt:<n>:<r>:<p>:<salt>:<hash>` (URL-safe base64, no `$`, so it survives shells and `.env` files)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the admin password must have at least {MIN_PASSWORD_CHARS} characters; choose a longer one")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return ":".join([HASH_PREFIX, str(n), str(r), str(p), _b64(salt), _b64(digest)])


def check_password_hash(stored: str) -> None:
    """Raises `ConfigError` naming QA_ADMIN_PASSWORD_HASH when `stored` is not a hash `qa hash-password` made."""
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the `hash_password` result `stored`; compared in constant time."""
    n, r, p, salt, expected = _parse(stored)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected))
    return hmac.compare_digest(digest, expected)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.strip().split(":")
    try:
        if len(parts) != 6 or parts[0] != HASH_PREFIX:
            raise ValueError
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
        if n < 2 or n & (n - 1) or not (salt and digest):
            raise ValueError
    except ValueError:
        raise ConfigError("QA_ADMIN_PASSWORD_HASH is not a password hash made by `qa hash-password` "
                          "(scrypt:<n>:<r>:<p>:<salt>:<hash>); run `qa hash-password` and paste its output") from None
    return n, r, p, salt, digest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError(text) from None


@dataclass(frozen=True)
class SignInResult:
    ok: bool
    message: str


class PasswordGate:
    """Checks admin passwords for every session of the process; after `failures` wrong ones in a row, password
    sign-in is locked for `lockout_s` seconds for everyone, even with the right password. The lock is not per
    client: a client address can be spoofed (Streamlit says so of `st.context.ip_address`), so a guesser could
    otherwise rotate addresses; `client` is only logged."""

    def __init__(self, password_hash: str, failures: int = 5, lockout_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic):
        check_password_hash(password_hash)
        self._hash = password_hash
        self.failures = failures
        self.lockout_s = lockout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._wrong = 0
        self._locked_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordGate:
        if not settings.admin_password_hash:
            raise ConfigError("QA_ADMIN_PASSWORD_HASH is not set; run `qa hash-password` to make one")
        return cls(settings.admin_password_hash, settings.admin_lockout_failures, settings.admin_lockout_s)

    def locked_for(self) -> float:
        """Seconds until a password may be tried again (0 when not locked)."""
        with self._lock:
            return max(0.0, self._locked_until - self._clock())

    def sign_in(self, password: str, client: str = "") -> SignInResult:
        wait = self.locked_for()
        if wait > 0:
            logger.warning("admin sign-in refused for %s: locked for %.0f s", client or "a client", wait)
            return SignInResult(False, f"Too many wrong passwords: admin sign-in is locked for {_minutes(wait)}. "
                                       "Try again later, or restart the app to lift the lock.")
        ok = verify_password(password, self._hash)
        with self._lock:
            if ok:
                self._wrong = 0
                return SignInResult(True, "Signed in as admin.")
            self._wrong += 1
            wrong = self._wrong
            if wrong >= self.failures:
                self._wrong = 0
                self._locked_until = self._clock() + self.lockout_s
                logger.warning("admin sign-in locked for %s after %d wrong passwords", client or "a client", wrong)
                return SignInResult(False, f"Wrong password {wrong} times: admin sign-in is locked for "
                                           f"{_minutes(self.lockout_s)} (QA_ADMIN_LOCKOUT_S).")
        left = self.failures - wrong
        return SignInResult(False, f"Wrong password; {left} more wrong {'try' if left == 1 else 'tries'} "
                                   "lock admin sign-in.")


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def is_loopback(address: str | None) -> bool:
    """Whether a Streamlit `server.address` only accepts connections from this machine. Unset or empty means
    every interface (Streamlit's default), so it is not loopback."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public interface


@dataclass(frozen=True)
class AccessPolicy:
    """How admins are recognised in this app instance, and what the sidebar says about it."""

    mode: AccessMode
    explanation: str

    @property
    def everyone_is_admin(self) -> bool:
        return self.mode == "single-user"

    @property
    def admin_possible(self) -> bool:
        return self.mode != "admin-off"


def access_policy(settings: Settings, *, oidc_configured: bool, server_address: str | None) -> AccessPolicy:
    """OIDC wins over a password; with neither, the app is single-user on loopback and read-only elsewhere."""
    if oidc_configured:
        return AccessPolicy("oidc", "Admins sign in with the identity provider configured in "
                                    ".streamlit/secrets.toml.")
    if settings.admin_password_hash:
        check_password_hash(settings.admin_password_hash)
        return AccessPolicy("password", "Admins sign in with the admin password (QA_ADMIN_PASSWORD_HASH).")
    if is_loopback(server_address):
        return AccessPolicy("single-user", "Single-user mode: no admin sign-in is configured and the app only "
                                           "listens on this machine, so you can change everything.")
    where = server_address or "every network interface"
    return AccessPolicy("admin-off", f"Admin actions are off: the app listens on {where} and no admin sign-in "
                                     "is configured. To turn them on, set QA_ADMIN_PASSWORD_HASH to the output "
                                     "of `qa hash-password` (or configure `st.login` in .streamlit/secrets.toml) "
                                     "and restart, or serve on 127.0.0.1 only.")


def oidc_role(settings: Settings, email: str | None) -> Role:
    """A user signed in through OIDC is an admin if QA_ADMIN_EMAILS is empty or lists their address."""
    if not settings.admin_emails:
        return "admin"
    wanted = {e.strip().lower() for e in settings.admin_emails}
    return "admin" if email and email.strip().lower() in wanted else "reader"
