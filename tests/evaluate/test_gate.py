"""The regression gate: the development questions through the seed index, the held-out SQuAD 2.0 sample
through an index of its corpus, and SciFact retrieval.

Thresholds sit about one question below what the current code measures (64 answerable and 12 unanswerable
questions: 0.891 answer accuracy, 1.0 recall@5, 0.984 citation accuracy, 1.0 abstention, 0.016 false
abstention, 0.697 short-answer F1), and never below the issue's floor (0.85, 0.95, 0.9, 0.85, 0.1). See
docs/evaluation.md.
"""
import re

import pytest

from qa.answer.extractive import MAX_UNITS, MAX_WORDS
from qa.evaluate.qa_eval import QAEvaluator, load_questions
from tests.seed import REPO_ROOT

DEV_SET = REPO_ROOT / "tests/eval/seed_questions.jsonl"
GATE = {
    "answer_accuracy": 0.89,
    "recall@5": 0.98,
    "citation_accuracy": 0.96,
    "abstention_rate": 0.9,
    # the span reader's `short_answer` (0.697; nothing of it was fitted or tuned on these questions)
    "short_answer_f1": 0.68,
}
MAX_FALSE_ABSTENTION = 0.05
# SQuAD 2.0 dev, the held-out sample nothing was fitted on (250 answerable, 250 unanswerable questions).
SQUAD_HELD_OUT = "datasets/squad2/questions_500.jsonl"
# The fitted reader (QA_READER=fitted), the answerer fitted on SQuAD: gates about one question short of what it
# measures (0.756 answer accuracy, 0.277
# short-answer F1, 0.204 abstention, 0.096 false abstention; docs/evaluation.md).
SQUAD_GATE = {
    "answer_accuracy": 0.75,
    "short_answer_f1": 0.27,
    "abstention_rate": 0.19,
}
SQUAD_MAX_FALSE_ABSTENTION = 0.11
# The default answerer (hand-set sentence choice, the span reader's `short_answer`): about one question short of
# what it measures (0.780 answer accuracy, 0.346 short-answer F1, 0.172 abstention, 0.104 false abstention;
# docs/evaluation.md).
SQUAD_DEFAULT_GATE = {
    "answer_accuracy": 0.77,
    "short_answer_f1": 0.34,
    "abstention_rate": 0.17,
}
SQUAD_DEFAULT_MAX_FALSE_ABSTENTION = 0.115
# The span reader alone (QA_READER=neural): 0.744 answer accuracy, 0.331 F1, 0.184 abstention, 0.092 false
# abstention.
SQUAD_NEURAL_GATE = {
    "answer_accuracy": 0.74,
    "short_answer_f1": 0.325,
    "abstention_rate": 0.18,
}
SQUAD_NEURAL_MAX_FALSE_ABSTENTION = 0.1
# Each answerer's SQuAD gates: (metrics that must reach their value, highest false abstention).
SQUAD_GATES = {
    "fitted": (SQUAD_GATE, SQUAD_MAX_FALSE_ABSTENTION),
    "heuristic": (SQUAD_DEFAULT_GATE, SQUAD_DEFAULT_MAX_FALSE_ABSTENTION),
    "neural": (SQUAD_NEURAL_GATE, SQUAD_NEURAL_MAX_FALSE_ABSTENTION),
}
SCIFACT_TRAIN_HYBRID_NDCG = 0.69


@pytest.fixture(scope="module")
def dev_result(seed_pipeline):
    return QAEvaluator(seed_pipeline).evaluate(load_questions(DEV_SET))


@pytest.mark.parametrize("metric", GATE)
def test_development_set_meets_the_gate(dev_result, metric):
    assert dev_result.summary[metric] >= GATE[metric], _misses(dev_result)


def test_development_set_rarely_declines_an_answerable_question(dev_result):
    assert dev_result.summary["false_abstention_rate"] <= MAX_FALSE_ABSTENTION, _misses(dev_result)


def test_every_answer_is_short(dev_result):
    for result in dev_result.results:
        answer = result.answer
        if answer.abstained:
            continue
        words = len(re.sub(r"\[\d+\]", " ", answer.answer).split())
        assert len(answer.sentences) <= MAX_UNITS and words <= MAX_WORDS + 5, (result.question.id, answer.answer)


@pytest.fixture(scope="module")
def squad_settings(shared_dir, tmp_path_factory, cache_dir, embedder):
    """Settings over an index of the SQuAD corpus, built once for both answerers' gates."""
    from qa.pipeline import Pipeline
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("squad")
    settings = Settings(corpus_dir=shared_dir / "datasets/squad2/corpus", index_dir=root / "index",
                        cache_dir=cache_dir, reports_dir=root / "reports")
    Pipeline(settings, embedder=embedder).reindex()
    return settings


@pytest.fixture(scope="module")
def squad_results(squad_settings, embedder, shared_dir):
    """The held-out sample's evaluation by each answerer (QA_READER), run once each when first asked for."""
    from qa.pipeline import Pipeline

    results = {}

    def result(reader: str):
        if reader not in results:
            pipeline = Pipeline(squad_settings.model_copy(update={"reader": reader}), embedder=embedder)
            results[reader] = QAEvaluator(pipeline).evaluate(load_questions(shared_dir / SQUAD_HELD_OUT))
        return results[reader]

    return result


@pytest.mark.slow
@pytest.mark.timeout(1200)  # indexes the SQuAD corpus (about 1,400 chunks) and asks 500 questions
@pytest.mark.parametrize("reader, metric", [(r, m) for r, (gate, _) in SQUAD_GATES.items() for m in gate])
def test_held_out_squad_sample_meets_the_gate(squad_results, reader, metric):
    summary = squad_results(reader).summary
    assert summary[metric] >= SQUAD_GATES[reader][0][metric], summary


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("reader", SQUAD_GATES)
def test_held_out_squad_sample_rarely_declines_an_answerable_question(squad_results, reader):
    summary = squad_results(reader).summary
    assert summary["false_abstention_rate"] <= SQUAD_GATES[reader][1], summary


@pytest.mark.slow
@pytest.mark.timeout(2700)  # embeds SciFact's ~14,000 chunks on 2 cores when the cache is empty (as in CI)
def test_scifact_hybrid_ndcg_on_training_queries(shared_dir, tmp_path):
    from qa.evaluate.retrieval_eval import RetrievalEvaluator
    from qa.settings import load_settings

    # The configured embedding cache (QA_CACHE_DIR), so that a second run does not embed SciFact again.
    settings = load_settings(index_dir=tmp_path / "unused-index", reports_dir=tmp_path / "reports")
    result = RetrievalEvaluator(settings, modes=("hybrid",)).evaluate(shared_dir / "datasets/scifact", "train")
    assert result.metrics["hybrid"]["ndcg@10"] >= SCIFACT_TRAIN_HYBRID_NDCG, result.to_json()


def _misses(result) -> str:
    rows = [r.report_row() for r in result.results]
    bad = [f"{r['id']}: {'abstained' if r['abstained'] else r['answer'][:120]!r}" for r in rows
           if (r["answerable"] and not r["correct"]) or (not r["answerable"] and not r["abstained"])]
    return f"{result.summary}\n" + "\n".join(bad)
