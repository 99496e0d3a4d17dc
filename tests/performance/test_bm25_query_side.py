"""BM25 at question time runs without bm25s: its terms and its scores are exactly those of bm25s."""
from __future__ import annotations

import numpy as np
import pytest

from qa.index.bm25 import BM25Index, build_bm25
from qa.text import BM25_STOPWORDS, bm25_terms, bm25_tokenize

QUERIES = [
    "What did the SEC say about a spot Bitcoin ETF?",
    "bitcoin Bitcoin BITCOIN price",  # a repeated term counts each time
    "Is it the rule of the state?",  # stop words only, and words the index may not hold
    "Terra's UST de-pegged; LUNA fell 99%",
    "zzzunknownword",
    "",
]


@pytest.fixture(scope="module")
def texts(cryptonews_rows) -> list[str]:
    return [f"{r['title']}\n{r['text']}" for r in cryptonews_rows[:3000]]


@pytest.fixture(scope="module")
def bm25_folder(texts, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bm25")
    build_bm25(texts, folder)
    return folder


def test_stop_words_are_those_of_bm25s():
    from bm25s.stopwords import STOPWORDS_EN

    assert BM25_STOPWORDS == set(STOPWORDS_EN)


def test_terms_are_those_bm25s_makes(texts):
    expected = bm25_tokenize(texts[:500] + QUERIES, return_ids=False)
    assert [bm25_terms(t) for t in texts[:500] + QUERIES] == expected


def test_scores_equal_those_of_bm25s(bm25_folder, texts):
    import bm25s

    reference = bm25s.BM25.load(str(bm25_folder), mmap=False, show_progress=False)
    index = BM25Index(bm25_folder, len(texts))
    for query in QUERIES:
        tokens = [t for t in bm25_tokenize([query], return_ids=False)[0] if t in reference.vocab_dict]
        expected = reference.get_scores(tokens) if tokens else np.zeros(len(texts), dtype=np.float32)
        assert np.array_equal(index.scores(query), expected), query
    assert index.scores(QUERIES[0]).max() > 0


def test_an_empty_index_scores_nothing(tmp_path):
    build_bm25([], tmp_path)
    assert BM25Index(tmp_path, 0).scores("bitcoin").size == 0
