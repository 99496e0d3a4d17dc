"""Compares the int8 ONNX Runtime encoder with sentence-transformers on torch: throughput on texts of 256
word pieces (the model's window), and SciFact nDCG@10 of dense retrieval with each (300 test queries).

Throughput: the same texts, the same batch size, both models warmed up, best of two alternating runs.
SciFact: documents are `title + " " + text` as BEIR embeds them; vectors go through the embedding cache
(keyed by model and backend), so a second run of the benchmark does not embed the corpus again.
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
    parser.add_argument("--scifact-docs", type=int, default=0, help="unjudged documents kept (0: all)")
    args = parser.parse_args()

    from qa.embed import Embedder
    from qa.evaluate.beir import load_beir
    from qa.settings import Settings

    onnx = Embedder(Settings(cache_dir=args.model_cache, embedding_backend="onnx"))
    torch_backend = Embedder(Settings(cache_dir=args.model_cache, embedding_backend="torch"))
    corpus, queries, qrels = load_beir(SCIFACT, "test")
    documents = {doc_id: f"{doc['title']} {doc['text']}".strip() for doc_id, doc in corpus.items()}

    throughput = _throughput(onnx, list(documents.values()), args.texts)
    ndcg = _scifact_ndcg({"torch": torch_backend, "onnx": onnx}, documents, queries, qrels, args.scifact_docs)
    write_json(args.out, {**throughput, **ndcg})


def _throughput(onnx, documents: list[str], n: int) -> dict:
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
    for _ in range(2):
        for name, run in (("torch", run_torch), ("onnx", run_onnx)):
            t = time.perf_counter()
            vectors[name] = run()
            best[name] = min(best[name], time.perf_counter() - t)
    cosine = np.sum(vectors["torch"] * vectors["onnx"], axis=1)
    result = {
        "throughput_texts": len(texts),
        "torch_texts_per_s": len(texts) / best["torch"],
        "onnx_texts_per_s": len(texts) / best["onnx"],
        "onnx_speedup": best["torch"] / best["onnx"],
        "onnx_vs_torch_cosine_min": float(cosine.min()),
        "onnx_vs_torch_cosine_mean": float(cosine.mean()),
    }
    print(f"  torch {result['torch_texts_per_s']:.1f}/s, onnx {result['onnx_texts_per_s']:.1f}/s, "
          f"speed-up {result['onnx_speedup']:.2f}", flush=True)
    return result


def _scifact_ndcg(embedders: dict, documents: dict[str, str], queries: dict[str, str], qrels: dict,
                  extra_docs: int) -> dict:
    from qa.evaluate.metrics import ndcg_at_k

    if extra_docs:
        judged = {doc for rels in qrels.values() for doc in rels}
        keep = judged | set([d for d in documents if d not in judged][:extra_docs])
        documents = {d: text for d, text in documents.items() if d in keep}
    doc_ids = list(documents)
    query_ids = [q for q in queries if q in qrels]
    result = {"scifact_documents": len(doc_ids), "scifact_queries": len(query_ids)}
    for name, embedder in embedders.items():
        t = time.perf_counter()
        doc_vectors = embedder.encode([documents[d] for d in doc_ids])
        query_vectors = embedder.encode([queries[q] for q in query_ids], use_cache=False)
        scores = query_vectors @ doc_vectors.T
        run = {}
        for q, row in zip(query_ids, scores):
            top = np.argpartition(-row, 100)[:100]
            run[q] = {doc_ids[i]: float(row[i]) for i in top}
        result[f"scifact_ndcg10_{name}"] = ndcg_at_k(run, qrels, 10)
        print(f"  SciFact nDCG@10 {name}: {result[f'scifact_ndcg10_{name}']:.4f} "
              f"({time.perf_counter() - t:.0f}s)", flush=True)
    result["onnx_ndcg_drop"] = result["scifact_ndcg10_torch"] - result["scifact_ndcg10_onnx"]
    return result


if __name__ == "__main__":
    main()
