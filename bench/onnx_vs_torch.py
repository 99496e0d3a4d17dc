"""Compares the int8 ONNX Runtime encoder with sentence-transformers on torch: throughput on texts of 256
word pieces (the model's window), and SciFact nDCG@10 of dense retrieval with each (300 test queries).

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

from bench.common import SCIFACT, child_arguments, write_json

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
    ndcg = _scifact_ndcg(args.model_cache, corpus, queries, qrels, args.scifact_docs)
    write_json(args.out, {**throughput, **ndcg})


def _throughput(onnx, documents: list[str], n: int, rounds: int) -> dict:
    from sentence_transformers import SentenceTransformer

    lengths = onnx.count_tokens(documents)
    texts = [d for d, length in zip(documents, lengths) if length >= WINDOW][:n]
    model = SentenceTransformer(str(onnx.model_dir), device="cpu", local_files_only=True)
    model.max_seq_length = WINDOW
    batch = onnx.batch_size

    def run_torch():
        return model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)

    def run_onnx():
        return onnx.encode(texts, use_cache=False)

    model.encode(texts[:16], batch_size=batch)  # warm-up: the first batches are slow
    onnx.encode(texts[:16], use_cache=False)
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


def _scifact_ndcg(model_cache: Path, corpus: dict, queries: dict[str, str], qrels: dict, extra_docs: int) -> dict:
    """nDCG@10 of dense retrieval with each backend through `qa eval retrieval`'s evaluator: the app's own
    chunking, reindex and `Retriever.search(mode="dense")`, a document scoring its best chunk."""
    from qa.evaluate.retrieval_eval import BeirIndex, RetrievalEvaluator
    from qa.settings import Settings

    if extra_docs:
        judged = {doc for rels in qrels.values() for doc in rels}
        keep = judged | set([d for d in corpus if d not in judged][:extra_docs])
        corpus = {d: doc for d, doc in corpus.items() if d in keep}
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
