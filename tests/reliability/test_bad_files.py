"""Files people really drop into a corpus folder: each bad one is reported with its path and reason, everything
readable is indexed, and `qa reindex` tells "all good" (0) from "some files failed" (1) and "could not run" (2)."""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
from reliability_scenarios import run_qa

from qa.errors import ConfigError
from qa.index import local
from qa.ingest.load import MAX_FILE_MB, load_corpus
from tests.pdf import pdf_bytes

GOOD_NAME = "good.md"
GOOD_ARTICLE = """---
title: Singapore tightens stablecoin reserve rules
source: Test Wire
published: 2025-05-02
---
The Monetary Authority of Singapore said stablecoin reserves must be held in cash and short-term bonds.
"""


def corpus_with(tmp_path: Path, name: str, content: bytes | str | None = None) -> Path:
    """A corpus folder holding one good article and, under `name`, `content`."""
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / GOOD_NAME).write_text(GOOD_ARTICLE, encoding="utf-8")
    if isinstance(content, str):
        (corpus / name).write_text(content, encoding="utf-8")
    elif content is not None:
        (corpus / name).write_bytes(content)
    return corpus


def only_problem(result, path: str):
    problems = [p for p in result.problems if p.path == path]
    assert len(problems) == 1, result.problems
    return problems[0]


def loaded_ids(result) -> list[str]:
    return sorted(a.article_id for a in result.articles)


def test_an_empty_file_is_reported_and_skipped(tmp_path):
    result = load_corpus(corpus_with(tmp_path, "empty.md", " \n\n"))

    assert only_problem(result, "empty.md").reason == "file is empty"
    assert loaded_ids(result) == [GOOD_NAME]


