"""What the reliability tests share: a seed question, a corpus change, `qa` run as a real subprocess, and the
check that an index holds exactly the chunks of its corpus."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa.index import local
from qa.index.bm25 import BM25Index
from qa.settings import Settings

SEED_QUESTION = "What are the four pillars of Hong Kong's LEAP framework?"
NEW_ARTICLE = """---
title: Ruritania opens a sandbox for tokenized deposits
source: Test Wire
published: 2025-07-01
---
The central bank of Ruritania opened a regulatory sandbox for tokenized bank deposits on Tuesday.

Five commercial banks joined the first cohort, which runs for eighteen months. The sandbox waives the \
capital surcharge on deposit tokens while the pilot lasts.
"""
NEW_ARTICLE_QUESTION = "Which country opened a sandbox for tokenized bank deposits?"


def answer_record(answer) -> dict:
    """What `qa ask --json` prints (tuples become lists), without the timings, which differ from run to run."""
    record = json.loads(json.dumps(answer.to_json()))
    record.pop("timings_ms")
    return record


def change_corpus(corpus_dir: Path) -> None:
    """One article added, one updated, one removed: a reindex has all three kinds of work to do."""
    (corpus_dir / "ruritania-sandbox.md").write_text(NEW_ARTICLE, encoding="utf-8")
    wemix = corpus_dir / "wemix-stwemix-bitmart.md"
    wemix.write_text(wemix.read_text(encoding="utf-8") + "\nBitMart said more listings would follow.\n",
                     encoding="utf-8")
    (corpus_dir / "south-korea-ico-revival.md").unlink()


def qa_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `qa` subprocess working on `settings`' folders (no QA_* of the caller leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_CORPUS_DIR=str(settings.corpus_dir), QA_INDEX_DIR=str(settings.index_dir),
               QA_CACHE_DIR=str(settings.cache_dir), QA_FEEDBACK_PATH=str(settings.feedback_path), **extra)
    return env


class QAProcess:
    """`python -m qa ...` running in the background; its stderr is read line by line as it comes."""

    def __init__(self, args: list[str], settings: Settings, **env: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qa", *args], env=qa_env(settings, **env), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        )
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_stderr(self, text: str, timeout: float = 300) -> str:
        """Blocks until a stderr line contains `text`; fails if the process ends or the time runs out first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                self.proc.wait()
                pytest.fail(f"qa exited ({self.proc.returncode}) before printing {text!r}:\n{self.stderr}")
            if text in line:
                return line
            if time.monotonic() > deadline:
                pytest.fail(f"qa did not print {text!r} within {timeout}s:\n{self.stderr}")

    def resume(self) -> None:
        """Lets a process paused by QA_TEST_PAUSE_AT go on."""
        self.proc.stdin.write("\n")
        self.proc.stdin.close()

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        """Waits for the end; returns the exit status and stdout."""
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        stdout = self.proc.stdout.read()
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.proc.returncode, stdout

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL, like `kill -9`
        self.proc.wait(timeout=60)
        self._reader.join(timeout=10)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)


def run_qa(args: list[str], settings: Settings, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *args], env=qa_env(settings, **env), capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout, stdin=subprocess.DEVNULL)


def assert_index_holds_exactly_the_corpus(settings: Settings, embedder) -> None:
    """Chroma, the chunk table, BM25 and the manifest of the current generation hold the same chunks, once
    each, and those are the chunks of the corpus as it is now; no unfinished or orphan generation is left."""
    from qa.ingest.chunk import Chunker
    from qa.ingest.load import load_corpus

    generation = local.current_generation(settings.index_dir)
    manifest = generation.manifest()
    table = generation.read_chunks()
    table_ids = [c.chunk_id for c in table]
    manifest_ids = [cid for article in manifest["articles"].values() for cid in article["chunks"]]
    client = local.open_persistent_client(generation.folder / "chroma")
    try:
        stored = local.get_collection(client).get(include=["documents"])
    finally:
        local.release_client(client)
    chroma_ids = stored["ids"]
    chroma_text = dict(zip(stored["ids"], stored["documents"]))

    articles = load_corpus(settings.corpus_dir).articles
    chunker = Chunker(embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_sentences)
    expected = {c.chunk_id: c.text for group in chunker.chunk_many(articles) for c in group}

    assert len(set(chroma_ids)) == len(chroma_ids), "duplicate ids in Chroma"
    assert len(set(table_ids)) == len(table_ids), "duplicate ids in the chunk table"
    assert sorted(chroma_ids) == sorted(table_ids) == sorted(manifest_ids) == sorted(expected)
    assert chroma_text == {c.chunk_id: c.text for c in table} == expected, "a stored chunk text is stale"
    bm25_count = json.loads((generation.folder / "bm25" / "count.json").read_text())["documents"]
    assert bm25_count == len(table)
    assert BM25Index(generation.folder / "bm25", len(table)).scores("tokenized stablecoin").size == len(table)
    assert manifest["counts"] == {"articles": len(articles), "chunks": len(expected)}

    folders = sorted(p.name for p in settings.index_dir.glob(f"{local.GENERATION_PREFIX}*"))
    assert not [name for name in folders if name.endswith(".tmp")], f"unfinished generations left: {folders}"
    in_use = [generation.folder.name]
    previous = manifest.get("previous")
    if previous and (settings.index_dir / previous).exists():
        in_use.append(previous)
    assert folders == sorted(in_use), f"orphan generations left: {folders}"
