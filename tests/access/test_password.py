"""Admin passwords: salted scrypt hashes made by `qa hash-password`, checked in constant time, locked after
repeated failures; and which access mode an app instance is in."""
from __future__ import annotations

import subprocess
import sys

import pytest

from qa.access import PasswordGate, access_policy, hash_password, is_loopback, oidc_role, verify_password
from qa.errors import ConfigError
from qa.settings import Settings
from tests.seed import REPO_ROOT

PASSWORD = "correct horse battery"
# Cheap parameters keep the tests fast; the format and the check are the same as with the defaults.
CHEAP = {"n": 2**4, "r": 1, "p": 1}


class Clock:
    """A hand-moved clock for the lockout: no test sleeps."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hash_verifies_its_password_and_no_other():
    stored = hash_password(PASSWORD, **CHEAP)

    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password("", stored)


def test_two_hashes_of_one_password_differ_by_their_salt_and_hold_no_password():
    first, second = hash_password(PASSWORD, **CHEAP), hash_password(PASSWORD, **CHEAP)

    assert first != second
    assert PASSWORD not in first and first.startswith("scrypt:16:1:1:")


def test_default_hash_uses_scrypt_with_a_memory_hard_cost():
    assert hash_password(PASSWORD).startswith("scrypt:16384:8:1:")


@pytest.mark.parametrize("stored", ["", "secret", "scrypt:16:1:1:abc", "pbkdf2:1:1:1:YWJj:YWJj",
                                    "scrypt:15:1:1:YWJj:YWJj", "scrypt:x:1:1:YWJj:YWJj"])
def test_a_malformed_hash_names_the_setting_and_the_command(stored):
    with pytest.raises(ConfigError, match="QA_ADMIN_PASSWORD_HASH.*qa hash-password"):
        verify_password(PASSWORD, stored)


def test_a_short_password_is_refused():
    with pytest.raises(ConfigError, match="at least 8 characters"):
        hash_password("short")


def test_repeated_wrong_passwords_lock_sign_in_even_for_the_right_one_until_the_lockout_ends():
    clock = Clock()
    gate = PasswordGate(hash_password(PASSWORD, **CHEAP), failures=3, lockout_s=600, clock=clock)

    results = [gate.sign_in("wrong", "10.0.0.7") for _ in range(3)]
    locked = gate.sign_in(PASSWORD, "10.0.0.7")
    clock.now += 601
    after = gate.sign_in(PASSWORD, "10.0.0.7")

    assert [r.ok for r in results] == [False, False, False]
    assert "2 more wrong tries" in results[0].message and "1 more wrong try" in results[1].message
    assert "locked for 10 minutes" in results[2].message
    assert not locked.ok and "locked" in locked.message
    assert after.ok


def test_a_lockout_holds_for_every_client_since_addresses_can_be_spoofed():
    gate = PasswordGate(hash_password(PASSWORD, **CHEAP), failures=2, lockout_s=600, clock=Clock())
    gate.sign_in("wrong", "10.0.0.7")
    gate.sign_in("wrong", "10.0.0.8")

    assert not gate.sign_in(PASSWORD, "10.0.0.9").ok
    assert gate.locked_for() == 600


def test_a_right_password_resets_the_count_of_wrong_ones():
    gate = PasswordGate(hash_password(PASSWORD, **CHEAP), failures=2, lockout_s=600, clock=Clock())

    gate.sign_in("wrong", "c")
    assert gate.sign_in(PASSWORD, "c").ok
    gate.sign_in("wrong", "c")

    assert gate.sign_in(PASSWORD, "c").ok


def test_hash_password_command_reads_stdin_and_prints_a_hash_that_verifies(tmp_path):
    result = subprocess.run([sys.executable, "-m", "qa", "hash-password"], input=PASSWORD + "\n", text=True,
                            capture_output=True, cwd=tmp_path, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"})

    assert result.returncode == 0, result.stderr
    assert verify_password(PASSWORD, result.stdout.strip())
    assert "QA_ADMIN_PASSWORD_HASH" in result.stderr


@pytest.mark.parametrize("address,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                              ("127.0.0.2", True), ("0.0.0.0", False), ("", False),
                                              (None, False), ("10.1.2.3", False), ("qa.example.com", False)])
def test_only_loopback_addresses_count_as_this_machine_only(address, loopback):
    assert is_loopback(address) is loopback


def test_no_sign_in_on_loopback_is_single_user_mode():
    policy = access_policy(Settings(), oidc_configured=False, server_address="127.0.0.1")

    assert policy.mode == "single-user" and policy.everyone_is_admin
    assert "Single-user mode" in policy.explanation


def test_no_sign_in_on_a_public_address_turns_admin_actions_off_and_says_how_to_turn_them_on():
    policy = access_policy(Settings(), oidc_configured=False, server_address="0.0.0.0")

    assert policy.mode == "admin-off" and not policy.admin_possible
    assert "QA_ADMIN_PASSWORD_HASH" in policy.explanation and "qa hash-password" in policy.explanation


def test_a_password_hash_or_oidc_configuration_means_admins_sign_in():
    with_hash = Settings(admin_password_hash=hash_password(PASSWORD, **CHEAP))

    assert access_policy(with_hash, oidc_configured=False, server_address="0.0.0.0").mode == "password"
    assert access_policy(with_hash, oidc_configured=True, server_address="0.0.0.0").mode == "oidc"


def test_a_broken_password_hash_is_named_at_start_not_ignored():
    with pytest.raises(ConfigError, match="QA_ADMIN_PASSWORD_HASH"):
        access_policy(Settings(admin_password_hash="hunter2"), oidc_configured=False, server_address="0.0.0.0")


def test_oidc_users_are_admins_only_when_listed_if_a_list_is_set():
    listed = Settings(admin_emails=["Ops@Example.com"])

    assert oidc_role(listed, "ops@example.com") == "admin"
    assert oidc_role(listed, "someone@example.com") == "reader"
    assert oidc_role(listed, None) == "reader"
    assert oidc_role(Settings(), "someone@example.com") == "admin"
