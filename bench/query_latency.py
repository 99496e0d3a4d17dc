"""Latency of answering over one index, per question, in one long-running process (as the app runs):

- first-question latency on long passages: `Pipeline.ask` for SQuAD 2.0 dev questions (their passages are the
  Wikipedia paragraphs of the index), first *cold* (right after the process opened the index and answered three
  warm-up questions of another topic, so no vector of those passages' sentences is cached), then *warm* (the
  same questions again: their sentences' vectors come from the process's cache);
- retrieval: `Retriever.search` (query embedding + dense + BM25 + fusion), hybrid, no filters;
- filtered retrieval, each filter alone and all combined (jurisdiction, source, date range): the app's
  search, and beside it the baseline, Chroma's own filtered `collection.query(where=...)` for the same
  candidates, both including the query's embedding;
- the full extractive answer for the benchmark questions (cryptonews topics), then again (cached sentences);
  before each pass over the questions the process's vector cache is emptied, so every search and answer of a
  pass includes embedding its question;
- the baseline of unfiltered search: LangChain's plain `Chroma.similarity_search` on the same collection, with the
  same encoder.

A few warm-up questions (not timed) load the model and the index first.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from bench.common import SQUAD, child_arguments, load_questions, summary_ms, write_json

WARM_UP = ["What is a stablecoin?", "Who regulates crypto exchanges?", "What did the SEC do this week?"]


def bench_filters(chunks) -> dict:
    """The filters timed: each alone, then combined. The date ranges follow the index's dates (cryptonews's,
    October 2021 to July 2022 in a full run): the second quarter of its dated passages alone, and the middle
    80% of them combined with two jurisdictions and one source."""
    import numpy as np

    from qa.search.filters import Filters

    dates = np.sort([c.published_date for c in chunks if c.published_date])

    def day(q: float) -> dt.date:
        value = int(dates[min(len(dates) - 1, int(q * len(dates)))])
        return dt.date(value // 10000, value // 100 % 100, value % 100)

    return {
        "jurisdiction": Filters(jurisdictions=("United States",)),
        "source": Filters(sources=("CoinTelegraph",)),
        "date": Filters(date_from=day(0.25), date_to=day(0.5)),
        "combined": Filters(jurisdictions=("United States", "United Kingdom"), sources=("CoinTelegraph",),
                            date_from=day(0.1), date_to=day(0.9)),
    }


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--model-cache", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--questions", type=int, default=100, help="benchmark questions (retrieval, answers)")
    parser.add_argument("--squad-questions", type=int, default=60, help="SQuAD questions (cold and warm answers)")
    parser.add_argument("--baseline-questions", type=int, default=30, help="questions per filter for Chroma's where")
    args = parser.parse_args()

    from qa.pipeline import Pipeline
    from qa.settings import Settings

    settings = Settings(index_dir=args.index_dir, cache_dir=args.model_cache, embedding_backend=args.backend,
                        corpus_dir=args.scratch / "no-corpus")
    t = time.perf_counter()
    pipeline = Pipeline(settings)
    for question in WARM_UP:
        pipeline.ask(question)
    ready_s = time.perf_counter() - t
    index = pipeline.reader.snapshot()
    chunks = len(index.chunks)
    squad = _squad_questions(args.squad_questions, {c.title for c in index.chunks})

    # First, before anything else embeds passage sentences in this process.
    cold, squad_abstained = _timed_asks(pipeline, squad)
    warm, _ = _timed_asks(pipeline, squad)

    questions = load_questions(args.questions)
    retrieval, stages = [], {}
    _forget_vectors(pipeline)
    for question in questions:
        t = time.perf_counter()
        result = pipeline.retriever.search(question)
        retrieval.append(_ms(t))
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)

    filters = bench_filters(index.chunks)
    let_through = {name: _let_through(index, f) for name, f in filters.items()}
    filtered, filtered_stages, where = {}, {}, {}
    for name, chosen in filters.items():
        times, per_stage = [], {}
        _forget_vectors(pipeline)
        for question in questions:
            t = time.perf_counter()
            result = pipeline.retriever.search(question, filters=chosen)
            times.append(_ms(t))
            for stage, ms in result.timings_ms.items():
                per_stage.setdefault(stage, []).append(ms)
        filtered[name] = summary_ms(times)
        filtered_stages[name] = {stage: summary_ms(values) for stage, values in per_stage.items()}
        _forget_vectors(pipeline)
        where[name] = summary_ms(_chroma_where(pipeline, index, questions[:args.baseline_questions], chosen))
        print(f"  {name}: lets {let_through[name]:.1%} through; p95 {filtered[name]['p95']} ms, "
              f"Chroma where {where[name]['p95']} ms", flush=True)

    _forget_vectors(pipeline)
    answer, abstained = _timed_asks(pipeline, questions)
    answer_again, _ = _timed_asks(pipeline, questions)
    _forget_vectors(pipeline)
    chroma = _chroma_only(pipeline, questions, settings.top_k)

    write_json(args.out, {
        "chunks": chunks,
        "open_and_warm_up_s": round(ready_s, 2),
        "retrieval_ms": summary_ms(retrieval),
        "retrieval_stages_ms": {stage: summary_ms(values) for stage, values in stages.items()},
        "filters": {name: _describe(f) for name, f in filters.items()},
        "filter_lets_through": let_through,
        "retrieval_filtered_ms": filtered,
        "retrieval_filtered_stages_ms": filtered_stages,
        "retrieval_filtered_worst_p95_ms": max(s["p95"] for s in filtered.values()),
        "chroma_where_ms": where,
        "chroma_where_worst_p95_ms": max(s["p95"] for s in where.values()),
        "squad_questions": len(squad),
        "answer_cold_ms": summary_ms(cold),
        "answer_warm_ms": summary_ms(warm),
        "squad_answers_abstained": squad_abstained,
        "answer_ms": summary_ms(answer),
        "answer_cached_sentences_ms": summary_ms(answer_again),
        "answers_abstained": abstained,
        "chroma_only_ms": summary_ms(chroma),
    })


def _describe(filters) -> str:
    """The filter's set fields, e.g. `jurisdictions in United States; published 2022-01-01 to 2022-03-31`."""
    parts = [f"{name} in {', '.join(values)}" for name, values in
             (("sources", filters.sources), ("categories", filters.categories),
              ("jurisdictions", filters.jurisdictions)) if values]
    if filters.date_from or filters.date_to:
        parts.append(f"published {filters.date_from or '…'} to {filters.date_to or '…'}")
    return "; ".join(parts)


