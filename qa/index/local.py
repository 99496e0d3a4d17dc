"""The index as generation folders on this machine: each reindex writes a new folder (Chroma, BM25 index,
chunk table, manifest) and switches the `CURRENT` pointer to it with one atomic rename.

A reader never sees half a reindex, Chroma and BM25 always hold the same chunks, and a reindex killed at any
point leaves the index in use untouched; the next one removes what it left.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import IndexMissingError
from qa.index.backend import (
    IndexBackend,
    OpenIndex,
    ProgressCallback,
    ReindexPlan,
    chroma_settings,
    delete_ids,
    embed_and_store,
    get_collection,
)
from qa.index.bm25 import BM25Index, build_bm25
from qa.index.faults import Checkpoint, no_checkpoint
from qa.index.sentences import SentenceVectors, read_stored, write_sentence_vectors
from qa.ingest.chunk import Chunk

logger = logging.getLogger(__name__)

CURRENT = "CURRENT"
VECTORS = "vectors.npy"  # the chunks' vectors in chunk-table order, float32, beside Chroma's copy
GENERATION_PREFIX = "gen-"
KEEP_OLD_GENERATIONS = 1  # previously published generations kept, so a reader of one can finish its question


@dataclass
class Generation:
    """One complete, immutable index: chunk table, BM25 index, Chroma folder and manifest."""

    folder: Path

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def manifest(self) -> dict:
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def read_chunks(self) -> list[Chunk]:
        path = self.folder / "chunks.jsonl"
        with path.open(encoding="utf-8") as fh:
            return [Chunk.from_record(json.loads(line)) for line in fh if line.strip()]

    def read_vectors(self, count: int) -> np.ndarray | None:
        """The chunks' vectors, memory-mapped read-only; None if the generation has none for `count` chunks
        (one written before vectors.npy existed)."""
        try:
            vectors = np.load(self.folder / VECTORS, mmap_mode="r")
        except (OSError, ValueError):
            return None
        return np.asarray(vectors) if vectors.ndim == 2 and vectors.shape[0] == count else None


class LocalGenerations(IndexBackend):
    """Generation folders in `index_dir`, each with an embedded Chroma store."""

    def __init__(self, index_dir: Path):
        self.index_dir = index_dir
        self._client = None  # the last one opened; earlier ones go when their OpenIndex does

    @property
    def location(self) -> str:
        return str(self.index_dir)

    def current_manifest(self) -> tuple[str, dict] | None:
        generation = current_generation(self.index_dir)
        return (generation.folder.name, generation.manifest()) if generation else None

    def open(self, loaded: OpenIndex | None = None) -> OpenIndex:
        generation = current_generation(self.index_dir)
        if generation is None:
            raise IndexMissingError(f"no index in {self.index_dir}; run `qa reindex` (or `make run`) first")
        if loaded is not None and loaded.name == generation.folder.name:
            return loaded
        started = time.perf_counter()
        chunks = generation.read_chunks()
        client = open_persistent_client(generation.folder / "chroma")
        self._client = client
        index = OpenIndex.of(generation.folder.name, chunks, BM25Index(generation.folder / "bm25", len(chunks)),
                             get_collection(client), generation.manifest(), folder=generation.folder,
                             vectors=generation.read_vectors(len(chunks)) if chunks else None,
                             sentences=SentenceVectors.load(generation.folder, len(chunks)) if chunks else None)
        logger.info("opened index %s (%d chunks) in %.0f ms", index.name, len(chunks),
                    (time.perf_counter() - started) * 1000)
        return index

    def write(self, plan: ReindexPlan, embedder, *, progress: ProgressCallback | None = None,
              show_progress: bool = False, checkpoint: Checkpoint = no_checkpoint) -> str:
        current = None if plan.rebuild else current_generation(self.index_dir)
        folder = new_generation_folder(self.index_dir)
        try:
            chunks = self._write_chroma(folder, current, plan, embedder, progress, show_progress, checkpoint)
            if progress:
                progress("bm25", 0, 1)
            write_chunk_table(folder, chunks)
            build_bm25([c.embedding_text for c in chunks], folder / "bm25", checkpoint)
            if progress:
                progress("bm25", 1, 1)
            generation = publish_generation(self.index_dir, folder, plan.manifest, checkpoint)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return generation.folder.name

    def _write_chroma(self, folder: Path, current: Generation | None, plan: ReindexPlan, embedder,
                      progress, show_progress, checkpoint) -> list[Chunk]:
        """The new generation's Chroma store (a copy of the current one, changed); returns its chunks in order."""
        chroma_dir = folder / "chroma"
        if current is not None:
            shutil.copytree(current.folder / "chroma", chroma_dir)
        client = open_persistent_client(chroma_dir)
        try:
            collection = get_collection(client, create=True)
            batch_limit = min(client.get_max_batch_size(), 5000)
            delete_ids(collection.delete, plan.stale_ids, batch_limit)
            stored: dict[str, np.ndarray] = {}  # the new chunks' vectors, for vectors.npy
            sentence_vectors: dict[str, tuple] = {}  # the new chunks' sentence vectors, by chunk id

            def keep_sentences(batch, spans, vectors):
                if vectors is not None:
                    sentence_vectors.update((c.chunk_id, (s, v)) for c, s, v in zip(batch, spans, vectors))

            def add(ids, embeddings, **rest):
                collection.add(ids=ids, embeddings=embeddings, **rest)
                stored.update(zip(ids, np.asarray(embeddings, dtype=np.float32)))

            embed_and_store(embedder, add, plan.new_chunks, batch_limit, progress, show_progress, checkpoint,
                            sentences=keep_sentences)
            kept_ids = {cid for ids in plan.kept.values() for cid in ids}
            current_chunks = current.read_chunks() if current is not None else []
            kept = [c for c in current_chunks if c.chunk_id in kept_ids]
            by_article: dict[str, list[Chunk]] = {}
            for chunk in sorted(kept + plan.new_chunks, key=lambda c: (c.article_id, c.index)):
                by_article.setdefault(chunk.article_id, []).append(chunk)
            chunks = [c for a in plan.articles for c in by_article.get(a.article_id, [])]
            if collection.count() != len(chunks) or len(chunks) != plan.chunk_count:
                raise RuntimeError(f"Chroma holds {collection.count()} chunks but the corpus has {plan.chunk_count}; "
                                   "index not published")
            if kept:
                stored.update(_kept_vectors(current, current_chunks, kept, collection))
            write_vectors(folder, [stored[c.chunk_id] for c in chunks])
            if kept:  # the carried-over chunks keep their sentence vectors (same model: a new model rebuilds)
                sentence_vectors = {**read_stored(current.folder, current_chunks, kept_ids), **sentence_vectors}
            write_sentence_vectors(folder, chunks, sentence_vectors)
        finally:
            release_client(client)
        return chunks

    def discard_unfinished(self) -> None:
        remove_stale_generations(self.index_dir)

    def close(self) -> None:
        if self._client is not None:
            release_client(self._client)  # also clears Chroma's cache of every client of this process
            self._client = None


