"""`qa.QAEmbeddings` is a LangChain `Embeddings` as LangChain's own standard suite defines one, and gives the
vectors the index holds."""
from __future__ import annotations

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from qa import QAEmbeddings
from qa.index.embed import Embedder


class TestQAEmbeddingsStandard(EmbeddingsIntegrationTests):
    """langchain-tests' EmbeddingsIntegrationTests: query and documents, sync and async."""

    @pytest.fixture(autouse=True)
    def _embedder(self, embedder):
        type(self).shared_embedder = embedder

    @property
    def embeddings_class(self) -> type[QAEmbeddings]:
        return QAEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": self.shared_embedder}


def test_vectors_are_those_of_the_app_encoder(make_settings):
    # The fp32 backend: int8 ONNX quantizes activations per batch, so there the same text's vector moves a little
    # with the batch it is encoded in (tests/index/test_embed.py), and equality would not be the point here.
    embedder = Embedder(make_settings(embedding_backend="torch"))
    embeddings = QAEmbeddings(embedder=embedder)
    texts = ["Hong Kong plans a stamp duty waiver for tokenized ETFs.", "South Korea may allow ICOs again."]

    documents = np.asarray(embeddings.embed_documents(texts))
    query = np.asarray(embeddings.embed_query(texts[0]))

    np.testing.assert_allclose(documents, embedder.encode(texts), atol=1e-6)
    np.testing.assert_allclose(query, documents[0], atol=1e-6)
    assert documents.shape == (2, embedder.dimension)


def test_built_from_settings_it_uses_the_configured_model(make_settings):
    embeddings = QAEmbeddings(settings=make_settings())

    assert len(embeddings.embed_query("stablecoin issuers")) == 384
