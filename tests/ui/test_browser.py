"""The app as a person uses it: `streamlit run ui/app.py` driven by Debian's chromium through Playwright.

Skipped when /usr/bin/chromium is missing (`apt-get install -y chromium` enables it). Screenshots go to
test-artifacts/ (git-ignored).
"""
from __future__ import annotations

import pytest

from tests.seed import LEAP_TITLE
from tests.ui.conftest import ARTIFACTS, HOSTILE_QUESTION

pytestmark = pytest.mark.browser

PILLARS = ("Legal and regulatory streamlining", "Expanding the suite of tokenized products",
           "Advancing use cases and cross-sectoral collaboration", "People and partnership development")


def ask(page, question: str):
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    answer = page.locator(".qa-answer").last
    answer.wait_for()
    return answer


def test_leap_question_shows_the_four_pillars_and_the_leap_source_card(browser, streamlit_server, page):
    page.goto(streamlit_server)
    page.get_by_role("heading", name="Digital-Asset Policy Q&A").wait_for()

    answer = ask(page, "What does the LEAP acronym stand for?")

    text = answer.inner_text()
    assert all(pillar in text for pillar in PILLARS)
    assert "[1]" in text
    card = page.get_by_test_id("stExpander").filter(has_text=LEAP_TITLE).first
    card.locator("summary").click()
    passage = card.locator(".qa-passage")
    passage.wait_for()
    assert "People and partnership development" in passage.locator("mark").all_inner_texts()[0]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-leap-answer.png"), full_page=True)


def test_hostile_article_is_shown_as_text_and_runs_nothing(browser, streamlit_server, page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(streamlit_server)

    ask(page, HOSTILE_QUESTION)
    card = page.get_by_test_id("stExpander").filter(has_text="Zorblax ban").first
    card.locator("summary").click()
    passage = card.locator(".qa-passage")
    passage.wait_for()

    assert "<script>window.__pwned='script'</script>" in passage.inner_text()
    assert "<img src=x" in card.locator("summary").inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href^='javascript' i]").count() == 0
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-hostile-article.png"), full_page=True)


def test_uploaded_article_is_indexed_and_a_broken_one_is_refused(browser, streamlit_server, page):
    article = ("---\ntitle: Freedonia licenses its first stablecoin issuer\npublished: 2025-08-01\n"
               "source: Freedonia Times\n---\n\nThe Freedonia Monetary Office licensed Quuxcoin as the first "
               "stablecoin issuer under its new regime on 1 August 2025.\n")
    page.goto(streamlit_server)
    page.get_by_role("heading", name="Digital-Asset Policy Q&A").wait_for()

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([
        {"name": "../freedonia.md", "mimeType": "text/markdown", "buffer": article.encode()},
        {"name": "empty.md", "mimeType": "text/markdown", "buffer": b"  \n"},
    ])
    page.get_by_role("button", name="Add and index").click()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("freedonia.md: added (1 article(s)).").wait_for()
    sidebar.get_by_text("'empty.md' was not added: file is empty").wait_for()

    answer = ask(page, "Who did Freedonia license as its first stablecoin issuer?")
    assert "Quuxcoin" in answer.inner_text()
    assert page.get_by_test_id("stExpander").filter(has_text="Freedonia licenses its first stablecoin issuer").count()
