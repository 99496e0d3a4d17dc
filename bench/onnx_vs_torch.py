"""Compares the int8 ONNX Runtime encoder with sentence-transformers on torch (throughput on texts of 256
word pieces, the model's window), with the `torch` backend (the default until these figures made int8 the
default; served through the model's fp32 ONNX export: throughput at the batch sizes of a reindex and of a
question), and SciFact nDCG@10 of dense retrieval with int8 and with `torch` (300 test queries).

Throughput: the same texts, the same batch size, both models warmed up, the best of `--rounds` alternating
runs of each (this machine's speed drifts by up to a third from one run to the next, so many short alternating
runs give a steadier ratio than a few long ones).
SciFact: dense retrieval through the evaluator of `qa eval retrieval` (the app's chunking and search); the
vectors go through the embedding cache (keyed by model and backend), so a second run of the benchmark, or one
after `qa eval retrieval`, does not embed the corpus again.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.common import SCIFACT, child_arguments, scifact_subset, write_json

WINDOW = 256


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--model-cache", type=Path, required=True)
    parser.add_argument("--texts", type=int, default=384, help="256-token texts for the throughput test")
    parser.add_argument("--rounds", type=int, default=6, help="alternating timed runs of each backend")
    parser.add_argument("--scifact-docs", type=int, default=0, help="unjudged documents kept (0: all)")
    args = parser.parse_args()

    from qa.evaluate.beir import load_beir
    from qa.index.embed import Embedder
    from qa.settings import Settings

    onnx = Embedder(Settings(cache_dir=args.model_cache, embedding_backend="onnx"))
    corpus, queries, qrels = load_beir(SCIFACT, "test")
    documents = {doc_id: f"{doc['title']} {doc['text']}".strip() for doc_id, doc in corpus.items()}

    throughput = _throughput(onnx, list(documents.values()), args.texts, args.rounds)
    default = _vs_default(onnx, list(documents.values()), list(queries.values()), args.texts, args.rounds,
                          args.model_cache)
    ndcg = _scifact_ndcg(args.model_cache, corpus, queries, qrels, args.scifact_docs)
    write_json(args.out, {**throughput, **default, **ndcg})


def _throughput(onnx, documents: list[str], n: int, rounds: int) -> dict:
    from sentence_transformers import SentenceTransformer

    lengths = onnx.count_tokens(documents)
    texts = [d for d, length in zip(documents, lengths) if length >= WINDOW][:n]
    model = SentenceTransformer(str(onnx.model_dir), device="cpu", local_files_only=True)
    model.max_seq_length = WINDOW
    batch = onnx.batch_size

    def run_torch():
        return model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)

    def run_onnx():  # past both caches (`encode` would find the texts in memory from the second round on)
        return onnx._encode(texts, False)

    model.encode(texts[:16], batch_size=batch)  # warm-up: the first batches are slow
    onnx._encode(texts[:16], False)
    best = {"torch": float("inf"), "onnx": float("inf")}
    vectors = {}
    for _ in range(rounds):
        for name, run in (("torch", run_torch), ("onnx", run_onnx)):
            t = time.perf_counter()
            vectors[name] = run()
            best[name] = min(best[name], time.perf_counter() - t)
    cosine = np.sum(vectors["torch"] * vectors["onnx"], axis=1)
    result = {
        "throughput_texts": len(texts),
        "throughput_rounds": rounds,
        "torch_texts_per_s": len(texts) / best["torch"],
        "onnx_texts_per_s": len(texts) / best["onnx"],
        "onnx_speedup": best["torch"] / best["onnx"],
        "onnx_vs_torch_cosine_min": float(cosine.min()),
        "onnx_vs_torch_cosine_mean": float(cosine.mean()),
    }
    print(f"  torch {result['torch_texts_per_s']:.1f}/s, onnx {result['onnx_texts_per_s']:.1f}/s, "
          f"speed-up {result['onnx_speedup']:.2f}", flush=True)
    return result


def _vs_default(onnx, documents: list[str], questions: list[str], n: int, rounds: int, model_cache: Path) -> dict:
    """int8 ONNX against the `torch` backend (the default until this figure made int8 the default; it serves
    through the model's fp32 ONNX export), as the app calls each: chunk texts of the chunker's size in batches
    of `embedding_batch_size` (a reindex), and one question at a time (a search). Alternating rounds, the best
    of each."""
    from qa.index.embed import Embedder
    from qa.settings import Settings

    # The backend that was the default until this comparison made int8 ONNX the default (issue 14): `torch`.
    default = Embedder(Settings(cache_dir=model_cache, embedding_backend="torch"))
    chunk_tokens = Settings().chunk_tokens
    lengths = onnx.count_tokens(documents)
    texts = [d for d, length in zip(documents, lengths) if length >= chunk_tokens][:n]
    questions = questions[:64]
    runs = {
        ("reindex", "default"): lambda: default._encode(texts, False),
        ("reindex", "onnx"): lambda: onnx._encode(texts, False),
        ("query", "default"): lambda: [default._encode([q], False) for q in questions],
        ("query", "onnx"): lambda: [onnx._encode([q], False) for q in questions],
    }
    for embedder in (default, onnx):  # loads both models; the first batches are slow
        embedder._encode(texts[:16], False)
        embedder._encode(questions[:1], False)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for key, run in runs.items():
            t = time.perf_counter()
            run()
            best[key] = min(best[key], time.perf_counter() - t)
    result = {
        "default_backend": default.backend,
        "default_encoder": type(default._load()).__name__ + (" fp32" if default.backend == "torch" else ""),
        "default_vs_onnx_batch_size": default.batch_size,
        "default_vs_onnx_texts": len(texts),
        "default_vs_onnx_questions": len(questions),
        "default_reindex_texts_per_s": len(texts) / best[("reindex", "default")],
        "onnx_reindex_texts_per_s": len(texts) / best[("reindex", "onnx")],
        "default_query_ms": 1000 * best[("query", "default")] / len(questions),
        "onnx_query_ms": 1000 * best[("query", "onnx")] / len(questions),
        "onnx_vs_default_speedup": best[("reindex", "default")] / best[("reindex", "onnx")],
        "onnx_vs_default_query_speedup": best[("query", "default")] / best[("query", "onnx")],
    }
    print(f"  vs the torch backend ({result['default_encoder']}): reindex batches "
          f"{result['onnx_vs_default_speedup']:.2f}x, single questions {result['onnx_vs_default_query_speedup']:.2f}x",
          flush=True)
    return result


def _scifact_ndcg(model_cache: Path, corpus: dict, queries: dict[str, str], qrels: dict, extra_docs: int) -> dict:
    """nDCG@10 of dense retrieval with each backend through `qa eval retrieval`'s evaluator: the app's own
    chunking, reindex and `Retriever.search(mode="dense")`, a document scoring its best chunk."""
    from qa.evaluate.retrieval_eval import BeirIndex, RetrievalEvaluator
    from qa.settings import Settings

    corpus = scifact_subset(corpus, qrels, extra_docs)
    result: dict = {"scifact_documents": len(corpus), "scifact_queries": len(queries)}
    for backend in ("torch", "onnx"):
        t = time.perf_counter()
        settings = Settings(cache_dir=model_cache, embedding_backend=backend)
        evaluator = RetrievalEvaluator(settings, modes=("dense",))
        with BeirIndex(settings, corpus) as index:
            metrics = evaluator.evaluate_index(index, queries, qrels, dataset=str(SCIFACT), split="test").metrics
            result[f"scifact_chunks_{backend}"] = len(index.reader.chunks)
        result[f"scifact_ndcg10_{backend}"] = metrics["dense"]["ndcg@10"]
        print(f"  SciFact nDCG@10 dense, {backend}: {metrics['dense']['ndcg@10']:.4f} "
              f"({time.perf_counter() - t:.0f}s)", flush=True)
    result["onnx_ndcg_drop"] = result["scifact_ndcg10_torch"] - result["scifact_ndcg10_onnx"]
    return result


if __name__ == "__main__":
    main()
