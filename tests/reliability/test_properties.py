"""Property-based tests (hypothesis, 1,000 generated cases each): the loaders, the chunker and the citation
handling take any input without an unhandled exception, and keep their promises on all of it."""
from __future__ import annotations

import json
import re
import time

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qa.answer.extractive import AnswerSentence, render_answer
from qa.errors import LLMError
from qa.ingest.chunk import Chunker, split_units
from qa.ingest.load import RELATIVE_DATE, Article, LoadProblem, UnreadableFile, decode_text, load_file, parse_iso_date

THOUSAND = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTROL_FREE = st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\n\t")
WORDS = ["Hong", "Kong", "stablecoin", "regulators", "token", "the", "SEC", "said", "on", "Aug.", "1", "U.S.",
         "licences", "e.g.", "exchange", "WEMIX", "stWEMIX", "eToro", "“LEAP”", "$1.5", "billion", "—", "ICO"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One folder for the files the loader properties write (hypothesis reruns a test body, not its fixtures)."""
    return tmp_path_factory.mktemp("properties")


# --- decode_text ------------------------------------------------------------------------------------------

@THOUSAND
@given(st.binary(max_size=2000))
def test_decode_text_returns_clean_text_or_refuses_binary(data):
    try:
        text = decode_text(data)
    except UnreadableFile as exc:
        assert str(exc).startswith("binary file, not text")
        return
    assert "\r" not in text and "\xa0" not in text
    assert all(ch in "\n\t" or not (ord(ch) < 32 or 127 <= ord(ch) < 160) for ch in text)


@THOUSAND
@given(st.text(CONTROL_FREE, max_size=500), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom"]))
def test_decode_text_reads_unicode_text_in_every_supported_encoding(text, encoding):
    data = ("\ufeff" + text).encode("utf-16-le") if encoding == "utf-16-le-bom" else text.encode(encoding)
    expected = text.lstrip("\ufeff").replace("\xa0", " ")  # leading U+FEFF are (repeated) byte-order marks

    assert decode_text(data) == expected


@THOUSAND
@given(st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_categories=("Cc",)), min_size=1,
               max_size=300).filter(lambda t: any(ord(ch) >= 160 for ch in t)))
def test_decode_text_reads_latin1_text(text):
    # Printable Latin-1 only: bytes 0x80-0x9f are read as Windows-1252 (€, curly quotes), which such files are.
    data = text.encode("latin-1")
    try:
        data.decode("utf-8")
        assume(False)  # these bytes are also valid UTF-8, which wins
    except UnicodeDecodeError:
        pass

    assert decode_text(data) == text.replace("\xa0", " ")


# --- Markdown with front matter ---------------------------------------------------------------------------

YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40),
                         st.dates(), st.datetimes(), st.sampled_from(["yesterday", "6 days ago", "2025-06-27", ""]))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
META_KEYS = st.sampled_from(["title", "published", "date", "source", "url", "category", "tags", "author"])
FRONT_MATTER = st.one_of(
    st.dictionaries(META_KEYS, YAML_VALUES, max_size=6).map(lambda meta: yaml.safe_dump(meta, allow_unicode=True)),
    st.text(CONTROL_FREE, max_size=200),  # whatever someone typed between the dashes
    st.sampled_from(["published: 2025-13-45\n", "2: x\n", "title: [unclosed\n", "- a\n- b\n", "? [a]\n: b\n",
                     "title: &a [*a]\n", "!!python/object:os.system x\n"]),
)


@THOUSAND
@given(front_matter=FRONT_MATTER, body=st.text(CONTROL_FREE, max_size=300))
def test_markdown_loads_as_an_article_with_valid_fields_or_is_refused(scratch, front_matter, body):
    path = scratch / "article.md"
    path.write_text(f"---\n{front_matter}\n---\n{body}", encoding="utf-8")

    try:
        items = list(load_file(path, "article.md"))
    except UnreadableFile:
        return
    *caveats, article = items
    assert isinstance(article, Article)
    assert all(isinstance(c, LoadProblem) and not c.skipped and c.path == "article.md" for c in caveats)
    assert article.article_id == article.path == "article.md"
    assert article.text and article.text == article.text.strip()
    assert article.title and "\n" not in article.title
    assert article.published is None or parse_iso_date(article.published) or RELATIVE_DATE.match(article.published)
    for field in (article.source, article.url, article.category):
        assert field is None or (isinstance(field, str) and field == field.strip() and field)


# --- JSONL bulk files -------------------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
JSON_VALUES = st.recursive(JSON_SCALARS,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=6)
ROWS = st.fixed_dictionaries(
    {"text": st.one_of(st.text(max_size=80), JSON_VALUES)},
    optional={"id": JSON_VALUES, "_id": JSON_VALUES, "title": JSON_VALUES, "published": JSON_VALUES,
              "source": JSON_VALUES, "url": JSON_VALUES, "metadata": JSON_VALUES},
)
LINES = st.one_of(
    ROWS.map(lambda row: json.dumps(row, ensure_ascii=False).encode("utf-8")),
    JSON_VALUES.map(lambda value: json.dumps(value).encode("utf-8")),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")),
    st.sampled_from([b"[" * 5000, b'{"text": "cut', b'{"text": "\xff\xfe"}', b"1e99999", b"9" * 5000]),
)


@THOUSAND
@given(st.lists(LINES, max_size=8))
def test_every_jsonl_line_becomes_one_article_or_one_problem(scratch, lines):
    path = scratch / "bulk.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    items = list(load_file(path, "bulk.jsonl"))

    counted = [n for n, line in enumerate(lines, start=1) if line.strip()]
    assert len(items) == len(counted)
    for n, item in zip(counted, items):
        if isinstance(item, LoadProblem):
            assert item.skipped and item.path == f"bulk.jsonl:{n}"
        else:
            assert item.article_id.startswith("bulk.jsonl#") and item.text and item.title


# --- the chunker ------------------------------------------------------------------------------------------

def count_words(texts):
    """A cheap stand-in for the model's tokenizer: one token per word, plus [CLS] and [SEP] as the real one."""
    return [len(text.split()) + 2 for text in texts]


SENTENCE = st.lists(st.sampled_from(WORDS), min_size=1, max_size=60).map(lambda w: " ".join(w) + ".")
LINE = st.one_of(
    st.lists(SENTENCE, min_size=1, max_size=4).map(" ".join),
    SENTENCE.map(lambda s: f"- {s}"),
    SENTENCE.map(lambda s: f"1. {s}"),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(lambda w: "## " + " ".join(w)),
    SENTENCE.map(lambda s: s[:-1] + ":"),
    st.text(CONTROL_FREE, max_size=120),
)
ARTICLE_TEXT = st.lists(st.lists(LINE, min_size=1, max_size=5).map("\n".join), min_size=1, max_size=8) \
    .map("\n\n".join).map(str.strip).filter(bool)


@THOUSAND
@given(text=ARTICLE_TEXT, title=st.text(CONTROL_FREE, max_size=60), max_tokens=st.integers(16, 256),
       overlap=st.integers(0, 3))
def test_chunks_map_back_to_the_article_cover_it_and_fit_the_budget(text, title, max_tokens, overlap):
    article = Article(article_id="a.md", title=title, text=text, path="a.md")
    budget = max(max_tokens - count_words([title])[0], 16)

    chunks = Chunker(count_words, max_tokens, overlap).chunk(article)

    assert [c.chunk_id for c in chunks] == [f"a.md::{i}" for i in range(len(chunks))]
    covered = [False] * len(text)
    for chunk in chunks:
        assert chunk.text == text[chunk.start:chunk.end] and chunk.text.strip()
        assert count_words([chunk.text])[0] - 2 <= budget
        covered[chunk.start:chunk.end] = [True] * (chunk.end - chunk.start)
    for unit in split_units(text):  # every word of every sentence, heading and list is in some chunk
        assert all(covered[i] for i in range(unit.start, unit.end) if not text[i].isspace()), unit
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})
    assert [c.end for c in chunks] == sorted({c.end for c in chunks})


