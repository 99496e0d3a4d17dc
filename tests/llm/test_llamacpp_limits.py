"""In-process llama.cpp (QA_LLM=llamacpp, SmolLM2-135M): it honours QA_LLM_TIMEOUT_S, and passages that do not fit
its 2,048-token context are left out with a notice saying how many, instead of a silent extractive fallback."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.llm

ETF_QUESTION = "What incentive does Hong Kong plan for tokenized ETFs?"


@pytest.fixture
def gguf():
    from tests.servers import smollm2_gguf_path

    return str(smollm2_gguf_path())


def test_twenty_passages_are_trimmed_to_the_context_with_a_notice_not_a_fallback(pipeline_with, gguf):
    pipeline = pipeline_with(llm="llamacpp", llm_model=gguf, llm_max_tokens=32, top_k=20)

    answer = pipeline.ask(ETF_QUESTION, k=20)

    assert answer.mode == "llamacpp", answer.notice
    assert len(answer.retrieved) < 20
    assert f"{20 - len(answer.retrieved)} of 20 passages were left out to fit the model's 2,048-token context" \
        in answer.notice
    assert "extractive" not in answer.notice


def test_five_passages_fit_and_need_no_notice(pipeline_with, gguf):
    answer = pipeline_with(llm="llamacpp", llm_model=gguf, llm_max_tokens=32).ask(ETF_QUESTION, k=5)

    assert answer.mode == "llamacpp" and answer.notice is None
    assert len(answer.retrieved) == 5


def test_a_model_busy_past_the_timeout_gives_the_extractive_answer_with_a_notice_naming_the_setting(pipeline_with,
                                                                                                    gguf):
    from qa.answer import llamacpp

    pipeline = pipeline_with(llm="llamacpp", llm_model=gguf, llm_max_tokens=32, llm_timeout_s=1)
    # Another session's answer holds the one llama.cpp context for longer than QA_LLM_TIMEOUT_S.
    with llamacpp._GENERATE_LOCK:
        answer = pipeline.ask(ETF_QUESTION)

    assert answer.mode == "extractive"
    assert f"the LLM at {gguf} did not answer within 1s (QA_LLM_TIMEOUT_S)" in answer.notice
    assert "stamp duty" in answer.answer.lower()
    # The model is free again afterwards: the next question gets a generated answer.
    assert pipeline_with(llm="llamacpp", llm_model=gguf, llm_max_tokens=32).ask(ETF_QUESTION).mode == "llamacpp"
