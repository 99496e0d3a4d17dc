"""`qa add` and `qa sync` against a news site served on 127.0.0.1: what is saved, what is refused and why,
and that unchanged pages are neither downloaded nor written again."""
from __future__ import annotations

import datetime as dt
import json

import frontmatter
import pytest

from qa.ingest.feeds import read_feeds_file
from qa.ingest.fetch import Fetcher, FetchError, FetchPolicy
from qa.ingest.load import load_corpus
from qa.ingest.web import add_urls, sync_feeds
from qa.ingest.webpage import canonical_url
from tests.ingest.site import news_site

POLICY = FetchPolicy(timeout_s=2.0, max_bytes=200_000, max_redirects=3, host_delay_s=0.0, concurrency=3)


@pytest.fixture
def site():
    with news_site() as s:
        yield s


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    return folder


def add(corpus, *urls, policy=POLICY):
    with Fetcher(policy) as fetcher:
        return add_urls(list(urls), corpus, fetcher)


def retrieved_at(post) -> dt.datetime:
    return dt.datetime.fromisoformat(str(post["retrieved"]).replace("Z", "+00:00"))


def by_url(report):
    return {r.url: r for r in report.results}


def test_a_news_page_is_saved_as_markdown_with_its_metadata(site, corpus):
    report = add(corpus, site.url("/news/mas-trust.html"))

    [result] = report.results
    assert result.status == "added"
    post = frontmatter.load(corpus / result.path)
    assert post["title"] == "MAS orders customer assets into trust"
    assert post["url"] == site.url("/news/mas-trust.html")
    assert str(post["published"]) == "2025-11-04"
    assert post["source"] == "Policy Wire"
    assert abs(retrieved_at(post) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert "statutory trust" in post.content and "Home" not in post.content and "More to read" not in post.content


def test_a_relative_date_is_resolved_against_the_time_the_page_was_read(site, corpus):
    [result] = add(corpus, site.url("/news/undated.html")).results

    post = frontmatter.load(corpus / result.path)
    assert str(post["published"]) == (retrieved_at(post).date() - dt.timedelta(days=6)).isoformat()


def test_a_page_without_any_date_is_saved_undated_and_still_loaded(site, corpus):
    [result] = add(corpus, site.url("/news/no-date.html")).results

    assert "published" not in frontmatter.load(corpus / result.path).metadata
    [article] = load_corpus(corpus).articles
    assert article.published is None and article.title == "Dubai regulator fines an exchange"


def test_a_pdf_behind_a_url_goes_through_the_pdf_loader(site, corpus):
    [result] = add(corpus, site.url("/docs/consultation.pdf")).results

    assert result.status == "added" and result.path.endswith(".md")
    post = frontmatter.load(corpus / result.path)
    assert post["title"] == "Stablecoin consultation"
    assert "independent auditor" in post.content


@pytest.mark.parametrize("path, reason", [
    ("/missing.html", "HTTP 404"),
    ("/loop/a", "redirect loop"),
    ("/private/secret.html", "robots.txt"),
    ("/huge.html", "over the 0.2 MB limit"),
    ("/slow.html", "took longer than 2 s"),
    ("/logo.png", "not a web page or PDF (Content-Type image/png)"),
])
def test_a_bad_url_is_reported_with_its_reason_and_the_others_are_still_added(site, corpus, path, reason):
    report = add(corpus, site.url(path), site.url("/news/no-date.html"))

    results = by_url(report)
    assert results[site.url(path)].status == "failed"
    assert reason in results[site.url(path)].reason
    assert results[site.url("/news/no-date.html")].status == "added"
    assert results[site.url(path)].refused_by_robots == (reason == "robots.txt")
    assert report.exit_status == 1
    assert [a.title for a in load_corpus(corpus).articles] == ["Dubai regulator fines an exchange"]


def test_only_http_and_https_urls_are_fetched(corpus, tmp_path):
    (tmp_path / "secret.txt").write_text("not for the web")
    with Fetcher(POLICY) as fetcher, pytest.raises(FetchError, match="only http and https"):
        fetcher.get(f"file://{tmp_path}/secret.txt")


def test_redirects_are_followed_up_to_the_limit(site, corpus):
    [result] = add(corpus, site.url("/moved")).results
    assert result.status == "added"

    strict = FetchPolicy(**{**POLICY.__dict__, "max_redirects": 0})
    [refused] = add(corpus, site.url("/moved"), policy=strict).results
    assert refused.status == "failed" and "more than 0 redirects" in refused.reason


def test_the_same_article_reached_by_tracking_and_amp_urls_is_stored_once(site, corpus):
    report = add(corpus, site.url("/news/mas-trust.html"))
    again = add(corpus, site.url("/news/mas-trust.html?utm_source=newsletter&utm_medium=email"),
                site.url("/amp/news/mas-trust.html"))

    assert [r.status for r in report.results] == ["added"]
    assert {r.status for r in again.results} == {"unchanged"}
    assert len(list((corpus / "web").rglob("*.md"))) == 1


def test_an_unchanged_page_is_not_downloaded_again(site, corpus):
    add(corpus, site.url("/stable.html"))
    [again] = add(corpus, site.url("/stable.html")).results

    assert again.status == "unchanged"
    assert site.asked("/stable.html")[-1].get("If-None-Match") == '"stable-1"'


def test_a_changed_page_updates_its_article_file_in_place(site, corpus):
    [first] = add(corpus, site.url("/changing.html")).results
    site.routes["/changing.html"].etag = '"v2"'
    site.routes["/changing.html"].body = site.routes["/changing.html"].body.replace(b"every month", b"every week")

    [second] = add(corpus, site.url("/changing.html")).results

    assert second.status == "updated" and second.path == first.path
    assert "every week" in (corpus / first.path).read_text()
    assert site.asked("/changing.html")[-1].get("If-None-Match") == '"v1"'


def test_robots_txt_crawl_delay_spaces_requests_to_one_host(site, corpus):
    site.routes["/robots.txt"].body = b"User-agent: *\nCrawl-delay: 0.3\n"
    with Fetcher(POLICY) as fetcher:
        for path in ("/news/no-date.html", "/stable.html", "/changing.html"):
            fetcher.get(site.url(path))
        stamps = fetcher._next_request[site.base]
    # Three page requests and robots.txt itself, each waiting its turn: the next slot is at least 4 delays out.
    assert stamps >= 0.3 * 3


def test_sync_fetches_what_feeds_and_sitemaps_announce_once(site, corpus):
    (corpus / "feeds.toml").write_text(f"""
[[feed]]
url = "{site.url('/feed.xml')}"
source = "Policy Wire"
exclude = ["/opinion/"]

[[sitemap]]
url = "{site.url('/sitemap.xml')}"
include = ["/news/", "/docs/", "/private/"]
""")
    sources = read_feeds_file(corpus / "feeds.toml")

    with Fetcher(POLICY) as fetcher:
        first = sync_feeds(sources, corpus, fetcher)
    with Fetcher(POLICY) as fetcher:
        second = sync_feeds(sources, corpus, fetcher)

    statuses = {canonical_url(r.url): r.status for r in first.results}
    assert statuses == {
        site.url("/news/mas-trust.html"): "added",
        site.url("/news/undated.html"): "added",
        site.url("/news/no-date.html"): "added",
        site.url("/docs/consultation.pdf"): "added",
        site.url("/private/secret.html"): "failed",
    }
    assert not any("/opinion/" in path for path, _ in site.requests)
    # The second run asks the feed with its ETag (304) and fetches no article again, except the one that failed.
    assert site.asked("/feed.xml")[-1].get("If-None-Match") == '"feed-1"'
    assert [r.url for r in second.results] == [site.url("/private/secret.html")]
    articles = load_corpus(corpus).articles
    assert len(articles) == 4
    assert {a.source for a in articles if "mas-trust" in a.url} == {"Policy Wire"}


@pytest.mark.parametrize("text, message", [
    ("[[feed]]\nurl = 'ftp://example.org/feed'\n", "field 'url' must be an http(s) URL"),
    ("[[feed]]\nurl = 'https://example.org/feed'\ninclude = ['(unclosed']\n", "invalid regular expression"),
    ("[[feeds]]\nurl = 'https://example.org/feed'\n", "unknown table(s) feeds"),
    ("[[feed]\n", "not valid TOML"),
])
def test_a_bad_feeds_file_names_the_file_the_entry_and_the_fix(tmp_path, text, message):
    from qa.errors import ConfigError

    path = tmp_path / "feeds.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="feeds file") as caught:
        read_feeds_file(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_the_feeds_file_in_the_corpus_folder_is_not_read_as_an_article(corpus):
    (corpus / "feeds.toml").write_text("[[feed]]\nurl = 'https://example.org/feed'\n")
    (corpus / "note.md").write_text("# Note\n\nThe SEC sued an exchange.\n")

    result = load_corpus(corpus)

    assert [a.title for a in result.articles] == ["Note"] and result.problems == []


def test_qa_add_saves_logs_and_reindexes(site, make_settings, monkeypatch, capsys):
    from qa import cli

    settings = make_settings(fetch_host_delay_s=0.0, fetch_log=make_settings().corpus_dir.parent / "fetch.jsonl")
    for field, value in settings.model_dump().items():
        if value is not None:
            monkeypatch.setenv(f"QA_{field.upper()}", str(value))

    status = cli.main(["add", "--quiet", site.url("/news/no-date.html"), site.url("/missing.html")])

    out, err = capsys.readouterr()
    assert status == 1
    assert out.strip().splitlines()[-1].startswith("add: 1 added, 0 updated, 0 unchanged, 0 duplicate, 1 failed; "
                                                   "reindex: added 1")
    assert f"failed: {site.url('/missing.html')}: HTTP 404" in err
    lines = [json.loads(line) for line in settings.fetch_log.read_text().splitlines()]
    assert {(line["url"], line["status"]) for line in lines} == {(site.url("/news/no-date.html"), "added"),
                                                                 (site.url("/missing.html"), "failed")}