def test_chunks_fit_the_model_window_with_the_real_tokenizer(embedder):
    # Long words break into many word pieces: a hash, a URL and a run of digits are the worst cases.
    text = (
        "Hong Kong's regulator published the list on Monday. The wallet 0x"
        + "3f9a" * 120 + " received the funds.\n\nSee https://example.com/" + "path/" * 150 + " for details. "
        + "Figures: " + "1234567890" * 60 + ".\n\n"
        + " ".join(["The SEC said the rules for token issuers would change in 2026."] * 40)
    )
    article = Article(article_id="a.md", title="A long title about stablecoin rules in Hong Kong", text=text,
                      path="a.md")

    chunks = Chunker(embedder.count_tokens, 200, 1).chunk(article)

    assert all(c.text == text[c.start:c.end] for c in chunks)
    assert max(embedder.count_tokens([c.embedding_text for c in chunks])) <= 200
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


# --- citation handling ------------------------------------------------------------------------------------

PLAIN_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="[]"), max_size=80)


@THOUSAND
@given(st.lists(st.builds(AnswerSentence, text=PLAIN_TEXT, citations=st.lists(st.integers(1, 12), max_size=3)),
                max_size=6))
def test_render_answer_keeps_every_sentence_and_its_markers_in_order(sentences):
    rendered = render_answer(sentences)

    assert rendered == rendered.strip()
    assert [int(n) for n in re.findall(r"\[(\d+)\]", rendered)] == [n for s in sentences for n in s.citations]
    assert "".join(re.sub(r"\[\d+\]", "", rendered).split()) == "".join("".join(s.text.split()) for s in sentences)


