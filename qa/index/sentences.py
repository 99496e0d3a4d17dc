"""Sentence vectors computed at reindex time and stored with each index generation, so that a first-time
question never waits for its passages' sentences to be encoded.

Each sentence vector comes from the pass that embeds its chunk: the mean of the sentence's token states in
the chunk's own encoding, unit length ("late chunking", `OnnxEncoder.encode_with_spans`). The encoder runs no
more than it did before; the sentence is read in its passage's context (with the article's title before it).

A generation keeps them in two files beside `vectors.npy`: `sentence_vectors.npy` (float16, one row per
sentence) and `sentence_spans.npy` (int32 rows of chunk row, start, end: the sentence's characters in the
chunk's `text`), sorted by chunk row. Both are memory-mapped when the index opens.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from qa.ingest.chunk import Chunk, split_units

logger = logging.getLogger(__name__)

SENTENCE_VECTORS = "sentence_vectors.npy"
SENTENCE_SPANS = "sentence_spans.npy"

Span = tuple[int, int]


def sentence_spans(chunk: Chunk) -> list[Span]:
    """The (start, end) in `chunk.text` of each sentence the answerers read (every unit but headings)."""
    return [(s.start, s.end) for s in split_units(chunk.text) if s.kind != "heading"]


def in_embedding_text(chunk: Chunk, spans: Sequence[Span]) -> list[Span]:
    """`spans` moved from `chunk.text` into `chunk.embedding_text` (which puts the title and a newline first)."""
    shift = len(chunk.embedding_text) - len(chunk.text)
    return [(s + shift, e + shift) for s, e in spans]


class SentenceVectors:
    """A generation's stored sentence vectors, looked up by chunk row."""

    def __init__(self, vectors: np.ndarray, spans: np.ndarray):
        self.vectors = vectors
        self.spans = spans
        self._rows = np.ascontiguousarray(spans[:, 0]) if len(spans) else np.zeros(0, dtype=np.int32)

    @classmethod
    def load(cls, folder: Path, chunk_count: int) -> SentenceVectors | None:
        """The generation's sentence vectors, memory-mapped; None when it has none (an older generation, or one
        whose encoder cannot give them) or they do not fit its `chunk_count` chunks."""
        try:
            vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
            spans = np.load(folder / SENTENCE_SPANS, mmap_mode="r")
        except (OSError, ValueError):
            return None
        if vectors.ndim != 2 or spans.ndim != 2 or spans.shape != (len(vectors), 3):
            logger.warning("ignoring the sentence vectors in %s: their shapes do not match", folder)
            return None
        if len(spans) and not 0 <= int(spans[-1, 0]) < chunk_count:
            logger.warning("ignoring the sentence vectors in %s: they name chunks the index does not have", folder)
            return None
        return cls(vectors, spans)

    def for_row(self, row: int) -> dict[Span, np.ndarray]:
        """{(start, end): float32 unit vector} of the chunk at `row` ({} if it has none stored)."""
        lo, hi = np.searchsorted(self._rows, [row, row + 1])
        return {(int(s[1]), int(s[2])): np.asarray(v, dtype=np.float32)
                for s, v in zip(self.spans[lo:hi], self.vectors[lo:hi])}


def write_sentence_vectors(folder: Path, chunks: Sequence[Chunk],
                           by_chunk: Mapping[str, tuple[Sequence[Span], np.ndarray]]) -> int:
    """Writes the sentence vectors of `chunks` (in chunk-table order) that `by_chunk` holds; returns how many.
    Sentences without a vector (zeros: past the encoder's truncation) are left out."""
    spans: list[tuple[int, int, int]] = []
    vectors: list[np.ndarray] = []
    for row, chunk in enumerate(chunks):
        found = by_chunk.get(chunk.chunk_id)
        if found is None:
            continue
        for (start, end), vector in zip(found[0], found[1], strict=True):
            if np.any(vector):
                spans.append((row, start, end))
                vectors.append(vector)
    dimension = len(vectors[0]) if vectors else 0
    matrix = np.asarray(vectors, dtype=np.float16).reshape(len(vectors), dimension)
    with (folder / SENTENCE_VECTORS).open("wb") as fh:
        np.save(fh, matrix)
    with (folder / SENTENCE_SPANS).open("wb") as fh:
        np.save(fh, np.asarray(spans, dtype=np.int32).reshape(len(spans), 3))
    return len(spans)


def read_stored(folder: Path, chunks: Sequence[Chunk],
                only: Collection[str] | None = None) -> dict[str, tuple[list[Span], np.ndarray]]:
    """The sentence vectors a generation holds, by chunk id: of all its chunks, or of those in `only` (the
    chunks a reindex carries over)."""
    stored = SentenceVectors.load(folder, len(chunks))
    if stored is None:
        return {}
    found: dict[str, tuple[list[Span], np.ndarray]] = {}
    for row, chunk in enumerate(chunks):
        if only is None or chunk.chunk_id in only:
            by_span = stored.for_row(row)
            if by_span:
                found[chunk.chunk_id] = (list(by_span), np.stack(list(by_span.values())))
    return found
