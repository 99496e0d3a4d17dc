"""Tiny hand-made run and qrels shared by the retrieval-metric tests."""

import pytest


@pytest.fixture
def qrels() -> dict[str, dict[str, int]]:
    return {
        "q1": {"d1": 2, "d2": 1, "d3": 0},  # graded relevance; d3 judged not relevant
        "q2": {"d5": 1},  # its relevant doc ties with a non-relevant one in the run
        "q3": {"d9": 1},  # judged but missing from the run
        "q4": {"d7": 0},  # judged, nothing relevant: left out of every mean
    }


@pytest.fixture
def run() -> dict[str, dict[str, float]]:
    return {
        # Ranked d3, d2, d1, d4: d1 and d2 tie at 0.8 and the larger doc id goes first.
        "q1": {"d3": 0.9, "d1": 0.8, "d2": 0.8, "d4": 0.1},
        # Ranked d6, d5, d4.
        "q2": {"d5": 0.5, "d6": 0.5, "d4": 0.2},
        "q4": {"d7": 1.0},
        "q5": {"d1": 1.0},  # no qrels: ignored
    }
