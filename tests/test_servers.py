"""Specifications of the server fixtures in tests/servers.py, run against the real programs:
Chroma, llama.cpp's server with SmolLM2, and Debian's headless Chromium."""

from __future__ import annotations

import sys
import time

import pytest

# tests/conftest.py should load the plugin for every test; naming it here too keeps this
# module runnable on its own (pytest imports a plugin once; registering it for assertion
# rewriting before the import below avoids pytest's "already imported" warning).
pytest.register_assert_rewrite("tests.servers")
pytest_plugins = ["tests.servers"]

from tests.servers import (  # noqa: E402
    ServerStartError,
    free_port,
    smollm2_gguf_path,
    start_process_and_wait,
)


@pytest.fixture
def loopback_site(tmp_path):
    """A one-page site served by ``python -m http.server`` on a free loopback port."""
    (tmp_path / "index.html").write_text(
        "<!doctype html><title>Loopback page</title>"
        "<h1 id='greeting'>Hello from 127.0.0.1</h1>"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_process_and_wait(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(tmp_path)],
        url,
        timeout=30,
        log_path=tmp_path / "http.log",
    )
    yield url
    server.stop()


def test_start_process_and_wait_reports_an_early_exit_with_the_log(tmp_path):
    command = [sys.executable, "-c", "import sys; print('boom: bad flag'); sys.exit(3)"]

    with pytest.raises(ServerStartError) as failure:
        start_process_and_wait(
            command, f"http://127.0.0.1:{free_port()}/", timeout=10, log_path=tmp_path / "log"
        )

    assert "exited with code 3" in str(failure.value)
    assert "boom: bad flag" in str(failure.value)


def test_start_process_and_wait_stops_a_server_that_never_answers(tmp_path):
    command = [sys.executable, "-c", "import time; print('sleeping'); time.sleep(60)"]

    started = time.monotonic()
    with pytest.raises(ServerStartError) as failure:
        start_process_and_wait(
            command, f"http://127.0.0.1:{free_port()}/", timeout=1, log_path=tmp_path / "log"
        )

    assert "did not answer within 1 s" in str(failure.value)
    assert time.monotonic() - started < 15


@pytest.mark.server
def test_chroma_server_keeps_its_data_across_a_restart(chroma_server):
    collection = chroma_server.client().create_collection("policies")
    collection.add(ids=["mica:1"], documents=["MiCA title III"], embeddings=[[0.1, 0.2, 0.3]])
    port = chroma_server.port

    chroma_server.stop()
    chroma_server.start()

    restored = chroma_server.client().get_collection("policies").get(ids=["mica:1"])
    assert chroma_server.port == port
    assert restored["documents"] == ["MiCA title III"]


@pytest.mark.llm  # the package is installed by `make test-llm`, which runs the llm tests
def test_smollm2_gguf_path_finds_the_model_inside_the_package():
    try:
        path = smollm2_gguf_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))

    assert path.suffix == ".gguf"
    assert path.stat().st_size > 50_000_000


@pytest.mark.llm
@pytest.mark.timeout(300)
def test_llama_server_streams_a_chat_completion_through_langchain(llama_server):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        base_url=llama_server.base_url,
        api_key="none",
        model=llama_server.model,
        temperature=0,
        extra_body={"max_tokens": 16},
    )

    chunks = [chunk.content for chunk in chat.stream("Name one colour of the sky.")]

    assert len([text for text in chunks if text]) > 1
    assert "".join(chunks).strip()


@pytest.mark.llm
@pytest.mark.timeout(300)
def test_llama_server_chat_model_stops_at_max_tokens(llama_server):
    chat = llama_server.chat_model(max_tokens=5)

    reply = chat.invoke("Write a long story about a dragon.")

    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.usage_metadata["output_tokens"] == 5


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_browser_screenshots_a_loopback_page(page, loopback_site, tmp_path):
    page.goto(loopback_site)
    screenshot = tmp_path / "page.png"

    page.screenshot(path=str(screenshot))

    assert page.title() == "Loopback page"
    assert page.inner_text("#greeting") == "Hello from 127.0.0.1"
    assert screenshot.read_bytes().startswith(b"\x89PNG")
