"""The index in a Chroma server that several app instances share (`QA_CHROMA_HOST`): a reindex writes into
the server's collection in place, and each app instance rebuilds its chunk table and BM25 from it.

Generation folders cannot be copied on a server, so consistency comes from a version instead: the reindex
marks the index as being written, changes the chunks (deterministic ids: stale ones deleted, new ones
upserted), then publishes the manifest and a new version. `open` rereads every chunk whenever the version
differs from the one it loaded, so BM25 always holds the chunks Chroma holds.
"""
from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Sequence

from qa.errors import ConfigError, IndexMissingError
from qa.index.backend import (
    COLLECTION,
    IndexBackend,
    OpenIndex,
    ProgressCallback,
    ReindexPlan,
    chroma_settings,
    delete_ids,
    embed_and_store,
    get_collection,
)
from qa.index.bm25 import BM25Index
from qa.index.faults import Checkpoint, no_checkpoint
from qa.ingest.chunk import Chunk

logger = logging.getLogger(__name__)

MANIFEST_COLLECTION = "chunks_manifest"
INDEX_RECORD = "__index__"  # the manifest's header; the other records are one per article
PAGE_SIZE = 1000
SEARCHABLE_SAMPLE = 256  # records (spread, and as many last ones) checked before a reindex publishes
SEARCHABLE_ATTEMPTS = 3  # times a chunk missing from searches is written again
# Chroma stores an embedding with every record; the manifest records are never searched.
_NO_VECTOR = [1.0]
_CHUNK_FIELDS = ("article_id", "index", "start", "end", "title", "path", "published", "published_date",
                 "source", "url", "category", "jurisdictions")