class HashedWordsEncoder:
    """A cheap stand-in for the embedding model in the marker property test (like `count_words` for the chunker):
    bag-of-words vectors from word hashes, so similar sentences still score as similar. Support checking with
    the real model is tested in test_hostile_articles.py."""

    def encode(self, texts, use_cache=True):
        import numpy as np

        vectors = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, hash(word) % 256] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


@pytest.fixture(scope="module")
def generative(seed_pipeline):
    """The generative answerer's own checking step (`finish`), on three real passages; no model is called."""
    from qa.answer.generate import GenerativeAnswerer

    hits = seed_pipeline.retriever.search("What are the four pillars of Hong Kong's LEAP framework?", k=3).hits
    return GenerativeAnswerer(seed_pipeline.settings, HashedWordsEncoder(), "openai"), hits


MARKER = st.integers(0, 20).map(lambda n: f"[{n}]") | st.sampled_from(["[" + "9" * 5000 + "]", "[-1]", "[ 2 ]", "[]"])
PASSAGE_WORDS = ["Legal", "and", "regulatory", "streamlining", "tokenized", "products", "LEAP", "framework",
                 "Hong", "Kong", "government", "bonds", "PWNED", "people", "partnership", "development"]
MODEL_REPLY = st.lists(st.one_of(st.sampled_from(WORDS + PASSAGE_WORDS), MARKER, st.sampled_from([".", "\n", "  "])),
                       max_size=30).map(" ".join)


@THOUSAND
@given(raw=MODEL_REPLY)
def test_finish_keeps_only_markers_of_citations_it_shows(generative, raw):
    answerer, hits = generative

    try:
        answer = answerer.finish("What are the pillars of LEAP?", hits, raw.strip(), time.perf_counter())
    except LLMError as exc:
        assert not re.search(r"\w", re.sub(r"\[\d+\]", "", raw)) and "returned an empty answer" in str(exc)
        return
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)} <= set(numbers)
    for sentence in answer.sentences:
        assert not re.search(r"\[\d+\]", sentence.text)
        assert set(sentence.citations) <= set(numbers)
    assert all(c.chunk_id in {h.chunk.chunk_id for h in hits} for c in answer.citations)
