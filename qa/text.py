"""The terms of a text as BM25 sees them: lower-cased words, English stop words dropped, Snowball stems.

One tokeniser for the BM25 index (built in qa.index.bm25) and for every stage that compares words with it
(the answerer's term overlap), so that a word means the same thing to all of them.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence

# bm25s's English stop words (bm25s.stopwords.STOPWORDS_EN; a test checks that they stay the same) and its token
# pattern: `bm25_terms` makes the terms of one text without importing bm25s, which imports scipy, a large part
# of the start-up time of `qa ask` (docs/performance.md).
BM25_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split()
)
_BM25_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STEMMER = None


def stemmer():
    """The English Snowball stemmer (PyStemmer), made once per process."""
    global _STEMMER
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("english")
    return _STEMMER


def bm25_terms(text: str) -> list[str]:
    """The stemmed terms of `text`, in order, as `bm25_tokenize([text], return_ids=False)[0]` gives them."""
    return stemmer().stemWords([w for w in _BM25_TOKEN.findall(text.lower()) if w not in BM25_STOPWORDS])


def import_bm25s():
    """The bm25s module, imported on first use (it imports scipy: only building an index needs it).

    bm25s sets its logger to DEBUG when imported, which overrides the level the app configured and printed
    its debug lines at the default log level; the level from before the import is put back.
    """
    logger = logging.getLogger("bm25s")
    level = logger.level
    import bm25s

    logger.setLevel(level)
    return bm25s


def bm25_tokenize(texts: Sequence[str], return_ids: bool = True):
    """bm25s's tokenisation of many texts (ids and vocabulary for indexing, or term lists)."""
    bm25s = import_bm25s()
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer(), return_ids=return_ids, show_progress=False)
