"""Times `reindex(full=True)` of the cryptonews articles against its encoder ceiling (encoding the same chunk
texts alone, same model and backend), then a second full reindex over the warm embedding cache, then an
incremental reindex after one article is edited.

The model is loaded and warmed up before any timer starts: both sides of every ratio then measure work
done per article, not the one-off model load. The reindexes and the ceilings alternate, and the best of
each is compared, so that a burst of load from other processes hits both sides alike.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from bench.common import child_arguments, write_json


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--corpus-dir", type=Path, required=True)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--model-cache", type=Path, required=True, help="QA cache folder holding the ONNX exports")
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the fresh embedding caches")
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from qa.index import local
    from qa.index.embed import Embedder, EmbeddingCache
    from qa.index.reindex import reindex
    from qa.ingest.chunk import Chunker
    from qa.ingest.load import load_corpus
    from qa.settings import Settings

    settings = Settings(corpus_dir=args.corpus_dir, index_dir=args.index_dir, cache_dir=args.model_cache,
                        embedding_backend=args.backend)
    embedder = Embedder(settings, use_cache=False)
    loaded = load_corpus(settings.corpus_dir)
    chunker = Chunker(embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_sentences)
    texts = [c.embedding_text for group in chunker.chunk_many(loaded.articles) for c in group]
    embedder._encode(texts[:256], False)  # loads the model; the first batches are slow

    encoded: list[int] = []  # texts that reached the model, to check that a warm cache re-embeds nothing
    encode_texts = embedder._encode
    embedder._encode = lambda batch, show: (encoded.append(len(batch)), encode_texts(batch, show))[1]

    ceiling_s, reindex_s, stages = [], [], []
    for rep in range(args.repeats):
        t = time.perf_counter()
        embedder._encode(texts, False)  # past both caches: `encode` keeps up to 20,000 texts in memory
        ceiling_s.append(time.perf_counter() - t)
        # A fresh embedding cache, so that the full reindex embeds every chunk.
        embedder.cache = EmbeddingCache(args.scratch / f"cache-{rep}" / "embeddings.sqlite", embedder.model_key)
        marks: dict[str, float] = {}
        t = time.perf_counter()
        report = reindex(settings, full=True, embedder=embedder,
                         progress=lambda stage, done, total, marks=marks, t=t: marks.setdefault(
                             f"{stage}:{done == total}", time.perf_counter() - t))
        reindex_s.append(time.perf_counter() - t)
        stages.append({k: round(v, 3) for k, v in marks.items()})
        print(f"  rep {rep}: ceiling {ceiling_s[-1]:.1f}s, reindex {reindex_s[-1]:.1f}s ({report.summary()})",
              flush=True)
    chunks = report.chunks

    encoded.clear()
    t = time.perf_counter()
    cached = reindex(settings, full=True, embedder=embedder)
    cached_full_s = time.perf_counter() - t
    reembedded = sum(encoded)

    edited_id = _edit_one_article(settings.corpus_dir)
    encoded.clear()
    t = time.perf_counter()
    incremental = reindex(settings, embedder=embedder)
    incremental_s = time.perf_counter() - t
    generation = local.current_generation(settings.index_dir)
    edited_chunks = generation.manifest()["articles"][edited_id]["chunks"]

    write_json(args.out, {
        "backend": args.backend,
        "articles": report.articles,
        "chunks": chunks,
        "ceiling_s": ceiling_s,
        "reindex_s": reindex_s,
        "stage_marks_s": stages,
        "cached_full_s": cached_full_s,
        "cached_full_reembedded_texts": reembedded,
        "cached_full_summary": cached.summary(),
        "incremental_s": incremental_s,
        "incremental_summary": incremental.summary(),
        "incremental_embedded_texts": sum(encoded),
        "incremental_edited_chunks": len(edited_chunks),
    })


def _edit_one_article(corpus_dir: Path) -> str:
    """Changes the text of one article in the middle of the JSONL file, as an editor fixing a typo would."""
    path = corpus_dir / "corpus.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    i = len(lines) // 2
    row = json.loads(lines[i])
    row["text"] = row["text"].rstrip() + " (Updated with a correction.)"
    lines[i] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"corpus.jsonl#{row['_id']}"


if __name__ == "__main__":
    main()
