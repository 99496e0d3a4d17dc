"""Fast CPU sentence embeddings: exports a sentence-transformers BERT model to ONNX once (optionally int8),
caches the file by the model's content, and encodes texts with ONNX Runtime exactly as sentence-transformers does.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# Part of the cache key: bump it whenever the export, optimization or quantization recipe changes, so that
# files made by an older recipe are never reused.
EXPORT_RECIPE = "bert-onnx-v1"
ONNX_OPSET = 17
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OUTPUT = "last_hidden_state"


def export_onnx(model_dir: Path, cache_dir: Path, quantize: bool = True) -> Path:
    """The ONNX file of the BERT transformer in `model_dir`, exported on first use and then read from `cache_dir`.

    The fp32 file is the exported graph with ONNX Runtime's BERT fusions (Attention, SkipLayerNormalization,
    BiasGelu); the int8 file is that graph with dynamically quantized weights, made from the cached fp32 file.
    """
    model_dir, cache_dir = Path(model_dir), Path(cache_dir)
    config = _read_bert_config(model_dir)
    stem = f"{model_dir.name}-{_model_fingerprint(model_dir)}"

    def build_fp32(scratch: Path) -> Path:
        return _optimize(_export_fp32(model_dir, scratch / "raw.onnx"), scratch / "fp32.onnx", config)

    def build_int8(scratch: Path) -> Path:
        return _quantize(_build_once(cache_dir / f"{stem}-fp32.onnx", build_fp32), scratch / "int8.onnx")

    if quantize:
        return _build_once(cache_dir / f"{stem}-int8.onnx", build_int8)
    return _build_once(cache_dir / f"{stem}-fp32.onnx", build_fp32)


class OnnxEncoder:
    """Encodes texts into L2-normalized float32 vectors with ONNX Runtime: the same vectors, up to rounding (fp32)
    or quantization noise (int8), as SentenceTransformer(model_dir).encode(texts, normalize_embeddings=True).
    """

    def __init__(
        self,
        model_dir: Path,
        cache_dir: Path,
        quantize: bool = True,
        max_seq_length: int = 256,
        threads: int | None = None,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        config = _read_bert_config(self.model_dir)
        if not 2 < max_seq_length <= config["max_position_embeddings"]:
            raise ValueError(
                f"max_seq_length={max_seq_length} is outside what {self.model_dir / 'config.json'} allows "
                f"(max_position_embeddings={config['max_position_embeddings']}); pass a value from 3 to "
                f"{config['max_position_embeddings']}, usually 256"
            )
        self.max_seq_length = max_seq_length
        self.dimension = int(config["hidden_size"])
        self.onnx_path = export_onnx(self.model_dir, cache_dir, quantize=quantize)

        tokenizer_path = self.model_dir / "tokenizer.json"
        if not tokenizer_path.exists():
            raise FileNotFoundError(
                f"{tokenizer_path} is missing; the ONNX encoder needs the fast-tokenizer file that "
                "sentence-transformers models ship with, or use the torch embedding backend"
            )
        # tokenizer.json may carry its own fixed padding and a shorter truncation (128 in all-MiniLM-L6-v2);
        # sentence-transformers ignores both, so they are replaced here.
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        self._counting_tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._counting_tokenizer.no_padding()
        self._counting_tokenizer.no_truncation()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads keep ONNX Runtime's default and spin briefly before they sleep: without spinning a
        # query was faster while other processes loaded the cores, but bulk encoding slower on idle ones
        # (docs/performance.md).
        self._session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        logger.info("loaded ONNX encoder %s with %d threads", self.onnx_path.name, options.intra_op_num_threads)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One L2-normalized float32 row per text, in the order given; texts beyond max_seq_length are truncated."""
        return self.encode_with_spans(texts, None, batch_size)[0]

    def encode_with_spans(self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]] | None,
                          batch_size: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:
        """The texts' vectors (as `encode`) and, when `spans` gives character spans of each text, one vector per
        span from the same pass: the mean of the span's token states, unit length ("late chunking": a sentence
        read in its passage's context, at no extra encoder cost). A span past the truncation, or with no word
        piece, gets a row of zeros."""
        texts = list(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vectors = [np.zeros((len(s), self.dimension), dtype=np.float32) for s in spans] if spans else []
        if not texts:
            return vectors, span_vectors
        encodings = self._tokenizer.encode_batch(texts)
        # Longest first, so each batch holds texts of similar length and little compute goes to padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            hidden, mask = self._hidden_states([encodings[i].ids for i in rows])
            vectors[rows] = _unit_rows((hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9))
            if spans:
                for row, i in enumerate(rows):
                    ids = encodings[i].ids
                    span_vectors[i] = _span_vectors(hidden[row, :len(ids)], encodings[i].offsets, spans[i],
                                                    self.dimension)
        return vectors, span_vectors

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, [CLS] and [SEP] included, without truncation (so chunks can be sized to fit)."""
        return [len(e.ids) for e in self._counting_tokenizer.encode_batch(list(texts))]

    def _hidden_states(self, token_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """The last hidden states of a padded batch, and its mask of real tokens (batch, tokens, 1)."""
        longest = max(len(ids) for ids in token_ids)
        input_ids = np.full((len(token_ids), longest), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(token_ids), longest), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, :len(ids)] = ids
            attention_mask[row, :len(ids)] = 1
        (hidden,) = self._session.run(
            [ONNX_OUTPUT],
            {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": np.zeros_like(input_ids)},
        )
        return hidden, attention_mask[:, :, None].astype(np.float32)


def _unit_rows(pooled: np.ndarray) -> np.ndarray:
    """Each row at unit length: sentence-transformers' Normalize module (after Pooling(mean))."""
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return (pooled / norms).astype(np.float32, copy=False)


def _span_vectors(hidden: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]],
                  dimension: int) -> np.ndarray:
    """Mean token state of each character span (the word pieces that overlap it), unit length; zeros where no
    word piece of the (possibly truncated) text falls in the span."""
    starts = np.array([a for a, _ in offsets], dtype=np.int64)
    ends = np.array([b for _, b in offsets], dtype=np.int64)
    real = ends > starts  # [CLS], [SEP] have empty offsets
    out = np.zeros((len(spans), dimension), dtype=np.float32)
    for k, (s, t) in enumerate(spans):
        picked = real & (starts < t) & (ends > s)
        if picked.any():
            out[k] = hidden[picked].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def _read_bert_config(model_dir: Path) -> dict:
    config_path = model_dir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(
            f"{config_path} is missing; point the embedding model to a sentence-transformers model folder "
            "(one that holds config.json, tokenizer.json and model.safetensors)"
        )
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("model_type") != "bert":
        raise ValueError(
            f"{config_path} has model_type={config.get('model_type')!r}, but the ONNX encoder exports only BERT "
            "models (such as all-MiniLM-L6-v2); use the torch embedding backend for this model"
        )
    return config


