"""Splits a cited passage into plain and highlighted segments, so that a UI can mark the cited sentences
while rendering every character of the article as text, never as markup.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    text: str
    highlighted: bool


def highlight_segments(text: str, spans: Sequence[tuple[int, int]]) -> list[Segment]:
    """`text` cut at the `(start, end)` offsets of `spans`; overlapping or touching spans merge, offsets
    outside the text are clipped, and joining the segments' texts gives `text` back."""
    merged: list[list[int]] = []
    for start, end in sorted((max(0, a), min(len(text), b)) for a, b in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    segments: list[Segment] = []
    position = 0
    for start, end in merged:
        if start > position:
            segments.append(Segment(text[position:start], False))
        segments.append(Segment(text[start:end], True))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:], False))
    return segments
