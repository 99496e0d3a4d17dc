"""Specification of the answer-quality metrics of qa.evaluate.qa_eval on hand-made answers.

Expected values are worked out by hand in the comments.
"""

import pytest

from qa.answer.extractive import Answer, Citation
from qa.evaluate.qa_eval import (
    DatasetError,
    EvalQuestion,
    answer_contains,
    load_questions,
    normalise,
    percentile,
    score_answer,
    summarise,
)

GOLD = "Hong Kong releases ‘LEAP’ framework for digital assets"
OTHER = "South Korea plans to revive crypto ICOs"


def question(qid="q", answerable=True, must_include=(("1,650",),), kind="number", gold=(GOLD,)) -> EvalQuestion:
    return EvalQuestion(qid, "How many startups does Cyberport host?", answerable, gold if answerable else (),
                        must_include if answerable else (), kind)


def answer(text="Cyberport hosts 1,650 startups. [1]", cited=(GOLD,), retrieved=(GOLD,), abstained=False) -> Answer:
    citations = [Citation(n=i, chunk_id=f"c{i}", title=t, source=None, published=None, url=None, text="")
                 for i, t in enumerate(cited, start=1)]
    return Answer(question="?", answer=text, abstained=abstained, mode="extractive", citations=citations,
                  retrieved=[{"title": t, "chunk_id": f"r{i}"} for i, t in enumerate(retrieved)], timings_ms={})


def test_normalise_lowercases_straightens_quotes_and_drops_thousands_separators():
    assert normalise("Hong Kong’s “LEAP” hosts 1,650 of $126,000") == "hong kong's \"leap\" hosts 1650 of $126000"


def test_normalise_keeps_commas_that_are_not_thousands_separators():
    assert normalise("In 2019, 12,5 and 1,2345") == "in 2019, 12,5 and 1,2345"


def test_an_answer_must_hold_one_alternative_of_every_group():
    groups = [["Financial Services and the Treasury Bureau", "FSTB"], ["Linda Chan"]]
    assert answer_contains("The FSTB ... Justice LINDA CHAN ruled", groups)
    assert not answer_contains("The FSTB released it", groups)


def test_matching_ignores_curly_quotes_and_thousands_separators_on_both_sides():
    assert answer_contains("Cyberport hosts in excess of 1650 startups ‘in trust’", [["1,650"], ["'in trust'"]])
    assert answer_contains("hosts 1,650 startups", [["1650"]])


def test_no_groups_means_nothing_is_required():
    assert answer_contains("anything", [])


def test_percentiles_interpolate_linearly_between_closest_ranks():
    latencies = [40.0, 10.0, 30.0, 20.0]
    # Sorted 10, 20, 30, 40. p50: position 3 * 0.5 = 1.5 -> 20 + 0.5 * 10 = 25.
    assert percentile(latencies, 50) == pytest.approx(25.0)
    # p95: position 3 * 0.95 = 2.85 -> 30 + 0.85 * 10 = 38.5.
    assert percentile(latencies, 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0


def test_a_correct_answer_scores_on_every_answerable_metric():
    result = score_answer(question(), answer(cited=(GOLD, OTHER), retrieved=(OTHER, OTHER, OTHER, OTHER, GOLD)), 12.0)
    assert result.correct and result.recall_at_5 and result.citation_hit
    assert result.citation_precision == pytest.approx(0.5)  # one of two cited passages is gold


def test_a_gold_article_below_rank_5_does_not_count_for_recall():
    result = score_answer(question(), answer(retrieved=(OTHER,) * 5 + (GOLD,)), 1.0)
    assert result.recall_at_5 is False


def test_an_abstention_is_never_a_correct_answer_even_if_it_holds_the_phrase():
    result = score_answer(question(), answer(text="1,650", cited=(), abstained=True), 1.0)
    assert result.correct is False and result.citation_hit is False and result.citation_precision is None


def test_summary_over_a_hand_made_run():
    results = [
        # answerable, correct, cites gold and other (precision 1/2), gold retrieved
        score_answer(question("a"), answer(cited=(GOLD, OTHER)), 100.0),
        # answerable, wrong answer citing only the other article, gold not retrieved
        score_answer(question("b"), answer(text="no figure", cited=(OTHER,), retrieved=(OTHER,)), 200.0),
        # answerable, abstained: a false abstention
        score_answer(question("c"), answer(text="-", cited=(), abstained=True), 300.0),
        # unanswerable, abstained
        score_answer(question("d", answerable=False, kind="unanswerable"), answer(cited=(), abstained=True), 400.0),
        # unanswerable, answered
        score_answer(question("e", answerable=False, kind="unanswerable"), answer(cited=(OTHER,)), 500.0),
    ]
    summary = summarise(results)
    assert summary["answerable"] == 3 and summary["unanswerable"] == 2
    assert summary["answer_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["recall@5"] == pytest.approx(2 / 3, abs=1e-4)  # a and c retrieved the gold article
    assert summary["citation_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["citation_precision"] == pytest.approx(0.25)  # mean of a (1/2) and b (0); c cites nothing
    assert summary["abstention_rate"] == pytest.approx(0.5)
    assert summary["false_abstention_rate"] == pytest.approx(1 / 3, abs=1e-4)
    # Latencies 100..500: p50 = 300; p95 at position 4 * 0.95 = 3.8 -> 400 + 0.8 * 100 = 480.
    assert summary["latency_p50_ms"] == pytest.approx(300.0)
    assert summary["latency_p95_ms"] == pytest.approx(480.0)


def test_metrics_without_questions_to_average_are_none():
    summary = summarise([score_answer(question("d", answerable=False), answer(abstained=True), 1.0)])
    assert summary["answer_accuracy"] is None and summary["abstention_rate"] == 1.0


def test_loading_names_the_line_and_field_of_a_bad_question(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"id": "a", "question": "Q?", "answerable": false, "gold_titles": [], "must_include": []}\n'
                    '{"id": "b", "question": "Q?", "answerable": "yes", "gold_titles": [], "must_include": []}\n')
    with pytest.raises(DatasetError, match=r"line 2: field 'answerable'"):
        load_questions(path)


def test_loading_rejects_repeated_ids_and_reads_the_kind(tmp_path):
    line = '{"id": "a", "question": "Q?", "answerable": true, "gold_titles": ["T"], "must_include": [["x"]]}\n'
    path = tmp_path / "set.jsonl"
    path.write_text(line)
    assert load_questions(path)[0].kind == "other"
    path.write_text(line + line)
    with pytest.raises(DatasetError, match="repeats"):
        load_questions(path)


def test_the_development_set_loads():
    from tests.seed import REPO_ROOT

    questions = load_questions(REPO_ROOT / "tests/eval/seed_questions.jsonl")
    assert len(questions) == 76 and sum(not q.answerable for q in questions) == 12
