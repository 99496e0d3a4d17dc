"""The seam between the stages and where the index lives: `IndexBackend`, which reindex writes through and
search reads through, with the pieces both of its implementations share (the plan of a change, an opened index).

Two implementations: `qa.index.local.LocalGenerations` (atomic generation folders on this machine) and
`qa.index.server.ChromaServer` (a shared Chroma server); `qa.index.backends.index_backend` picks one from the
settings, once. Callers never ask which one they have.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.bm25 import BM25Index
from qa.index.faults import Checkpoint, no_checkpoint
from qa.index.sentences import in_embedding_text, sentence_spans
from qa.ingest.chunk import Chunk
from qa.ingest.load import Article

logger = logging.getLogger(__name__)

COLLECTION = "chunks"
ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)
# (chunks, each chunk's sentence spans, their vectors or None): the sentence vectors of one encoder step
SentencesCallback = Callable[[Sequence[Chunk], list[list[tuple[int, int]]], list | None], None]
EMBED_BATCH = 256
WRITE_BATCH = 2048  # chunks per write into embedded Chroma: larger calls cost it less per chunk


@dataclass
class ReindexPlan:
    """What a reindex changes, decided once by `qa.index.reindex` and carried out by a backend."""

    articles: list[Article]  # the whole corpus, in order
    new_chunks: list[Chunk]  # chunks of the added and updated articles, to embed and store
    stale_ids: list[str]  # chunk ids of removed and updated articles, to delete
    kept: dict[str, list[str]]  # article id -> chunk ids carried over unchanged
    rebuild: bool  # start from an empty index instead of the one in use
    changed_articles: list[str]  # article ids whose manifest record is (re)written
    removed_articles: list[str]  # article ids whose manifest record is deleted
    manifest: dict  # the manifest to publish: settings, counts, articles -> chunk ids

    @property
    def chunk_count(self) -> int:
        return self.manifest["counts"]["chunks"]


@dataclass(frozen=True, eq=False)
class OpenIndex:
    """One opened index. A search uses one of these from start to end, so that a reopen by another thread
    cannot mix the chunk positions of two generations."""

    name: str  # the generation folder's name, or the server index's version
    chunks: list[Chunk]
    positions: dict[str, int]
    bm25: BM25Index
    collection: Any  # the Chroma collection of its vectors
    manifest: dict
    folder: Path | None = None  # the generation folder; None for an index changed in place (a server)
    settled: bool = True  # False: read while a reindex was writing, to be read again once it has published
    # The chunks' vectors in chunk order (a read-only memory map of the generation's vectors.npy), for exact
    # filtered dense search; None where the index keeps them in Chroma only (a server, an older generation).
    vectors: np.ndarray | None = None
    # The vectors of the chunks' sentences, stored at reindex time (qa.index.sentences); None where the index has
    # none (a server, an older generation, a model run by sentence-transformers).
    sentences: Any = None
    # Values derived from this index by the stages above (filter columns, facets), built on first use.
    derived: dict = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, chunks: list[Chunk], bm25: BM25Index, collection, manifest: dict,
           **extra) -> OpenIndex:
        return cls(name, chunks, {c.chunk_id: i for i, c in enumerate(chunks)}, bm25, collection, manifest, **extra)

    @property
    def deleted(self) -> bool:
        """True once a later reindex has deleted this generation's folder (never for a server's index)."""
        return self.folder is not None and not (self.folder / "manifest.json").exists()


class IndexBackend(ABC):
    """Where the chunks, their vectors, the BM25 index and the manifest live."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the index is, for messages: a folder, or `the Chroma server at host:port`."""

    @abstractmethod
    def current_manifest(self) -> tuple[str, dict] | None:
        """(name, manifest) of the index in use, or None before the first reindex. The manifest has `dirty`
        set when a reindex that writes in place died halfway."""

    @abstractmethod
    def open(self, loaded: OpenIndex | None = None) -> OpenIndex:
        """The index in use; `loaded` itself when it still is (a cheap check). Raises IndexMissingError."""

    @abstractmethod
    def write(self, plan: ReindexPlan, embedder, *, progress: ProgressCallback | None = None,
              show_progress: bool = False, checkpoint: Checkpoint = no_checkpoint) -> str:
        """Makes the index hold exactly the plan's chunks and publishes it; returns the new index's name.
        Until it returns, `open` keeps giving the index that was in use."""

    def discard_unfinished(self) -> None:  # noqa: B027 - most backends leave nothing behind
        """Removes what an earlier reindex that died left behind (called under the reindex lock)."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing open
        """Releases open files and connections."""


def chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def get_collection(client, create: bool = False):
    if create:
        return client.get_or_create_collection(
            COLLECTION, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
    return client.get_collection(COLLECTION, embedding_function=None)


def embed_and_store(embedder, write, chunks: Sequence[Chunk], batch_limit: int,
                    progress: ProgressCallback | None = None, show_progress: bool = False,
                    checkpoint: Checkpoint = no_checkpoint, overlap: bool = False,
                    sentences: SentencesCallback | None = None) -> None:
    """Embeds the chunks step by step and stores them with `write` (a collection's add or upsert).

    With `sentences`, each step also gives the vectors of the chunks' sentences from the same encoder pass
    (`qa.index.sentences`), handed to `sentences(chunks, spans, vectors)`; vectors is None when the encoder cannot
    give them.

    Embedded Chroma (`overlap=False`) is written in the same thread, in calls of up to `WRITE_BATCH` chunks,
    between encoder steps: its writes are CPU work, and run beside the encoder they slowed it by more than they
    took (measured in bench/results.md, explained in docs/performance.md). A Chroma server (`overlap=True`)
    does its work in another process, so there each write runs in a second thread while the next step is encoded.
    """
    from tqdm import tqdm

    def add(batch: list[Chunk], vectors) -> None:
        write(
            ids=[c.chunk_id for c in batch],
            embeddings=vectors,
            documents=[c.text for c in batch],
            metadatas=[c.chroma_metadata() for c in batch],
        )
        checkpoint("chroma")

    bar = tqdm(total=len(chunks), desc="Embedding chunks", unit="chunk", disable=not show_progress)
    step = min(EMBED_BATCH, batch_limit)
    write_batch = max(step, min(WRITE_BATCH, batch_limit) // step * step)
    # Texts of similar length in each batch waste less of the encoder on padding (it sorts only within a
    # call); Chroma does not care in which order chunks arrive.
    chunks = sorted(chunks, key=lambda c: len(c.embedding_text))
    pending = None
    done: list[Chunk] = []
    done_vectors: list = []
    with ThreadPoolExecutor(max_workers=1) if overlap else nullcontext() as writer:
        for i in range(0, len(chunks), step):
            batch = chunks[i:i + step]
            if sentences is None:
                vectors = embedder.encode([c.embedding_text for c in batch], use_cache=True)
            else:
                spans = [sentence_spans(c) for c in batch]
                vectors, span_vectors = embedder.encode_passages(
                    [c.embedding_text for c in batch], [in_embedding_text(c, s) for c, s in zip(batch, spans)])
                sentences(batch, spans, span_vectors)
            checkpoint("embed")
            bar.update(len(batch))
            if progress:
                progress("embed", min(i + step, len(chunks)), len(chunks))
            if overlap:
                if pending is not None:
                    pending.result()
                pending = writer.submit(add, batch, vectors)
                continue
            done.extend(batch)
            done_vectors.append(vectors)
            if len(done) >= write_batch or i + step >= len(chunks):
                add(done, np.concatenate(done_vectors))
                done, done_vectors = [], []
        if pending is not None:
            pending.result()
    bar.close()


def delete_ids(delete, ids: Sequence[str], batch_limit: int) -> None:
    """Deletes chunk ids with `delete` (a collection's delete), in calls Chroma accepts."""
    for i in range(0, len(ids), batch_limit):
        delete(ids=list(ids[i:i + batch_limit]))
