"""The hybrid retriever as a LangChain `BaseRetriever` (exported as `qa.HybridRetriever`), for LangChain
chains and agents: each document is a chunk, with the chunk's metadata, its id and its fused score.
"""
from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa.search.filters import Filters
from qa.search.retrieve import Retriever
from qa.settings import Settings


class HybridRetriever(BaseRetriever):
    """LangChain view of `qa.search.retrieve.Retriever` (dense + BM25, fused).

    Build it over an existing retriever (`HybridRetriever(qa_retriever=pipeline.retriever, k=4)`) or from
    settings (`HybridRetriever.from_settings(load_settings())`). `k` (passages per query, default `QA_TOP_K`)
    and `filters` can also be given per call: `retriever.invoke("...", k=2)`.
    """

    qa_retriever: Retriever
    k: int | None = None
    filters: Filters | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **fields) -> HybridRetriever:
        return cls(qa_retriever=Retriever(settings), **fields)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filters: Filters | None = None) -> list[Document]:
        result = self.qa_retriever.search(query, k=k if k is not None else self.k, filters=filters or self.filters)
        return [
            Document(
                id=hit.chunk.chunk_id,
                page_content=hit.chunk.text,
                metadata={**hit.chunk.chroma_metadata(), "chunk_id": hit.chunk.chunk_id, "score": hit.score},
            )
            for hit in result.hits
        ]
