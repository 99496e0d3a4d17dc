"""A cited passage splits into plain and highlighted segments that join back into the passage."""
from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from tests.seed import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "ui"))
from highlight import Segment, highlight_segments  # noqa: E402  (ui/ is the app's folder)


def test_cited_sentence_is_the_highlighted_segment():
    text = "First sentence. Cited sentence. Last one."

    segments = highlight_segments(text, [(16, 31)])

    assert segments == [Segment("First sentence. ", False, 0), Segment("Cited sentence.", True, 16),
                        Segment(" Last one.", False, 31)]


def test_overlapping_and_touching_spans_merge_and_outside_offsets_are_clipped():
    assert highlight_segments("abcdefgh", [(5, 99), (1, 3), (2, 4), (4, 5), (-3, 0)]) == [
        Segment("a", False, 0), Segment("bcdefgh", True, 1)]


def test_no_spans_give_the_whole_passage_as_plain_text():
    assert highlight_segments("passage", []) == [Segment("passage", False)]


@given(st.text(max_size=40), st.lists(st.tuples(st.integers(-5, 50), st.integers(-5, 50)), max_size=5))
def test_segments_always_join_back_into_the_text(text, spans):
    segments = highlight_segments(text, spans)

    assert "".join(s.text for s in segments) == text
    assert all(s.text for s in segments)
    assert all(text[s.start:s.start + len(s.text)] == s.text for s in segments)
    assert all(a.highlighted != b.highlighted for a, b in zip(segments, segments[1:]))
