"""Recognises which jurisdictions an article is about from the places, regulators and laws it names.

Used at load time so every chunk carries its article's jurisdictions for filtering.
"""
from __future__ import annotations

import re

# Each jurisdiction lists names that only that jurisdiction uses. Acronyms are matched case-sensitively
# (SFC, FSC) because in lower case they collide with ordinary words; full names match case-insensitively.
_ACRONYMS: dict[str, list[str]] = {
    "Hong Kong": ["FSTB", "SFC", "HKMA", "HKEX", "HK$"],
    "South Korea": ["FSC", "FSS", "KoFIU", "DPK", "VAUPA"],
    "United States": ["SEC", "CFTC", "OCC", "FinCEN", "IRS", "FDIC", "DOJ", "OFAC", "U.S.", "US"],
    "European Union": ["MiCA", "MiCAR", "ESMA", "EBA", "ECB", "EU", "AMLA"],
    "United Kingdom": ["FCA", "HMRC", "UK", "U.K."],
    "Singapore": ["MAS"],
    "Japan": ["JFSA", "BOJ"],
    "China": ["PBOC", "PBoC", "CSRC"],
    "India": ["RBI", "SEBI"],
    "United Arab Emirates": ["VARA", "ADGM", "UAE"],
    "Switzerland": ["FINMA"],
    "Australia": ["ASIC", "AUSTRAC"],
    "Canada": ["CSA", "OSC", "FINTRAC"],
    "Brazil": ["CVM"],
    "Thailand": ["SEC Thailand"],
}
_NAMES: dict[str, list[str]] = {
    "Hong Kong": ["Hong Kong", "Financial Services and the Treasury Bureau", "Securities and Futures Commission",
                  "Hong Kong Monetary Authority", "Cyberport"],
    "South Korea": ["South Korea", "Korea", "Korean", "Seoul", "Bank of Korea", "Financial Services Commission",
                    "Financial Supervisory Service", "Digital Asset Basic Act", "Virtual Asset User Protection Act",
                    "Upbit", "Bithumb", "National Assembly of Korea"],
    "United States": ["United States", "Securities and Exchange Commission", "Commodity Futures Trading Commission",
                      "Federal Reserve", "Congress", "Senate", "Treasury Department", "GENIUS Act",
                      "Washington", "New York", "American"],
    "European Union": ["European Union", "European Commission", "European Parliament", "Markets in Crypto-Assets",
                       "European Central Bank", "Brussels"],
    "United Kingdom": ["United Kingdom", "Financial Conduct Authority", "Bank of England", "Britain", "British",
                       "London"],
    "Singapore": ["Singapore", "Monetary Authority of Singapore"],
    "Japan": ["Japan", "Japanese", "Tokyo", "Financial Services Agency", "Bank of Japan"],
    "China": ["mainland China", "People's Bank of China", "Beijing", "Chinese mainland"],
    "India": ["India", "Indian", "Reserve Bank of India"],
    "United Arab Emirates": ["United Arab Emirates", "Dubai", "Abu Dhabi"],
    "Switzerland": ["Switzerland", "Swiss"],
    "Australia": ["Australia", "Australian"],
    "Canada": ["Canada", "Canadian"],
    "Brazil": ["Brazil", "Brazilian"],
    "Thailand": ["Thailand", "Thai"],
    "Russia": ["Russia", "Russian", "Bank of Russia"],
    "Turkey": ["Turkey", "Türkiye", "Turkish"],
}
# A jurisdiction needs this many mentions; one passing mention (a comparison, "a US court") would
# otherwise tag every article with every country named once.
MIN_MENTIONS = 2


def _compile() -> dict[str, re.Pattern[str]]:
    patterns: dict[str, re.Pattern[str]] = {}
    for name in set(_ACRONYMS) | set(_NAMES):
        acronyms = "|".join(re.escape(a) for a in sorted(_ACRONYMS.get(name, []), key=len, reverse=True))
        names = "|".join(re.escape(n) for n in sorted(_NAMES.get(name, []), key=len, reverse=True))
        parts = []
        if acronyms:
            parts.append(rf"(?<![\w.])(?:{acronyms})(?![\w$])")
        if names:
            parts.append(rf"(?i:\b(?:{names})\b)")
        patterns[name] = re.compile("|".join(parts))
    return patterns


_PATTERNS = _compile()

# The patterns are slow (case-insensitive alternations defeat the regex engine's literal search) and most
# articles name one or two jurisdictions, so a pattern only runs on a text that holds the first word of one
# of its names or acronyms as a whole word (acronyms as written, names casefolded): a pattern cannot match
# without it. This keeps loading a large corpus cheap.
_WORD = re.compile(r"\w+")


def _first_words(names: dict[str, list[str]], fold: bool) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, words in names.items():
        for word in words:
            first = _WORD.search(word.casefold() if fold else word).group()
            out.setdefault(first, set()).add(name)
    return out


_ACRONYM_WORDS = _first_words(_ACRONYMS, fold=False)
_NAME_WORDS = _first_words(_NAMES, fold=True)


def _candidates(text: str) -> set[str]:
    found: set[str] = set()
    for word in set(_WORD.findall(text)) & _ACRONYM_WORDS.keys():
        found |= _ACRONYM_WORDS[word]
    for word in set(_WORD.findall(text.casefold())) & _NAME_WORDS.keys():
        found |= _NAME_WORDS[word]
    return found


def detect_jurisdictions(text: str, title: str = "") -> list[str]:
    """Jurisdictions named at least twice in the text, or at all in the title; sorted by mentions."""
    counts: dict[str, int] = {}
    in_text, in_title = _candidates(text), _candidates(title) if title else set()
    for name in in_text | in_title:
        pattern = _PATTERNS[name]
        named_in_title = name in in_title and bool(pattern.search(title))
        n = (len(pattern.findall(text)) if name in in_text else 0) + (MIN_MENTIONS if named_in_title else 0)
        if n >= MIN_MENTIONS:
            counts[name] = n
    return sorted(counts, key=lambda name: (-counts[name], name))


def known_jurisdictions() -> list[str]:
    """All jurisdictions the recogniser knows, for the UI's filter."""
    return sorted(_PATTERNS)
