"""Server mode against a real `chroma run`: reindexing writes into the server, every app instance's BM25
holds exactly the chunks Chroma holds, and a server that is down is named in the error."""
from __future__ import annotations

import pytest
from seed import LEAP_TITLE

from qa.errors import ConfigError
from qa.index.server import ChromaServer
from qa.pipeline import Pipeline

pytestmark = pytest.mark.server

ETF_QUESTION = "What incentive does Hong Kong plan for tokenized ETFs?"
NEW_ARTICLE = """---
title: "Freedonia licenses lunar stablecoin issuers"
published: "2024-03-01"
category: "Regulation"
source: "Test Wire"
---

The Freedonia Monetary Authority will license issuers of lunar stablecoins from June 2024.

Issuers must hold reserves of moon rock worth twice the tokens in circulation, the authority said.
"""


def server(settings) -> ChromaServer:
    return ChromaServer(settings.chroma_host, settings.chroma_port)


def server_chunk_ids(settings) -> set[str]:
    return set(server(settings).chunks().get(include=[])["ids"])


def test_reindex_through_the_server_answers_with_a_citation_and_leaves_no_local_index(server_pipeline,
                                                                                        server_settings):
    answer = server_pipeline.ask(ETF_QUESTION)

    assert "stamp duty" in answer.answer.lower()
    assert answer.citations[0].title == LEAP_TITLE
    assert not list(server_settings.index_dir.glob("gen-*"))
    assert {c.chunk_id for c in server_pipeline.reader.chunks} == server_chunk_ids(server_settings)
    assert server_pipeline.status().articles == 4


def test_a_reindex_by_one_app_instance_is_seen_by_the_next_question_of_another(server_pipeline, server_settings,
                                                                               embedder):
    other = Pipeline(server_settings, embedder=embedder)
    other.ask(ETF_QUESTION)
    (server_settings.corpus_dir / "freedonia-lunar-stablecoins.md").write_text(NEW_ARTICLE, encoding="utf-8")

    report = server_pipeline.reindex()
    answer = other.ask("What reserves must lunar stablecoin issuers in Freedonia hold?")

    assert (report.added, report.unchanged) == (1, 4)
    assert {c.chunk_id for c in other.reader.chunks} == server_chunk_ids(server_settings)
    assert answer.citations[0].title == "Freedonia licenses lunar stablecoin issuers"


def test_an_incremental_reindex_deletes_the_chunks_of_removed_and_changed_articles(server_pipeline,
                                                                                  server_settings):
    (server_settings.corpus_dir / "wemix-stwemix-bitmart.md").unlink()
    leap = server_settings.corpus_dir / "hong-kong-leap-framework.md"
    leap.write_text(leap.read_text(encoding="utf-8")[:1500], encoding="utf-8")

    report = server_pipeline.reindex()
    manifest = server(server_settings).manifest()

    assert (report.removed, report.updated, report.unchanged) == (1, 1, 2)
    assert server_chunk_ids(server_settings) == {cid for a in manifest["articles"].values() for cid in a["chunks"]}
    assert not any(cid.startswith("wemix") for cid in server_chunk_ids(server_settings))
    assert not manifest["dirty"]


def test_a_reindex_interrupted_halfway_is_followed_by_a_full_rebuild(server_pipeline, server_settings):
    server(server_settings).mark_dirty()  # what a reindex killed after its first write leaves behind

    report = server_pipeline.reindex()

    assert (report.added, report.unchanged) == (4, 0)  # the old manifest is not trusted
    assert server(server_settings).header()["dirty"] is False
    assert {c.chunk_id for c in server_pipeline.reader.refresh().chunks} == server_chunk_ids(server_settings)


def test_answers_continue_after_the_server_restarts(server_pipeline, chroma_server):
    server_pipeline.ask(ETF_QUESTION)
    chroma_server.stop()
    chroma_server.start()

    answer = server_pipeline.ask(ETF_QUESTION)

    assert answer.citations[0].title == LEAP_TITLE


def test_a_stopped_server_gives_an_error_naming_its_host_and_port(server_pipeline, chroma_server):
    chroma_server.stop()

    with pytest.raises(ConfigError, match=f"Chroma server at 127.0.0.1:{chroma_server.port}"):
        server_pipeline.ask(ETF_QUESTION)
    with pytest.raises(ConfigError, match=f"127.0.0.1:{chroma_server.port}.*make chroma"):
        server_pipeline.reindex()


def test_the_cli_reports_a_server_that_is_down_without_a_traceback(make_settings, tmp_path):
    import subprocess
    import sys

    from tests.servers import free_port

    port = free_port()
    env = {"QA_CHROMA_HOST": "127.0.0.1", "QA_CHROMA_PORT": str(port), "QA_INDEX_DIR": str(tmp_path / "index"),
           "QA_CORPUS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    import os

    result = subprocess.run([sys.executable, "-m", "qa", "ask", ETF_QUESTION], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120)

    assert result.returncode != 0
    assert f"cannot reach the Chroma server at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


class _LosesFromSearch:
    """The real chunk collection of the server, except that its `query` never returns the ids in `lost` until
    they are written again: what Chroma 1.5 sometimes does to a freshly upserted record (see
    `ChromaServer._await_searchable`), injected because the real fault cannot be caused on demand."""

    def __init__(self, collection, lost: set[str], heals: bool = True):
        self.collection, self.lost, self.heals = collection, set(lost), heals
        self.rewritten: list[str] = []

    def __getattr__(self, name):
        return getattr(self.collection, name)

    def query(self, **kwargs):
        found = self.collection.query(**kwargs)
        found["ids"] = [[i for i in ids if i not in self.lost] for ids in found["ids"]]
        return found

    def add(self, ids, **kwargs):
        self.rewritten += ids
        if self.heals:
            self.lost -= set(ids)
        return self.collection.add(ids=ids, **kwargs)


def test_a_chunk_the_servers_search_lost_is_written_again_before_the_reindex_publishes(server_pipeline,
                                                                                       server_settings):
    store = server(server_settings)
    collection = store.chunks()
    ids = sorted(server_chunk_ids(server_settings))
    before = collection.get(ids=[ids[3]], include=["documents", "metadatas", "embeddings"])
    losing = _LosesFromSearch(collection, {ids[3]})

    store._await_searchable(losing, ids)

    after = collection.get(ids=[ids[3]], include=["documents", "metadatas", "embeddings"])
    assert losing.rewritten == [ids[3]]
    assert (after["documents"], after["metadatas"]) == (before["documents"], before["metadatas"])
    assert after["embeddings"][0] == pytest.approx(before["embeddings"][0])
    assert ids[3] in collection.query(query_embeddings=[after["embeddings"][0]], n_results=3, include=[])["ids"][0]


def test_a_chunk_the_servers_search_never_returns_is_named_in_a_warning(server_pipeline, server_settings, caplog):
    store = server(server_settings)
    ids = sorted(server_chunk_ids(server_settings))
    losing = _LosesFromSearch(store.chunks(), {ids[0]}, heals=False)

    with caplog.at_level("WARNING", logger="qa.index.server"):
        store._await_searchable(losing, ids)

    assert losing.rewritten == [ids[0]] * 3
    assert "does not return 1 of the chunks just written" in caplog.text
