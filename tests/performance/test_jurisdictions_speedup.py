"""Jurisdiction detection reads a reindex's worth of news quickly, and its one trie-shaped pattern finds exactly the
names a plain alternation of every name finds."""
from __future__ import annotations

import re
import time

from qa.ingest import jurisdictions
from qa.ingest.jurisdictions import detect_jurisdictions

EDGE_CASES = [
    "The SEC Thailand and the SEC both spoke; the SEC Thailand fined a broker.",
    "U.S. lawmakers and US regulators; the U.S. Senate.",
    "Prices in HK$ rose; HK$ 10 million in tokens.",
    "MiCAR and MiCA apply; MICA is not an acronym here.",
    "People's Bank of China and Beijing officials met.",
    "hong kong, HONG KONG and Hong-Kong",
    "Türkiye and TÜRKIYE and the Turkish lira.",
    "The usd and Usd stablecoins; USDC and the US.",
    "Bank Of America and the Bank of Japan; South Koreans and North Korea.",
]


def plain_alternation() -> re.Pattern[str]:
    """The definition: every known name, longest first, as one flat alternation."""
    names = "|".join(re.escape(name) for name in sorted(jurisdictions._KINDS, key=len, reverse=True))
    return re.compile(jurisdictions._MENTION.pattern.replace(jurisdictions._trie_pattern(sorted(jurisdictions._KINDS)),
                                                             names))


def test_trie_pattern_finds_what_a_plain_alternation_finds(cryptonews_rows):
    plain = plain_alternation()
    texts = EDGE_CASES + [row["title"] + "\n" + row["text"] for row in cryptonews_rows[:1500]]
    for text in texts:
        found = [m.span() for m in jurisdictions._MENTION.finditer(text)]
        assert found == [m.span() for m in plain.finditer(text)], text


def test_the_news_archive_is_read_at_thousands_of_articles_a_second(cryptonews_rows):
    start = time.perf_counter()
    found = [detect_jurisdictions(row["text"], row["title"]) for row in cryptonews_rows]
    rate = len(cryptonews_rows) / (time.perf_counter() - start)
    assert sum(1 for f in found if f) > 500  # the archive does name jurisdictions: the timing is not vacuous
    assert rate > 2000, f"{rate:.0f} articles/s"


def test_every_name_is_detected_in_a_title():
    for table in (jurisdictions._PLACES, jurisdictions._AUTHORITIES):
        for name, written_forms in table.items():
            for written in jurisdictions._alternatives(written_forms):
                assert name in detect_jurisdictions("", title=f"News from {written} today"), written
