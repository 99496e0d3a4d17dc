"""Latency of answering over one index, per question, in one long-running process (as the app runs):

- retrieval: `Retriever.search` (query embedding + dense + BM25 + fusion), hybrid, no filters;
- retrieval with a jurisdiction filter (the filter masks and Chroma's `where`);
- the full extractive answer: `Pipeline.ask` (retrieval, then embedding and scoring the passages' sentences),
  first with an empty embedding cache (every sentence not seen before is embedded), then again for the same
  questions (their sentences come from the cache, as for a question asked before);
- the baseline: LangChain's plain `Chroma.similarity_search` on the same collection, with the same encoder.

The embedding cache is a copy of the one the reindex filled, as in an installation after `qa reindex`: a
sentence that is a whole chunk is found there, every other sentence is embedded when first needed. A few
warm-up questions (not timed) load the model and the index first.
"""
from __future__ import annotations

import time
from pathlib import Path

from bench.common import child_arguments, load_questions, summary_ms, write_json

WARM_UP = ["What is a stablecoin?", "Who regulates crypto exchanges?", "What did the SEC do this week?"]


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--model-cache", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the copy of the embedding cache")
    parser.add_argument("--embedding-cache", type=Path, required=True, help="the cache the reindex filled")
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()

    from qa.index.embed import EmbeddingCache
    from qa.pipeline import Pipeline
    from qa.search.retrieve import Filters
    from qa.settings import Settings

    settings = Settings(index_dir=args.index_dir, cache_dir=args.model_cache, embedding_backend=args.backend,
                        corpus_dir=args.scratch / "no-corpus")
    t = time.perf_counter()
    pipeline = Pipeline(settings)
    pipeline.embedder.cache = EmbeddingCache(_copy_cache(args.embedding_cache, args.scratch / "embeddings.sqlite"),
                                             pipeline.embedder.model_key)
    for question in WARM_UP:
        pipeline.ask(question)
    ready_s = time.perf_counter() - t
    chunks = len(pipeline.reader.chunks)
    questions = load_questions(args.questions)
    # Most cryptonews dates are not ISO dates, so a date filter would let nothing through.
    filters = Filters(jurisdictions=("United States",))

    retrieval, filtered, answer, stages = [], [], [], {}
    for question in questions:
        t = time.perf_counter()
        result = pipeline.retriever.search(question)
        retrieval.append(_ms(t))
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
        t = time.perf_counter()
        pipeline.retriever.search(question, filters=filters)
        filtered.append(_ms(t))
    abstained, answer_again = 0, []
    for question in questions:
        t = time.perf_counter()
        abstained += pipeline.ask(question).abstained
        answer.append(_ms(t))
    for question in questions:
        t = time.perf_counter()
        pipeline.ask(question)
        answer_again.append(_ms(t))
    chroma = _chroma_only(pipeline, questions, settings.top_k)

    write_json(args.out, {
        "chunks": chunks,
        "open_and_warm_up_s": round(ready_s, 2),
        "retrieval_ms": summary_ms(retrieval),
        "retrieval_stages_ms": {stage: summary_ms(values) for stage, values in stages.items()},
        "retrieval_filtered_ms": summary_ms(filtered),
        "answer_ms": summary_ms(answer),
        "answer_cached_sentences_ms": summary_ms(answer_again),
        "answers_abstained": abstained,
        "chroma_only_ms": summary_ms(chroma),
    })


def _copy_cache(source: Path, target: Path) -> Path:
    """A consistent copy of an SQLite file in WAL mode (its -wal file included), so the bench leaves it as it was."""
    import sqlite3

    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(str(source)) as src, sqlite3.connect(str(target)) as dst:
        src.backup(dst)
    return target


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

    chroma = Chroma(client=pipeline.reader.snapshot().collection._client, collection_name=COLLECTION,
                    embedding_function=SameEncoder())
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
