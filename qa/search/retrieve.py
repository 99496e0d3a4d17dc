"""Finds the passages for a question: dense (Chroma) and BM25 rankings fused by reciprocal rank fusion,
with filters on source, category, jurisdiction and date; also offered as a LangChain retriever.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qa.index import store
from qa.ingest.chunk import Chunk
from qa.index.embed import Embedder
from qa.settings import Settings

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class Filters:
    """Restricts retrieval; every set field must match. Date bounds exclude articles without an ISO date."""

    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def empty(self) -> bool:
        return not (self.sources or self.categories or self.jurisdictions or self.date_from or self.date_to)

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.categories:
            clauses.append({"category": {"$in": list(self.categories)}})
        if self.jurisdictions:
            any_of = [{"jurisdictions": {"$contains": j}} for j in self.jurisdictions]
            clauses.append(any_of[0] if len(any_of) == 1 else {"$or": any_of})
        if self.date_from:
            clauses.append({"published_date": {"$gte": _yyyymmdd(self.date_from)}})
        if self.date_to:
            clauses.append({"published_date": {"$lte": _yyyymmdd(self.date_to)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, chunk: Chunk) -> bool:
        if self.sources and chunk.source not in self.sources:
            return False
        if self.categories and chunk.category not in self.categories:
            return False
        if self.jurisdictions and not set(self.jurisdictions) & set(chunk.jurisdictions):
            return False
        if self.date_from or self.date_to:
            if chunk.published_date is None:
                return False
            if self.date_from and chunk.published_date < _yyyymmdd(self.date_from):
                return False
            if self.date_to and chunk.published_date > _yyyymmdd(self.date_to):
                return False
        return True


def _yyyymmdd(day: dt.date) -> int:
    return int(day.strftime("%Y%m%d"))


@dataclass
class Hit:
    """A retrieved chunk with its fused score and the ranks and scores behind it."""

    chunk: Chunk
    score: float
    dense_score: float | None = None  # cosine similarity
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None


@dataclass
class SearchResult:
    hits: list[Hit]
    query_vector: np.ndarray | None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenIndex:
    """One opened generation. A search uses one of these from start to end, so that a reopen by another
    thread cannot mix the chunk positions of two generations."""

    name: str  # the generation folder's name, or the server index's version
    chunks: list[Chunk]
    positions: dict[str, int]
    bm25: store.BM25Index
    collection: Any
    generation: store.Generation | None = None  # None for the index in a Chroma server

    def filter_mask(self, filters: Filters) -> np.ndarray | None:
        """Which chunks `filters` lets through (None: all), as `Filters.matches` decides chunk by chunk."""
        if filters.empty:
            return None
        return self.filter_columns.mask(filters)

    @functools.cached_property
    def filter_columns(self) -> "FilterColumns":
        return FilterColumns(self.chunks)


class FilterColumns:
    """The filterable fields of every chunk as arrays, so that a filter over 100k chunks is a few vectorized
    comparisons (calling `Filters.matches` on each chunk takes about 100 ms there)."""

    def __init__(self, chunks: list[Chunk]):
        self.size = len(chunks)
        self.sources, self.source_codes = _codes(c.source for c in chunks)
        self.categories, self.category_codes = _codes(c.category for c in chunks)
        self.jurisdictions = {j: i for i, j in enumerate(sorted({j for c in chunks for j in c.jurisdictions}))}
        self.jurisdiction_flags = np.zeros((self.size, len(self.jurisdictions)), dtype=bool)
        for row, chunk in enumerate(chunks):
            for j in chunk.jurisdictions:
                self.jurisdiction_flags[row, self.jurisdictions[j]] = True
        # 0 stands for "no ISO date", which no date bound lets through.
        self.dates = np.fromiter((c.published_date or 0 for c in chunks), dtype=np.int64, count=self.size)

    def mask(self, filters: Filters) -> np.ndarray:
        mask = np.ones(self.size, dtype=bool)
        if filters.sources:
            mask &= np.isin(self.source_codes, [self.sources[s] for s in filters.sources if s in self.sources])
        if filters.categories:
            mask &= np.isin(self.category_codes,
                            [self.categories[c] for c in filters.categories if c in self.categories])
        if filters.jurisdictions:
            columns = [self.jurisdictions[j] for j in filters.jurisdictions if j in self.jurisdictions]
            mask &= self.jurisdiction_flags[:, columns].any(axis=1)
        if filters.date_from or filters.date_to:
            mask &= self.dates > 0
            if filters.date_from:
                mask &= self.dates >= _yyyymmdd(filters.date_from)
            if filters.date_to:
                mask &= self.dates <= _yyyymmdd(filters.date_to)
        return mask


def _codes(values) -> tuple[dict[str, int], np.ndarray]:
    """Integer codes of string values (-1 for None), with the code of each value."""
    table: dict[str, int] = {}
    codes = [-1 if v is None else table.setdefault(v, len(table)) for v in values]
    return table, np.asarray(codes, dtype=np.int64)


class IndexReader:
    """The index generation in use, reopened automatically after a reindex publishes a new one."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._generation: store.Generation | None = None
        self._checked_at = 0.0
        self.chunks: list[Chunk] = []
        self.positions: dict[str, int] = {}
        self.bm25: store.BM25Index | None = None
        self.collection = None
        self._client = None
        self._index: OpenIndex | None = None
        self.manifest: dict = {}

    def snapshot(self) -> OpenIndex:
        """The current generation, opened (reopened first if a reindex published a new one)."""
        self.refresh()
        return self._index

    def refresh(self) -> "IndexReader":
        """Opens the current generation if it changed since the last look (a cheap file read)."""
        generation = store.require_generation(self.settings.index_dir)
        if self._generation is not None and generation.folder == self._generation.folder:
            return self
        with self._lock:
            if self._generation is None or generation.folder != self._generation.folder:
                self._open(generation)
        return self

    def _open(self, generation: store.Generation) -> None:
        started = time.perf_counter()
        chunks = generation.read_chunks()
        bm25 = store.BM25Index(generation.folder / "bm25", len(chunks))
        client = store.open_persistent_client(generation.folder / "chroma")
        collection = store.get_collection(client)
        index = OpenIndex(generation.folder.name, chunks, {c.chunk_id: i for i, c in enumerate(chunks)}, bm25,
                          collection, generation)
        self.manifest = generation.manifest()
        self.chunks = chunks
        self.positions = index.positions
        self.bm25 = bm25
        self.collection = collection
        self._client = client
        self._facets = None
        self._index = index
        self._generation = generation  # last: `refresh` compares it without the lock
        logger.info("opened index %s (%d chunks) in %.0f ms", generation.folder.name, len(chunks),
                    (time.perf_counter() - started) * 1000)

    @property
    def generation_name(self) -> str | None:
        return self._generation.folder.name if self._generation else None

    def facets(self) -> dict[str, list[str]]:
        """Distinct sources, categories and jurisdictions of the index, for the UI's filters."""
        if self._facets is None:
            self._facets = {
                "sources": sorted({c.source for c in self.chunks if c.source}),
                "categories": sorted({c.category for c in self.chunks if c.category}),
                "jurisdictions": sorted({j for c in self.chunks for j in c.jurisdictions}),
            }
        return self._facets

    def filter_mask(self, filters: Filters) -> np.ndarray | None:
        return self._index.filter_mask(filters) if self._index else None


