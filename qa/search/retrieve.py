"""Finds the passages for a question: dense (Chroma) and BM25 rankings of the index in use, fused by
reciprocal rank fusion, within the question's filters. Reads the index only through its backend.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qa.errors import QuestionError
from qa.index.backend import IndexBackend, OpenIndex
from qa.index.backends import index_backend
from qa.index.embed import Embedder
from qa.ingest.chunk import Chunk
from qa.search.filters import Filters, facets, filter_mask, filter_selection
from qa.settings import Settings

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
__all__ = ["Filters", "Hit", "IndexReader", "Mode", "Retriever", "SearchResult", "fuse", "open_index_reader"]


@dataclass
class Hit:
    """A retrieved chunk with its fused score and the ranks and scores behind it."""

    chunk: Chunk
    score: float
    dense_score: float | None = None  # cosine similarity
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    # {(start, end) in chunk.text: unit vector} of the chunk's sentences, stored at reindex time; None where the
    # index keeps none (the answerers then encode the sentences they read).
    sentence_vectors: dict[tuple[int, int], np.ndarray] | None = None


@dataclass
class SearchResult:
    hits: list[Hit]
    query_vector: np.ndarray | None
    timings_ms: dict[str, float] = field(default_factory=dict)


class IndexReader:
    """The index in use, reopened through its backend when a reindex has published a new one."""

    def __init__(self, backend: IndexBackend):
        self.backend = backend
        self._lock = threading.Lock()
        self._index: OpenIndex | None = None

    def snapshot(self) -> OpenIndex:
        """The index in use, opened (reopened first if a reindex published a new one)."""
        with self._lock:  # the backend's check is cheap; two threads never open the same index twice
            self._index = self.backend.open(self._index)
            return self._index

    def refresh(self) -> IndexReader:
        self.snapshot()
        return self

    @property
    def generation_name(self) -> str | None:
        return self._index.name if self._index else None

    @property
    def chunks(self) -> list[Chunk]:
        return self._index.chunks if self._index else []

    @property
    def manifest(self) -> dict:
        return self._index.manifest if self._index else {}

    def facets(self) -> dict[str, list[str]]:
        """Distinct sources, categories and jurisdictions of the index, for the UI's filters."""
        return facets(self._index) if self._index else {"sources": [], "categories": [], "jurisdictions": []}

    def close(self) -> None:
        self.backend.close()


def open_index_reader(settings: Settings) -> IndexReader:
    """The reader of the index the settings name."""
    return IndexReader(index_backend(settings))


class Retriever:
    """Hybrid retrieval over the index in use."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, reader: IndexReader | None = None):
        self.settings = settings
        self.embedder = embedder or Embedder(settings)
        self.reader = reader or open_index_reader(settings)

    def search(self, query: str, k: int | None = None, filters: Filters | None = None, mode: Mode = "hybrid",
               candidates: int | None = None) -> SearchResult:
        if k is None:
            k = self.settings.top_k
        elif k < 1:
            raise QuestionError(f"asked for {k} passages; ask for at least 1 (or leave k unset for QA_TOP_K)")
        filters = filters or Filters()
        index = self.reader.snapshot()
        timings: dict[str, float] = {}
        pool = candidates or max(4 * k, 30)
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        vector = None
        if mode in ("hybrid", "dense"):
            t = time.perf_counter()
            vector = self.embedder.encode([query], use_cache=False)[0]
            timings["embed_query"] = _ms(t)
            t = time.perf_counter()
            index, dense = self._dense_on_live_generation(index, vector, pool, filters)
            timings["dense"] = _ms(t)
        if mode in ("hybrid", "bm25"):
            t = time.perf_counter()
            lexical = self._bm25(index, query, pool, filters)
            timings["bm25"] = _ms(t)
        t = time.perf_counter()
        hits = fuse(index.chunks, dense, lexical, self.settings.rrf_k)[:k]
        if index.sentences is not None:
            for hit in hits:
                hit.sentence_vectors = index.sentences.for_row(index.positions[hit.chunk.chunk_id])
        timings["fuse"] = _ms(t)
        return SearchResult(hits=hits, query_vector=vector, timings_ms=timings)

    def _dense_on_live_generation(self, index: OpenIndex, vector: np.ndarray, n: int,
                                  filters: Filters) -> tuple[OpenIndex, list[tuple[int, float]]]:
        """Dense ranking on `index`, or on the current generation if two reindexes published since `index` was
        opened and deleted it (Chroma would recreate files in the deleted folder, or fail)."""
        if not index.deleted:
            try:
                return index, self._dense(index, vector, n, filters)
            except Exception:
                if not index.deleted:
                    raise
        fresh = self.reader.snapshot()
        logger.info("index %s was deleted during a search; searching %s", index.name, fresh.name)
        return fresh, self._dense(fresh, vector, n, filters)

    @staticmethod
    def _dense(reader: OpenIndex, vector: np.ndarray, n: int, filters: Filters) -> list[tuple[int, float]]:
        if not reader.chunks:
            return []
        if not filters.empty and reader.vectors is not None:
            return _dense_exact(reader, vector, n, filters)
        result = reader.collection.query(
            query_embeddings=[vector.tolist()],
            n_results=min(n, len(reader.chunks)),
            where=filters.chroma_where(),
            include=["distances"],
        )
        out = []
        for chunk_id, distance in zip(result["ids"][0], result["distances"][0]):
            position = reader.positions.get(chunk_id)
            if position is not None:  # Chroma and the chunk table come from one generation; guard anyway
                out.append((position, 1.0 - float(distance)))
        return out

    @staticmethod
    def _bm25(reader: OpenIndex, query: str, n: int, filters: Filters) -> list[tuple[int, float]]:
        scores = reader.bm25.scores(query)
        if scores.size == 0:
            return []
        mask = filter_mask(reader, filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(n, scores.size)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def _dense_exact(reader: OpenIndex, vector: np.ndarray, n: int, filters: Filters) -> list[tuple[int, float]]:
    """Filtered dense ranking by exact cosine over the chunks the filter lets through, from the index's own
    vectors: Chroma's `where` first asks SQLite for the matching ids on every question, which cost several times
    the whole unfiltered search at 100k chunks (bench/results.md), while a product with the vector matrix is cheap."""
    rows = filter_selection(reader, filters).rows
    if rows.size == 0:
        return []
    query = np.asarray(vector, dtype=np.float32)
    if rows.size * 4 < reader.vectors.shape[0]:  # few rows: only theirs
        scores = reader.vectors[rows] @ query
    else:  # most rows: one pass over the whole matrix is cheaper than gathering them
        scores = (reader.vectors @ query)[rows]
    n = min(n, rows.size)
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(rows[i]), float(scores[i])) for i in top]


def fuse(chunks: list[Chunk], dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
         rrf_k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion: score = sum over rankings of 1 / (rrf_k + rank), rank starting at 1."""
    hits: dict[int, Hit] = {}
    for rank, (position, score) in enumerate(dense, start=1):
        hit = hits.setdefault(position, Hit(chunk=chunks[position], score=0.0))
        hit.score += 1.0 / (rrf_k + rank)
        hit.dense_score, hit.dense_rank = score, rank
    for rank, (position, score) in enumerate(lexical, start=1):
        hit = hits.setdefault(position, Hit(chunk=chunks[position], score=0.0))
        hit.score += 1.0 / (rrf_k + rank)
        hit.bm25_score, hit.bm25_rank = score, rank
    return sorted(hits.values(), key=lambda h: (-h.score, h.chunk.chunk_id))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
