"""Retrieval metrics as BEIR reports them: nDCG@k, recall@k and MRR@k, averaged over judged queries.

Pure functions over a run (query id -> doc id -> score) and qrels (query id -> doc id -> relevance).

Definitions follow trec_eval (which BEIR calls through pytrec_eval), with these choices made explicit:
- a document is relevant when its relevance is > 0;
- nDCG@k: gain = relevance (linear, as trec_eval's ``ndcg_cut``, not 2**rel - 1), discount
  log2(rank + 1) with rank starting at 1, normalised by the DCG of the qrels' relevances sorted
  descending and cut at k;
- recall@k: relevant documents in the top k / all relevant documents of the query;
- MRR@k: 1 / rank of the first relevant document in the top k, 0 if there is none;
- the mean is over the queries that have at least one relevant document in the qrels; such a
  query missing from the run scores 0 (trec_eval -c), queries of the run without qrels are ignored.
"""

import math
from collections.abc import Callable, Iterable, Mapping

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]
_PerQuery = Callable[[list[str], Mapping[str, int], int], float]


def ranked_doc_ids(scores: Mapping[str, float]) -> list[str]:
    """Doc ids best first: score descending, ties broken by doc id descending.

    Ties follow trec_eval, whose form_res_rels.c sorts with comp_sim_docno: sim descending, then
    strcmp(p2->docno, p1->docno), i.e. docno descending. pytrec_eval hands its run to that same
    routine, so BEIR's nDCG and recall order ties this way too. Python compares str by code point,
    which for UTF-8 ids is the byte order strcmp uses.
    """
    return sorted(scores, key=lambda doc_id: (scores[doc_id], doc_id), reverse=True)


def ndcg_at_k(run: Run, qrels: Qrels, k: int) -> float:
    """Mean nDCG@k (linear gain, log2(rank + 1) discount) over the queries with a relevant document."""
    return _mean_over_judged_queries(run, qrels, k, _query_ndcg)


def recall_at_k(run: Run, qrels: Qrels, k: int) -> float:
    """Mean recall@k (relevant in top k / all relevant) over the queries with a relevant document."""
    return _mean_over_judged_queries(run, qrels, k, _query_recall)


def mrr_at_k(run: Run, qrels: Qrels, k: int) -> float:
    """Mean reciprocal rank of the first relevant document in the top k, over judged queries."""
    return _mean_over_judged_queries(run, qrels, k, _query_reciprocal_rank)


def evaluate_run(run: Run, qrels: Qrels, ks: Iterable[int] = (10, 100)) -> dict[str, float]:
    """nDCG and MRR at the smallest cut-off of ``ks``, recall at every cut-off.

    With the default ks=(10, 100): {"ndcg@10", "recall@10", "recall@100", "mrr@10"}, BEIR's headline
    numbers, in that order.
    """
    cutoffs = sorted(set(ks))
    if not cutoffs:
        raise ValueError("evaluate_run: ks is empty; pass the cut-offs to report, e.g. ks=(10, 100)")
    first = cutoffs[0]
    metrics = {f"ndcg@{first}": ndcg_at_k(run, qrels, first)}
    for k in cutoffs:
        metrics[f"recall@{k}"] = recall_at_k(run, qrels, k)
    metrics[f"mrr@{first}"] = mrr_at_k(run, qrels, first)
    return metrics


def _mean_over_judged_queries(run: Run, qrels: Qrels, k: int, per_query: _PerQuery) -> float:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"cut-off k must be a positive integer, got {k!r}")
    judged = [query_id for query_id, judgements in qrels.items() if any(rel > 0 for rel in judgements.values())]
    if not judged:
        raise ValueError("qrels judge no document relevant (relevance > 0) for any query; nothing to average")
    total = 0.0
    for query_id in judged:
        ranking = ranked_doc_ids(run.get(query_id, {}))[:k]
        total += per_query(ranking, qrels[query_id], k)
    return total / len(judged)


def _query_ndcg(top_k: list[str], judgements: Mapping[str, int], k: int) -> float:
    # trec_eval adds a gain only when it is > 0, so negative judgements count as 0 here too.
    dcg = sum(
        max(judgements.get(doc_id, 0), 0) / math.log2(rank + 1) for rank, doc_id in enumerate(top_k, start=1)
    )
    ideal_gains = sorted((rel for rel in judgements.values() if rel > 0), reverse=True)[:k]
    ideal_dcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal_gains, start=1))
    return dcg / ideal_dcg


def _query_recall(top_k: list[str], judgements: Mapping[str, int], k: int) -> float:
    relevant = {doc_id for doc_id, rel in judgements.items() if rel > 0}
    return len(relevant.intersection(top_k)) / len(relevant)


def _query_reciprocal_rank(top_k: list[str], judgements: Mapping[str, int], k: int) -> float:
    for rank, doc_id in enumerate(top_k, start=1):
        if judgements.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0
