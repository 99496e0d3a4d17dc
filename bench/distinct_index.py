"""Builds the index generations of the latency benchmarks (N = 10k and 100k passages): every passage distinct.

How the passages are made (bench/results.md repeats this):

1. Real passages, each embedded for real with the benchmark's encoder (the int8 ONNX model by default),
   in this order: the chunks of SQuAD 2.0 dev (35 Wikipedia articles: long passages, and questions with
   known answers for the answer benchmark), of the reindexed cryptonews articles (their vectors read from
   that index), and of SciFact (its vectors from the QA cache, where the encoder benchmark put them). All are
   chunked by the app's chunker with the app's settings; a passage whose text repeats an earlier one is
   left out.
2. Beyond them, sentence mixtures: passage k joins the first half of the sentences of a real passage A to the
   second half of those of another real passage B (both of at least two sentences; A and B drawn at random
   with a fixed seed), under A's title. Its vector is *drawn around real ones*, not encoded (encoding 75k
   passages would take most of the benchmark's half hour): the normalized mean of A's and B's vectors
   weighted by their sentences' share of the text, plus gaussian noise (sigma 0.01 per dimension, about 0.2
   in norm), normalized again.
3. No two passages have the same text: checked, and the count is reported (`distinct_passages_100k`).

Metadata for the filters: a cryptonews chunk keeps its article's source, jurisdictions (detected by the app
at load) and date (cryptonews dates are day-month-year, which the app's loader leaves undated; here they
are parsed). A SQuAD or SciFact article, and a mixture, takes the source, date and jurisdictions of one
cryptonews article chosen by a hash of its id (mixtures: of A's article), so the filters' selectivity
follows the real news corpus. A smaller N is a prefix of the same list (real passages first).

Sentence vectors (what the answerer reads, `qa.index.sentences`): a real passage's come from its own encoder
pass, as a reindex stores them; a mixture's sentence takes the vector that sentence has in A or B, and one that
the mixture's sentence splitter cuts differently has none (the answerer encodes it when it reads it).

Each target is written through `qa.index.local` as a reindex writes it (Chroma, chunk table, vectors.npy,
sentence vectors, BM25, manifest). Nothing is encoded but the real passages missing from the cache.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from bench.common import CRYPTONEWS, SCIFACT, SQUAD_CORPUS, child_arguments, scifact_subset, write_json

NOISE_SIGMA = 0.01
SEED = 14


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--source-index", type=Path, required=True, help="index folder of the reindexed cryptonews")
    parser.add_argument("--model-cache", type=Path, required=True, help="QA cache folder (encoder, embedding cache)")
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the SciFact corpus file")
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--scifact-docs", type=int, default=0, help="unjudged SciFact documents kept (0: all)")
    parser.add_argument("--squad-articles", type=int, default=0, help="SQuAD articles kept (0: all 35)")
    parser.add_argument("--target", type=Path, action="append", required=True, help="index folder to build")
    parser.add_argument("--chunks", type=int, action="append", required=True, help="passages of each target")
    args = parser.parse_args()

    from qa.index.embed import Embedder
    from qa.settings import Settings

    settings = Settings(cache_dir=args.model_cache, embedding_backend=args.backend,
                        corpus_dir=args.scratch / "no-corpus", index_dir=args.scratch / "no-index")
    embedder = Embedder(settings)
    t = time.perf_counter()
    donors = _cryptonews_metadata()
    parts = {
        "squad2": _embedded(_squad_corpus(args.scratch / "squad2", args.squad_articles), settings, embedder),
        "cryptonews": _from_index(args.source_index, donors),
        "scifact": _embedded(_scifact_corpus(args.scratch / "scifact", args.scifact_docs), settings, embedder),
    }
    real_s = time.perf_counter() - t
    chunks, vectors, origin, sentences = _real_passages(parts, donors)
    from qa.index import local

    source_manifest = local.current_generation(args.source_index).manifest()
    largest = max(args.chunks)
    t = time.perf_counter()
    chunks, vectors = _with_mixtures(chunks, vectors, largest, donors, sentences)
    mix_s = time.perf_counter() - t
    texts = [c.text for c in chunks]
    distinct = len(set(texts))
    assert distinct == len(texts), f"{len(texts) - distinct} passages repeat another one's text"
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    built = {}
    for target, n in zip(args.target, args.chunks):
        t = time.perf_counter()
        _build(target, chunks[:n], vectors[:n], source_manifest, sentences)
        built[str(n)] = round(time.perf_counter() - t, 1)
        print(f"  {n} passages built in {built[str(n)]}s", flush=True)
    write_json(args.out, {
        "real_passages": origin,
        "real_passages_total": sum(origin.values()),
        "mixtures": len(chunks) - sum(origin.values()),
        "distinct_passages": {str(n): len(set(texts[:n])) for n in args.chunks},
        "noise_sigma": NOISE_SIGMA,
        "real_passages_s": round(real_s, 1),
        "mixtures_s": round(mix_s, 1),
        "build_seconds": built,
    })


def _cryptonews_metadata() -> list[dict]:
    """Source, date (parsed from day-month-year) and URL of every cryptonews article, in file order."""
    out = []
    with CRYPTONEWS.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            meta = row.get("metadata") or {}
            out.append({"id": row["_id"], "source": meta.get("source"), "date": _day_month_year(meta.get("date"))})
    return out


def _day_month_year(value: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(str(value).split()[0], "%d-%m-%Y").date()
    except (ValueError, IndexError):
        return None


def _squad_corpus(folder: Path, articles: int) -> Path:
    """SQuAD 2.0 dev's corpus folder, or a copy of its first `articles` articles (a quick run)."""
    if not articles:
        return SQUAD_CORPUS
    folder.mkdir(parents=True, exist_ok=True)
    source = next(SQUAD_CORPUS.glob("*.jsonl"))
    with source.open(encoding="utf-8") as src, (folder / source.name).open("w", encoding="utf-8") as dst:
        for line, _ in zip(src, range(articles)):
            dst.write(line)
    return folder


