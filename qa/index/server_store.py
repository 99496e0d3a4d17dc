"""The index kept in a Chroma server that several app instances share (`QA_CHROMA_HOST`): a reindex writes
into the server's collection in place, and each app instance rebuilds its chunk table and BM25 from it.

Generation folders cannot be copied on a server, so consistency comes from a version instead: the reindex
marks the index as being written, changes the chunks (deterministic ids: stale ones deleted, new ones
upserted), then publishes the manifest and a new version. A `ServerIndexReader` rereads every chunk
whenever the version differs from the one it loaded, so its BM25 always holds the chunks Chroma holds.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Callable, Sequence

from chromadb.errors import NotFoundError

from qa.index import store
from qa.ingest.chunk import Chunk
from qa.errors import ConfigError, IndexMissingError
from qa.search.retrieve import IndexReader, OpenIndex
from qa.settings import Settings

logger = logging.getLogger(__name__)

MANIFEST_COLLECTION = "chunks_manifest"
INDEX_RECORD = "__index__"  # the manifest's header; the other records are one per article
PAGE_SIZE = 1000
# Chroma stores an embedding with every record; the manifest records are never searched.
_NO_VECTOR = [1.0]
_CHUNK_FIELDS = ("article_id", "index", "start", "end", "title", "path", "published", "published_date",
                 "source", "url", "category", "jurisdictions")


class ServerStore:
    """The chunk and manifest collections of the Chroma server at `QA_CHROMA_HOST:QA_CHROMA_PORT`."""

    def __init__(self, settings: Settings):
        self.host = settings.chroma_host
        self.port = settings.chroma_port
        self._client = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def client(self):
        if self._client is None:
            import chromadb

            store.check_chroma_available(self.host, self.port)
            try:
                self._client = chromadb.HttpClient(host=self.host, port=self.port, settings=store.chroma_settings())
            except Exception as exc:  # something answers on the port, but not a Chroma server we can use
                raise ConfigError(
                    f"the Chroma server at {self.where} refused the connection ({exc}); check QA_CHROMA_HOST / "
                    "QA_CHROMA_PORT and that the server runs the same chromadb version as this app"
                ) from exc
        return self._client

    def call(self, action: Callable, *args, **kwargs):
        """Runs one request; a server that went away becomes a `ConfigError` naming host and port."""
        try:
            return action(*args, **kwargs)
        except Exception:
            store.check_chroma_available(self.host, self.port)
            raise

    def chunks(self, create: bool = False):
        try:
            return self.call(store.get_collection, self.client, create=create)
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
        """The same manifest as an embedded generation's manifest.json, plus `version` and `dirty`."""
        header = self.header()
        if header is None:
            return None
        articles = {}
        for ids, documents, _metas in self._pages(self.manifests(), include=["documents"]):
            for article_id, document in zip(ids, documents):
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
            chunks.extend(_chunk_from_chroma(i, d, m) for i, d, m in zip(ids, documents, metas))
        return sorted(chunks, key=lambda c: (c.article_id, c.index))

    def _pages(self, collection, include: list[str]):
        offset = 0
        while True:
            page = self.call(collection.get, include=include, limit=PAGE_SIZE, offset=offset)
            if not page["ids"]:
                return
            yield page["ids"], page.get("documents") or [None] * len(page["ids"]), page.get("metadatas") or []
            offset += len(page["ids"])

    # ------------------------------------------------------------------------------------------ writing

    def write(self, embedder, new_chunks: Sequence[Chunk], stale_ids: Sequence[str], rebuild: bool,
              expected_chunks: int, progress=None, show_progress: bool = False) -> None:
        """Deletes `stale_ids`, embeds and upserts `new_chunks` (recreating the collections on `rebuild`).

        The index is marked dirty first: a reindex killed halfway leaves it dirty, and the next one rebuilds.
        """
        from qa.index.reindex import embed_and_store

        if rebuild:
            for name in (store.COLLECTION, MANIFEST_COLLECTION):
                try:
                    self.call(self.client.delete_collection, name)
                except NotFoundError:  # not there yet
                    pass
        self._mark_dirty()
        collection = self.chunks(create=True)
        batch_limit = min(self.call(self.client.get_max_batch_size), 5000)
        for i in range(0, len(stale_ids), batch_limit):
            self.call(collection.delete, ids=list(stale_ids[i:i + batch_limit]))
        embed_and_store(embedder, collection.upsert, list(new_chunks), batch_limit, progress, show_progress,
                        overlap=True)
        count = self.call(collection.count)
        if count != expected_chunks:
            raise RuntimeError(f"the Chroma server at {self.where} holds {count} chunks but the corpus has "
                               f"{expected_chunks}; the index stays marked unfinished and the next reindex rebuilds it")

    def publish(self, manifest: dict, changed_ids: Sequence[str], removed_ids: Sequence[str]) -> str:
        """Writes the manifest records of what changed, then the header with a new version; returns it."""
        manifests = self.manifests()
        if removed_ids:
            self.call(manifests.delete, ids=list(removed_ids))
        articles = manifest["articles"]
        changed_ids = [a for a in changed_ids if a in articles]
        for i in range(0, len(changed_ids), PAGE_SIZE):
            batch = changed_ids[i:i + PAGE_SIZE]
            self.call(manifests.upsert, ids=batch, documents=[json.dumps(articles[a], ensure_ascii=False) for a in batch],
                      embeddings=[_NO_VECTOR] * len(batch))
        version = f"server-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self._write_header({k: v for k, v in manifest.items() if k != "articles"}, version, dirty=False)
        return version

    def _mark_dirty(self) -> None:
        header = self.header() or {"version": "none"}
        self._write_header({k: v for k, v in header.items() if k not in ("version", "dirty")}, header["version"],
                           dirty=True)

    def _write_header(self, header: dict, version: str, dirty: bool) -> None:
        self.call(self.manifests().upsert, ids=[INDEX_RECORD], documents=[json.dumps(header, ensure_ascii=False)],
                  metadatas=[{"version": version, "dirty": dirty}], embeddings=[_NO_VECTOR])


