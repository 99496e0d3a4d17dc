"""Signing in as admin with a password in a real browser: `streamlit run` on all interfaces with
QA_ADMIN_PASSWORD_HASH set, driven by Debian's chromium through Playwright."""
from __future__ import annotations

import shutil

import pytest

from qa.access import hash_password
from qa.audit import read_actions
from tests.seed import SEED_CORPUS
from tests.ui.conftest import ARTIFACTS, running_app

pytestmark = pytest.mark.browser

PASSWORD = "browser admin password"


def _indexed_seed_copy(root, cache_dir, embedder):
    """A copy of the seed corpus in `root`, indexed, with settings writing feedback and reports there too."""
    from qa.index.reindex import reindex
    from qa.settings import Settings

    shutil.copytree(SEED_CORPUS, root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", cache_dir=cache_dir,
                        feedback_path=root / "feedback" / "feedback.jsonl", reports_dir=root / "reports")
    reindex(settings, embedder=embedder)
    return root, settings


@pytest.fixture(scope="module")
def team_app(tmp_path_factory, cache_dir, embedder):
    """The app served to a team: every interface, an admin password, its own copy of the seed index."""
    root, settings = _indexed_seed_copy(tmp_path_factory.mktemp("team"), cache_dir, embedder)
    password_hash = hash_password(PASSWORD)
    with running_app(settings, root, address="0.0.0.0", QA_ADMIN_PASSWORD_HASH=password_hash) as url:
        yield url, settings, password_hash


def test_a_reader_signs_in_as_admin_with_the_password_and_reindexes(browser, team_app, page):
    url, settings, password_hash = team_app
    page.goto(url)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Only admins can reindex or add articles.").wait_for()
    assert sidebar.get_by_role("button", name="Reindex the corpus").count() == 0
    assert page.get_by_test_id("stFileUploaderDropzoneInput").count() == 0

    password_box = sidebar.get_by_label("Admin password")
    password_box.fill("not the password")
    password_box.press("Enter")
    sidebar.get_by_text("Wrong password").wait_for()
    password_box.fill(PASSWORD)
    password_box.press("Enter")
    sidebar.get_by_role("button", name="Reindex the corpus").click()
    sidebar.get_by_text("Indexed: added 0, updated 0, removed 0, unchanged 4").wait_for()

    assert page.get_by_test_id("stFileUploaderDropzoneInput").count() == 1
    assert password_hash not in page.content() and PASSWORD not in page.content()
    actions = read_actions(settings.audit_log_path)
    assert [a["action"] for a in actions] == ["sign_in_failed", "sign_in", "reindex"]
    assert actions[-1]["who"].startswith("admin (password)") and actions[-1]["unchanged"] == 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-admin-signed-in.png"), full_page=True)

    sidebar.get_by_role("button", name="Sign out").click()
    sidebar.get_by_text("Only admins can reindex or add articles.").wait_for()


@pytest.fixture(scope="module")
def url_app(tmp_path_factory, cache_dir, embedder):
    """The team app again (every interface, an admin password, its own indexed seed copy), with the news site of
    tests/ingest/site.py on 127.0.0.1 to add articles from."""
    from tests.ingest.site import news_site

    root, settings = _indexed_seed_copy(tmp_path_factory.mktemp("team-urls"), cache_dir, embedder)
    with news_site() as site, running_app(settings, root, address="0.0.0.0",
                                          QA_ADMIN_PASSWORD_HASH=hash_password(PASSWORD),
                                          QA_FETCH_HOST_DELAY_S="0", QA_FETCH_TIMEOUT_S="5") as url:
        yield url, settings, site


def test_an_admin_pastes_urls_and_sees_the_result_of_each(browser, url_app, page):
    url, settings, site = url_app
    page.goto(url)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Only admins can reindex or add articles.").wait_for()
    assert sidebar.get_by_role("textbox", name="Add articles from URLs").count() == 0

    password_box = sidebar.get_by_label("Admin password")
    password_box.fill(PASSWORD)
    password_box.press("Enter")
    urls_box = sidebar.get_by_role("textbox", name="Add articles from URLs")
    urls_box.fill(f"{site.url('/news/mas-trust.html')}\n\n{site.url('/missing.html')}")
    sidebar.get_by_role("button", name="Fetch and index").click()

    sidebar.get_by_text("added “MAS orders customer assets into trust”").wait_for()
    sidebar.get_by_text(f"{site.url('/missing.html')}: not added: HTTP 404.").wait_for()
    sidebar.get_by_text("Indexed: added 1, updated 0, removed 0, unchanged 4").wait_for()
    assert urls_box.input_value() == ""
    [add] = [a for a in read_actions(settings.audit_log_path) if a["action"] == "add_urls"]
    assert add["who"].startswith("admin (password)") and (add["added"], add["failed"]) == (1, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-admin-add-urls.png"), full_page=True)
