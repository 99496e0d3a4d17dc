"""Fixtures of the performance tests: texts of the cryptonews dataset, the news archive the benchmarks use."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def cryptonews_rows(shared_dir) -> list[dict]:
    path = shared_dir / "datasets" / "cryptonews" / "corpus.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is missing (the shared datasets folder)")
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]
