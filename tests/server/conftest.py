"""Fixtures of the server-mode tests: settings whose store is a real `chroma run` on a free port, over a
copy of the seed corpus."""
from __future__ import annotations

import shutil

import pytest
from seed import SEED_CORPUS


@pytest.fixture
def server_settings(make_settings, chroma_server, tmp_path):
    """Settings pointing at `chroma_server`, over a copy of the seed corpus in `tmp_path / "corpus"`."""
    shutil.copytree(SEED_CORPUS, tmp_path / "corpus", dirs_exist_ok=True)
    return make_settings(chroma_host=chroma_server.host, chroma_port=chroma_server.port)


@pytest.fixture
def server_pipeline(server_settings, embedder):
    """An app instance on the Chroma server, with the seed corpus indexed through it."""
    from qa.pipeline import Pipeline

    pipeline = Pipeline(server_settings, embedder=embedder)
    pipeline.reindex()
    return pipeline
