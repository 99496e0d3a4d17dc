"""Fixtures shared by every test: settings on temporary folders, the real embedding model loaded once,
and an index of the seed corpus built once per session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qa.settings import Settings
from tests.seed import SEED_CORPUS, SHARED_DIR

# Real servers for the tests that need them: `chroma run`, llama.cpp's server, Debian's Chromium.
pytest_plugins = ["tests.servers"]


def pytest_collection_modifyitems(config, items):
    # The SciFact run is long on 2 cores: CI always runs it, a local `make test` only with QA_RUN_SLOW=1.
    if os.environ.get("CI") == "true" or os.environ.get("QA_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set QA_RUN_SLOW=1 (CI sets CI=true) to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED_DIR


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One embedding cache per test session: tests embed for real, but each text only once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def make_settings(tmp_path, cache_dir):
    """Settings on temporary folders; keyword arguments override fields."""

    def make(**overrides) -> Settings:
        values = {"corpus_dir": tmp_path / "corpus", "index_dir": tmp_path / "index", "cache_dir": cache_dir,
                  "feedback_path": tmp_path / "feedback.jsonl"}
        values.update(overrides)
        Path(values["corpus_dir"]).mkdir(parents=True, exist_ok=True)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def embedder(cache_dir):
    from qa.index.embed import Embedder

    return Embedder(Settings(cache_dir=cache_dir))


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory, cache_dir) -> Settings:
    """Settings whose corpus is a copy of the seed articles, indexed once for the session."""
    root = tmp_path_factory.mktemp("seed")
    shutil.copytree(SEED_CORPUS, root / "corpus")
    return Settings(corpus_dir=root / "corpus", index_dir=root / "index", cache_dir=cache_dir,
                    feedback_path=root / "feedback.jsonl")


@pytest.fixture(scope="session")
def seed_pipeline(seed_settings, embedder):
    from qa.pipeline import Pipeline

    pipeline = Pipeline(seed_settings, embedder=embedder)
    pipeline.reindex()
    return pipeline
