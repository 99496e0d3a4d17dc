"""Extractive answers: the fact in the answer, the citation on the right article, abstention, shape."""
import re

import pytest

from qa.answer.extractive import AnswerSentence, render_answer
from tests.seed import KOREA_TITLE, LEAP_TITLE, WEMIX_TITLE


@pytest.mark.parametrize("question, fact, title", [
    ("What incentive does Hong Kong plan for tokenized ETFs?", "stamp duty", LEAP_TITLE),
    ("When does Hong Kong's licensing regime for stablecoin issuers start?", "Aug. 1", LEAP_TITLE),
    ("At what price was stWEMIX trading on BitMart?", "$3.48", WEMIX_TITLE),
    ("Which body prepared the draft of the Digital Asset Basic Act?", "Financial Services Commission", KOREA_TITLE),
])
def test_answer_contains_the_fact_and_cites_its_article(seed_pipeline, question, fact, title):
    answer = seed_pipeline.ask(question)
    assert not answer.abstained
    assert fact in answer.answer
    assert answer.citations and answer.citations[0].title == title
    assert "[1]" in answer.answer


def test_list_question_gets_the_whole_list(seed_pipeline):
    answer = seed_pipeline.ask("What does the LEAP acronym stand for?")
    for pillar in ("Legal and regulatory streamlining", "Expanding the suite of tokenized products",
                   "Advancing use cases and cross-sectoral collaboration", "People and partnership development"):
        assert pillar in answer.answer
    assert answer.citations[0].title == LEAP_TITLE


def test_answer_is_short(seed_pipeline):
    for question in ("What is South Korea planning for ICOs?", "What did the Hong Kong court decide?"):
        answer = seed_pipeline.ask(question)
        assert len(answer.sentences) <= 3
        assert len(re.sub(r"\[\d+\]", "", answer.answer).split()) <= 100 + 10  # list lines' dashes aside


def test_question_the_articles_do_not_cover_abstains(seed_pipeline):
    answer = seed_pipeline.ask("What are Japan's cold-wallet rules for crypto exchanges?")
    assert answer.abstained
    assert answer.answer == ('No answer for "Japan\'s cold-wallet rules for crypto exchanges" was found in the '
                             'indexed articles.')
    assert answer.short_answer is None
    assert answer.citations == []
    assert answer.retrieved  # the closest passages are still reported


def test_cited_highlight_is_the_sentence_in_the_passage(seed_pipeline):
    answer = seed_pipeline.ask("What incentive does Hong Kong plan for tokenized ETFs?")
    citation = answer.citations[0]
    a, b = citation.highlights[0]
    assert "stamp duty waiver" in citation.text[a:b]


def test_a_date_question_leads_with_the_date_and_cites_the_sentence_that_holds_it(seed_pipeline):
    answer = seed_pipeline.ask("When does Hong Kong's licensing regime for stablecoin issuers start?")
    short = answer.short_answer
    citation = next(c for c in answer.citations if c.n == short["n"])

    assert "Aug. 1" in short["text"]
    assert citation.text[short["start"]:short["end"]] == short["text"]
    assert answer.answer.startswith(short["text"].rstrip(".") + ". [")
    assert citation.answer_span == (short["start"], short["end"])
    a, b = citation.highlights[0]
    assert a <= short["start"] < short["end"] <= b  # the span sits inside the cited sentence


def test_a_question_for_a_fact_that_is_absent_says_what_was_looked_for(seed_pipeline):
    answer = seed_pipeline.ask("When did Japan ban crypto exchanges?")

    assert answer.abstained
    assert answer.answer.startswith("No date for ")


def test_json_shape(seed_pipeline):
    data = seed_pipeline.ask("What incentive does Hong Kong plan for tokenized ETFs?").to_json()
    assert {"question", "answer", "abstained", "mode", "citations", "retrieved", "timings_ms"} <= set(data)
    assert data["mode"] == "extractive" and data["abstained"] is False
    assert set(data["citations"][0]) >= {"n", "title", "source", "published", "url", "chunk_id", "text"}
    assert set(data["retrieved"][0]) >= {"title", "chunk_id", "score"}
    assert {"retrieve", "answer", "total"} <= set(data["timings_ms"])
    short = data["short_answer"]
    assert 0 < data["confidence"] <= 1 and set(short) == {"text", "n", "start", "end"}
    assert data["citations"][short["n"] - 1]["text"][short["start"]:short["end"]] == short["text"]


def test_render_answer_puts_a_list_on_its_own_lines():
    text = render_answer([AnswerSentence("One fact.", [1]), AnswerSentence("Pillars:\n- A\n- B", [2])])
    assert text == "One fact. [1]\nPillars:\n- A\n- B\n[2]"


def test_follow_up_is_combined_with_the_previous_question_in_extractive_mode(seed_pipeline):
    history = [("user", "What is Hong Kong's new licensing regime for stablecoin issuers?"), ("assistant", "…")]
    answer = seed_pipeline.ask("and when does it start?", history=history)
    assert "stablecoin" in answer.standalone_question
    assert "Aug. 1" in answer.answer
