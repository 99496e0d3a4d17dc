"""Fixtures of the LLM tests: app instances on the seed index answering through a given LLM setting, and
tiny loopback servers that misbehave the ways a real LLM endpoint can (never answers, answers garbage)."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.servers import LOOPBACK


@pytest.fixture
def pipeline_with(seed_pipeline, seed_settings, embedder):
    """`pipeline_with(llm=..., llm_base_url=...)`: an app instance on the seed index with those settings."""
    from qa.pipeline import Pipeline

    def make(**settings):
        return Pipeline(seed_settings.model_copy(update=settings), embedder=embedder)

    return make


@pytest.fixture
def silent_server():
    """A TCP server on loopback that accepts connections and never answers: the base URL of it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept_and_hold():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                held.append(connection)
            except OSError:
                time.sleep(0.05)

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=5)
    for connection in held:
        connection.close()
    listener.close()


class _GarbageHandler(BaseHTTPRequestHandler):
    """Answers every request with 200 and an HTML page, as a misconfigured proxy or web server would."""

    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<html><body>Welcome to nginx! This is not an LLM.</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def garbage_server():
    """An HTTP server on loopback answering every request with HTML instead of JSON: its base URL."""
    server = ThreadingHTTPServer((LOOPBACK, 0), _GarbageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
