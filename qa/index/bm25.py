"""The BM25 index of a generation's chunks: built once (from texts, with bm25s) and scored at question time
from the saved score matrix without bm25s, so that the query process never imports bm25s or scipy.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.index.faults import Checkpoint, no_checkpoint
from qa.text import bm25_terms, bm25_tokenize, import_bm25s


def _fitted(texts: Sequence[str]):
    retriever = import_bm25s().BM25()
    retriever.index(bm25_tokenize(texts), show_progress=False)
    return retriever


def build_bm25(texts: Sequence[str], folder: Path, checkpoint: Checkpoint = no_checkpoint) -> None:
    """Writes the BM25 index of `texts` into `folder`; `checkpoint("bm25")` runs between its files."""
    folder.mkdir(parents=True, exist_ok=True)
    if texts:
        _fitted(texts).save(str(folder), show_progress=False)
    checkpoint("bm25")
    (folder / "count.json").write_text(json.dumps({"documents": len(texts)}))


class BM25Index:
    """BM25 scores of every chunk of a generation, in the generation's chunk order.

    Reads the score matrix that bm25s saved (one sparse column of precomputed BM25 scores per term, as
    `bm25s.BM25.load` reads it) and adds up the columns of the query's terms, as `BM25.get_scores` does; a
    test checks that the scores are the same.
    """

    def __init__(self, folder: Path | None, size: int, retriever=None):
        self.size = size
        self._vocab: dict[str, int] = {}
        if retriever is not None:  # built in memory: the same arrays, not saved
            scores = retriever.scores
            self._data, self._rows, self._starts = scores["data"], scores["indices"], scores["indptr"]
            self._vocab = retriever.vocab_dict
        elif size:
            self._data = np.load(folder / "data.csc.index.npy")
            self._rows = np.load(folder / "indices.csc.index.npy")
            self._starts = np.load(folder / "indptr.csc.index.npy")
            self._vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> BM25Index:
        """Built in memory, as the Chroma server backend does from the chunks it reads back."""
        if not texts:
            return cls(None, 0)
        return cls(None, len(texts), _fitted(texts))

    def scores(self, query: str) -> np.ndarray:
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        scores = np.zeros(self.size, dtype=np.float32)
        for term in bm25_terms(query):
            column = self._vocab.get(term)
            if column is not None:
                start, end = self._starts[column], self._starts[column + 1]
                np.add.at(scores, self._rows[start:end], self._data[start:end])
        return scores
