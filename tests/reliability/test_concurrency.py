"""Questions are answered while a real `qa reindex` process runs; a second reindex refuses (or with `--wait`
waits) instead of interleaving; a reader whose generation is replaced or deleted keeps answering."""
from __future__ import annotations

import json
import threading

import pytest
from reliability_scenarios import (
    NEW_ARTICLE,
    NEW_ARTICLE_QUESTION,
    SEED_QUESTION,
    answer_record,
    assert_index_holds_exactly_the_corpus,
    change_corpus,
)

from qa.errors import ReindexBusyError
from qa.index import local
from qa.index.reindex import reindex
from qa.pipeline import Pipeline
from qa.search.retrieve import Filters, Retriever


class AskingLoop:
    """Asks the app's `Pipeline` one question after another in a thread until stopped; keeps every error."""

    def __init__(self, pipeline: Pipeline, question: str):
        self.pipeline, self.question = pipeline, question
        self.answers, self.errors = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.answers.append(answer_record(self.pipeline.ask(self.question)))
            except Exception as exc:  # the test reports every failure, whatever its kind
                self.errors.append(repr(exc))

    def __enter__(self) -> AskingLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def test_questions_are_answered_while_a_reindex_runs(seed_copy, embedder, qa_process):
    pipeline = Pipeline(seed_copy, embedder=embedder)
    before = answer_record(pipeline.ask(SEED_QUESTION))
    generation_before = pipeline.reader.generation_name
    change_corpus(seed_copy.corpus_dir)

    reindexing = qa_process(["reindex", "--quiet"], seed_copy, QA_TEST_PAUSE_AT="chroma")
    with AskingLoop(pipeline, SEED_QUESTION) as loop:
        reindexing.wait_for_stderr("paused at chroma")
        # Halfway through the reindex: the command line and the app both answer from the old index.
        asked = qa_process(["ask", "--json", SEED_QUESTION], seed_copy)
        status, stdout = asked.finish()
        assert status == 0, asked.stderr
        cli_answer = json.loads(stdout)
        cli_answer.pop("timings_ms")
        assert cli_answer == before
        assert answer_record(pipeline.ask(SEED_QUESTION)) == before
        reindexing.resume()
        status, _ = reindexing.finish()
        assert status == 0, reindexing.stderr

    assert loop.errors == []
    assert loop.answers, "the asking thread never got an answer"
    new = pipeline.ask(NEW_ARTICLE_QUESTION)
    assert pipeline.reader.generation_name != generation_before
    assert new.citations and new.citations[0].title == "Ruritania opens a sandbox for tokenized deposits"


def test_a_second_reindex_refuses_with_a_lock_message_and_wait_waits(seed_copy, embedder, qa_process):
    change_corpus(seed_copy.corpus_dir)
    first = qa_process(["reindex", "--quiet"], seed_copy, QA_TEST_PAUSE_AT="embed")
    first.wait_for_stderr("paused at embed")

    refused = qa_process(["reindex", "--quiet"], seed_copy)
    waiting = qa_process(["reindex", "--quiet", "--wait"], seed_copy)
    with pytest.raises(ReindexBusyError, match=rf"another reindex \(pid {first.proc.pid}\) is running.*--wait"):
        reindex(seed_copy, embedder=embedder)
    refused_status, _ = refused.finish()
    waiting.wait_for_stderr(f"waiting for another reindex (pid {first.proc.pid})")
    assert waiting.proc.poll() is None

    first.resume()
    first_status, first_out = first.finish()
    waiting_status, waiting_out = waiting.finish()

    assert refused_status == 2
    assert f"error: another reindex (pid {first.proc.pid}) is running" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (first_status, waiting_status) == (0, 0)
    assert first_out.startswith("added 1, updated 1, removed 1")
    assert waiting_out.startswith("added 0, updated 0, removed 0"), "the waiting reindex ran before the first ended"
    assert_index_holds_exactly_the_corpus(seed_copy, embedder)


def _publish_new_generation(settings, embedder, n: int) -> str:
    (settings.corpus_dir / f"extra-{n}.md").write_text(NEW_ARTICLE.replace("Ruritania", f"Ruritania {n}"),
                                                        encoding="utf-8")
    return reindex(settings, embedder=embedder).generation


def test_a_reader_of_the_previous_generation_keeps_answering(seed_copy, embedder):
    index = Pipeline(seed_copy, embedder=embedder).reader.snapshot()  # opened, not yet queried
    _publish_new_generation(seed_copy, embedder, 1)
    vector = embedder.encode([SEED_QUESTION], use_cache=False)[0]

    hits = Retriever._dense(index, vector, 5, Filters())

    assert index.folder.exists()  # local.KEEP_OLD_GENERATIONS keeps it
    assert hits and index.chunks[hits[0][0]].title.startswith("Hong Kong releases")


class ReindexingEmbedder:
    """The real embedder, but the first question it embeds first sees reindexes publish `publishes` new
    generations: the generation the search opened a moment before is deleted under it."""

    def __init__(self, embedder, settings, publishes: int):
        self._embedder, self._settings, self._publishes = embedder, settings, publishes

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def encode(self, texts, **kwargs):
        while self._publishes:
            _publish_new_generation(self._settings, self._embedder, self._publishes)
            self._publishes -= 1
        return self._embedder.encode(texts, **kwargs)


def test_a_search_whose_generation_is_deleted_midway_uses_the_new_one(seed_copy, embedder):
    retriever = Retriever(seed_copy, ReindexingEmbedder(embedder, seed_copy, local.KEEP_OLD_GENERATIONS + 1))
    opened = retriever.reader.snapshot().folder

    result = retriever.search(NEW_ARTICLE_QUESTION)

    assert result.hits and result.hits[0].chunk.title.startswith("Ruritania")
    assert retriever.reader.generation_name == local.current_generation(seed_copy.index_dir).folder.name
    assert not opened.exists(), "the search wrote into the deleted generation"
    assert_index_holds_exactly_the_corpus(seed_copy, embedder)