def _build_once(target: Path, build: Callable[[Path], Path]) -> Path:
    """`target` if it exists, else what `build` makes in a scratch folder, moved to `target`."""
    if target.exists():
        logger.debug("using cached ONNX model %s", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # The scratch folder sits beside the target and its result moves in with one os.replace, so a killed export
    # leaves at most a stray scratch folder, never a truncated model under the cached name.
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
    started = time.perf_counter()
    try:
        os.replace(build(scratch), target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("exported %s in %.1f s", target, time.perf_counter() - started)
    return target


def _model_fingerprint(model_dir: Path) -> str:
    """Hash of the model's config and weights contents, the export recipe and the runtime that fuses the graph."""
    import onnxruntime

    weights = next((model_dir / name for name in WEIGHT_FILES if (model_dir / name).exists()), None)
    if weights is None:
        raise FileNotFoundError(
            f"{model_dir} holds no weights file ({' or '.join(WEIGHT_FILES)}); point the embedding model to a "
            "complete sentence-transformers model folder"
        )
    digest = hashlib.sha256(f"{EXPORT_RECIPE}|onnxruntime {onnxruntime.__version__}|".encode())
    for path in (model_dir / "config.json", weights):
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _export_fp32(model_dir: Path, path: Path) -> Path:
    import torch
    from transformers import AutoModel

    class BertHiddenStates(torch.nn.Module):
        """BertModel's last hidden state, with the padding mask built here rather than by transformers."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            batch, length = input_ids.shape
            # The classic BERT additive mask (0 for tokens, float min for padding): traced, it has no
            # data-dependent branches, and ONNX Runtime's optimizer recognizes it and fuses attention.
            keep = attention_mask[:, None, None, :].expand(batch, 1, length, length).to(hidden.dtype)
            drop = 1.0 - keep
            bias = drop.masked_fill(drop.to(torch.bool), torch.finfo(hidden.dtype).min)
            return self.bert.encoder(hidden, attention_mask=bias).last_hidden_state

    # Eager attention traces to plain MatMul/Softmax nodes, which ONNX Runtime's optimizer can fuse.
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    module = BertHiddenStates(bert).eval()
    example = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*ONNX_INPUTS, ONNX_OUTPUT)}
    with torch.no_grad(), warnings.catch_warnings():
        # The legacy TorchScript exporter warns that it is deprecated; the new one needs onnxscript, not installed.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example, (example != 0).long(), torch.zeros_like(example)),
            str(path),
            dynamo=False,
            input_names=list(ONNX_INPUTS),
            output_names=[ONNX_OUTPUT],
            dynamic_axes=dynamic,
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
        )
    return path


def _optimize(raw: Path, path: Path, config: dict) -> Path:
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,
    )
    fused = {name: count for name, count in model.get_fused_operator_statistics().items() if count}
    if not fused.get("Attention"):
        # Still correct, only slower; a newer transformers may have changed the traced graph.
        logger.warning("ONNX Runtime did not fuse attention in %s (fused: %s)", raw.name, fused)
    model.save_model_to_file(str(path))
    return path


def _quantize(source: Path, path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Chosen by cosine to sentence-transformers on long texts (docs/performance.md): per-channel weight scales
    # keep the vectors far closer than per-tensor ones; reduce_range (7-bit weights) was no better; uint8
    # weights and fp32 attention were slower for a negligible gain.
    # The embedding tables stay fp32: they are lookups, so int8 there only shrinks the file and costs quality.
    # DefaultTensorType lets shape inference pass the fused contrib ops (Attention, SkipLayerNormalization).
    # quantize_dynamic advises, on the root logger, a shape pre-processing pass; the graph is already optimized
    # and shaped, so the advice would only alarm whoever reads the app's log.
    def not_preprocessing_advice(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")

    # It also installs a handler on the root logger (a logging.basicConfig in a module it imports), after which
    # every library's debug records (bm25s's, say) reached stderr; the root logger is put back as it was.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.addFilter(not_preprocessing_advice)
    try:
        quantize_dynamic(
            str(source),
            str(path),
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            reduce_range=False,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": 1},
        )
    finally:
        root.removeFilter(not_preprocessing_advice)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return path
