"""Reindexing: incremental by content hash, idempotent, and Chroma and BM25 always agree."""
import json
import shutil

import pytest

from qa.errors import ReindexBusyError
from qa.index import local
from qa.index.reindex import reindex, reindex_lock
from tests.seed import SEED_CORPUS


def index_contents(settings):
    """(chunk ids in Chroma, chunk ids in the BM25 chunk table, chunk ids in the manifest)."""
    generation = local.current_generation(settings.index_dir)
    client = local.open_persistent_client(generation.folder / "chroma")
    try:
        chroma_ids = local.get_collection(client).get(include=[])["ids"]
    finally:
        local.release_client(client)
    table_ids = [c.chunk_id for c in generation.read_chunks()]
    bm25_docs = json.loads((generation.folder / "bm25" / "count.json").read_text())["documents"]
    assert bm25_docs == len(table_ids)
    manifest_ids = [cid for a in generation.manifest()["articles"].values() for cid in a["chunks"]]
    return sorted(chroma_ids), sorted(table_ids), sorted(manifest_ids)


def assert_consistent(settings):
    chroma_ids, table_ids, manifest_ids = index_contents(settings)
    assert chroma_ids == table_ids == manifest_ids
    assert len(set(chroma_ids)) == len(chroma_ids)
    return chroma_ids


@pytest.fixture
def corpus_settings(make_settings, tmp_path):
    shutil.copytree(SEED_CORPUS, tmp_path / "corpus", dirs_exist_ok=True)
    return make_settings()


def test_first_reindex_adds_every_article(corpus_settings, embedder):
    report = reindex(corpus_settings, embedder=embedder)
    assert (report.added, report.updated, report.removed, report.unchanged, report.failed) == (4, 0, 0, 0, 0)
    ids = assert_consistent(corpus_settings)
    assert len(ids) == report.chunks > 4


def test_second_reindex_changes_nothing(corpus_settings, embedder):
    reindex(corpus_settings, embedder=embedder)
    before = local.current_generation(corpus_settings.index_dir).folder
    report = reindex(corpus_settings, embedder=embedder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 4)
    assert not report.changed
    assert local.current_generation(corpus_settings.index_dir).folder == before
    assert "unchanged 4" in report.summary()


def test_add_edit_delete_are_applied_incrementally(corpus_settings, embedder):
    reindex(corpus_settings, embedder=embedder)
    corpus = corpus_settings.corpus_dir
    (corpus / "new.md").write_text("---\ntitle: Japan exchange rules\n---\n\nJapan's FSA requires cold wallets. "
                                   "Exchanges in Tokyo must keep 95% of customer assets offline.")
    wemix = corpus / "wemix-stwemix-bitmart.md"
    wemix.write_text(wemix.read_text().replace("$3.48", "$4.10"))
    (corpus / "hong-kong-crypto-property.md").unlink()

    report = reindex(corpus_settings, embedder=embedder)

    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 2)
    ids = assert_consistent(corpus_settings)
    assert not any(i.startswith("hong-kong-crypto-property.md") for i in ids)
    assert any(i.startswith("new.md::") for i in ids)
    texts = {c.chunk_id: c.text for c in local.current_generation(corpus_settings.index_dir).read_chunks()}
    assert any("$4.10" in t for t in texts.values()) and not any("$3.48" in t for t in texts.values())


def test_full_rebuild_gives_the_same_chunks(corpus_settings, embedder):
    reindex(corpus_settings, embedder=embedder)
    before = assert_consistent(corpus_settings)
    report = reindex(corpus_settings, embedder=embedder, full=True)
    assert report.updated == 4
    assert assert_consistent(corpus_settings) == before


def test_unreadable_file_is_counted_as_failed_and_the_rest_indexed(corpus_settings, embedder):
    (corpus_settings.corpus_dir / "empty.md").write_text("")
    report = reindex(corpus_settings, embedder=embedder)
    assert (report.added, report.failed, report.exit_status) == (4, 1, 1)
    assert "empty.md" in str(report.problems[0])


def test_old_generations_are_cleaned_up(corpus_settings, embedder):
    for i in range(4):
        (corpus_settings.corpus_dir / f"extra{i}.md").write_text(f"# Extra {i}\n\nThe SFC said thing {i}.")
        reindex(corpus_settings, embedder=embedder)
    folders = list(corpus_settings.index_dir.glob("gen-*"))
    assert len(folders) == 1 + local.KEEP_OLD_GENERATIONS


