"""Adding articles from pasted URLs in the sidebar (AppTest), against the news site of tests/ingest/site.py on
127.0.0.1: each URL gets its own result, a bad one never stops the others, the new articles are answerable after
the reindex, readers never see the form, and the audit log records who added what."""
from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from qa.access import hash_password
from qa.audit import read_actions
from qa.ingest.load import load_corpus
from tests.ingest.site import news_site
from tests.seed import SEED_CORPUS
from tests.ui.conftest import APP, APP_TIMEOUT_S
from tests.ui.test_app import answers, ask, source_titles, unescape
from tests.ui.test_roles import sign_in

SUBMIT = "FormSubmitter:add_urls-Fetch and index"
FETCH_ENV = {"QA_FETCH_HOST_DELAY_S": "0", "QA_FETCH_TIMEOUT_S": "5"}
MAS_TITLE = "MAS orders customer assets into trust"
PDF_TITLE = "Stablecoin consultation"
PDF_QUESTION = "What must stablecoin issuers hold?"


@pytest.fixture
def site():
    with news_site() as s:
        yield s


@pytest.fixture
def corpus_settings(make_settings, tmp_path, embedder):
    """A writable copy of the seed corpus, indexed, with this test's own fetch log."""
    from qa.index.reindex import reindex

    settings = make_settings(fetch_log=tmp_path / "logs" / "fetch.jsonl")
    shutil.copytree(SEED_CORPUS, settings.corpus_dir, dirs_exist_ok=True)
    reindex(settings, embedder=embedder)
    return settings


def start(use_settings, settings, **env) -> AppTest:
    use_settings(settings, **FETCH_ENV, **env)
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def paste(at: AppTest, *lines: str) -> AppTest:
    at.text_area(key="add_urls_text").input("\n".join(lines))
    at.button(key=SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def messages(at: AppTest, kind: str) -> list[str]:
    return [unescape(m.value) for m in getattr(at.sidebar, kind)]


def test_an_admin_adds_urls_and_gets_one_result_per_url_then_can_ask_about_them(
        use_settings, corpus_settings, site):
    mas, pdf = site.url("/news/mas-trust.html"), site.url("/docs/consultation.pdf")
    missing, private = site.url("/missing.html"), site.url("/private/secret.html")
    at = start(use_settings, corpus_settings)
    ask(at, PDF_QUESTION)
    assert PDF_TITLE not in source_titles(at)

    paste(at, mas, "", missing, "ftp://127.0.0.1/notes.txt", "   ", private, pdf)

    successes, errors, warnings = messages(at, "success"), messages(at, "error"), messages(at, "warning")
    assert any(m.startswith(f"{mas}: added “{MAS_TITLE}” (web/127.0.0.1-") for m in successes), successes
    assert any(m.startswith(f"{pdf}: added “{PDF_TITLE}”") for m in successes), successes
    assert f"{missing}: not added: HTTP 404." in errors
    assert any(m.startswith("line 4: 'ftp://127.0.0.1/notes.txt' uses the ftp: scheme; only http and https")
               for m in errors), errors
    assert any(m.startswith(f"{private}: refused by robots.txt (robots.txt of {site.base} forbids /private/")
               for m in warnings), warnings
    assert any("Indexed: added 2, updated 0, removed 0, unchanged 4" in m for m in successes), successes
    titles = {a.title for a in load_corpus(corpus_settings.corpus_dir).articles}
    assert {MAS_TITLE, PDF_TITLE} <= titles and "Private" not in titles
    assert [path for path, _ in site.requests if path.startswith("/private/")] == []  # robots.txt is obeyed

    ask(at, PDF_QUESTION)
    assert "high quality liquid assets" in answers(at)[-1] and PDF_TITLE in source_titles(at)
    ask(at, "Where must licensed digital payment token service providers in Singapore keep customer assets?")
    assert MAS_TITLE in source_titles(at)

    add, reindex = read_actions(corpus_settings.audit_log_path)
    assert (add["action"], add["who"]) == ("add_urls", "local user")
    assert add["urls"] == [mas, missing, private, pdf]
    assert [line.split(":")[0] for line in add["refused_lines"]] == ["line 4"]
    assert (add["added"], add["failed"], add["unchanged"]) == (2, 2, 0)
    assert {r["url"]: r["status"] for r in add["results"]} == {mas: "added", missing: "failed",
                                                               private: "failed", pdf: "added"}
    assert (reindex["action"], reindex["reason"], reindex["added"]) == ("reindex", "add_urls", 2)


def test_pasting_the_same_url_again_says_it_is_already_there_and_does_not_reindex(
        use_settings, corpus_settings, site):
    mas, amp = site.url("/news/mas-trust.html"), site.url("/amp/news/mas-trust.html")
    at = start(use_settings, corpus_settings)
    paste(at, mas)

    paste(at, mas, amp)

    infos = messages(at, "info")
    assert any(m.startswith(f"{mas}: already in the corpus and unchanged") for m in infos), infos
    assert any(m.startswith(f"{amp}: already in the corpus") for m in infos), infos
    assert not any("Indexed:" in m for m in messages(at, "success"))
    assert [a["action"] for a in read_actions(corpus_settings.audit_log_path)] == ["add_urls", "reindex",
                                                                                   "add_urls"]


def test_more_urls_than_allowed_are_refused_before_anything_is_fetched(use_settings, corpus_settings, site):
    at = start(use_settings, corpus_settings, QA_MAX_ADD_URLS="2")

    paste(at, site.url("/news/mas-trust.html"), site.url("/news/no-date.html"), site.url("/news/undated.html"))

    assert "3 URLs at once is more than the 2 allowed (QA_MAX_ADD_URLS); add them in smaller batches" \
        in messages(at, "error")
    assert site.requests == []
    assert read_actions(corpus_settings.audit_log_path) == []


def test_only_an_admin_sees_the_url_form(use_settings, corpus_settings, listen_on):
    listen_on("0.0.0.0")
    password = "url admin password"
    at = start(use_settings, corpus_settings, QA_ADMIN_PASSWORD_HASH=hash_password(password))

    assert not [t for t in at.text_area if t.key == "add_urls_text"]
    assert not [b for b in at.button if b.key == SUBMIT]
    sign_in(at, password)
    assert [t.label for t in at.sidebar.text_area if t.key == "add_urls_text"] == ["Add articles from URLs"]
