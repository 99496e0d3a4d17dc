"""Digital-Asset Policy Q&A: answers questions about digital-asset regulation from indexed articles, with
numbered citations. Stages by sub-package: ingest -> index -> search -> answer (docs/architecture.md).

The LangChain integration classes are exported here, imported on first use so that `qa ask` starts without
LangChain's retriever and embeddings modules: `qa.HybridRetriever` (a `BaseRetriever`) and `qa.QAEmbeddings`
(an `Embeddings`).
"""
from __future__ import annotations

import importlib

_LAZY_EXPORTS = {
    "HybridRetriever": "qa.search.langchain_retriever",
    "QAEmbeddings": "qa.index.langchain_embeddings",
}
__all__ = sorted(_LAZY_EXPORTS)


def __getattr__(name: str):
    if name in _LAZY_EXPORTS:
        value = getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_EXPORTS])
