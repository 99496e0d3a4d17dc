"""Hybrid retrieval: the right article first, filters, fusion, and the LangChain retriever."""
import datetime as dt

import pytest

from qa import HybridRetriever
from qa.errors import QuestionError
from qa.ingest.chunk import Chunk
from qa.search.retrieve import Filters, fuse
from tests.seed import KOREA_TITLE, LEAP_TITLE, PROPERTY_TITLE, WEMIX_TITLE


@pytest.mark.parametrize("question, title", [
    ("What incentive does Hong Kong plan for tokenized ETFs?", LEAP_TITLE),
    ("Did a Hong Kong judge rule that cryptocurrency can be held in trust?", PROPERTY_TITLE),
    ("Which exchange listed the staked WEMIX token?", WEMIX_TITLE),
    ("When will South Korea allow initial coin offerings again?", KOREA_TITLE),
])
def test_the_right_article_comes_first(seed_pipeline, question, title):
    hits = seed_pipeline.retriever.search(question).hits
    assert hits[0].chunk.title == title


def test_top_k_limits_the_hits(seed_pipeline):
    assert len(seed_pipeline.retriever.search("stablecoin issuers", k=3).hits) == 3


def test_jurisdiction_filter_changes_the_sources(seed_pipeline):
    question = "What rules apply to stablecoin issuers?"
    korea = seed_pipeline.retriever.search(question, filters=Filters(jurisdictions=("South Korea",))).hits
    hong_kong = seed_pipeline.retriever.search(question, filters=Filters(jurisdictions=("Hong Kong",))).hits
    assert {h.chunk.title for h in korea} == {KOREA_TITLE}
    assert {h.chunk.title for h in hong_kong} <= {LEAP_TITLE, PROPERTY_TITLE}


def test_date_filter_excludes_undated_and_out_of_range_articles(seed_pipeline):
    hits = seed_pipeline.retriever.search(
        "crypto regulation", k=20, filters=Filters(date_from=dt.date(2023, 6, 1), date_to=dt.date(2024, 12, 31))).hits
    assert {h.chunk.title for h in hits} == {WEMIX_TITLE}


def test_category_and_source_filters(seed_pipeline):
    hits = seed_pipeline.retriever.search("exchange", k=20, filters=Filters(categories=("Web3 & Enterprise",))).hits
    assert {h.chunk.title for h in hits} == {WEMIX_TITLE}
    assert seed_pipeline.retriever.search("exchange", filters=Filters(sources=("Nobody",))).hits == []


def test_dense_and_bm25_modes_each_rank_on_their_own(seed_pipeline):
    dense = seed_pipeline.retriever.search("stamp duty waiver", mode="dense").hits
    lexical = seed_pipeline.retriever.search("stamp duty waiver", mode="bm25").hits
    assert all(h.bm25_score is None for h in dense) and all(h.dense_score is None for h in lexical)
    assert lexical[0].chunk.title == LEAP_TITLE


def test_rrf_adds_reciprocal_ranks():
    chunks = [Chunk(f"c{i}", "a", i, "t", 0, 1, "T", "p", None, None, None, None, None, ()) for i in range(3)]
    hits = fuse(chunks, dense=[(0, 0.9), (1, 0.8)], lexical=[(1, 5.0), (2, 3.0)], rrf_k=60)
    assert [h.chunk.chunk_id for h in hits] == ["c1", "c0", "c2"]
    assert hits[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert hits[1].score == pytest.approx(1 / 61)
    assert hits[2].score == pytest.approx(1 / 62)


def test_langchain_retriever_returns_documents_with_metadata(seed_pipeline):
    from langchain_core.retrievers import BaseRetriever

    retriever = HybridRetriever(qa_retriever=seed_pipeline.retriever, k=2)
    assert isinstance(retriever, BaseRetriever)
    documents = retriever.invoke("What does LEAP stand for?")
    assert len(documents) == 2
    assert documents[0].metadata["title"] == LEAP_TITLE
    assert documents[0].metadata["chunk_id"].startswith("hong-kong-leap-framework.md::")


@pytest.mark.parametrize("k", [0, -3])
def test_a_search_for_fewer_than_one_passage_is_refused(seed_pipeline, k):
    with pytest.raises(QuestionError, match="at least 1"):
        seed_pipeline.ask("What does the LEAP acronym stand for?", k=k)
