"""Fixtures of the reliability tests: a private copy of the seed index to damage, and `qa` subprocesses that
are killed if a test leaves them running."""
from __future__ import annotations

import shutil

import pytest
from reliability_scenarios import QAProcess

from qa.settings import Settings


@pytest.fixture
def seed_copy(seed_pipeline, tmp_path) -> Settings:
    """Settings on a private copy of the seed corpus and of its built index, free to be damaged."""
    source = seed_pipeline.settings
    shutil.copytree(source.corpus_dir, tmp_path / "corpus")
    shutil.copytree(source.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns(".reindex.lock"))
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", cache_dir=source.cache_dir,
                    feedback_path=tmp_path / "feedback.jsonl")


@pytest.fixture
def qa_process():
    """Starts `qa` subprocesses; any still running when the test ends is killed."""
    started: list[QAProcess] = []

    def start(args: list[str], settings: Settings, **env: str) -> QAProcess:
        process = QAProcess(args, settings, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.kill()
