"""Generative answers from a real model, SmolLM2-135M, served by llama.cpp's OpenAI-compatible server and run
in-process: the text streams, and the app attributes and checks every sentence itself. The tiny model's
answers are poor, so these tests check the wiring, not the quality."""
from __future__ import annotations

import pytest

from qa.answer.extractive import Answer

pytestmark = pytest.mark.llm

ETF_QUESTION = "What incentive does Hong Kong plan for tokenized ETFs?"
MAX_TOKENS = 48  # enough for a sentence or two; keeps each answer to a few seconds on one thread


def assert_checked_answer(items: list, mode: str) -> Answer:
    deltas, answer = items[:-1], items[-1]
    assert isinstance(answer, Answer) and answer.mode == mode, answer.notice
    assert deltas and all(isinstance(d, str) for d in deltas)
    assert answer.notice is None
    assert answer.sentences or answer.abstained
    numbers = {c.n for c in answer.citations}
    retrieved = {r["chunk_id"] for r in answer.retrieved}
    assert numbers == set(range(1, len(answer.citations) + 1))
    assert {c.chunk_id for c in answer.citations} <= retrieved
    for sentence in answer.sentences:
        # Citations come from the app's own support check: a sentence is cited exactly when it is supported.
        assert set(sentence.citations) <= numbers
        assert sentence.supported == bool(sentence.citations)
    return answer


def test_openai_mode_streams_from_a_llama_cpp_server_and_checks_every_sentence(pipeline_with, llama_server):
    pipeline = pipeline_with(llm="openai", llm_base_url=llama_server.base_url, llm_model=llama_server.model,
                             llm_max_tokens=MAX_TOKENS)

    items = list(pipeline.ask_stream(ETF_QUESTION))

    answer = assert_checked_answer(items, "openai")
    assert answer.retrieved[0]["title"].startswith("Hong Kong")


def test_llamacpp_mode_runs_the_same_gguf_in_process(pipeline_with):
    from tests.servers import smollm2_gguf_path

    pipeline = pipeline_with(llm="llamacpp", llm_model=str(smollm2_gguf_path()), llm_max_tokens=MAX_TOKENS)

    items = list(pipeline.ask_stream(ETF_QUESTION))

    assert_checked_answer(items, "llamacpp")
