"""The app's encoder as a LangChain `Embeddings` (exported as `qa.QAEmbeddings`): the same vectors the index
holds, for LangChain vector stores and chains, offline and through the same embedding cache.
"""
from __future__ import annotations

from langchain_core.embeddings import Embeddings

from qa.index.embed import Embedder
from qa.settings import Settings, load_settings


class QAEmbeddings(Embeddings):
    """LangChain view of `qa.index.embed.Embedder`: L2-normalized vectors of the configured model.

    `QAEmbeddings()` reads the settings (`QA_EMBEDDING_MODEL`, `QA_EMBEDDING_BACKEND`, ...);
    `QAEmbeddings(settings=...)` or `QAEmbeddings(embedder=...)` uses the ones given. Documents go through the
    persistent embedding cache, as a reindex's chunks do; queries do not.
    """

    def __init__(self, *, settings: Settings | None = None, embedder: Embedder | None = None):
        self.embedder = embedder or Embedder(settings or load_settings())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.encode(texts, use_cache=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode([text], use_cache=False)[0].tolist()