def open_index_reader(settings: Settings) -> IndexReader:
    """The reader for the configured store: generation folders, or the Chroma server at `QA_CHROMA_HOST`."""
    if settings.chroma_host:
        from qa.index.server_store import ServerIndexReader

        return ServerIndexReader(settings)
    return IndexReader(settings)


class Retriever:
    """Hybrid retrieval over the index in use."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, reader: IndexReader | None = None):
        self.settings = settings
        self.embedder = embedder or Embedder(settings)
        self.reader = reader or open_index_reader(settings)

    def search(self, query: str, k: int | None = None, filters: Filters | None = None, mode: Mode = "hybrid",
               candidates: int | None = None) -> SearchResult:
        k = k or self.settings.top_k
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
        timings["fuse"] = _ms(t)
        return SearchResult(hits=hits, query_vector=vector, timings_ms=timings)

    def _dense_on_live_generation(self, index: OpenIndex, vector: np.ndarray, n: int,
                                  filters: Filters) -> tuple[OpenIndex, list[tuple[int, float]]]:
        """Dense ranking on `index`, or on the current generation if two reindexes published since `index` was
        opened and deleted it (Chroma would recreate files in the deleted folder, or fail)."""
        if index.generation is None:  # a Chroma server's index is changed in place, never deleted
            return index, self._dense(index, vector, n, filters)
        if index.generation.manifest_path.exists():
            try:
                return index, self._dense(index, vector, n, filters)
            except Exception:
                if index.generation.manifest_path.exists():
                    raise
        fresh = self.reader.snapshot()
        logger.info("index %s was deleted during a search; searching %s", index.name, fresh.name)
        return fresh, self._dense(fresh, vector, n, filters)

    @staticmethod
    def _dense(reader: OpenIndex, vector: np.ndarray, n: int, filters: Filters) -> list[tuple[int, float]]:
        if not reader.chunks:
            return []
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
        mask = reader.filter_mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(n, scores.size)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


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


def as_langchain_retriever(retriever: Retriever, k: int | None = None, filters: Filters | None = None):
    """The hybrid retriever as a LangChain `BaseRetriever`, for use in LangChain chains."""
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class HybridRetriever(BaseRetriever):
        """LangChain view of `qa.search.retrieve.Retriever`: documents carry the chunk's metadata and score."""

        qa_retriever: Any
        k: int | None = None
        filters: Any = None

        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun):
            result = self.qa_retriever.search(query, k=self.k, filters=self.filters)
            return [
                Document(
                    id=hit.chunk.chunk_id,
                    page_content=hit.chunk.text,
                    metadata={**hit.chunk.chroma_metadata(), "chunk_id": hit.chunk.chunk_id, "score": hit.score},
                )
                for hit in result.hits
            ]

    return HybridRetriever(qa_retriever=retriever, k=k, filters=filters)
