"""Brings the index in line with the corpus folder: loads, chunks, embeds and stores only what changed
(by content hash), or everything with `full=True`, and publishes the result as one new generation.
"""
from __future__ import annotations

import fcntl
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from qa.ingest.chunk import CHUNKER_VERSION, Chunk, Chunker
from qa.index.embed import Embedder
from qa.errors import ReindexBusyError
from qa.ingest.load import LoadProblem, load_corpus
from qa.settings import Settings
from qa.index import store
from qa.index.server_store import ServerStore

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)
EMBED_BATCH = 256
WRITE_BATCH = 2048  # chunks per write into embedded Chroma: larger calls cost it less per chunk

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_COULD_NOT_RUN = 2


@dataclass
class ReindexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    articles: int = 0
    chunks: int = 0
    seconds: float = 0.0
    generation: str | None = None
    problems: list[LoadProblem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    @property
    def exit_status(self) -> int:
        """0: every file indexed; 1: some files failed and the rest is indexed (see `problems`)."""
        return EXIT_SOME_FAILED if self.failed else EXIT_OK

    def summary(self) -> str:
        return (
            f"added {self.added}, updated {self.updated}, removed {self.removed}, unchanged {self.unchanged}, "
            f"failed {self.failed} ({self.articles} articles, {self.chunks} chunks, {self.seconds:.1f}s)"
        )


@contextmanager
def reindex_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """One reindex at a time per index folder; a second one refuses (or waits) instead of interleaving."""
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / ".reindex.lock"
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            if not wait:
                raise ReindexBusyError(
                    f"another reindex (pid {holder}) is running on {index_dir}; wait for it to finish, "
                    "or run `qa reindex --wait`"
                ) from None
            logger.warning("waiting for another reindex (pid %s) on %s to finish", holder, index_dir)
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def reindex(
    settings: Settings,
    *,
    full: bool = False,
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
    show_progress: bool = False,
    wait: bool = False,
) -> ReindexReport:
    """Indexes the corpus folder into the index folder; returns the counts of what changed."""
    started = time.perf_counter()
    pause = _TestPause(settings.test_pause_at)
    with reindex_lock(settings.index_dir, wait=wait):
        store.remove_stale_generations(settings.index_dir)  # what a reindex killed earlier left behind
        loaded = load_corpus(settings.corpus_dir)
        report = ReindexReport(problems=loaded.problems, failed=len(loaded.failed))
        embedder = embedder or Embedder(settings)
        chunker_config = {
            "version": CHUNKER_VERSION,
            "max_tokens": settings.chunk_tokens,
            "overlap": settings.chunk_overlap_sentences,
        }
        server = ServerStore(settings) if settings.chroma_host else None
        current = None if server else store.current_generation(settings.index_dir)
        old_manifest = server.manifest() if server else (current.manifest() if current else None)
        if old_manifest is not None and old_manifest.get("dirty"):
            logger.warning("the last reindex into the Chroma server did not finish: rebuilding everything")
            old_manifest = None
        compatible = (
            old_manifest is not None
            and old_manifest.get("model_key") == embedder.model_key
            and old_manifest.get("chunker") == chunker_config
        )
        if old_manifest is not None and not compatible and not full:
            logger.info("embedding model or chunker changed since the last reindex: rebuilding everything")
        incremental = compatible and not full
        old_articles: dict = old_manifest["articles"] if incremental else {}

        corpus = {a.article_id: a for a in loaded.articles}
        added = [a for a in loaded.articles if a.article_id not in old_articles]
        updated = [
            a for a in loaded.articles
            if a.article_id in old_articles and old_articles[a.article_id]["hash"] != a.content_hash
        ]
        removed = [aid for aid in old_articles if aid not in corpus]
        report.added, report.updated, report.removed = len(added), len(updated), len(removed)
        report.unchanged = len(loaded.articles) - len(added) - len(updated)
        report.articles = len(loaded.articles)
        if incremental and not (added or updated or removed):
            report.chunks = sum(len(v["chunks"]) for v in old_articles.values())
            report.generation = old_manifest.get("version") or current.folder.name
            report.seconds = time.perf_counter() - started
            return report
        if not incremental and old_manifest is not None:
            # A rebuild re-embeds (from the cache where it can) everything; count the old articles as updated.
            report.added = len([a for a in loaded.articles if a.article_id not in old_manifest["articles"]])
            report.updated = len(loaded.articles) - report.added
            report.removed = len([aid for aid in old_manifest["articles"] if aid not in corpus])
            report.unchanged = 0

        def manifest_of(ids_by_article: dict[str, list[str]]) -> dict:
            return {
                "format": 1,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "model_key": embedder.model_key,
                "chunker": chunker_config,
                "articles": {
                    aid: {"hash": corpus[aid].content_hash, "title": corpus[aid].title, "path": corpus[aid].path,
                          "chunks": ids}
                    for aid, ids in ids_by_article.items()
                },
                "counts": {"articles": len(loaded.articles), "chunks": sum(map(len, ids_by_article.values()))},
                "problems": [str(p) for p in loaded.problems],
            }

        if server is not None:
            report.chunks, report.generation = _write_server(
                settings, embedder, server, incremental, old_manifest, old_articles, loaded.articles,
                added + updated, removed, manifest_of, progress, show_progress,
            )
            report.seconds = time.perf_counter() - started
            logger.info("reindex into the Chroma server done: %s", report.summary())
            return report

        folder = store.new_generation_folder(settings.index_dir)
        try:
            chunks = _write_generation(
                settings, embedder, folder, current if incremental else None, old_articles,
                loaded.articles, added + updated, removed, progress, show_progress, pause,
            )
            manifest = manifest_of(_chunk_ids_by_article(chunks))
            generation = store.publish_generation(settings.index_dir, folder, manifest, pause=pause)
        except BaseException:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            raise
        report.chunks = len(chunks)
        report.generation = generation.folder.name
        report.seconds = time.perf_counter() - started
        logger.info("reindex done: %s", report.summary())
        return report


def _write_server(settings, embedder, server: ServerStore, incremental, old_manifest, old_articles, articles,
                  changed, removed, manifest_of, progress, show_progress) -> tuple[int, str]:
    """Changes the server's collection in place (no generation folders there) and publishes a new version."""
    changed_ids = {a.article_id for a in changed}
    if incremental:
        stale = [cid for aid in removed for cid in old_articles[aid]["chunks"]]
        stale += [cid for aid in changed_ids if aid in old_articles for cid in old_articles[aid]["chunks"]]
    else:
        stale, changed, changed_ids = [], articles, {a.article_id for a in articles}
        removed = list(old_manifest["articles"]) if old_manifest else []
        removed = [aid for aid in removed if aid not in changed_ids]
    kept = {a.article_id: old_articles[a.article_id]["chunks"] for a in articles if a.article_id not in changed_ids}
    chunker = Chunker(embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_sentences)
    new_chunks = [c for group in chunker.chunk_many(changed) for c in group]
    new_ids = _chunk_ids_by_article(new_chunks)
    expected = sum(map(len, kept.values())) + sum(map(len, new_ids.values()))
    server.write(embedder, new_chunks, stale, rebuild=not incremental, expected_chunks=expected,
                 progress=progress, show_progress=show_progress)
    by_article = {**kept, **new_ids}
    manifest = manifest_of({a.article_id: by_article[a.article_id] for a in articles if a.article_id in by_article})
    if progress:
        progress("publish", 0, 1)
    version = server.publish(manifest, sorted(changed_ids), removed)
    if progress:
        progress("publish", 1, 1)
    return manifest["counts"]["chunks"], version


def _chunk_ids_by_article(chunks: list[Chunk]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for chunk in chunks:
        out.setdefault(chunk.article_id, []).append(chunk.chunk_id)
    return out


def _write_generation(settings, embedder, folder, current, old_articles, articles, changed, removed,
                      progress, show_progress, pause) -> list[Chunk]:
    chroma_dir = folder / "chroma"
    if current is not None:
        store.copy_chroma(current.folder / "chroma", chroma_dir)
    client = store.open_persistent_client(chroma_dir)
    try:
        collection = store.get_collection(client, create=True)
        stale = [cid for aid in removed for cid in old_articles[aid]["chunks"]]
        stale += [cid for a in changed if a.article_id in old_articles for cid in old_articles[a.article_id]["chunks"]]
        batch_limit = min(client.get_max_batch_size(), 5000)
        for i in range(0, len(stale), batch_limit):
            collection.delete(ids=stale[i:i + batch_limit])

        chunker = Chunker(embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_sentences)
        new_chunks = [c for group in chunker.chunk_many(changed) for c in group]
        embed_and_store(embedder, collection.add, new_chunks, batch_limit, progress, show_progress, pause)

        kept = {}
        if current is not None:
            changed_ids = {a.article_id for a in changed}
            kept = {c.chunk_id: c for c in current.read_chunks()
                    if c.article_id not in changed_ids and c.article_id not in removed}
        by_article = _group(list(kept.values()) + new_chunks)
        chunks = [c for a in articles for c in by_article.get(a.article_id, [])]
        if collection.count() != len(chunks):
            raise RuntimeError(
                f"Chroma holds {collection.count()} chunks but the corpus has {len(chunks)}; index not published"
            )
    finally:
        store.release_client(client)
    if progress:
        progress("bm25", 0, 1)
    store.write_chunk_table(folder, chunks)
    store.build_bm25([c.embedding_text for c in chunks], folder / "bm25", pause=pause)
    if progress:
        progress("bm25", 1, 1)
    return chunks


def _group(chunks: list[Chunk]) -> dict[str, list[Chunk]]:
    out: dict[str, list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.article_id, c.index)):
        out.setdefault(chunk.article_id, []).append(chunk)
    return out


def embed_and_store(embedder, write, chunks, batch_limit, progress, show_progress, pause=None,
                    overlap: bool = False) -> None:
    """Embeds the chunks step by step and stores them with `write` (a collection's add or upsert).

    Embedded Chroma (`overlap=False`) is written in the same thread, in calls of up to `WRITE_BATCH` chunks,
    between encoder steps: its writes are CPU work, and run beside the encoder they slowed it by more than they
    took (on 2 cores, 3,000 cryptonews articles took 1.40x the encoder alone with a writer thread and 1.10x
    without; the whole archive 1.23x without, docs/performance.md). A Chroma server (`overlap=True`) does its work in another process,
    so there each write runs in a second thread while the next step is encoded.
    """
    from tqdm import tqdm

    pause = pause or (lambda point: None)

    def add(batch: list[Chunk], vectors) -> None:
        write(
            ids=[c.chunk_id for c in batch],
            embeddings=vectors,
            documents=[c.text for c in batch],
            metadatas=[c.chroma_metadata() for c in batch],
        )
        pause("chroma")

    bar = tqdm(total=len(chunks), desc="Embedding chunks", unit="chunk", disable=not show_progress)
    step = min(EMBED_BATCH, batch_limit)
    write_batch = max(step, min(WRITE_BATCH, batch_limit) // step * step)
    # Texts of similar length in each batch waste less of the encoder on padding (it sorts only within a
    # call); Chroma does not care in which order chunks arrive.
    chunks = sorted(chunks, key=lambda c: len(c.embedding_text))
    pending = None
    done: list[Chunk] = []
    done_vectors: list = []
    with ThreadPoolExecutor(max_workers=1) if overlap else nullcontext() as writer:
        for i in range(0, len(chunks), step):
            batch = chunks[i:i + step]
            vectors = embedder.encode([c.embedding_text for c in batch])
            pause("embed")
            bar.update(len(batch))
            if progress:
                progress("embed", min(i + step, len(chunks)), len(chunks))
            if overlap:
                if pending is not None:
                    pending.result()
                pending = writer.submit(add, batch, vectors)
                continue
            done.extend(batch)
            done_vectors.append(vectors)
            if len(done) >= write_batch or i + step >= len(chunks):
                add(done, np.concatenate(done_vectors))
                done, done_vectors = [], []
        if pending is not None:
            pending.result()
    bar.close()


class _TestPause:
    """The test hook of `Settings.test_pause_at`: at that point (the first time only) the reindex says so on
    stderr and waits for a line on stdin, so that a test can `kill -9` it there or let it go on."""

    def __init__(self, point: str | None):
        self.point = point

    def __call__(self, point: str) -> None:
        if point != self.point:
            return
        self.point = None
        print(f"qa reindex: paused at {point} (pid {os.getpid()}, QA_TEST_PAUSE_AT)", file=sys.stderr, flush=True)
        sys.stdin.readline()