def _scifact_corpus(folder: Path, extra_docs: int) -> Path:
    from qa.evaluate.beir import load_beir
    from qa.evaluate.retrieval_eval import write_beir_corpus

    corpus, _queries, qrels = load_beir(SCIFACT, "test")
    write_beir_corpus(scifact_subset(corpus, qrels, extra_docs), folder)
    return folder


def _embedded(corpus_dir: Path, settings, embedder) -> tuple[list, np.ndarray, dict]:
    """The corpus's chunks as a reindex makes them, their vectors and their sentences' vectors (as a reindex
    stores them; from the embedding cache if there)."""
    from qa.index.sentences import in_embedding_text, sentence_spans
    from qa.ingest.chunk import Chunker
    from qa.ingest.load import load_corpus

    loaded = load_corpus(corpus_dir)
    chunker = Chunker(embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_sentences)
    chunks = [c for group in chunker.chunk_many(loaded.articles) for c in group]
    t = time.perf_counter()
    spans = [sentence_spans(c) for c in chunks]
    vectors, span_vectors = embedder.encode_passages([c.embedding_text for c in chunks],
                                                     [in_embedding_text(c, s) for c, s in zip(chunks, spans)])
    print(f"  {corpus_dir.name}: {len(chunks)} chunks, vectors in {time.perf_counter() - t:.0f}s", flush=True)
    sentences = {c.chunk_id: (s, v) for c, s, v in zip(chunks, spans, span_vectors or [])}
    return chunks, vectors, sentences


def _from_index(index_dir: Path, donors: list[dict]) -> tuple[list, np.ndarray, dict]:
    """The reindexed cryptonews chunks with their vectors and sentence vectors, dated from the articles'
    day-month-year dates."""
    from qa.index import local
    from qa.index.sentences import read_stored

    generation = local.current_generation(index_dir)
    chunks = generation.read_chunks()
    vectors = generation.read_vectors(len(chunks))
    by_id = {d["id"]: d for d in donors}
    dated = []
    for chunk in chunks:
        donor = by_id.get(chunk.article_id.rsplit("#", 1)[-1])
        day = donor["date"] if donor else None
        dated.append(chunk if day is None or chunk.published_date else dataclasses.replace(
            chunk, published=day.isoformat(), published_date=int(day.strftime("%Y%m%d"))))
    return dated, np.asarray(vectors, dtype=np.float32), read_stored(generation.folder, chunks)


def _donor(key: str, donors: list[dict]) -> dict:
    return donors[int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % len(donors)]


def _with_donor_metadata(chunk, donors: list[dict], crypto_jurisdictions: dict[str, tuple[str, ...]]):
    donor = _donor(chunk.article_id, donors)
    day = donor["date"]
    return dataclasses.replace(
        chunk, source=donor["source"], jurisdictions=crypto_jurisdictions.get(donor["id"], ()),
        published=day.isoformat() if day else None, published_date=int(day.strftime("%Y%m%d")) if day else None)


def _real_passages(parts: dict, donors: list[dict]) -> tuple[list, np.ndarray, dict[str, int], dict]:
    crypto_jurisdictions = {c.article_id.rsplit("#", 1)[-1]: c.jurisdictions for c in parts["cryptonews"][0]}
    donors = [d for d in donors if d["id"] in crypto_jurisdictions]  # the articles reindexed (a quick run: some)
    seen: set[str] = set()
    chunks, vectors, origin, sentences = [], [], {}, {}
    for name, (part_chunks, part_vectors, part_sentences) in parts.items():
        sentences.update(part_sentences)
        kept = 0
        for chunk, vector in zip(part_chunks, part_vectors):
            if chunk.text in seen:
                continue
            seen.add(chunk.text)
            if name != "cryptonews":
                chunk = _with_donor_metadata(chunk, donors, crypto_jurisdictions)
            chunks.append(chunk)
            vectors.append(vector)
            kept += 1
        origin[name] = kept
    return chunks, np.asarray(vectors, dtype=np.float32), origin, sentences