class ChromaServer(IndexBackend):
    """The chunk and manifest collections of the Chroma server at `host:port`."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self._client = None

    @property
    def location(self) -> str:
        return f"the Chroma server at {self.where}"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def client(self):
        if self._client is None:
            import chromadb

            self.check_reachable()
            try:
                self._client = chromadb.HttpClient(host=self.host, port=self.port, settings=chroma_settings())
            except Exception as exc:  # something answers on the port, but not a Chroma server we can use
                raise ConfigError(
                    f"the Chroma server at {self.where} refused the connection ({exc}); check QA_CHROMA_HOST / "
                    "QA_CHROMA_PORT and that the server runs the same chromadb version as this app"
                ) from exc
        return self._client

    def check_reachable(self) -> None:
        """Raises a ConfigError naming host and port when nothing listens there."""
        try:
            with socket.create_connection((self.host, self.port), timeout=3):
                return
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Chroma server at {self.where} ({exc.strerror or exc}); start it with "
                "`make chroma` or fix QA_CHROMA_HOST / QA_CHROMA_PORT"
            ) from exc

    def call(self, action: Callable, *args, **kwargs):
        """Runs one request; a server that went away becomes a `ConfigError` naming host and port."""
        try:
            return action(*args, **kwargs)
        except Exception:
            self.check_reachable()
            raise

    def chunks(self, create: bool = False):
        from chromadb.errors import NotFoundError

        try:
            return self.call(get_collection, self.client, create=create)
        except NotFoundError as exc:
            raise self._missing() from exc

    def manifests(self):
        return self.call(self.client.get_or_create_collection, MANIFEST_COLLECTION, embedding_function=None)

    def _missing(self) -> IndexMissingError:
        return IndexMissingError(f"no index in the Chroma server at {self.where}; run `qa reindex` first")

    # ------------------------------------------------------------------------------------------ reading

    def header(self) -> dict | None:
        """The manifest's header (version, dirty flag, counts...), or None before the first reindex."""
        result = self.call(self.manifests().get, ids=[INDEX_RECORD], include=["metadatas", "documents"])
        if not result["ids"]:
            return None
        meta = result["metadatas"][0]
        return {**json.loads(result["documents"][0]), "version": meta["version"], "dirty": bool(meta["dirty"])}

    def manifest(self) -> dict | None:
        """The same manifest as a local generation's manifest.json, plus `version` and `dirty`."""
        header = self.header()
        if header is None:
            return None
        articles = {}
        for ids, documents, _metas in self._pages(self.manifests(), include=["documents"]):
            for article_id, document in zip(ids, documents, strict=True):
                if article_id != INDEX_RECORD:
                    articles[article_id] = json.loads(document)
        return {**header, "articles": articles}

    def current_manifest(self) -> tuple[str, dict] | None:
        manifest = self.manifest()
        return (manifest["version"], manifest) if manifest else None

    def read_chunks(self) -> list[Chunk]:
        """Every chunk in the server, in article then position order (the same in every app instance)."""
        chunks = []
        for ids, documents, metas in self._pages(self.chunks(), include=["documents", "metadatas"]):
            chunks.extend(_chunk_from_chroma(i, d, m) for i, d, m in zip(ids, documents, metas, strict=True))
        return sorted(chunks, key=lambda c: (c.article_id, c.index))

    def _pages(self, collection, include: list[str]):
        offset = 0
        while True:
            page = self.call(collection.get, include=include, limit=PAGE_SIZE, offset=offset)
            if not page["ids"]:
                return
            yield page["ids"], page.get("documents") or [None] * len(page["ids"]), page.get("metadatas") or []
            offset += len(page["ids"])

    def open(self, loaded: OpenIndex | None = None) -> OpenIndex:
        """The server's index; reread (chunks and BM25) when its version changed. The version is checked on
        every call (one small request): a reindex by any app instance is seen by the next question of every
        other one."""
        header = self.header()
        if header is None:
            raise self._missing()
        if loaded is not None and header["dirty"]:
            return loaded  # a reindex is writing: keep answering from what was loaded until it publishes
        if loaded is not None and header["version"] == loaded.name and loaded.settled:
            return loaded
        started = time.perf_counter()
        chunks = self.read_chunks()
        bm25 = BM25Index.from_texts([c.embedding_text for c in chunks])
        manifest = self.manifest() or {}
        after = self.header()
        settled = not (header["dirty"] or after is None or after["version"] != header["version"] or after["dirty"])
        logger.info("read %d chunks from the Chroma server at %s in %.0f ms", len(chunks), self.where,
                    (time.perf_counter() - started) * 1000)
        return OpenIndex.of(header["version"], chunks, bm25, self.chunks(), manifest, settled=settled)

    # ------------------------------------------------------------------------------------------ writing

    def write(self, plan: ReindexPlan, embedder, *, progress: ProgressCallback | None = None,
              show_progress: bool = False, checkpoint: Checkpoint = no_checkpoint) -> str:
        """Deletes the stale chunks, embeds and upserts the new ones (into new collections on a rebuild), then
        publishes the manifest and a new version. The index is marked dirty first: a reindex killed halfway
        leaves it dirty, and the next one rebuilds."""
        from chromadb.errors import NotFoundError

        if plan.rebuild:
            for name in (COLLECTION, MANIFEST_COLLECTION):
                try:
                    self.call(self.client.delete_collection, name)
                except NotFoundError:  # not there yet
                    pass
        self.mark_dirty()
        collection = self.chunks(create=True)
        batch_limit = min(self.call(self.client.get_max_batch_size), 5000)
        delete_ids(lambda ids: self.call(collection.delete, ids=ids), plan.stale_ids, batch_limit)
        embed_and_store(embedder, collection.upsert, plan.new_chunks, batch_limit, progress, show_progress,
                        checkpoint, overlap=True)
        count = self.call(collection.count)
        if count != plan.chunk_count:
            raise RuntimeError(f"the Chroma server at {self.where} holds {count} chunks but the corpus has "
                               f"{plan.chunk_count}; the index stays marked unfinished and the next reindex "
                               "rebuilds it")
        self._await_searchable(collection, [c.chunk_id for c in plan.new_chunks])
        if progress:
            progress("publish", 0, 1)
        version = self._publish(plan.manifest, plan.changed_articles, plan.removed_articles)
        if progress:
            progress("publish", 1, 1)
        return version

    def _await_searchable(self, collection, ids: Sequence[str]) -> None:
        """Makes sure the server's vector search returns the chunks just written before their version is
        published. A Chroma server (1.5) sometimes leaves a freshly upserted record out of its vector index:
        `get` returns it, but no `query` does (seen about one reindex in ten on a 2-core machine, and waiting
        does not help), so another app instance's next question would be searched without it. Each record
        written (beyond twice `SEARCHABLE_SAMPLE` of them, a sample spread over them plus the last ones) is queried
        with its own vector; a record that does not come back is written again (deleted and added), up to
        `SEARCHABLE_ATTEMPTS` times; then the version is published anyway, with a warning."""
        if not ids:
            return
        sample = list(dict.fromkeys([*ids[:: max(1, len(ids) // SEARCHABLE_SAMPLE)], *ids[-SEARCHABLE_SAMPLE:]]))
        n = min(10, self.call(collection.count))
        waiting = sample
        for attempt in range(SEARCHABLE_ATTEMPTS + 1):
            stored = self.call(collection.get, ids=waiting, include=["embeddings", "documents", "metadatas"])
            found = self.call(collection.query, query_embeddings=list(stored["embeddings"]), n_results=n,
                              include=[])
            missing = [i for i, returned in zip(stored["ids"], found["ids"]) if i not in returned]
            if not missing:
                return
            if attempt == SEARCHABLE_ATTEMPTS:
                break
            logger.info("the Chroma server at %s does not return %d chunks just written in its searches; "
                        "writing them again", self.where, len(missing))
            rows = [stored["ids"].index(i) for i in missing]
            self.call(collection.delete, ids=missing)
            self.call(collection.add, ids=missing, embeddings=[stored["embeddings"][r] for r in rows],
                      documents=[stored["documents"][r] for r in rows],
                      metadatas=[stored["metadatas"][r] for r in rows])
            waiting = missing
            time.sleep(0.2 * (attempt + 1))
        logger.warning("the Chroma server at %s does not return %d of the chunks just written in its searches; "
                       "publishing anyway (a restart of the server or a full reindex may help)", self.where,
                       len(missing))

    def _publish(self, manifest: dict, changed_ids: Sequence[str], removed_ids: Sequence[str]) -> str:
        """Writes the manifest records of what changed, then the header with a new version; returns it."""
        manifests = self.manifests()
        if removed_ids:
            self.call(manifests.delete, ids=list(removed_ids))
        articles = manifest["articles"]
        changed_ids = [a for a in changed_ids if a in articles]
        for i in range(0, len(changed_ids), PAGE_SIZE):
            batch = changed_ids[i:i + PAGE_SIZE]
            self.call(manifests.upsert, ids=batch,
                      documents=[json.dumps(articles[a], ensure_ascii=False) for a in batch],
                      embeddings=[_NO_VECTOR] * len(batch))
        version = f"server-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self._write_header({k: v for k, v in manifest.items() if k != "articles"}, version, dirty=False)
        return version

    def mark_dirty(self) -> None:
        """Marks the index as being written (what a reindex killed after its first write leaves behind)."""
        header = self.header() or {"version": "none"}
        self._write_header({k: v for k, v in header.items() if k not in ("version", "dirty")}, header["version"],
                           dirty=True)

    def _write_header(self, header: dict, version: str, dirty: bool) -> None:
        self.call(self.manifests().upsert, ids=[INDEX_RECORD], documents=[json.dumps(header, ensure_ascii=False)],
                  metadatas=[{"version": version, "dirty": dirty}], embeddings=[_NO_VECTOR])


def _chunk_from_chroma(chunk_id: str, document: str, meta: dict) -> Chunk:
    record = {name: meta.get(name) for name in _CHUNK_FIELDS}
    return Chunk.from_record({**record, "chunk_id": chunk_id, "text": document})