def _timed_asks(pipeline, questions: list[str]) -> tuple[list[float], int]:
    """Milliseconds of `Pipeline.ask` for each question, in turn, and how many answers abstained."""
    times, abstained = [], 0
    for question in questions:
        t = time.perf_counter()
        abstained += pipeline.ask(question).abstained
        times.append(_ms(t))
    return times, abstained


def _forget_vectors(pipeline) -> None:
    """Empties the process's cache of question and sentence vectors, so that a pass over the questions embeds
    each one again (every search below includes its query's embedding)."""
    from qa.index.embed import MemoryVectorCache

    pipeline.embedder.memory = MemoryVectorCache(pipeline.embedder.memory.capacity)


def _squad_questions(n: int, titles: set[str]) -> list[str]:
    """The first `n` questions of the SQuAD 2.0 dev sample (answerable and unanswerable, as they come) about
    the articles the index holds."""
    out = []
    with (SQUAD / "questions_500.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if set(row["gold_titles"]) & titles:
                out.append(row["question"])
            if len(out) == n:
                break
    return out


def _let_through(index, filters) -> float:
    from qa.search.filters import FilterColumns

    return float(FilterColumns(index.chunks).mask(filters).mean())


def _chroma_where(pipeline, index, questions: list[str], filters) -> list[float]:
    """Chroma's own filtered search for the candidates a search asks of it: query embedding + `query(where=)`."""
    pool = max(4 * pipeline.settings.top_k, 30)
    out = []
    for question in questions:
        t = time.perf_counter()
        vector = pipeline.embedder.encode([question], use_cache=False)[0]
        index.collection.query(query_embeddings=[vector.tolist()], n_results=pool, where=filters.chroma_where(),
                               include=["distances"])
        out.append(_ms(t))
    return out


def _chroma_only(pipeline, questions: list[str], k: int) -> list[float]:
    """LangChain's `Chroma.similarity_search` over the same collection, embedding with the same model."""
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    from qa.index.backend import COLLECTION

    embedder = pipeline.embedder

    class SameEncoder(Embeddings):
        def embed_documents(self, texts):
            return embedder.encode(texts).tolist()

        def embed_query(self, text):
            return embedder.encode([text], use_cache=False)[0].tolist()

    from qa.index.local import open_persistent_client

    # A client of the same folder: Chroma shares one system per path, so this opens nothing twice.
    client = open_persistent_client(pipeline.reader.snapshot().folder / "chroma")
    chroma = Chroma(client=client, collection_name=COLLECTION, embedding_function=SameEncoder())
    chroma.similarity_search(WARM_UP[0], k=k)
    out = []
    for question in questions:
        t = time.perf_counter()
        chroma.similarity_search(question, k=k)
        out.append(_ms(t))
    return out


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
