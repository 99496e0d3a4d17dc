"""Builds index generations of N chunks for the latency benchmarks: the cryptonews chunks repeated under
distinct article and chunk ids, with their embeddings reused from the reindexed index (nothing is encoded),
written through `qa.index.store` exactly as a reindex writes them (Chroma, chunk table, BM25, manifest).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from bench.common import child_arguments, write_json


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--source-index", type=Path, required=True, help="index folder of the reindexed corpus")
    parser.add_argument("--target", type=Path, action="append", required=True, help="index folder to build")
    parser.add_argument("--chunks", type=int, action="append", required=True, help="chunks of each target")
    args = parser.parse_args()

    from qa.index import local

    source = local.current_generation(args.source_index)
    manifest = source.manifest()
    chunks = source.read_chunks()
    vectors = _embeddings(source, [c.chunk_id for c in chunks])
    built = {}
    for target, n in zip(args.target, args.chunks):
        t = time.perf_counter()
        _build(target, chunks, vectors, n, manifest)
        built[str(n)] = round(time.perf_counter() - t, 1)
        print(f"  {n} chunks built in {built[str(n)]}s", flush=True)
    write_json(args.out, {"source_chunks": len(chunks), "build_seconds": built})


def _embeddings(generation, ids: list[str]) -> np.ndarray:
    from qa.index import local

    client = local.open_persistent_client(generation.folder / "chroma")
    try:
        collection = local.get_collection(client)
        found = {}
        for i in range(0, len(ids), 5000):
            part = collection.get(ids=ids[i:i + 5000], include=["embeddings"])
            found.update(zip(part["ids"], part["embeddings"]))
    finally:
        local.release_client(client)
    return np.asarray([found[i] for i in ids], dtype=np.float32)


def _build(index_dir: Path, chunks: list, vectors: np.ndarray, n: int, source_manifest: dict) -> None:
    from qa.index import local

    copies = []
    for i in range(n):
        chunk = chunks[i % len(chunks)]
        article_id = f"{chunk.article_id}~{i // len(chunks)}"
        copies.append(dataclasses.replace(chunk, article_id=article_id, chunk_id=f"{article_id}::{chunk.index}"))
    folder = local.new_generation_folder(index_dir)
    client = local.open_persistent_client(folder / "chroma")
    try:
        collection = local.get_collection(client, create=True)
        step = min(client.get_max_batch_size(), 5000)
        for i in range(0, n, step):
            batch = copies[i:i + step]
            collection.add(
                ids=[c.chunk_id for c in batch],
                embeddings=np.stack([vectors[j % len(chunks)] for j in range(i, i + len(batch))]),
                documents=[c.text for c in batch],
                metadatas=[c.chroma_metadata() for c in batch],
            )
    finally:
        local.release_client(client)
    local.write_chunk_table(folder, copies)
    from qa.index.bm25 import build_bm25

    build_bm25([c.embedding_text for c in copies], folder / "bm25")
    articles: dict[str, dict] = {}
    for chunk in copies:
        entry = articles.setdefault(chunk.article_id, {"hash": "", "title": chunk.title, "path": chunk.path,
                                                       "chunks": []})
        entry["chunks"].append(chunk.chunk_id)
    local.publish_generation(index_dir, folder, {
        **source_manifest,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "articles": articles,
        "counts": {"articles": len(articles), "chunks": n},
    })


if __name__ == "__main__":
    main()
