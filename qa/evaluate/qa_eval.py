"""Answer-quality evaluation: runs judged questions through `Pipeline.ask` (the `qa ask` code path) and
scores the answers, their citations, the retrieved passages, abstentions and latency.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.answer.extractive import Answer
from qa.errors import QAError

RECALL_AT = 5
_CURLY = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"'})
# A comma between a digit and exactly three digits is a thousands separator: "1,650" -> "1650".
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


class DatasetError(QAError):
    """The question file is missing or a line is malformed; the message names the file, line and field."""


@dataclass(frozen=True)
class EvalQuestion:
    """One judged question of a dataset line: see tests/eval/README.md for the format."""

    id: str
    question: str
    answerable: bool
    gold_titles: tuple[str, ...]
    must_include: tuple[tuple[str, ...], ...]
    kind: str = "other"


@dataclass
class QuestionResult:
    """How one question fared; metric fields that do not apply to it (e.g. recall of an unanswerable
    question) are None."""

    question: EvalQuestion
    answer: Answer
    latency_ms: float
    correct: bool | None
    recall_at_5: bool | None
    citation_hit: bool | None
    citation_precision: float | None

    @property
    def abstained(self) -> bool:
        return self.answer.abstained

    def row(self) -> dict:
        """The `--output` line: the question id and the `qa ask --json` object."""
        return {"id": self.question.id, **self.answer.to_json()}

    def report_row(self) -> dict:
        """The question's line of the report: what was asked, what came back, and how it scored."""
        return {
            "id": self.question.id, "kind": self.question.kind, "question": self.question.question,
            "answerable": self.question.answerable, "answer": self.answer.answer, "abstained": self.abstained,
            "evidence": round(self.answer.evidence, 4), "correct": self.correct, "recall@5": self.recall_at_5,
            "citation_hit": self.citation_hit,
            "citation_precision": None if self.citation_precision is None else round(self.citation_precision, 4),
            "latency_ms": round(self.latency_ms, 1), "gold_titles": list(self.question.gold_titles),
            "cited_titles": list(dict.fromkeys(c.title for c in self.answer.citations)),
            "retrieved_titles": list(dict.fromkeys(r["title"] for r in self.answer.retrieved[:RECALL_AT])),
        }


