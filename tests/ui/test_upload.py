"""Uploaded files land in the corpus folder under safe names, only when they hold an article."""
from __future__ import annotations

import pytest

from qa.ingest.upload import UploadError, add_to_corpus, safe_file_name

ARTICLE = b"---\ntitle: Uploaded article\npublished: 2025-01-02\n---\n\nThe regulator approved a stablecoin rule.\n"


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.md", "passwd.md"),
    ("..\\..\\Windows\\notes.TXT", "notes.txt"),
    ("Hong Kong: LEAP (2025)!.html", "Hong-Kong-LEAP-2025.html"),
    (".hidden.md", "hidden.md"),
    ("…….pdf", "upload.pdf"),
])
def test_safe_file_name_keeps_no_folder_and_no_odd_character(name, expected):
    assert safe_file_name(name) == expected


@pytest.mark.parametrize("name", ["malware.exe", "archive.tar.gz", "no-extension", "page.md.js"])
def test_unsupported_file_type_is_refused_naming_the_supported_ones(name):
    with pytest.raises(UploadError, match=r"not a supported article file.*\.md"):
        safe_file_name(name)


def test_upload_is_saved_inside_the_corpus_folder(tmp_path):
    corpus = tmp_path / "corpus"

    upload = add_to_corpus(corpus, "../../outside.md", ARTICLE)

    assert upload.name == "outside.md" and upload.articles == 1
    assert (corpus / "outside.md").read_bytes() == ARTICLE
    assert not (tmp_path / "outside.md").exists()
    assert [p.name for p in corpus.iterdir()] == ["outside.md"]  # no staging file left behind


def test_unreadable_upload_is_refused_and_not_saved(tmp_path):
    corpus = tmp_path / "corpus"

    with pytest.raises(UploadError, match=r"'empty.md' was not added: file is empty"):
        add_to_corpus(corpus, "empty.md", b"   \n")

    assert list(corpus.iterdir()) == []


def test_jsonl_upload_reports_its_bad_lines_but_keeps_the_good_ones(tmp_path):
    data = b'{"title": "Good", "text": "A stablecoin rule was approved."}\nnot json\n'

    upload = add_to_corpus(tmp_path, "bulk.jsonl", data)

    assert upload.articles == 1
    assert [p.path for p in upload.problems] == ["bulk.jsonl:2"]


def test_same_name_with_other_content_never_overwrites(tmp_path):
    (tmp_path / "note.md").write_bytes(b"# Old\n\nThe old article text stays.\n")

    upload = add_to_corpus(tmp_path, "note.md", ARTICLE)

    assert upload.name == "note-2.md"
    assert (tmp_path / "note.md").read_bytes().startswith(b"# Old")


def test_identical_upload_is_recognised_as_already_there(tmp_path):
    add_to_corpus(tmp_path, "note.md", ARTICLE)

    again = add_to_corpus(tmp_path, "note.md", ARTICLE)

    assert again.already_there and again.name == "note.md"
    assert [p.name for p in tmp_path.iterdir()] == ["note.md"]


def test_a_link_in_the_corpus_is_not_followed_when_saving(tmp_path):
    outside = tmp_path / "outside.md"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").symlink_to(outside)  # dangling: writing through it would create `outside`

    upload = add_to_corpus(corpus, "note.md", ARTICLE)

    assert upload.name == "note-2.md"
    assert not outside.exists()


def test_reindex_problems_are_matched_to_the_uploaded_file_and_its_lines():
    from qa.ingest.load import LoadProblem
    from qa.ingest.upload import Upload

    upload = Upload("bulk.jsonl", articles=2)
    problems = [LoadProblem("bulk.jsonl:3", "bad line"), LoadProblem("bulk.jsonl.md", "other file"),
                LoadProblem("bulk.jsonl#7", "same article as x", skipped=True), LoadProblem("a.md", "x")]

    assert [p.path for p in upload.problems_in(problems)] == ["bulk.jsonl:3", "bulk.jsonl#7"]
