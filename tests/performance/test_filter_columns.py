"""Filtering by vectorized columns lets through exactly the chunks that `Filters.matches` accepts."""
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


def test_masks_equal_filters_matches_chunk_by_chunk():
    chunks = make_chunks()
    columns = FilterColumns(chunks)
    for filters in FILTERS:
        expected = np.array([filters.matches(c) for c in chunks])
        assert np.array_equal(columns.mask(filters), expected), filters


def test_a_filter_on_an_unknown_value_lets_nothing_through():
    columns = FilterColumns(make_chunks())
    assert not columns.mask(Filters(jurisdictions=("Atlantis",))).any()
