"""The fault-injection setting: a reindex pauses once, at the named point only, and nowhere when it is unset."""
from __future__ import annotations

import io

import pytest

from qa.index.faults import checkpoint_from, no_checkpoint


def test_unset_it_pauses_nowhere():
    assert checkpoint_from(None) is no_checkpoint


def test_it_pauses_once_at_its_point_and_waits_for_a_line(monkeypatch, capsys):
    stdin = io.StringIO("go on\nspare line\n")
    monkeypatch.setattr("sys.stdin", stdin)
    checkpoint = checkpoint_from("chroma")

    for point in ("embed", "chroma", "embed", "chroma", "bm25", "publish"):
        checkpoint(point)

    assert capsys.readouterr().err.count("paused at chroma") == 1
    assert stdin.readline() == "spare line\n"  # exactly one line was consumed


def test_an_unknown_point_is_refused():
    with pytest.raises(ValueError, match="embed, chroma, bm25, publish"):
        checkpoint_from("halfway")
