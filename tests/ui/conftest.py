"""Fixtures of the UI tests: the app's settings come from `QA_*` variables (AppTest runs the script in this
process, so `monkeypatch.setenv` reaches its `load_settings()`); the browser tests run `streamlit run`."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.settings import Settings
from tests.seed import REPO_ROOT

APP = REPO_ROOT / "ui" / "app.py"
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The first question loads the embedding model; on 2 shared cores that can take most of a minute.
APP_TIMEOUT_S = 240

HOSTILE_ARTICLE = """---
title: "Zorblax ban <img src=x onerror=\\"window.__pwned='title'\\"> [t](javascript:window.__pwned='t')"
published: "2025-05-01"
category: "Policy & Regulation"
source: "Ruritania Daily <script>window.__pwned='source'</script>"
url: "javascript:window.__pwned='url'"
---

The Ruritania Monetary Authority banned the zorblax token on 1 May 2025. <script>window.__pwned='script'</script>
The ban on the zorblax token follows losses at <img src=x onerror="window.__pwned='img'"> three exchanges.
Traders of the zorblax token can read the notice [here](javascript:window.__pwned='link') or <a href="javascript:window.__pwned='a'">there</a>.
Prices of the zorblax token fell by $5 and :red[colour] and **bold** markers are just text.
"""  # noqa: E501 - an article's lines are as long as the article has them
HOSTILE_QUESTION = "Why did Ruritania ban the zorblax token?"


def app_env(settings: Settings) -> dict[str, str]:
    """The `QA_*` variables that make the app use `settings`' folders, extractive answers and defaults."""
    return {
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_CACHE_DIR": str(settings.cache_dir),
        "QA_FEEDBACK_PATH": str(settings.feedback_path),
        "QA_REPORTS_DIR": str(settings.reports_dir),
        "QA_LLM": "extractive",
    }


@pytest.fixture
def listen_on():
    """`listen_on(address)`: the Streamlit `server.address` the app believes it serves on (AppTest runs in this
    process, so the option is set here and restored after the test); 127.0.0.1 unless a test says otherwise."""
    from streamlit import config

    before = config.get_option("server.address")

    def set_address(address: str | None) -> None:
        config.set_option("server.address", address)

    set_address("127.0.0.1")
    yield set_address
    config.set_option("server.address", before)


@pytest.fixture
def use_settings(monkeypatch, tmp_path, listen_on):
    """Points the app at `settings` through the environment; the working folder is a temp folder so that
    no `.env` of the developer's is read. The app listens on 127.0.0.1 (single-user) unless `listen_on` moves it."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("QA_"):
            monkeypatch.delenv(name)

    def use(settings: Settings, **extra: str) -> Settings:
        for name, value in {**app_env(settings), **extra}.items():
            monkeypatch.setenv(name, value)
        return settings

    return use


@pytest.fixture
def seed_app_settings(seed_pipeline, seed_settings, tmp_path) -> Settings:
    """The session's seed index (read only), with this test's own feedback file and reports folder."""
    return seed_settings.model_copy(update={"feedback_path": tmp_path / "feedback.jsonl",
                                            "reports_dir": tmp_path / "reports"})


@pytest.fixture
def app(use_settings, seed_app_settings):
    """An AppTest of ui/app.py on the seed index, run once."""
    from streamlit.testing.v1 import AppTest

    use_settings(seed_app_settings)
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def hostile_settings(tmp_path_factory, cache_dir, embedder) -> Settings:
    """The seed articles plus an article full of HTML, script and `javascript:` links, indexed."""
    from qa.index.reindex import reindex

    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(REPO_ROOT / "corpus", root / "corpus")
    (root / "corpus" / "zorblax.md").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", cache_dir=cache_dir,
                        feedback_path=root / "feedback.jsonl", reports_dir=root / "reports")
    reindex(settings, embedder=embedder)
    return settings


# --- a real `streamlit run` and a real browser -------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(settings: Settings, workdir: Path, address: str = "127.0.0.1", **extra_env: str) -> Iterator[str]:
    """`streamlit run ui/app.py` on a free port of `address`, on `settings`' folders plus `extra_env`; yields the
    URL to open (always through 127.0.0.1)."""
    port = free_port()
    log_path = workdir / "streamlit.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("QA_")}
    env.update(app_env(settings))
    env.update(extra_env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", address,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    # The server runs in a temp folder (no developer `.env`), with the app's own Streamlit configuration.
    shutil.copytree(REPO_ROOT / ".streamlit", workdir / ".streamlit", dirs_exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def streamlit_server(hostile_settings, tmp_path_factory):
    """`streamlit run ui/app.py` on a free 127.0.0.1 port, on the hostile-plus-seed index; yields its URL."""
    with running_app(hostile_settings, tmp_path_factory.mktemp("workdir")) as url:
        yield url


# `browser` is the session fixture of tests/servers.py: one Playwright per session, since a second
# sync_playwright() in the same process fails while the first one's event loop is running.


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(APP_TIMEOUT_S * 1000)
    try:
        yield page
    finally:
        context.close()


# --- a scripted OpenAI-compatible server ----------------------------------------------------------------
# No real LLM can run here (llama-cpp-python is not installed outside `make test-llm`), so the streaming path
# of the chat is driven by this stand-in: a real HTTP server speaking the OpenAI streaming protocol, whose
# reply is fixed. The app talks to it through langchain-openai exactly as it would to llama.cpp or vLLM.

SCRIPTED_REPLY = ("LEAP stands for Legal and regulatory streamlining, Expanding the suite of tokenized products, "
                  "Advancing use cases and cross-sectoral collaboration, and People and partnership development [1]. "
                  "The framework was drafted by astronauts on the Moon [2].")


@pytest.fixture
def scripted_llm():
    """Base URL of the scripted server; `requests` collects the JSON bodies it received."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            words = SCRIPTED_REPLY.split(" ")
            pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
            for piece, finish in [(p, None) for p in pieces] + [("", "stop")]:
                chunk = {"id": "scripted", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
                         "choices": [{"index": 0, "delta": {"content": piece} if piece else {},
                                      "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    finally:
        server.shutdown()
        server.server_close()
