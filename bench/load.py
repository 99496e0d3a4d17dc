"""Load: 8 askers (threads) put questions to one `Pipeline` for 60 s while the same index is reindexed.

The index is the reindexed cryptonews corpus. In a thread of its own the pipeline reindexes it the whole time:
first a full reindex (`--full` over the warm embedding cache: every chunk chunked, looked up and written to a new
Chroma store again), then incremental reindexes, each after one article was edited (as `qa sync` brings updates),
until the askers stop; every reindex publishes a new generation, which the askers' next questions open. Each
asker takes the next of 3,000 distinct questions (the benchmark questions, then cryptonews headlines made
into questions; one is asked again only after all the others), without pause, so nearly every question is a
first-time one. An exception from `ask` is an error;
so is a reindex that fails. Reported: answered questions per second, latency percentiles, errors.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
import traceback
from pathlib import Path

from bench.common import child_arguments, load_questions, summary_ms, write_json


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--corpus-dir", type=Path, required=True)
    parser.add_argument("--model-cache", type=Path, required=True)
    parser.add_argument("--embedding-cache", type=Path, required=True, help="the cache the reindex filled")
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--askers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--questions", type=int, default=3000,
                        help="distinct questions (the benchmark's, then cryptonews headlines), asked in turn")
    args = parser.parse_args()

    from qa.index.embed import EmbeddingCache
    from qa.pipeline import Pipeline
    from qa.settings import Settings

    settings = Settings(index_dir=args.index_dir, corpus_dir=args.corpus_dir, cache_dir=args.model_cache,
                        embedding_backend=args.backend)
    pipeline = Pipeline(settings)
    pipeline.embedder.cache = EmbeddingCache(args.embedding_cache, pipeline.embedder.model_key)
    questions = load_questions(args.questions)
    pipeline.ask("What is a stablecoin?")  # loads the model and opens the index

    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    reindexes: list[dict] = []
    lock = threading.Lock()

    turns = itertools.count()  # the askers share one sequence, so a question comes again only after all others

    def asker() -> None:
        while not stop.is_set():
            question = questions[next(turns) % len(questions)]
            t = time.perf_counter()
            try:
                pipeline.ask(question)
            except Exception:
                with lock:
                    errors.append(traceback.format_exc(limit=3))
                continue
            ms = (time.perf_counter() - t) * 1000
            with lock:
                if not stop.is_set():
                    latencies.append(ms)

    def reindexer() -> None:
        full = True
        while not stop.is_set():
            if not full:
                _edit_one_article(settings.corpus_dir, len(reindexes))
            t = time.perf_counter()
            try:
                report = pipeline.reindex(full=full, wait=True)
                reindexes.append({"full": full, "seconds": round(time.perf_counter() - t, 2),
                                  "summary": report.summary()})
            except Exception:
                with lock:
                    errors.append("reindex: " + traceback.format_exc(limit=3))
                return
            full = False

    threads = [threading.Thread(target=asker, daemon=True) for _ in range(args.askers)]
    writer = threading.Thread(target=reindexer, daemon=True)
    started = time.perf_counter()
    writer.start()
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    writer.join()
    print(f"  {len(latencies)} answers in {elapsed:.0f}s by {args.askers} askers, {len(reindexes)} reindexes, "
          f"{len(errors)} errors", flush=True)
    for error in errors[:3]:
        print(error, flush=True)
    write_json(args.out, {
        "askers": args.askers,
        "seconds": round(elapsed, 1),
        "answered": len(latencies),
        "questions_per_s": len(latencies) / elapsed,
        "latency_ms": summary_ms(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "reindexes": reindexes,
        "chunks": len(pipeline.reader.chunks),
    })


def _edit_one_article(corpus_dir: Path, n: int) -> None:
    """Appends a correction to one article of the JSONL corpus (a different one each time)."""
    path = corpus_dir / "corpus.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    i = (n * 97) % len(lines)
    row = json.loads(lines[i])
    row["text"] = row["text"].rstrip() + f" (Correction {n}.)"
    lines[i] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
