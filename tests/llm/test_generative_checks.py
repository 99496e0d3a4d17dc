"""The app's checks on a model's text (no model needed: the text is given): markers pointing nowhere are
dropped, each sentence is cited with the passages that support it, and unsupported sentences are flagged."""
from __future__ import annotations

import time

from seed import LEAP_TITLE

from qa.answer.generate import GenerativeAnswerer

ETF_QUESTION = "What incentive does Hong Kong plan for tokenized ETFs?"


def test_the_app_replaces_the_models_markers_by_its_own_attribution(seed_pipeline, seed_settings, embedder):
    hits = seed_pipeline.retriever.search(ETF_QUESTION).hits
    raw = ("Hong Kong plans to waive stamp duty on transfers of tokenized ETFs [9]. "
           "The Moon will host the first crypto exchange in 2030 [1].")

    answer = GenerativeAnswerer(seed_settings, embedder, "openai").finish(ETF_QUESTION, hits, raw, time.perf_counter())

    supported, invented = answer.sentences
    assert "[9]" not in answer.answer
    assert supported.supported and answer.citations[supported.citations[0] - 1].title == LEAP_TITLE
    assert not invented.supported and invented.citations == []