@dataclass
class QAEvalResult:
    summary: dict
    by_kind: dict[str, dict]
    results: list[QuestionResult] = field(default_factory=list)

    def to_json(self) -> dict:
        """The `qa eval qa --json` object (without the per-question rows, which `--output` writes)."""
        return {**self.summary, "by_kind": self.by_kind}


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """The questions of a JSONL dataset file; raises DatasetError naming the line and field at fault."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found; pass a JSONL file of questions, e.g. "
                           "tests/eval/seed_questions.jsonl") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text; save the dataset as UTF-8 JSONL") from None
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc.msg}); write one JSON object per line") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object with id, question, answerable, gold_titles, "
                               "must_include")
        question = _question(row, where)
        if question.id in seen:
            raise DatasetError(f"{where}: field 'id' {question.id!r} repeats an earlier line; ids must be unique")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise DatasetError(f"{path}: no questions; add one JSON object per line")
    return questions


def _question(row: dict, where: str) -> EvalQuestion:
    def need(name: str, kind: type, example: str):
        value = row.get(name)
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            raise DatasetError(f"{where}: field '{name}' is missing or not {example}")
        return value

    qid = need("id", str, "a non-empty string")
    text = need("question", str, "a non-empty string")
    answerable = need("answerable", bool, "true or false")
    gold = need("gold_titles", list, "a list of article titles")
    groups = need("must_include", list, 'a list of lists of strings, e.g. [["2019"], ["FSTB", "Treasury"]]')
    if not all(isinstance(t, str) for t in gold):
        raise DatasetError(f"{where}: field 'gold_titles' must hold strings (article titles)")
    if not all(isinstance(g, list) and g and all(isinstance(a, str) and a.strip() for a in g) for g in groups):
        raise DatasetError(f"{where}: field 'must_include' must be a list of non-empty lists of strings, "
                           'e.g. [["2019"], ["FSTB", "Treasury"]]')
    if answerable and not gold:
        raise DatasetError(f"{where}: field 'gold_titles' is empty but the question is answerable; "
                           "name the article(s) that answer it")
    kind = row.get("kind") if isinstance(row.get("kind"), str) else ("other" if answerable else "unanswerable")
    return EvalQuestion(qid, text, answerable, tuple(gold), tuple(tuple(g) for g in groups), kind)


def normalise(text: str) -> str:
    """Lower case, straight quotes, no thousands separators, single spaces: how answers are matched."""
    text = _THOUSANDS.sub("", text.translate(_CURLY).lower())
    return " ".join(text.split())


def answer_contains(answer: str, must_include: Iterable[Sequence[str]]) -> bool:
    """True when the answer holds one alternative of every group (after `normalise` on both sides)."""
    answer = normalise(answer)
    return all(any(normalise(alternative) in answer for alternative in group) for group in must_include)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def score_answer(question: EvalQuestion, answer: Answer, latency_ms: float) -> QuestionResult:
    """Grades one answer. Retrieval and citation scores apply to answerable questions only; citation
    precision only when the answer cites something."""
    if not question.answerable:
        return QuestionResult(question, answer, latency_ms, None, None, None, None)
    gold = set(question.gold_titles)
    top_titles = [r["title"] for r in answer.retrieved[:RECALL_AT]]
    cited = [c.title for c in answer.citations]
    return QuestionResult(
        question, answer, latency_ms,
        correct=not answer.abstained and answer_contains(answer.answer, question.must_include),
        recall_at_5=any(t in gold for t in top_titles),
        citation_hit=any(t in gold for t in cited),
        citation_precision=sum(t in gold for t in cited) / len(cited) if cited else None,
    )


def summarise(results: Sequence[QuestionResult]) -> dict:
    """The metrics of `QAEvaluator` over some results; a metric with no question to average is None."""
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    precisions = [r.citation_precision for r in answerable if r.citation_precision is not None]
    latencies = [r.latency_ms for r in results]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_accuracy": _share(answerable, lambda r: r.correct),
        "recall@5": _share(answerable, lambda r: r.recall_at_5),
        "citation_accuracy": _share(answerable, lambda r: r.citation_hit),
        "citation_precision": round(sum(precisions) / len(precisions), 4) if precisions else None,
        "abstention_rate": _share(unanswerable, lambda r: r.abstained),
        "false_abstention_rate": _share(answerable, lambda r: r.abstained),
        "latency_p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "latency_p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
    }


def _share(results: Sequence[QuestionResult], passed: Callable[[QuestionResult], bool | None]) -> float | None:
    return round(sum(bool(passed(r)) for r in results) / len(results), 4) if results else None


class QAEvaluator:
    """Asks every question of a dataset through `Pipeline.ask` and computes, over the dataset:

    - ``answer_accuracy``: share of answerable questions whose answer is not an abstention and contains one
      alternative of every `must_include` group (ignoring case, curly quotes and thousands separators);
    - ``recall@5``: share of answerable questions with a gold article among the titles of the top 5
      retrieved chunks (fewer when `k` < 5);
    - ``citation_accuracy``: share of answerable questions whose answer cites at least one passage of a gold
      article (an abstention cites nothing, so it counts as a miss);
    - ``citation_precision``: mean over answerable questions with citations of the share of cited passages
      that come from gold articles;
    - ``abstention_rate``: share of unanswerable questions the app declined to answer;
    - ``false_abstention_rate``: share of answerable questions it declined;
    - ``latency_p50_ms`` / ``latency_p95_ms``: percentiles (linear interpolation) of the wall-clock time of
      `Pipeline.ask` per question, on a warm pipeline.

    The same metrics are also given per `kind` of question (`by_kind`).
    """

    def __init__(self, pipeline, *, k: int | None = None, llm: str | None = None):
        self.pipeline = pipeline
        self.k = k
        self.llm = llm

    def evaluate(self, questions: Sequence[EvalQuestion],
                 progress: Callable[[int, int], None] | None = None) -> QAEvalResult:
        self._warm_up()
        results: list[QuestionResult] = []
        for done, question in enumerate(questions, start=1):
            started = time.perf_counter()
            answer = self.pipeline.ask(question.question, k=self.k, llm=self.llm)
            latency_ms = (time.perf_counter() - started) * 1000
            results.append(score_answer(question, answer, latency_ms))
            if progress:
                progress(done, len(questions))
        kinds = sorted({r.question.kind for r in results})
        by_kind = {kind: summarise([r for r in results if r.question.kind == kind]) for kind in kinds}
        return QAEvalResult(summary=summarise(results), by_kind=by_kind, results=results)

    def _warm_up(self) -> None:
        # Load the model and open the index before timing, so that p95 measures questions, not start-up.
        self.pipeline.reader.refresh()
        self.pipeline.embedder.encode(["warm up"], use_cache=False)
