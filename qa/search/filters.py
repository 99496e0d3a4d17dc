"""Restricting retrieval by source, category, jurisdiction and date: the one place where a filter is written,
as a mask over an opened index's chunks (BM25, and dense search over the index's own vectors) and as a Chroma
`where` clause (dense search where the index keeps its vectors in Chroma only, a server).

The mask and the rows it lets through are kept per filter value on the opened index, so a filter chosen again
(the UI's jurisdiction or source) costs a dictionary look-up.

A test holds both to the same chunk-by-chunk definition of what a filter lets through.
"""
from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from qa.index.backend import OpenIndex
from qa.ingest.chunk import Chunk


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


def _yyyymmdd(day: dt.date) -> int:
    return int(day.strftime("%Y%m%d"))


class FilterColumns:
    """The filterable fields of every chunk as arrays, so that a filter over 100k chunks is a few vectorized
    comparisons instead of a test per chunk (bench/results.md)."""

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


MASKS_KEPT = 64  # filter values whose mask and rows an opened index keeps


@dataclass(frozen=True)
class Selection:
    """The chunks a filter lets through: a read-only mask over the index's chunks and the rows it sets."""

    mask: np.ndarray
    rows: np.ndarray


def filter_selection(index: OpenIndex, filters: Filters) -> Selection | None:
    """The chunks of `index` that `filters` lets through (None: all), kept per filter value."""
    if filters.empty:
        return None
    kept: OrderedDict = index.derived.get("filter_selections")
    if kept is None:
        kept = index.derived.setdefault("filter_selections", OrderedDict())
    try:
        found = kept.get(filters)
    except TypeError:  # a field given as a list: correct, only not kept
        found, kept = None, None
    if found is not None:
        return found
    columns = index.derived.get("filter_columns")
    if columns is None:
        columns = index.derived.setdefault("filter_columns", FilterColumns(index.chunks))
    mask = columns.mask(filters)
    mask.flags.writeable = False
    rows = np.flatnonzero(mask)
    rows.flags.writeable = False
    found = Selection(mask, rows)
    if kept is None:
        return found
    try:  # threads may share the index: losing a race only means one mask is computed twice
        kept[filters] = found
        while len(kept) > MASKS_KEPT:
            kept.popitem(last=False)
    except KeyError:
        pass
    return found


def filter_mask(index: OpenIndex, filters: Filters) -> np.ndarray | None:
    """Which chunks of `index` `filters` lets through (None: all), as `Filters.matches` decides chunk by chunk."""
    selection = filter_selection(index, filters)
    return None if selection is None else selection.mask


def facets(index: OpenIndex) -> dict[str, list[str]]:
    """Distinct sources, categories and jurisdictions of the index: the values a filter can take."""
    found = index.derived.get("facets")
    if found is None:
        found = index.derived.setdefault("facets", {
            "sources": sorted({c.source for c in index.chunks if c.source}),
            "categories": sorted({c.category for c in index.chunks if c.category}),
            "jurisdictions": sorted({j for c in index.chunks for j in c.jurisdictions}),
        })
    return found
