"""Loaders: each supported format, and each kind of file that cannot be read."""
import json

import pytest

from qa.ingest.load import UnreadableFile, decode_text, load_corpus
from tests.seed import LEAP_TITLE, SEED_CORPUS


def test_seed_corpus_loads_four_articles_with_front_matter():
    result = load_corpus(SEED_CORPUS)
    assert result.problems == []
    by_title = {a.title: a for a in result.articles}
    assert len(by_title) == 4
    leap = by_title[LEAP_TITLE]
    assert (leap.published, leap.source, leap.category) == ("2025-06-27", "CoinNess", "Policy & Regulation")
    # The seed page said "6 days ago" and gives no time it was saved: the article is kept undated.
    korea = by_title["South Korea plans to revive crypto ICOs under stricter disclosure and oversight rules"]
    assert korea.published is None


def test_a_relative_date_is_resolved_against_the_retrieval_time_in_front_matter(tmp_path):
    (tmp_path / "a.md").write_text('---\ntitle: A\npublished: "6 days ago"\nretrieved: "2025-12-10T08:00:00Z"\n---\n\n'
                                   "The FSC proposed rules.\n")
    (tmp_path / "b.md").write_text('---\ntitle: B\npublished: yesterday\nretrieved: 2025-12-10\n---\n\n'
                                   "The FSC spoke.\n")
    (tmp_path / "c.md").write_text('---\ntitle: C\npublished: "3 hours ago"\n---\n\nNo retrieval time here.\n')

    by_title = {a.title: a for a in load_corpus(tmp_path).articles}

    assert by_title["A"].published == "2025-12-04"
    assert by_title["B"].published == "2025-12-09"
    assert by_title["C"].published == "3 hours ago" and by_title["C"].published_date is None


def test_seed_articles_hold_article_text_only():
    for article in load_corpus(SEED_CORPUS).articles:
        for boilerplate in ("More to Read", "Loading", "View All", "https://asset.coinness.com", "Photo by"):
            assert boilerplate not in article.text
        assert "\nnews\n" not in article.text


def test_markdown_without_front_matter_takes_title_from_heading(tmp_path):
    (tmp_path / "a.md").write_text("# Stablecoin rules in Hong Kong\n\nThe HKMA licenses issuers. The SFC agrees.\n")
    [article] = load_corpus(tmp_path).articles
    assert article.title == "Stablecoin rules in Hong Kong"
    assert article.text.startswith("The HKMA licenses issuers.")
    assert article.jurisdictions == ("Hong Kong",)


def test_plain_text_uses_short_first_line_as_title(tmp_path):
    (tmp_path / "note.txt").write_text("MiCA enters into force\nThe EU rules on crypto-assets apply from December.\n")
    [article] = load_corpus(tmp_path).articles
    assert article.title == "MiCA enters into force"
    assert article.text == "The EU rules on crypto-assets apply from December."


def test_html_page_yields_title_and_main_text_without_navigation(tmp_path):
    paragraphs = "".join(
        f"<p>The Monetary Authority of Singapore said paragraph {i} of its stablecoin framework sets reserve "
        f"and redemption rules for issuers operating in the city state.</p>" for i in range(6)
    )
    html = (
        "<html><head><title>MAS finalises stablecoin framework</title></head><body>"
        "<nav><a href='/'>Home</a><a href='/news'>News</a></nav>"
        f"<article><h1>MAS finalises stablecoin framework</h1>{paragraphs}</article>"
        "<footer>Copyright footer links</footer></body></html>"
    )
    (tmp_path / "page.html").write_text(html)
    [article] = load_corpus(tmp_path).articles
    assert article.title == "MAS finalises stablecoin framework"
    assert "reserve and redemption rules" in article.text
    assert "Copyright footer" not in article.text


def test_pdf_text_is_extracted(tmp_path):
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=600, height=200)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    fonts = DictionaryObject({NameObject("/F1"): font})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf 20 100 Td (The FCA registers crypto firms in the UK.) Tj ET")
    page[NameObject("/Contents")] = writer._add_object(stream)
    writer.add_metadata({"/Title": "FCA crypto register"})
    with open(tmp_path / "fca.pdf", "wb") as fh:
        writer.write(fh)
    [article] = load_corpus(tmp_path).articles
    assert article.title == "FCA crypto register"
    assert "The FCA registers crypto firms in the UK." in article.text


def test_jsonl_loads_our_fields_and_beir_lines(tmp_path):
    lines = [
        {"title": "A", "text": "First article text.", "published": "2024-01-02", "source": "Wire", "url": "http://x/a",
         "category": "Policy"},
        {"_id": "doc-7", "title": "", "text": "A BEIR document.", "metadata": {"date": "2022-05-01", "source": "S"}},
    ]
    (tmp_path / "bulk.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    articles = load_corpus(tmp_path).articles
    assert [(a.article_id, a.title, a.published, a.source) for a in articles] == [
        ("bulk.jsonl#1", "A", "2024-01-02", "Wire"),
        ("bulk.jsonl#doc-7", "doc-7", "2022-05-01", "S"),
    ]


def test_jsonl_broken_line_is_reported_and_the_rest_loaded(tmp_path):
    (tmp_path / "bulk.jsonl").write_text(
        '{"title": "ok", "text": "fine"}\n{not json\n{"title": "ok2", "text": "also fine"}\n')
    result = load_corpus(tmp_path)
    assert [a.title for a in result.articles] == ["ok", "ok2"]
    assert [(p.path, p.skipped) for p in result.problems] == [("bulk.jsonl:2", True)]
    assert "not a JSON object" in result.problems[0].reason


@pytest.mark.parametrize("name, content, reason", [
    ("empty.md", b"", "empty"),
    ("blob.txt", b"\x00\x01\x02binary\x00" * 50, "binary"),
    ("bad.md", b"---\ntitle: [unclosed\n---\nText.", "malformed front matter"),
    ("image.png", b"\x89PNG", "unsupported file type"),
    ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
])
def test_unreadable_file_is_reported_with_path_and_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.md").write_text("# Good\n\nReadable article.")
    result = load_corpus(tmp_path)
    assert [a.title for a in result.articles] == ["Good"]
    [problem] = result.failed
    assert problem.path == name
    assert reason in problem.reason


def test_legacy_and_utf16_encodings_are_decoded():
    assert decode_text("Caf\u00e9 r\u00e8gles".encode("cp1252")) == "Café règles"
    assert decode_text("Stablecoin – règles".encode("utf-16")) == "Stablecoin – règles"
    with pytest.raises(UnreadableFile):
        decode_text(bytes(range(256)) * 10)


def test_missing_corpus_folder_is_an_error_naming_the_setting(tmp_path):
    # Indexing a missing folder as empty would delete the whole index, so it is an error, not a problem.
    from qa.errors import ConfigError

    with pytest.raises(ConfigError, match="QA_CORPUS_DIR"):
        load_corpus(tmp_path / "nope")
