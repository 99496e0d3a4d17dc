"""An LLM endpoint that is down, slow or answering garbage gives a clear notice, and the question still gets
the extractive answer from the retrieved passages."""
from __future__ import annotations

import pytest
from seed import LEAP_TITLE

from qa.answer.generate import build_chat_model
from qa.errors import ConfigError
from tests.servers import LOOPBACK, free_port

ETF_QUESTION = "What incentive does Hong Kong plan for tokenized ETFs?"


def assert_extractive_fallback(answer, *phrases):
    assert answer.mode == "extractive"
    assert answer.citations and answer.citations[0].title == LEAP_TITLE
    assert "stamp duty" in answer.answer.lower()
    for phrase in phrases:
        assert phrase in answer.notice
    assert "This answer is extractive." in answer.notice


def test_an_llm_endpoint_that_is_down_falls_back_with_a_notice_naming_it(pipeline_with):
    url = f"http://{LOOPBACK}:{free_port()}/v1"

    answer = pipeline_with(llm="openai", llm_base_url=url).ask(ETF_QUESTION)

    assert_extractive_fallback(answer, f"cannot reach the LLM at {url}", "QA_LLM_BASE_URL")


def test_an_llm_that_does_not_answer_in_time_falls_back_with_a_notice_naming_the_timeout(pipeline_with,
                                                                                        silent_server):
    answer = pipeline_with(llm="openai", llm_base_url=silent_server, llm_timeout_s=1).ask(ETF_QUESTION)

    assert_extractive_fallback(answer, f"the LLM at {silent_server} did not answer within 1s", "QA_LLM_TIMEOUT_S")


def test_an_llm_endpoint_answering_garbage_falls_back_with_a_notice(pipeline_with, garbage_server):
    answer = pipeline_with(llm="openai", llm_base_url=garbage_server).ask(ETF_QUESTION)

    assert_extractive_fallback(answer, f"the LLM at {garbage_server} answered something that is not a chat reply")


def test_ollama_mode_builds_a_chat_model_for_the_configured_server(seed_settings):
    model = build_chat_model(seed_settings.model_copy(update={"llm": "ollama", "llm_model": "smollm2:135m"}))

    assert type(model).__name__ == "ChatOllama"
    assert model.model == "smollm2:135m"
    assert model.base_url == "http://127.0.0.1:11434"


def test_an_ollama_server_that_is_down_falls_back_with_a_notice_naming_it(pipeline_with):
    url = f"http://{LOOPBACK}:{free_port()}"

    answer = pipeline_with(llm="ollama", llm_base_url=url, llm_model="smollm2:135m").ask(ETF_QUESTION)

    assert_extractive_fallback(answer, f"cannot reach the LLM at {url}")


def test_llamacpp_mode_with_a_missing_model_file_names_the_setting(pipeline_with, tmp_path):
    pipeline = pipeline_with(llm="llamacpp", llm_model=str(tmp_path / "missing.gguf"))

    with pytest.raises(ConfigError, match="QA_LLM_MODEL|llama-cpp-python"):
        pipeline.ask(ETF_QUESTION)