def _with_mixtures(chunks: list, vectors: np.ndarray, n: int, donors: list[dict],
                   sentence_vectors: dict) -> tuple[list, np.ndarray]:
    """The real passages, then sentence mixtures of two of them until there are `n` (see the module's text).
    A mixture's sentence that is one of A's or B's stored sentences takes that sentence's vector (added to
    `sentence_vectors`); the others have none, and the answerer encodes them when it reads them."""
    from qa.index.sentences import sentence_spans
    from qa.ingest.chunk import split_sentences

    if len(chunks) >= n:
        return chunks[:n], vectors[:n]
    rng = np.random.default_rng(SEED)
    sentences = [[chunk.text[a:b] for a, b in split_sentences(chunk.text)] for chunk in chunks]
    usable = np.asarray([i for i, s in enumerate(sentences) if len(s) >= 2])
    seen = {c.text for c in chunks}
    out_chunks = list(chunks)
    mixed: list[np.ndarray] = []
    while len(out_chunks) < n:
        a, b = (int(x) for x in rng.choice(usable, size=2, replace=False))
        head, tail = sentences[a][:len(sentences[a]) // 2], sentences[b][len(sentences[b]) // 2:]
        text = " ".join(head + tail)
        if text in seen:
            continue
        seen.add(text)
        share = sum(map(len, head)) / max(1, sum(map(len, head)) + sum(map(len, tail)))
        vector = share * vectors[a] + (1 - share) * vectors[b]
        vector = vector / np.linalg.norm(vector) + rng.normal(0.0, NOISE_SIGMA, vectors.shape[1])
        mixed.append((vector / np.linalg.norm(vector)).astype(np.float32))
        k = len(out_chunks) - len(chunks)
        source = chunks[a]
        article_id = f"mixtures.jsonl#mix-{k // 4}"
        mixture = dataclasses.replace(
            source, chunk_id=f"{article_id}::{k % 4}", article_id=article_id, index=k % 4, text=text,
            start=0, end=len(text), path="mixtures.jsonl", url=None)
        out_chunks.append(mixture)
        known = {}
        for donor in (chunks[a], chunks[b]):
            spans, donor_vectors = sentence_vectors.get(donor.chunk_id, ([], []))
            known.update((donor.text[x:y], v) for (x, y), v in zip(spans, donor_vectors))
        found = [(span, known[text[span[0]:span[1]]]) for span in sentence_spans(mixture)
                 if text[span[0]:span[1]] in known]
        if found:
            sentence_vectors[mixture.chunk_id] = ([f[0] for f in found], np.asarray([f[1] for f in found]))
    return out_chunks, np.concatenate([vectors, np.asarray(mixed, dtype=np.float32)])


def _build(index_dir: Path, chunks: list, vectors: np.ndarray, source_manifest: dict, sentences: dict) -> None:
    """Writes the passages as one published generation, with the reindexed index's settings in its manifest."""
    from qa.index import local
    from qa.index.bm25 import build_bm25
    from qa.index.sentences import write_sentence_vectors

    folder = local.new_generation_folder(index_dir)
    client = local.open_persistent_client(folder / "chroma")
    try:
        collection = local.get_collection(client, create=True)
        step = min(client.get_max_batch_size(), 5000)
        for i in range(0, len(chunks), step):
            batch = chunks[i:i + step]
            collection.add(ids=[c.chunk_id for c in batch], embeddings=vectors[i:i + len(batch)],
                           documents=[c.text for c in batch], metadatas=[c.chroma_metadata() for c in batch])
    finally:
        local.release_client(client)
    local.write_chunk_table(folder, chunks)
    local.write_vectors(folder, vectors)
    write_sentence_vectors(folder, chunks, sentences)
    build_bm25([c.embedding_text for c in chunks], folder / "bm25")
    articles: dict[str, dict] = {}
    for chunk in chunks:
        entry = articles.setdefault(chunk.article_id, {"hash": "", "title": chunk.title, "path": chunk.path,
                                                       "chunks": []})
        entry["chunks"].append(chunk.chunk_id)
    local.publish_generation(index_dir, folder, {
        **source_manifest,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "articles": articles,
        "counts": {"articles": len(articles), "chunks": len(chunks)},
    })


if __name__ == "__main__":
    main()
