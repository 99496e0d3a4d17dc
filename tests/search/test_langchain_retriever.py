"""`qa.HybridRetriever` is a LangChain retriever as LangChain's own standard suite defines one, and its
documents carry the chunk, its metadata and its fused score."""
from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from qa import HybridRetriever
from qa.search.filters import Filters
from tests.seed import KOREA_TITLE, LEAP_TITLE

ETF_QUESTION = "What incentive does Hong Kong plan for tokenized ETFs?"


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    """langchain-tests' RetrieversIntegrationTests over the seed index: `k` in the constructor and per call,
    sync and async invocation, documents out."""

    @pytest.fixture(autouse=True)
    def _seed_index(self, seed_pipeline):
        type(self).qa_retriever = seed_pipeline.retriever

    @pytest.fixture(autouse=True)
    def _no_foreign_event_loop(self):
        # The browser tests share one Playwright sync session for the whole run, and Playwright's sync API
        # leaves its event loop marked as running in the main thread, where pytest-asyncio runs the standard
        # suite's async tests ("Runner.run() cannot be called from a running event loop"). Nothing calls
        # Playwright meanwhile, so its loop is set aside for these tests and put back after.
        foreign = asyncio._get_running_loop()
        asyncio._set_running_loop(None)
        yield
        asyncio._set_running_loop(foreign)

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"qa_retriever": self.qa_retriever}

    @property
    def retriever_query_example(self) -> str:
        return ETF_QUESTION


def test_documents_carry_the_chunk_its_metadata_and_score(seed_pipeline):
    retriever = HybridRetriever(qa_retriever=seed_pipeline.retriever, k=3)

    documents = retriever.invoke(ETF_QUESTION)

    assert len(documents) == 3 and all(isinstance(d, Document) for d in documents)
    first = documents[0]
    assert first.metadata["title"] == LEAP_TITLE
    assert first.id == first.metadata["chunk_id"] and first.page_content
    assert [d.metadata["score"] for d in documents] == sorted((d.metadata["score"] for d in documents), reverse=True)


def test_filters_given_per_call_restrict_the_documents(seed_pipeline):
    retriever = HybridRetriever(qa_retriever=seed_pipeline.retriever)

    documents = retriever.invoke(ETF_QUESTION, filters=Filters(jurisdictions=("South Korea",)))

    assert documents and {d.metadata["title"] for d in documents} == {KOREA_TITLE}


def test_it_is_importable_from_the_package_top_level_and_subclassable():
    import qa

    class TracedRetriever(qa.HybridRetriever):
        pass

    assert issubclass(TracedRetriever, HybridRetriever)
    assert "HybridRetriever" in dir(qa)
