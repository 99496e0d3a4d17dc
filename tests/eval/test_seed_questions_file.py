"""Specification of the development question set tests/eval/seed_questions.jsonl.

Checks its shape, its size, and that every expected phrase can be found in the articles it cites.
"""

import json
import re
from pathlib import Path

import pytest

QUESTIONS_FILE = Path(__file__).with_name("seed_questions.jsonl")
SEED_FILE = Path(__file__).resolve().parents[2].parent / "shared/seeds/000_c7cae4de245800d6.txt"

# In the order they appear on the seed page; the article text is cut between consecutive titles.
ARTICLE_TITLES = (
    "Hong Kong releases ‘LEAP’ framework for digital assets",
    "Hong Kong Deems Crypto as Property",
    "WEMIX’s staked token listed on BitMart exchange",
    "South Korea plans to revive crypto ICOs under stricter disclosure and oversight rules",
)
FIELD_TYPES = {
    "id": str,
    "question": str,
    "answerable": bool,
    "gold_titles": list,
    "must_include": list,
    "kind": str,
}
KINDS = {"list", "number", "comparison", "paraphrase", "unanswerable"}
_CURLY_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


def _normalise(text: str) -> str:
    """Lower-case, straighten curly quotes and drop thousands separators, as the evaluator does."""
    text = text.lower().translate(_CURLY_QUOTES)
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)


def _load_questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _article_texts(seed: str) -> dict[str, str]:
    """Normalised text of each article, from its title's first occurrence to the next title's."""
    starts = [seed.index(title) for title in ARTICLE_TITLES] + [len(seed)]
    return {
        title: _normalise(seed[starts[i] : starts[i + 1]]) for i, title in enumerate(ARTICLE_TITLES)
    }


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return _load_questions()


@pytest.fixture(scope="module")
def seed_text() -> str:
    if not SEED_FILE.exists():
        pytest.skip(f"seed page {SEED_FILE} is not present; it lives in ../shared next to the repository")
    return SEED_FILE.read_text(encoding="utf-8")


def _alternatives(question: dict) -> list[str]:
    return [alternative for group in question["must_include"] for alternative in group]


def test_every_line_has_exactly_the_documented_fields_with_their_types(questions):
    for question in questions:
        assert set(question) == set(FIELD_TYPES), question.get("id")
        for field, expected_type in FIELD_TYPES.items():
            assert isinstance(question[field], expected_type), (question["id"], field)
        assert all(isinstance(title, str) for title in question["gold_titles"]), question["id"]
        for group in question["must_include"]:
            assert isinstance(group, list) and group, (question["id"], group)
            assert all(isinstance(alt, str) and alt.strip() for alt in group), (question["id"], group)


def test_ids_are_unique(questions):
    ids = [question["id"] for question in questions]
    assert len(ids) == len(set(ids))


def test_the_set_has_at_least_40_answerable_and_8_unanswerable_questions(questions):
    answerable = sum(question["answerable"] for question in questions)
    assert answerable >= 40
    assert len(questions) - answerable >= 8


def test_every_article_is_gold_for_at_least_8_answerable_questions(questions):
    for title in ARTICLE_TITLES:
        assert sum(title in question["gold_titles"] for question in questions) >= 8, title


def test_every_gold_title_is_one_of_the_four_article_titles(questions):
    for question in questions:
        for title in question["gold_titles"]:
            assert title in ARTICLE_TITLES, (question["id"], title)


def test_answerable_questions_name_gold_titles_and_expected_phrases(questions):
    for question in filter(lambda q: q["answerable"], questions):
        assert question["gold_titles"], question["id"]
        assert question["must_include"], question["id"]
        assert question["kind"] in KINDS - {"unanswerable"}, question["id"]


def test_unanswerable_questions_have_no_gold_titles_and_no_expected_phrases(questions):
    for question in filter(lambda q: not q["answerable"], questions):
        assert question["gold_titles"] == [], question["id"]
        assert question["must_include"] == [], question["id"]
        assert question["kind"] == "unanswerable", question["id"]


def test_comparisons_cite_two_articles(questions):
    for question in filter(lambda q: q["kind"] == "comparison", questions):
        assert len(set(question["gold_titles"])) == 2, question["id"]


def test_the_seed_page_holds_the_four_article_titles(seed_text):
    for title in ARTICLE_TITLES:
        assert title in seed_text, title


def test_normalising_drops_case_curly_quotes_and_thousands_separators():
    assert _normalise("Cyberport’s 1,650 “Startups”, 2,000,000") == "cyberport's 1650 \"startups\", 2000000"


def test_every_must_include_alternative_occurs_in_the_seed_text(questions, seed_text):
    seed = _normalise(seed_text)
    for question in questions:
        for alternative in _alternatives(question):
            assert _normalise(alternative) in seed, (question["id"], alternative)


def test_every_must_include_group_is_met_by_one_of_the_question_s_gold_articles(questions, seed_text):
    articles = _article_texts(seed_text)
    for question in questions:
        gold_text = " ".join(articles[title] for title in question["gold_titles"])
        for alternative in _alternatives(question):
            assert _normalise(alternative) in gold_text, (question["id"], alternative)
