"""Brings the index in line with the corpus folder: loads the corpus, plans what changed since the index in use
(by content hash: added, updated, removed), chunks the changed articles once and has the backend write the plan.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import ReindexBusyError
from qa.index.backend import IndexBackend, ProgressCallback, ReindexPlan
from qa.index.backends import index_backend
from qa.index.embed import Embedder
from qa.index.faults import checkpoint_from
from qa.ingest.chunk import CHUNKER_VERSION, Chunk, Chunker
from qa.ingest.load import Article, LoadProblem, load_corpus
from qa.settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["ProgressCallback", "ReindexReport", "reindex", "reindex_lock"]

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
    backend: IndexBackend | None = None,
) -> ReindexReport:
    """Indexes the corpus folder into the settings' index (or `backend`); returns the counts of what changed."""
    started = time.perf_counter()
    backend = backend or index_backend(settings)
    with reindex_lock(settings.index_dir, wait=wait):
        backend.discard_unfinished()  # what a reindex killed earlier left behind
        loaded = load_corpus(settings.corpus_dir)
        report = ReindexReport(problems=loaded.problems, failed=len(loaded.failed), articles=len(loaded.articles))
        embedder = embedder or Embedder(settings)
        chunker_config = {
            "version": CHUNKER_VERSION,
            "max_tokens": settings.chunk_tokens,
            "overlap": settings.chunk_overlap_sentences,
        }
        current_name, old_manifest = backend.current_manifest() or (None, None)
        if old_manifest is not None and old_manifest.get("dirty"):
            logger.warning("the last reindex into %s did not finish: rebuilding everything", backend.location)
            old_manifest = None
        compatible = (
            old_manifest is not None
            and old_manifest.get("model_key") == embedder.model_key
            and old_manifest.get("chunker") == chunker_config
        )
        if old_manifest is not None and not compatible and not full:
            logger.info("embedding model or chunker changed since the last reindex: rebuilding everything")
        incremental = compatible and not full
        old_articles: dict = old_manifest["articles"] if old_manifest is not None else {}

        corpus = {a.article_id: a for a in loaded.articles}
        added = [a for a in loaded.articles if a.article_id not in old_articles]
        updated = [a for a in loaded.articles
                   if a.article_id in old_articles and old_articles[a.article_id]["hash"] != a.content_hash]
        removed = [aid for aid in old_articles if aid not in corpus]
        report.added, report.updated, report.removed = len(added), len(updated), len(removed)
        if incremental:
            report.unchanged = len(loaded.articles) - len(added) - len(updated)
            if not (added or updated or removed):
                report.chunks = sum(len(v["chunks"]) for v in old_articles.values())
                report.generation = current_name
                report.seconds = time.perf_counter() - started
                return report
        else:
            # A rebuild re-embeds (from the cache where it can) everything: the old articles count as updated.
            report.updated = len(loaded.articles) - report.added

        changed = added + updated if incremental else list(loaded.articles)
        plan = _plan(settings, embedder, loaded.articles, changed, removed, old_articles, incremental,
                     chunker_config, [str(p) for p in loaded.problems])
        report.generation = backend.write(plan, embedder, progress=progress, show_progress=show_progress,
                                          checkpoint=checkpoint_from(settings.test_pause_at))
        report.chunks = plan.chunk_count
        report.seconds = time.perf_counter() - started
        logger.info("reindex into %s done: %s", backend.location, report.summary())
        return report


def _plan(settings: Settings, embedder: Embedder, articles: list[Article], changed: list[Article],
          removed: list[str], old_articles: dict, incremental: bool, chunker_config: dict,
          problems: list[str]) -> ReindexPlan:
    """The change to make: the changed articles chunked (once), the chunk ids they and the removed articles
    leave stale, the chunk ids kept as they are, and the manifest of the result."""
    changed_ids = {a.article_id for a in changed}
    chunker = Chunker(embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_sentences)
    new_chunks = [c for group in chunker.chunk_many(changed) for c in group]
    new_ids = _chunk_ids_by_article(new_chunks)
    if incremental:
        kept = {a.article_id: old_articles[a.article_id]["chunks"] for a in articles
                if a.article_id not in changed_ids}
        stale = [cid for aid in [*removed, *(a for a in changed_ids if a in old_articles)]
                 for cid in old_articles[aid]["chunks"]]
    else:
        kept, stale = {}, []
    by_article = {**kept, **new_ids}
    ids_by_article = {a.article_id: by_article[a.article_id] for a in articles if a.article_id in by_article}
    manifest = {
        "format": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model_key": embedder.model_key,
        "chunker": chunker_config,
        "articles": {
            a.article_id: {"hash": a.content_hash, "title": a.title, "path": a.path,
                           "chunks": ids_by_article[a.article_id]}
            for a in articles if a.article_id in ids_by_article
        },
        "counts": {"articles": len(articles), "chunks": sum(map(len, ids_by_article.values()))},
        "problems": problems,
    }
    return ReindexPlan(articles=list(articles), new_chunks=new_chunks, stale_ids=stale, kept=kept,
                       rebuild=not incremental, changed_articles=sorted(changed_ids), removed_articles=list(removed),
                       manifest=manifest)


def _chunk_ids_by_article(chunks: list[Chunk]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for chunk in chunks:
        out.setdefault(chunk.article_id, []).append(chunk.chunk_id)
    return out
