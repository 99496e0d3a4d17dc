"""Keeps the chunks in a Chroma collection and a BM25 index that always hold the same chunk ids.

Each reindex writes a new generation folder and then switches the `CURRENT` pointer atomically, so a reader
never sees half a reindex and a crash leaves the index in use untouched.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from qa.ingest.chunk import Chunk
from qa.errors import ConfigError, IndexMissingError

logger = logging.getLogger(__name__)

COLLECTION = "chunks"
CURRENT = "CURRENT"
GENERATION_PREFIX = "gen-"
KEEP_OLD_GENERATIONS = 1  # previously published generations kept, so a reader of one can finish its question
_STEMMER = None


def chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


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


def get_collection(client, create: bool = False):
    if create:
        return client.get_or_create_collection(
            COLLECTION, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
    return client.get_collection(COLLECTION, embedding_function=None)


def _stemmer():
    global _STEMMER
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("english")
    return _STEMMER


def bm25_tokenize(texts: Sequence[str], return_ids: bool = True):
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=return_ids, show_progress=False)


# bm25s's English stop words (bm25s.stopwords.STOPWORDS_EN; a test checks that they stay the same) and its token
# pattern: `bm25_terms` makes the terms of one text without importing bm25s, which imports scipy, about a
# third of the start-up time of `qa ask` beside Chroma.
_BM25_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split()
)
_BM25_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def bm25_terms(text: str) -> list[str]:
    """The stemmed terms of `text`, in order, as `bm25_tokenize([text], return_ids=False)[0]` gives them."""
    return _stemmer().stemWords([w for w in _BM25_TOKEN.findall(text.lower()) if w not in _BM25_STOPWORDS])


def build_bm25(texts: Sequence[str], folder: Path, pause: Callable[[str], None] | None = None) -> None:
    """Writes the BM25 index of `texts`; `pause("bm25")` runs between its files (a test hook)."""
    import bm25s

    retriever = bm25s.BM25()
    if texts:
        retriever.index(bm25_tokenize(texts), show_progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    if texts:
        retriever.save(str(folder), show_progress=False)
    if pause:
        pause("bm25")
    (folder / "count.json").write_text(json.dumps({"documents": len(texts)}))


class BM25Index:
    """BM25 scores of every chunk of a generation, in the generation's chunk order.

    Reads the score matrix that bm25s saved (one sparse column of precomputed BM25 scores per term, as
    `bm25s.BM25.load` reads it) and adds up the columns of the query's terms, as `BM25.get_scores` does; a
    test checks that the scores are the same. Doing it here keeps bm25s and scipy out of the query process.
    """

    def __init__(self, folder: Path | None, size: int, retriever=None):
        self.size = size
        self._vocab: dict[str, int] = {}
        if retriever is not None:  # built in memory (server mode): the same arrays, not yet saved
            scores = retriever.scores
            self._data, self._rows, self._starts = scores["data"], scores["indices"], scores["indptr"]
            self._vocab = retriever.vocab_dict
        elif size:
            self._data = np.load(folder / "data.csc.index.npy")
            self._rows = np.load(folder / "indices.csc.index.npy")
            self._starts = np.load(folder / "indptr.csc.index.npy")
            self._vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> "BM25Index":
        """Built in memory, as the server mode does from the chunks it reads back from Chroma."""
        import bm25s

        if not texts:
            return cls(None, 0)
        retriever = bm25s.BM25()
        retriever.index(bm25_tokenize(texts), show_progress=False)
        return cls(None, len(texts), retriever)

    def scores(self, query: str) -> np.ndarray:
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        scores = np.zeros(self.size, dtype=np.float32)
        for term in bm25_terms(query):
            column = self._vocab.get(term)
            if column is not None:
                start, end = self._starts[column], self._starts[column + 1]
                np.add.at(scores, self._rows[start:end], self._data[start:end])
        return scores


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


def current_manifest(settings) -> tuple[str, dict] | None:
    """(name, manifest) of the index in use: the current generation, or the Chroma server's index."""
    if settings.chroma_host:
        from qa.index.server_store import ServerStore

        return ServerStore(settings).current_manifest()
    generation = current_generation(settings.index_dir)
    return (generation.folder.name, generation.manifest()) if generation else None


def require_generation(index_dir: Path) -> Generation:
    generation = current_generation(index_dir)
    if generation is None:
        raise IndexMissingError(f"no index in {index_dir}; run `qa reindex` (or `make run`) first")
    return generation


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
                       pause: Callable[[str], None] | None = None) -> Generation:
    """Makes `folder` the index in use: manifest last, then one atomic rename of the pointer.

    The manifest names the generation it replaces, so that old generations are kept in the order they were
    in use (`remove_stale_generations`); `pause("publish")` runs just before the switch (a test hook).
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
    if pause:
        pause("publish")
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


def copy_chroma(source: Path, target: Path) -> None:
    shutil.copytree(source, target)


def check_chroma_available(host: str | None, port: int) -> None:
    if host is None:
        return
    import socket

    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Chroma server at {host}:{port} ({exc.strerror or exc}); start it with "
            "`make chroma` or fix QA_CHROMA_HOST / QA_CHROMA_PORT"
        ) from exc
