"""A filter lets through the same chunks whichever way it is applied: as Chroma's `where` clause (dense search)
or as vectorized columns (BM25), both held to one chunk-by-chunk definition, `matches` below."""
from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

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


def test_filtered_dense_search_is_the_exact_ranking_of_the_matching_chunks(seed_pipeline):
    """With the index's own vectors, a filtered dense search ranks exactly the chunks the filter lets through
    by cosine, the same passages Chroma's `where` finds on so small an index."""
    from qa.search.retrieve import Retriever

    index = seed_pipeline.reader.snapshot()
    assert index.vectors is not None
    vector = seed_pipeline.embedder.encode(["rules for stablecoin issuers and exchanges"])[0]
    cosine = np.asarray(index.vectors) @ vector
    values = {"jurisdictions": sorted({j for c in index.chunks for j in c.jurisdictions}),
              "sources": sorted({c.source for c in index.chunks if c.source})}
    cases = [Filters(jurisdictions=(values["jurisdictions"][0],)), Filters(sources=(values["sources"][0],)),
             Filters(jurisdictions=tuple(values["jurisdictions"][:2]), date_from=dt.date(2020, 1, 1)),
             Filters(jurisdictions=("Atlantis",))]
    for filters in cases:
        wanted = [i for i, c in enumerate(index.chunks) if matches(filters, c)]
        expected = sorted(wanted, key=lambda i: -cosine[i])[:5]
        found = Retriever._dense(index, vector, 5, filters)
        assert [i for i, _ in found] == expected, filters
        assert [s for _, s in found] == pytest.approx([float(cosine[i]) for i in expected], abs=1e-5)
        where = index.collection.query(query_embeddings=[vector.tolist()], n_results=5,
                                       where=filters.chroma_where(), include=[])["ids"][0] if wanted else []
        assert {index.chunks[i].chunk_id for i in expected} == set(where), filters


def test_a_filter_chosen_again_reuses_its_mask_and_gives_the_same_hits(seed_pipeline):
    from qa.search.filters import filter_selection

    index = seed_pipeline.reader.snapshot()
    filters = Filters(jurisdictions=("Hong Kong",))
    first = filter_selection(index, filters)
    assert filter_selection(index, Filters(jurisdictions=("Hong Kong",))) is first
    assert not first.mask.flags.writeable
    assert list(first.rows) == [i for i, c in enumerate(index.chunks) if matches(filters, c)]
    question = "Who may hold cryptocurrency in trust?"
    hits = [seed_pipeline.retriever.search(question, filters=filters).hits for _ in range(2)]
    assert [h.chunk.chunk_id for h in hits[0]] == [h.chunk.chunk_id for h in hits[1]]
    assert all("Hong Kong" in h.chunk.jurisdictions for h in hits[0])
