"""Jurisdiction detection on the hand-labelled cryptonews sample (150 articles), which nobody writing the rules
has seen: the issue's target is precision 0.95 and recall 0.90.

The labels (tests/ingest/jurisdiction_labels.jsonl, one {"_id", "title", "jurisdictions", "why"} per line) were
written by reading each article, by someone who does not write the rules. First and only score of the committed
rules: precision 0.947, recall 0.967 (docs/jurisdictions.md). The gate below holds that score against
regressions; it is not the target, which is missed by one false tag, and the labels must not be used to fix it
(they would stop being held out): the next rule change is judged on new dev labels, then on this sample once.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from qa.ingest.jurisdictions import detect_jurisdictions

LABELS = Path(__file__).parent / "jurisdiction_labels.jsonl"

pytestmark = pytest.mark.skipif(not LABELS.exists(), reason=f"{LABELS} is missing: the lead adds the labelled sample")


@pytest.fixture(scope="module")
def cryptonews_by_id(shared_dir) -> dict[str, dict]:
    path = shared_dir / "datasets" / "cryptonews" / "corpus.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is missing (the shared datasets folder)")
    with path.open(encoding="utf-8") as fh:
        return {row["_id"]: row for row in map(json.loads, fh)}


def read_labels(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [row for row in map(json.loads, filter(str.strip, fh)) if "_meta" not in row]


def test_precision_and_recall_on_the_labelled_sample(cryptonews_by_id):
    hits, extra, missed = 0, Counter(), Counter()
    for label in read_labels(LABELS):
        article = cryptonews_by_id[label["_id"]]
        found = set(detect_jurisdictions(article["text"], article["title"]))
        gold = set(label["jurisdictions"])
        hits += len(found & gold)
        extra.update(found - gold)
        missed.update(gold - found)
    precision = hits / max(1, hits + sum(extra.values()))
    recall = hits / max(1, hits + sum(missed.values()))
    errors = f"wrongly tagged: {dict(extra.most_common())}; missed: {dict(missed.most_common())}"
    assert precision >= 0.94 and recall >= 0.95, f"precision {precision:.3f}, recall {recall:.3f}; {errors}"
