"""Fixtures of the access tests: a loopback listener that records every connection made to it."""
from __future__ import annotations

import socket
import threading

import pytest

from tests.servers import LOOPBACK


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