def _chunk_from_chroma(chunk_id: str, document: str, meta: dict) -> Chunk:
    record = {name: meta.get(name) for name in _CHUNK_FIELDS}
    return Chunk.from_record({**record, "chunk_id": chunk_id, "text": document})


class ServerIndexReader(IndexReader):
    """The index in the Chroma server; rereads all chunks and rebuilds BM25 when the version changes.

    The version is checked on every question (one small request): a reindex by any app instance is seen by
    the next question of every other one.
    """

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.server = ServerStore(settings)
        self.version: str | None = None
        self._unsettled = False  # loaded while a reindex was writing: reread once it has published

    @property
    def generation_name(self) -> str | None:
        return self.version

    def refresh(self) -> "ServerIndexReader":
        header = self.server.header()
        if header is None:
            raise self.server._missing()
        if header["dirty"] and self.version is not None:
            return self  # a reindex is writing: keep answering from what was loaded until it publishes
        if header["version"] == self.version and not self._unsettled:
            return self
        with self._lock:
            if header["version"] != self.version or self._unsettled:
                self._load(header)
        return self

    def _load(self, header: dict) -> None:
        started = time.perf_counter()
        chunks = self.server.read_chunks()
        self.chunks = chunks
        self.positions = {c.chunk_id: i for i, c in enumerate(chunks)}
        self.bm25 = store.BM25Index.from_texts([c.embedding_text for c in chunks])
        self.collection = self.server.chunks()
        self.manifest = self.server.manifest() or {}
        self._facets = None
        self._columns = None  # filter columns derived from the chunks, if the reader keeps any
        self._index = OpenIndex(header["version"], chunks, self.positions, self.bm25, self.collection)
        after = self.server.header()
        self._unsettled = header["dirty"] or after is None or after["version"] != header["version"] or after["dirty"]
        self.version = header["version"]
        logger.info("read %d chunks from the Chroma server at %s in %.0f ms", len(chunks), self.server.where,
                    (time.perf_counter() - started) * 1000)
