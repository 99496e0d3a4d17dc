"""The one place that decides where the index lives: the settings' Chroma server if one is set, else
generation folders in the index folder. Everything else asks this factory for an `IndexBackend`.
"""
from __future__ import annotations

from qa.index.backend import IndexBackend
from qa.index.local import LocalGenerations
from qa.index.server import ChromaServer
from qa.settings import Settings


def index_backend(settings: Settings) -> IndexBackend:
    """The backend the settings name (`QA_CHROMA_HOST` set: the Chroma server; unset: `QA_INDEX_DIR`)."""
    if settings.chroma_host:
        return ChromaServer(settings.chroma_host, settings.chroma_port)
    return LocalGenerations(settings.index_dir)