def _kept_vectors(current: Generation, current_chunks: list[Chunk], kept: list[Chunk],
                  collection) -> dict[str, np.ndarray]:
    """The vectors of the chunks carried over from `current`: from its vectors.npy, else from Chroma."""
    vectors = current.read_vectors(len(current_chunks))
    if vectors is not None:
        row = {c.chunk_id: i for i, c in enumerate(current_chunks)}
        return {c.chunk_id: np.asarray(vectors[row[c.chunk_id]], dtype=np.float32) for c in kept}
    found: dict[str, np.ndarray] = {}
    ids = [c.chunk_id for c in kept]
    for i in range(0, len(ids), 5000):
        part = collection.get(ids=ids[i:i + 5000], include=["embeddings"])
        found.update(zip(part["ids"], np.asarray(part["embeddings"], dtype=np.float32)))
    return found


def write_vectors(folder: Path, vectors) -> None:
    """Saves the chunks' vectors, in chunk-table order, as the generation's vectors.npy."""
    if not isinstance(vectors, np.ndarray):
        vectors = np.stack(list(vectors)) if len(vectors) else np.zeros((0, 0))
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    with (folder / VECTORS).open("wb") as fh:
        np.save(fh, matrix)


def open_persistent_client(path: Path):
    import chromadb

    return chromadb.PersistentClient(path=str(path), settings=chroma_settings())


def release_client(client) -> None:
    """Closes a Chroma client's files so that its folder can be copied, moved or deleted."""
    try:
        client._system.stop()
    except Exception:  # already stopped, or a client kind without a system
        pass
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:
        pass


def current_generation(index_dir: Path) -> Generation | None:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    folder = index_dir / name
    if not (folder / "manifest.json").exists():
        return None
    return Generation(folder)


def new_generation_folder(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    folder = index_dir / f"{GENERATION_PREFIX}{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}.tmp"
    folder.mkdir()
    return folder


def write_chunk_table(folder: Path, chunks: Iterable[Chunk]) -> None:
    with (folder / "chunks.jsonl").open("w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(json.dumps(chunk.to_record(), ensure_ascii=False) + "\n")


def publish_generation(index_dir: Path, folder: Path, manifest: dict,
                       checkpoint: Checkpoint = no_checkpoint) -> Generation:
    """Makes `folder` the index in use: manifest last, then one atomic rename of the pointer.

    The manifest names the generation it replaces, so that old generations are kept in the order they were
    in use (`remove_stale_generations`).
    """
    previous = current_generation(index_dir)
    manifest = {**manifest, "previous": previous.folder.name if previous else None}
    tmp_manifest = folder / "manifest.json.tmp"
    tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    _fsync_tree(folder)
    os.replace(tmp_manifest, folder / "manifest.json")
    _fsync_dir(folder)
    final = folder.with_suffix("") if folder.suffix == ".tmp" else folder
    os.replace(folder, final)
    checkpoint("publish")
    pointer_tmp = index_dir / f"{CURRENT}.tmp"
    pointer_tmp.write_text(final.name, encoding="utf-8")
    _fsync_file(pointer_tmp)
    os.replace(pointer_tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    remove_stale_generations(index_dir)
    return Generation(final)


def remove_stale_generations(index_dir: Path) -> None:
    """Deletes every generation but the current one and the `KEEP_OLD_GENERATIONS` that were in use before it:
    unfinished (`.tmp`) folders and finished ones never switched to, both left by reindexes that died."""
    keep: set[str] = set()
    generation = current_generation(index_dir)
    while generation is not None and len(keep) <= KEEP_OLD_GENERATIONS:
        keep.add(generation.folder.name)
        previous = generation.manifest().get("previous")
        generation = Generation(index_dir / previous) if previous else None
        if generation is not None and not generation.manifest_path.exists():
            generation = None
    for path in index_dir.glob(f"{GENERATION_PREFIX}*"):
        if path.name in keep:
            continue
        # An unfinished (.tmp) folder may belong to a reindex running now; the reindex lock guarantees it
        # does not, because only the lock holder calls this.
        shutil.rmtree(path, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                _fsync_file(Path(root) / name)
            except OSError:
                pass
        _fsync_dir(Path(root))
