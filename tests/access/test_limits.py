"""Bounded resources: questions per session per minute, pipelines kept in memory, uploads' count, size, type,
and the URLs one paste may add."""
from __future__ import annotations

from qa.limits import PipelineCache, QuestionRateLimit, check_upload_batch, check_url_batch
from qa.settings import Settings


class Clock:
    def __init__(self):
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_questions_over_the_limit_are_refused_with_the_setting_and_the_wait():
    clock = Clock()
    limit = QuestionRateLimit(3, clock=clock)

    allowed = [limit.try_ask() for _ in range(3)]
    clock.now += 20
    refused = limit.try_ask()

    assert allowed == [None, None, None]
    assert "3 questions in the last minute" in refused
    assert "QA_QUESTIONS_PER_MINUTE=3" in refused and "wait 40 s" in refused


def test_questions_are_allowed_again_once_the_oldest_leaves_the_minute():
    clock = Clock()
    limit = QuestionRateLimit(2, clock=clock)
    limit.try_ask()
    clock.now += 30
    limit.try_ask()

    clock.now += 30
    first_free = limit.try_ask()
    second = limit.try_ask()

    assert first_free is None
    assert second is not None and "wait 30 s" in second


def test_a_refused_question_does_not_count_against_the_session():
    clock = Clock()
    limit = QuestionRateLimit(1, clock=clock)
    limit.try_ask()
    for _ in range(5):
        clock.now += 10
        limit.try_ask()

    clock.now += 10.5

    assert limit.try_ask() is None


def test_the_pipeline_cache_keeps_the_most_recently_used_and_drops_the_least():
    cache: PipelineCache[list] = PipelineCache(2)
    built: list[str] = []

    def build(key):
        return lambda: built.append(key) or [key]

    a = cache.get("a", build("a"))
    cache.get("b", build("b"))
    again = cache.get("a", build("a"))  # used again: b is now the least recently used
    cache.get("c", build("c"))
    cache.get("a", build("a"))
    cache.get("b", build("b"))  # b was dropped: built again

    assert again is a
    assert built == ["a", "b", "c", "b"]
    assert cache.keys() == ["a", "b"]


def test_an_upload_of_too_many_files_is_refused_naming_the_setting():
    problems = check_upload_batch(Settings(max_upload_files=2), [("a.md", 10), ("b.md", 10), ("c.md", 10)])

    assert problems == ["3 files at once is more than the 2 allowed (QA_MAX_UPLOAD_FILES); upload them in "
                        "smaller batches"]


def test_an_uploaded_file_over_the_size_limit_is_refused_naming_the_setting():
    problems = check_upload_batch(Settings(max_upload_mb=1), [("small.md", 1024), ("big.pdf", 3 * 1024 * 1024)])

    assert problems == ["'big.pdf' is 3.0 MB, over the 1 MB limit (QA_MAX_UPLOAD_MB); split it or make it JSONL"]


def test_an_upload_of_an_unsupported_type_is_refused_naming_the_supported_ones():
    [problem] = check_upload_batch(Settings(), [("tool.exe", 10), ("notes.MD", 10)])

    assert problem.startswith("'tool.exe' is not a supported article file (.exe)") and ".md, " in problem


def test_an_upload_within_every_limit_passes():
    assert check_upload_batch(Settings(), [("a.md", 10), ("b.jsonl", 20 * 1024 * 1024)]) == []


def test_pasted_urls_keep_the_http_ones_and_name_each_other_line_with_its_fix():
    pasted = ("https://news.example.org/a.html\n\n  http://127.0.0.1:8000/b  \nwww.example.org/c\n"
              "ftp://127.0.0.1/d.txt\nhttps://a b\nhttp://\nhttps://news.example.org/a.html\n")

    batch = check_url_batch(Settings(), pasted)

    assert batch.urls == ["https://news.example.org/a.html", "http://127.0.0.1:8000/b"]
    assert batch.refusal is None
    assert [p.split(" ", 2)[:2] for p in batch.problems] == [["line", "4:"], ["line", "5:"], ["line", "6:"],
                                                             ["line", "7:"]]
    assert "does not start with http:// or https://; write the full address" in batch.problems[0]
    assert "uses the ftp: scheme; only http and https pages can be added" in batch.problems[1]
    assert "holds a space; put one URL per line" in batch.problems[2]
    assert "has no host name" in batch.problems[3]


def test_a_paste_of_too_many_urls_or_of_none_is_refused_naming_the_setting():
    too_many = check_url_batch(Settings(max_add_urls=2), "http://a.example/1\nhttp://a.example/2\nnot a url\n")
    empty = check_url_batch(Settings(), " \n\n")

    assert too_many.urls == [] and too_many.refusal == ("3 URLs at once is more than the 2 allowed "
                                                        "(QA_MAX_ADD_URLS); add them in smaller batches")
    assert empty.urls == [] and empty.refusal == "no URL given; paste one http or https URL per line"
