"""A filter lets through the same chunks whichever way it is applied: as Chroma's `where` clause (dense search)
or as vectorized columns (BM25), both held to one chunk-by-chunk definition, `matches` below."""
from __future__ import annotations

import datetime as dt
import itertools

import numpy as np

from qa.ingest.chunk import Chunk
from qa.search.filters import FilterColumns, Filters

SOURCES = ["CoinDesk", "CryptoNews", None]
CATEGORIES = ["regulation", "markets", None]
JURISDICTIONS = [(), ("United States",), ("Hong Kong", "China"), ("South Korea",)]
DATES = [None, 20211015, 20220101, 20220630]


def matches(filters: Filters, chunk: Chunk) -> bool:
    """What a filter means, one chunk at a time: every set field must match; date bounds need an ISO date."""
    if filters.sources and chunk.source not in filters.sources:
        return False
    if filters.categories and chunk.category not in filters.categories:
        return False
    if filters.jurisdictions and not set(filters.jurisdictions) & set(chunk.jurisdictions):
        return False
    if filters.date_from or filters.date_to:
        if chunk.published_date is None:
            return False
        if filters.date_from and chunk.published_date < int(filters.date_from.strftime('%Y%m%d')):
            return False
        if filters.date_to and chunk.published_date > int(filters.date_to.strftime('%Y%m%d')):
            return False
    return True


def make_chunks() -> list[Chunk]:
    chunks = []
    for i, (source, category, places, date) in enumerate(
            itertools.product(SOURCES, CATEGORIES, JURISDICTIONS, DATES)):
        chunks.append(Chunk(
            chunk_id=f"a{i}::0", article_id=f"a{i}", index=0, text="text", start=0, end=4, title="t", path="p",
            published=None if date is None else f"{date // 10000}-{date // 100 % 100:02d}-{date % 100:02d}",
            published_date=date, source=source, url=None, category=category, jurisdictions=places,
        ))
    return chunks


FILTERS = [
    Filters(sources=("CoinDesk",)),
    Filters(sources=("CoinDesk", "Unknown source")),
    Filters(sources=("Unknown source",)),
    Filters(categories=("regulation",)),
    Filters(jurisdictions=("China",)),
    Filters(jurisdictions=("United States", "South Korea")),
    Filters(jurisdictions=("Atlantis",)),
    Filters(date_from=dt.date(2022, 1, 1)),
    Filters(date_to=dt.date(2022, 1, 1)),
    Filters(date_from=dt.date(2021, 12, 1), date_to=dt.date(2022, 3, 1)),
    Filters(sources=("CryptoNews",), categories=("markets",), jurisdictions=("Hong Kong",),
            date_from=dt.date(2021, 1, 1)),
]


def test_column_masks_let_through_exactly_the_matching_chunks():
    chunks = make_chunks()
    columns = FilterColumns(chunks)
    for filters in FILTERS:
        expected = np.array([matches(filters, c) for c in chunks])
        assert np.array_equal(columns.mask(filters), expected), filters


def test_a_filter_on_an_unknown_value_lets_nothing_through():
    columns = FilterColumns(make_chunks())
    assert not columns.mask(Filters(jurisdictions=("Atlantis",))).any()


def test_chroma_where_clauses_let_through_exactly_the_matching_chunks(tmp_path):
    from qa.index.backend import get_collection
    from qa.index.local import open_persistent_client, release_client

    chunks = make_chunks()
    client = open_persistent_client(tmp_path / "chroma")
    try:
        collection = get_collection(client, create=True)
        collection.add(ids=[c.chunk_id for c in chunks], embeddings=[[1.0, float(i)] for i in range(len(chunks))],
                       documents=[c.text for c in chunks], metadatas=[c.chroma_metadata() for c in chunks])
        for filters in FILTERS:
            found = set(collection.get(where=filters.chroma_where(), include=[])["ids"])
            assert found == {c.chunk_id for c in chunks if matches(filters, c)}, filters
    finally:
        release_client(client)
