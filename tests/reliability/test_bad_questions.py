"""Whatever is typed as a question gets a clear answer or a clear message, never a crash: in the app's
`Pipeline` and through `qa ask` (exit 0 with an answer, or exit 2 with one line saying what to fix)."""
from __future__ import annotations

import json

import pytest
from reliability_scenarios import SEED_QUESTION

from qa.errors import QuestionError
from qa.pipeline import MAX_QUESTION_CHARS

LEAP_TITLE = "Hong Kong releases ‘LEAP’ framework for digital assets"
HUGE = ("What are the four pillars of Hong Kong's LEAP framework? " * 1800)[:100_000]
ENGLISH_ONLY = "the embedding model and the articles are in English"


@pytest.mark.parametrize("question, message", [
    ("", "the question is empty; type a question about digital-asset policy"),
    (" \t\n \u3000 ", "the question is empty; type a question about digital-asset policy"),
    ("\x00\x07\x1b\x7f", "the question is empty; type a question about digital-asset policy"),
    ("?!? 🙂🙂", "the question has no words; type a question about digital-asset policy"),
])
def test_a_question_without_words_is_refused_with_a_message(seed_pipeline, question, message):
    with pytest.raises(QuestionError, match=rf"^{message}$"):
        seed_pipeline.ask(question)


def test_a_100000_character_question_is_shortened_and_answered(seed_pipeline):
    answer = seed_pipeline.ask(HUGE)

    assert len(answer.question) <= MAX_QUESTION_CHARS
    assert answer.notice.startswith(f"the question was {len(HUGE):,} characters long; only its first ")
    assert answer.citations and answer.citations[0].title == LEAP_TITLE


@pytest.mark.parametrize("question", [
    "What are the four\x1b[31m pillars\x07 of Hong Kong's LEAP\tframework?\r\n",
    "What are the four pil\u200blars of Hong Kong's LE\u200bAP framework?\u200f",
    "\u202eWhat are the four pillars of Hong Kong's LEAP framework?\ud800",
])
def test_control_and_invisible_characters_do_not_change_the_answer(seed_pipeline, question):
    answer = seed_pipeline.ask(question)

    assert all(ch.isprintable() for ch in answer.question)
    assert answer.answer == seed_pipeline.ask(SEED_QUESTION).answer


@pytest.mark.parametrize("question", [
    "홍콩의 LEAP 프레임워크의 네 가지 축은 무엇인가요?",
    "香港的LEAP框架有哪四个支柱？",
    "오늘 날씨 어때?",
    "ما هي الركائز الأربع لإطار LEAP في هونغ كونغ؟",
])
def test_a_question_in_another_language_gets_an_answer_and_a_notice(seed_pipeline, question):
    answer = seed_pipeline.ask(question)

    assert answer.abstained or answer.citations
    assert ENGLISH_ONLY in answer.notice


def test_a_question_with_markup_is_answered_as_text(seed_pipeline):
    answer = seed_pipeline.ask("<script>alert(1)</script> What are the four pillars of Hong Kong's LEAP framework?")

    assert answer.question.startswith("<script>alert(1)</script>")
    assert answer.citations and answer.citations[0].title == LEAP_TITLE


def test_qa_ask_answers_or_refuses_every_bad_question_without_a_traceback(seed_settings, seed_pipeline, qa_process):
    # All at once, to pay the model load of a `qa` process only once in wall time.
    asks = {
        "empty": ["ask", "--json", ""],
        "blank": ["ask", "--json", " \t "],
        "huge": ["ask", "--json", HUGE],
        # Control characters, and bytes that are not UTF-8 (Python hands them over as lone surrogates).
        "control": ["ask", "--json", b"What are the four\x1b[31m pillars\x07 of Hong Kong's LEAP framework? \xff\xfe"
                    .decode("utf-8", "surrogateescape")],
        "korean": ["ask", "홍콩의 LEAP 프레임워크의 네 가지 축은 무엇인가요?"],
    }
    processes = {name: qa_process(args, seed_settings) for name, args in asks.items()}
    results = {name: (*process.finish(), process.stderr) for name, process in processes.items()}

    for name, (_status, _stdout, stderr) in results.items():
        assert "Traceback" not in stderr, name
    for name in ("empty", "blank"):
        status, stdout, stderr = results[name]
        assert (status, stdout) == (2, "")
        assert stderr.strip().endswith("error: the question is empty; type a question about digital-asset policy")
    for name in ("huge", "control"):
        status, stdout, stderr = results[name]
        assert status == 0, stderr
        assert json.loads(stdout)["citations"][0]["title"] == LEAP_TITLE, name
    assert json.loads(results["huge"][1])["notice"].startswith("the question was 100,000 characters long")
    status, stdout, stderr = results["korean"]
    assert status == 0
    assert f"note: {ENGLISH_ONLY}" in stderr
    assert "was found in the indexed articles.\n\nClosest passages:" in stdout or "Sources:" in stdout