def test_a_second_reindex_refuses_while_one_holds_the_lock(corpus_settings, embedder):
    with reindex_lock(corpus_settings.index_dir):
        with pytest.raises(ReindexBusyError, match="another reindex"):
            reindex(corpus_settings, embedder=embedder)


def test_progress_callback_reports_embedding(corpus_settings, embedder):
    seen = []
    reindex(corpus_settings, embedder=embedder, progress=lambda stage, done, total: seen.append((stage, done, total)))
    embeds = [s for s in seen if s[0] == "embed"]
    assert embeds[-1][1] == embeds[-1][2] > 0
    assert seen[-1] == ("bm25", 1, 1)


@pytest.mark.parametrize("overlap", [False, True])
def test_embed_and_store_writes_every_chunk_once_with_its_vector(make_settings, monkeypatch, overlap):
    """Embedded Chroma is written between encoder steps in calls of at most WRITE_BATCH chunks; a server's
    writes overlap the encoder. Either way every chunk arrives once, with the vector of its own text."""
    import numpy as np

    from qa.index.embed import Embedder

    # The fp32 backend, whose vectors do not depend on the batch (int8's move a little with it).
    embedder = Embedder(make_settings(embedding_backend="torch"))

    from qa.index import backend as backend_module
    from qa.ingest.chunk import Chunk

    monkeypatch.setattr(backend_module, "EMBED_BATCH", 4)
    monkeypatch.setattr(backend_module, "WRITE_BATCH", 10)
    chunks = [
        Chunk(chunk_id=f"a{i}.md::0", article_id=f"a{i}.md", index=0, text=f"Passage number {i} on stablecoins.",
              start=0, end=33, title=f"Title {i}", path=f"a{i}.md", published=None, published_date=None,
              source=None, url=None, category=None, jurisdictions=())
        for i in range(23)
    ]
    calls: list[dict] = []
    steps: list[int] = []
    backend_module.embed_and_store(embedder, lambda **batch: calls.append(batch), chunks, batch_limit=5000,
                                    progress=lambda stage, done, total: steps.append(done), show_progress=False,
                                    overlap=overlap)
    written = [cid for call in calls for cid in call["ids"]]
    assert sorted(written) == sorted(c.chunk_id for c in chunks)
    assert steps == [4, 8, 12, 16, 20, 23]
    if overlap:
        assert [len(call["ids"]) for call in calls] == [4, 4, 4, 4, 4, 3]
    else:
        assert [len(call["ids"]) for call in calls] == [8, 8, 7]  # whole encoder steps, at most WRITE_BATCH
    by_id = {c.chunk_id: c for c in chunks}
    for call in calls:
        expected = embedder.encode([by_id[cid].embedding_text for cid in call["ids"]])
        np.testing.assert_allclose(np.asarray(call["embeddings"]), expected, atol=1e-6)
        assert call["documents"] == [by_id[cid].text for cid in call["ids"]]


def assert_vectors_match_chroma(settings):
    """The generation's vectors.npy holds Chroma's vector of every chunk, in chunk-table order."""
    import numpy as np

    generation = local.current_generation(settings.index_dir)
    ids = [c.chunk_id for c in generation.read_chunks()]
    vectors = generation.read_vectors(len(ids))
    assert vectors is not None and vectors.shape[0] == len(ids)
    client = local.open_persistent_client(generation.folder / "chroma")
    try:
        got = local.get_collection(client).get(ids=ids, include=["embeddings"])
    finally:
        local.release_client(client)
    in_chroma = dict(zip(got["ids"], got["embeddings"]))
    np.testing.assert_allclose(vectors, np.asarray([in_chroma[i] for i in ids]), atol=1e-6)


@pytest.mark.parametrize("older_generation", [False, True])
def test_every_generation_keeps_its_vectors_in_chunk_order(corpus_settings, embedder, older_generation):
    reindex(corpus_settings, embedder=embedder)
    assert_vectors_match_chroma(corpus_settings)
    if older_generation:  # a generation written before vectors.npy: the kept vectors come from Chroma
        (local.current_generation(corpus_settings.index_dir).folder / local.VECTORS).unlink()
    corpus = corpus_settings.corpus_dir
    (corpus / "new.md").write_text("---\ntitle: Japan exchange rules\n---\n\nJapan's FSA requires cold wallets.")
    (corpus / "hong-kong-crypto-property.md").unlink()
    report = reindex(corpus_settings, embedder=embedder)
    assert (report.added, report.removed, report.unchanged) == (1, 1, 3)
    assert_vectors_match_chroma(corpus_settings)
