"""The fast path of jurisdiction detection finds exactly what running every jurisdiction's pattern finds."""
from __future__ import annotations

from qa.ingest import jurisdictions
from qa.ingest.jurisdictions import _PATTERNS, MIN_MENTIONS, detect_jurisdictions

EDGE_CASES = [
    ("The SEC Thailand and the SEC both spoke; the SEC Thailand fined a broker.", ""),
    ("U.S. lawmakers and US regulators; the U.S. Senate.", ""),
    ("Prices in HK$ rose; HK$ 10 million in tokens.", ""),
    ("MiCAR and MiCA apply; MICA is not an acronym here.", ""),
    ("People's Bank of China and Beijing officials met.", ""),
    ("Nothing about any country at all.", "Hong Kong"),
    ("hong kong, HONG KONG and Hong-Kong", ""),
    ("Türkiye and TÜRKIYE and the Turkish lira.", ""),
    ("The usd and Usd stablecoins; USDC and the US.", "US"),
]


def every_pattern(text: str, title: str = "") -> list[str]:
    """The definition: each jurisdiction's pattern run over the whole text and title."""
    counts = {}
    for name, pattern in _PATTERNS.items():
        in_title = bool(title and pattern.search(title))
        n = len(pattern.findall(text)) + (MIN_MENTIONS if in_title else 0)
        if n >= MIN_MENTIONS:
            counts[name] = n
    return sorted(counts, key=lambda name: (-counts[name], name))


def test_detection_equals_running_every_pattern_on_edge_cases():
    for text, title in EDGE_CASES:
        assert detect_jurisdictions(text, title) == every_pattern(text, title), (text, title)


def test_detection_equals_running_every_pattern_on_the_news_archive(cryptonews_rows):
    found = [detect_jurisdictions(r["text"], r["title"]) for r in cryptonews_rows]
    assert found == [every_pattern(r["text"], r["title"]) for r in cryptonews_rows]
    assert sum(1 for f in found if f) > 500  # the archive does name jurisdictions: the comparison is not vacuous


def test_every_name_and_acronym_named_twice_is_detected():
    for table in (jurisdictions._ACRONYMS, jurisdictions._NAMES):
        for name, written_forms in table.items():
            for written in written_forms:
                assert name in detect_jurisdictions(f"{written} and {written}."), written
