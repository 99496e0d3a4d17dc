"""`kill -9` of a real `qa reindex` process at each stage leaves the index answering as before, and the next
reindex brings Chroma and BM25 in line with the corpus, with no duplicate, orphan or leftover folder.

QA_TEST_PAUSE_AT stops the process at a named point (see `Settings.test_pause_at`), so the kill lands there.
"""
from __future__ import annotations

import pytest
from reliability_scenarios import SEED_QUESTION, answer_record, assert_index_holds_exactly_the_corpus, change_corpus

from qa.index import local
from qa.index.reindex import reindex
from qa.pipeline import Pipeline


@pytest.mark.parametrize("point", ["embed", "chroma", "bm25", "publish"])
def test_kill_9_during_reindex_loses_nothing(point, seed_copy, embedder, qa_process):
    before = answer_record(Pipeline(seed_copy, embedder=embedder).ask(SEED_QUESTION))
    current_before = local.current_generation(seed_copy.index_dir).folder.name
    change_corpus(seed_copy.corpus_dir)

    process = qa_process(["reindex", "--quiet"], seed_copy, QA_TEST_PAUSE_AT=point)
    process.wait_for_stderr(f"paused at {point}")
    process.kill()

    # The index in use is untouched and answers as before; the dead reindex's folder is still there.
    assert process.proc.returncode == -9
    assert local.current_generation(seed_copy.index_dir).folder.name == current_before
    leftovers = [p.name for p in seed_copy.index_dir.glob("gen-*") if p.name != current_before]
    assert leftovers, "the killed reindex left no half-written generation: the kill missed its target"
    assert answer_record(Pipeline(seed_copy, embedder=embedder).ask(SEED_QUESTION)) == before

    # The next reindex (the library call `qa reindex` makes, in-process to spare a second model load) completes.
    report = reindex(seed_copy, embedder=embedder)

    assert report.exit_status == 0
    assert (report.added, report.updated, report.removed) == (1, 1, 1)
    assert_index_holds_exactly_the_corpus(seed_copy, embedder)


def test_a_reindex_with_nothing_to_do_still_clears_what_a_killed_one_left(seed_copy, embedder, qa_process):
    process = qa_process(["reindex", "--quiet", "--full"], seed_copy, QA_TEST_PAUSE_AT="chroma")
    process.wait_for_stderr("paused at chroma")
    process.kill()
    assert list(seed_copy.index_dir.glob("gen-*.tmp"))

    report = reindex(seed_copy, embedder=embedder)

    assert not report.changed
    assert_index_holds_exactly_the_corpus(seed_copy, embedder)
