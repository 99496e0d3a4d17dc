"""Specification of qa.evaluate.metrics: nDCG@k, recall@k, MRR@k and evaluate_run on tiny inputs.

Expected values are worked out by hand in the comments; log2(3) = 1.5849625, 1/log2(3) = 0.6309298.
"""

import pytest

from qa.evaluate.metrics import evaluate_run, mrr_at_k, ndcg_at_k, ranked_doc_ids, recall_at_k


def only(query_id, mapping):
    return {query_id: mapping[query_id]}


def test_ranking_orders_by_score_descending_then_doc_id_descending():
    assert ranked_doc_ids({"a": 1.0, "b": 2.0, "c": 1.0, "ab": 1.0}) == ["b", "c", "ab", "a"]


def test_ndcg_uses_the_relevance_itself_as_gain(run, qrels):
    # q1 ranks d3 (rel 0), d2 (rel 1), d1 (rel 2), d4 (unjudged).
    # DCG  = 0/log2(2) + 1/log2(3) + 2/log2(4) + 0 = 0.6309298 + 1 = 1.6309298
    # IDCG = 2/log2(2) + 1/log2(3)                 = 2 + 0.6309298 = 2.6309298
    # nDCG = 1.6309298 / 2.6309298 = 0.6199062   (2**rel - 1 gains would give 0.5868827)
    assert ndcg_at_k(only("q1", run), only("q1", qrels), 10) == pytest.approx(0.6199062, abs=1e-7)


def test_ndcg_cuts_the_ideal_ranking_at_k(run, qrels):
    # Top 2 of q1: d3 (0), d2 (1).  DCG@2 = 1/log2(3) = 0.6309298
    # IDCG@2 = 2/log2(2) + 1/log2(3) = 2.6309298;  nDCG@2 = 0.6309298 / 2.6309298 = 0.2398125
    assert ndcg_at_k(only("q1", run), only("q1", qrels), 2) == pytest.approx(0.2398125, abs=1e-7)


def test_ndcg_gives_no_gain_to_negative_judgements():
    # Ranked a (rel -1 -> gain 0), b (rel 1).  DCG = 1/log2(3) = 0.6309298;  IDCG = 1/log2(2) = 1
    run = {"q": {"a": 2.0, "b": 1.0}}
    qrels = {"q": {"a": -1, "b": 1}}
    assert ndcg_at_k(run, qrels, 10) == pytest.approx(0.6309298, abs=1e-7)


def test_tied_scores_put_the_larger_doc_id_first(run, qrels):
    # q2: d5 and d6 both score 0.5, so d6 is rank 1 and the relevant d5 is rank 2.
    # RR = 1/2;  nDCG = (1/log2(3)) / (1/log2(2)) = 0.6309298.  Ascending ids would give 1.0 for both.
    assert mrr_at_k(only("q2", run), only("q2", qrels), 10) == pytest.approx(0.5)
    assert ndcg_at_k(only("q2", run), only("q2", qrels), 10) == pytest.approx(0.6309298, abs=1e-7)


def test_recall_counts_relevant_documents_in_the_top_k_over_all_relevant(run, qrels):
    # q1 has 2 relevant docs (d1, d2; d3 has relevance 0).  Top 2 = d3, d2 -> 1/2;  top 10 -> 2/2.
    assert recall_at_k(only("q1", run), only("q1", qrels), 2) == pytest.approx(0.5)
    assert recall_at_k(only("q1", run), only("q1", qrels), 10) == pytest.approx(1.0)


def test_mrr_is_zero_when_no_relevant_document_is_in_the_top_k(run, qrels):
    # Top 1 of q1 is d3, judged 0.
    assert mrr_at_k(only("q1", run), only("q1", qrels), 1) == pytest.approx(0.0)


def test_a_judged_query_missing_from_the_run_scores_zero_in_the_mean(run, qrels):
    # Judged queries with a relevant doc: q1, q2, q3 (q3 is not in the run).  q4 (nothing relevant)
    # and q5 (no qrels) are left out.
    # nDCG@10 = (0.6199062 + 0.6309298 + 0) / 3 = 0.4169453
    # recall@10 = (1 + 1 + 0) / 3 = 0.6666667;  MRR@10 = (1/2 + 1/2 + 0) / 3 = 0.3333333
    assert ndcg_at_k(run, qrels, 10) == pytest.approx(0.4169453, abs=1e-7)
    assert recall_at_k(run, qrels, 10) == pytest.approx(2 / 3)
    assert mrr_at_k(run, qrels, 10) == pytest.approx(1 / 3)


def test_queries_without_a_relevant_judgement_do_not_change_the_mean(run, qrels):
    without_q4 = {query_id: judgements for query_id, judgements in qrels.items() if query_id != "q4"}
    assert ndcg_at_k(run, qrels, 10) == ndcg_at_k(run, without_q4, 10)


def test_evaluate_run_reports_beir_headline_metrics(run, qrels):
    # Same means as above; every relevant doc of q1 and q2 is already in the top 10, so recall@100
    # equals recall@10.
    metrics = evaluate_run(run, qrels)
    assert list(metrics) == ["ndcg@10", "recall@10", "recall@100", "mrr@10"]
    assert metrics == pytest.approx(
        {"ndcg@10": 0.4169453, "recall@10": 2 / 3, "recall@100": 2 / 3, "mrr@10": 1 / 3}, abs=1e-7
    )


def test_evaluate_run_reports_ndcg_and_mrr_at_the_smallest_cutoff_and_recall_at_each(run, qrels):
    # k=1: top 1 is d3 (q1, rel 0) and d6 (q2, unjudged), so nDCG, recall and MRR are 0.
    # k=2: recall = (1/2 for q1 + 1 for q2 + 0 for q3) / 3 = 0.5
    metrics = evaluate_run(run, qrels, ks=(2, 1))
    assert metrics == pytest.approx({"ndcg@1": 0.0, "recall@1": 0.0, "recall@2": 0.5, "mrr@1": 0.0})


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_a_cutoff_that_is_not_a_positive_integer_is_rejected(run, qrels, k):
    with pytest.raises(ValueError, match="positive integer"):
        ndcg_at_k(run, qrels, k)


def test_qrels_without_any_relevant_document_are_rejected(run):
    with pytest.raises(ValueError, match="no document relevant"):
        recall_at_k(run, {"q4": {"d7": 0}}, 10)
