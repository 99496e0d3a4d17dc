"""Thumbs up/down are appended as JSON lines with everything needed to replay the answer."""
from __future__ import annotations

import datetime as dt

import pytest

from qa.answer.extractive import Answer, Citation
from qa.feedback import feedback_record, read_feedback, record_feedback


def make_answer() -> Answer:
    citation = Citation(n=1, chunk_id="leap.md::3", title="LEAP", source="CoinNess", published="2025-06-27",
                        url="https://example.org/leap", text="LEAP stands for ...")
    return Answer(question="and what is LEAP?", answer="LEAP stands for ... [1]", abstained=False,
                  mode="extractive", citations=[citation], retrieved=[], timings_ms={},
                  standalone_question="What is the LEAP framework? and what is LEAP?")


def test_record_holds_question_answer_citations_mode_and_time():
    record = feedback_record(make_answer(), "up", answer_id="a1",
                             now=dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC))

    assert record == {
        "time": "2025-07-01T12:00:00+00:00", "rating": "up", "answer_id": "a1",
        "question": "and what is LEAP?", "standalone_question": "What is the LEAP framework? and what is LEAP?",
        "answer": "LEAP stands for ... [1]", "abstained": False, "mode": "extractive",
        "citations": [{"n": 1, "chunk_id": "leap.md::3", "title": "LEAP", "source": "CoinNess",
                       "published": "2025-06-27", "url": "https://example.org/leap"}],
    }


def test_votes_are_appended_one_line_each_in_a_new_folder(tmp_path):
    path = tmp_path / "feedback" / "feedback.jsonl"

    record_feedback(path, make_answer(), "up")
    record_feedback(path, make_answer(), "down")

    assert [r["rating"] for r in read_feedback(path)] == ["up", "down"]
    assert len(path.read_text().splitlines()) == 2


def test_unknown_rating_is_refused():
    with pytest.raises(ValueError, match="rating"):
        feedback_record(make_answer(), "meh")


def test_reading_skips_broken_lines_and_a_missing_file(tmp_path):
    path = tmp_path / "feedback.jsonl"
    assert read_feedback(path) == []
    path.write_text('{"rating": "up"}\nnot json\n[1]\n')

    assert read_feedback(path) == [{"rating": "up"}]
