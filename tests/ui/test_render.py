"""Everything from an article reaches the page escaped: no tag, link, math or emoji of its own."""
from __future__ import annotations

import sys

import pytest

from qa.answer.extractive import Answer, AnswerSentence, Citation
from tests.seed import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "ui"))
import render  # noqa: E402  (ui/ is the app's folder, put on the path by `streamlit run`)

HOSTILE = '<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3)) $x$ :red[y] **z**'


def make_citation(**overrides) -> Citation:
    values = dict(n=1, chunk_id="a::0", title="T", source="S", published="6 days ago", url=None,
                  text="One. Two.", jurisdictions=["South Korea"], category="Policy & Regulation",
                  highlights=[(5, 9)])
    values.update(overrides)
    return Citation(**values)


def test_passage_escapes_markup_and_marks_the_cited_sentence():
    citation = make_citation(text=f"Intro. {HOSTILE}", highlights=[(7, 32)])

    body = render.passage_html(citation)

    assert "<script>" not in body and "<img" not in body
    assert "Intro. <mark>&lt;script&gt;alert(1)&lt;/script&gt;</mark> &lt;img" in body


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "vbscript:x", "//evil.example"])
def test_only_http_links_become_links(url):
    assert "<a " not in render.citation_meta_html(make_citation(url=url))


def test_http_link_is_kept_with_its_quotes_escaped():
    meta = render.citation_meta_html(make_citation(url='https://example.org/a?b="c"', source="<b>S</b>"))

    assert 'href="https://example.org/a?b=&quot;c&quot;"' in meta
    assert "&lt;b&gt;S&lt;/b&gt;" in meta and "6 days ago" in meta and "South Korea" in meta


def test_answer_keeps_markers_escapes_text_and_flags_unsupported_sentences():
    answer = Answer(question="q", answer="", abstained=False, mode="openai", citations=[], retrieved=[],
                    timings_ms={}, sentences=[AnswerSentence(HOSTILE, [1, 2]), AnswerSentence("Made up.", [], False)])

    body = render.answer_html(answer)

    assert "<script>" not in body and "<img" not in body
    assert '<span class="qa-cite">[1]</span><span class="qa-cite">[2]</span>' in body
    assert '<span class="qa-unsupported"' in body and "Made up." in body and ">unsupported<" in body


def test_markdown_escape_leaves_no_active_character():
    escaped = render.md_escape(HOSTILE)

    assert escaped.count("\\[") == 2 and "\\$x\\$" in escaped and "\\*\\*z\\*\\*" in escaped
    assert "\\<script\\>" in escaped and "javascript\\:" in escaped