def test_a_binary_file_is_reported_as_binary(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4

    result = load_corpus(corpus_with(tmp_path, "chart.txt", png))

    assert only_problem(result, "chart.txt").reason.startswith("binary file, not text")
    assert loaded_ids(result) == [GOOD_NAME]


def test_latin1_text_is_read_with_its_accents(tmp_path):
    text = "Régulation des cryptoactifs\nL'Autorité des marchés financiers a publié son rapport annuel."

    result = load_corpus(corpus_with(tmp_path, "amf.txt", text.encode("latin-1")))

    article = next(a for a in result.articles if a.article_id == "amf.txt")
    assert (article.title, article.text) == ("Régulation des cryptoactifs", text.split("\n", 1)[1])
    assert result.problems == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_text_with_a_bom_is_read(tmp_path, encoding):
    text = "Korea news\n금융위원회는 가상자산 공시 규정을 발표했다."
    data = ("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding)

    result = load_corpus(corpus_with(tmp_path, "korea.txt", data))

    article = next(a for a in result.articles if a.article_id == "korea.txt")
    assert (article.title, article.text) == ("Korea news", text.split("\n", 1)[1])
    assert result.problems == []


def test_a_50_mb_text_file_is_reported_as_over_the_size_limit(tmp_path):
    corpus = corpus_with(tmp_path, "dump.txt")
    line = "Regulators discussed the stablecoin bill again today. " * 20 + "\n"
    with (corpus / "dump.txt").open("w") as fh:
        for _ in range(50_000_000 // len(line) + 1):
            fh.write(line)

    result = load_corpus(corpus)

    assert only_problem(result, "dump.txt").reason == (
        f"file is 50 MB, over the {MAX_FILE_MB} MB limit for one article; split it or use JSONL")
    assert loaded_ids(result) == [GOOD_NAME]


def test_malformed_front_matter_is_reported_with_its_line(tmp_path):
    broken = "---\ntitle: MiCA enters into force\npublished: [2024-12-30\n---\nThe EU's MiCA rules apply in full.\n"

    result = load_corpus(corpus_with(tmp_path, "mica.md", broken))

    reason = only_problem(result, "mica.md").reason
    assert reason.startswith("malformed front matter at front-matter line ")
    assert reason.endswith("fix the YAML between the '---' lines")
    assert loaded_ids(result) == [GOOD_NAME]


def test_front_matter_of_the_wrong_types_is_indexed_without_those_fields(tmp_path):
    wrong = "---\ntitle: [1, 2]\npublished: last spring\n---\nThe SEC dropped its case against the exchange.\n"

    result = load_corpus(corpus_with(tmp_path, "sec-case.md", wrong))

    article = next(a for a in result.articles if a.article_id == "sec-case.md")
    assert (article.title, article.published) == ("sec case", None)
    reasons = sorted(p.reason for p in result.problems if p.path == "sec-case.md")
    assert [p.skipped for p in result.problems] == [False, False]
    assert reasons[0].startswith("front matter field 'published' is 'last spring', not a date")
    assert reasons[1].startswith("front matter field 'title' must be text, got list")


def test_the_same_article_under_two_names_is_indexed_once(tmp_path):
    corpus = corpus_with(tmp_path, "copy-of-good.md", GOOD_ARTICLE)

    result = load_corpus(corpus)

    assert loaded_ids(result) == ["copy-of-good.md"]
    problem = only_problem(result, GOOD_NAME)
    assert problem.reason == "same article as copy-of-good.md; indexed once, under that name"
    assert not problem.skipped  # nothing is missing from the index: a caveat, not a failure


def test_a_symlink_loop_is_reported(tmp_path):
    corpus = corpus_with(tmp_path, "unused")
    os.symlink("loop-b.md", corpus / "loop-a.md")
    os.symlink("loop-a.md", corpus / "loop-b.md")
    os.symlink(".", corpus / "again")  # a folder link back to the corpus is not followed

    result = load_corpus(corpus)

    assert [(p.path, p.reason) for p in result.problems] == [
        ("loop-a.md", "symbolic link loop"), ("loop-b.md", "symbolic link loop")]
    assert loaded_ids(result) == [GOOD_NAME]


def test_a_named_pipe_is_reported_instead_of_hanging_the_reindex(tmp_path):
    corpus = corpus_with(tmp_path, "unused")
    os.mkfifo(corpus / "feed.md")
    results = []

    reading = threading.Thread(target=lambda: results.append(load_corpus(corpus)), daemon=True)
    reading.start()
    reading.join(timeout=60)

    assert results, "load_corpus blocked on the named pipe"
    assert only_problem(results[0], "feed.md").reason.startswith("not a regular file")
    assert loaded_ids(results[0]) == [GOOD_NAME]


def load_corpus_without_root(corpus: Path) -> dict:
    """`load_corpus` in a forked child that gave up root for the user `nobody` (uid 65534), for whom file
    permissions really apply; as any other user, in this process. The loader gets a real EACCES either way."""
    if os.geteuid() != 0:
        result = load_corpus(corpus)
        return {"articles": sorted(a.article_id for a in result.articles),
                "problems": [[p.path, p.reason] for p in result.problems]}
    import frontmatter  # noqa: F401  (imported before the fork: nobody cannot read root's Python install)
    import yaml  # noqa: F401

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, load, send the result back, exit without running pytest's cleanup
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = load_corpus(corpus)
            payload = {"articles": sorted(a.article_id for a in result.articles),
                       "problems": [[p.path, p.reason] for p in result.problems]}
            os.write(write_end, json.dumps(payload).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    data, deadline = b"", time.monotonic() + 120
    with os.fdopen(read_end, "rb", buffering=0) as fh:
        while select.select([fh], [], [], max(0.0, deadline - time.monotonic()))[0]:
            part = fh.read(65536)
            if not part:
                break
            data += part
        else:  # a child of a threaded process can in theory hang on a lock copied mid-use: never wait forever
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged loader failed or timed out"
    return json.loads(data)


def test_an_unreadable_file_and_folder_are_reported():
    # Tests run as root here, where chmod 000 does not stop reading: see `load_corpus_without_root`.
    corpus = Path(tempfile.mkdtemp(prefix="qa-unreadable-"))  # not under pytest's root-only tmp folder
    try:
        corpus.chmod(0o755)
        (corpus / GOOD_NAME).write_text(GOOD_ARTICLE, encoding="utf-8")
        (corpus / GOOD_NAME).chmod(0o644)
        (corpus / "secret.md").write_text("# Secret\nNobody may read this.\n", encoding="utf-8")
        (corpus / "secret.md").chmod(0o000)
        (corpus / "locked").mkdir()
        (corpus / "locked" / "inner.md").write_text("# Inner\nInside a locked folder.\n", encoding="utf-8")
        (corpus / "locked").chmod(0o000)

        result = load_corpus_without_root(corpus)
    finally:
        (corpus / "locked").chmod(0o755)
        shutil.rmtree(corpus)

    assert result["articles"] == [GOOD_NAME]
    assert sorted(result["problems"]) == [
        ["locked/", "folder cannot be read (Permission denied); its files are not indexed"],
        ["secret.md", "cannot be read: Permission denied"],
    ]


def test_a_corrupt_pdf_is_reported(tmp_path):
    whole = pdf_bytes(["Japan's FSA proposes insider trading rules for crypto."])

    result = load_corpus(corpus_with(tmp_path, "fsa.pdf", whole[: len(whole) // 2]))

    assert only_problem(result, "fsa.pdf").reason.startswith("corrupt PDF (")
    assert loaded_ids(result) == [GOOD_NAME]


def test_an_encrypted_pdf_is_reported(tmp_path):
    locked = pdf_bytes(["Japan's FSA proposes insider trading rules for crypto."], user_password="pw")

    result = load_corpus(corpus_with(tmp_path, "fsa.pdf", locked))

    assert only_problem(result, "fsa.pdf").reason == "encrypted PDF; save a copy without the password"
    assert loaded_ids(result) == [GOOD_NAME]


def test_a_pdf_encrypted_only_against_editing_is_read(tmp_path):
    lines = ["The FSA of Japan proposes insider trading rules for crypto.", "The rules would apply from 2026."]
    restricted = pdf_bytes(lines, title="FSA insider rules", user_password="", owner_password="owner")

    result = load_corpus(corpus_with(tmp_path, "fsa.pdf", restricted))

    article = next(a for a in result.articles if a.article_id == "fsa.pdf")
    assert (article.title, article.text) == ("FSA insider rules", "\n".join(lines))


def test_an_html_page_with_no_main_text_is_reported(tmp_path):
    index_page = ("<html><head><title>News</title></head><body><nav><a href='/'>Home</a> <a href='/markets'>"
                  "Markets</a> <a href='/policy'>Policy</a></nav><footer>© Test Wire</footer></body></html>")

    result = load_corpus(corpus_with(tmp_path, "index.html", index_page))

    assert only_problem(result, "index.html").reason.startswith("no main text found in the HTML page")
    assert loaded_ids(result) == [GOOD_NAME]


def test_a_jsonl_file_with_one_broken_line_keeps_the_good_lines(tmp_path):
    lines = [
        {"id": "a1", "title": "Brazil central bank", "text": "Brazil's central bank set rules for crypto brokers."},
        '{"id": "a2", "title": "Truncated", "text": "This line was cut',
        {"id": "a3", "title": "UAE licences", "text": "Dubai's VARA granted two new exchange licences."},
    ]
    content = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"

    result = load_corpus(corpus_with(tmp_path, "bulk.jsonl", content))

    assert loaded_ids(result) == ["bulk.jsonl#a1", "bulk.jsonl#a3", GOOD_NAME]
    assert only_problem(result, "bulk.jsonl:2").reason.startswith("not a JSON object (")


def test_jsonl_lines_with_the_same_id_keep_the_first(tmp_path):
    content = (json.dumps({"id": 7, "text": "First text about Brazil."}) + "\n"
               + json.dumps({"id": 7, "text": "Second, different text about Chile."}) + "\n")

    result = load_corpus(corpus_with(tmp_path, "bulk.jsonl", content))

    assert [a.text for a in result.articles if a.path == "bulk.jsonl"] == ["First text about Brazil."]
    assert only_problem(result, "bulk.jsonl#7").reason.startswith("an earlier line of the file has the same id")


def test_a_missing_corpus_folder_is_a_setup_error_not_an_empty_corpus(tmp_path):
    expected = r"the corpus folder .*nowhere does not exist; create it or set QA_CORPUS_DIR"
    with pytest.raises(ConfigError, match=expected):
        load_corpus(tmp_path / "nowhere")


def bad_corpus(corpus: Path) -> dict[str, str]:
    """Writes one file of every kind above next to a good article; returns {path: start of its reason}."""
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / GOOD_NAME).write_text(GOOD_ARTICLE, encoding="utf-8")
    (corpus / "empty.md").write_text("")
    (corpus / "chart.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (corpus / "amf.txt").write_bytes("Régulation\nL'AMF a publié son rapport sur les cryptoactifs.".encode("latin-1"))
    (corpus / "korea.txt").write_bytes("Korea news\n금융위원회는 가상자산 공시 규정을 발표했다.".encode("utf-16"))
    with (corpus / "dump.txt").open("wb") as fh:
        fh.truncate(50_000_000)  # the size check runs before any byte is read
    (corpus / "mica.md").write_text("---\ntitle: [MiCA\n---\nThe EU's MiCA rules apply in full.\n")
    (corpus / "sec-case.md").write_text("---\ntitle: [1, 2]\npublished: last spring\n---\nThe SEC dropped its case.\n")
    (corpus / "copy-of-good.md").write_text(GOOD_ARTICLE, encoding="utf-8")
    os.symlink("loop-b.md", corpus / "loop-a.md")
    os.symlink("loop-a.md", corpus / "loop-b.md")
    os.mkfifo(corpus / "feed.md")
    whole = pdf_bytes(["Japan's FSA proposes insider trading rules for crypto."], title="FSA insider rules")
    (corpus / "fsa.pdf").write_bytes(whole)
    (corpus / "fsa-corrupt.pdf").write_bytes(whole[: len(whole) // 2])
    (corpus / "fsa-locked.pdf").write_bytes(pdf_bytes(["Locked."], user_password="pw"))
    (corpus / "index.html").write_text(
        "<html><body><nav><a href='/'>Home</a> <a href='/m'>Markets</a></nav></body></html>")
    (corpus / "bulk.jsonl").write_text(json.dumps({"id": "a1",
                                                   "text": "Brazil's central bank set crypto broker rules."})
                                       + '\n{"id": "a2", "text": "cut\n'
                                       + json.dumps({"id": "a3", "text": "Dubai's VARA granted two licences."}) + "\n")
    return {
        "empty.md": "file is empty", "chart.txt": "binary file", "dump.txt": "file is 50 MB",
        "mica.md": "malformed front matter", "loop-a.md": "symbolic link loop", "loop-b.md": "symbolic link loop",
        "feed.md": "not a regular file", "fsa-corrupt.pdf": "corrupt PDF", "fsa-locked.pdf": "encrypted PDF",
        "index.html": "no main text", "bulk.jsonl:2": "not a JSON object",
    }


def test_qa_reindex_indexes_every_readable_file_and_exits_1_naming_each_failure(make_settings):
    settings = make_settings()
    failures = bad_corpus(settings.corpus_dir)

    run = run_qa(["reindex", "--quiet"], settings)

    assert run.returncode == 1, run.stderr
    failed = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in run.stderr.splitlines()
              if line.startswith("failed: ")}
    assert set(failed) == set(failures)
    assert all(failed[path].startswith(start) for path, start in failures.items()), failed
    warned = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert sorted(w.split(": ")[1] for w in warned) == [GOOD_NAME, "sec-case.md", "sec-case.md"]
    manifest = local.current_generation(settings.index_dir).manifest()
    assert sorted(manifest["articles"]) == ["amf.txt", "bulk.jsonl#a1", "bulk.jsonl#a3", "copy-of-good.md",
                                            "fsa.pdf", "korea.txt", "sec-case.md"]
    assert "Traceback" not in run.stderr


def test_qa_reindex_exits_2_when_it_cannot_run_and_leaves_the_index_alone(seed_copy):
    current = local.current_generation(seed_copy.index_dir).folder.name
    missing = seed_copy.model_copy(update={"corpus_dir": seed_copy.corpus_dir.parent / "unmounted"})

    no_corpus = run_qa(["reindex", "--quiet"], missing)
    bad_setting = run_qa(["reindex", "--quiet"], seed_copy, QA_CHUNK_TOKENS="many")

    assert (no_corpus.returncode, bad_setting.returncode) == (2, 2)
    assert no_corpus.stderr.strip().endswith(
        f"error: the corpus folder {missing.corpus_dir} does not exist; create it or set QA_CORPUS_DIR")
    assert "error: invalid setting: QA_CHUNK_TOKENS: " in bad_setting.stderr
    assert "Traceback" not in no_corpus.stderr + bad_setting.stderr
    assert local.current_generation(seed_copy.index_dir).folder.name == current
