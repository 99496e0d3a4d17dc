"""`qa ask` starts fast because it imports neither torch nor bm25s: the torch backend runs the model's fp32 ONNX
export, which gives sentence-transformers' vectors, and BM25 is scored from the saved matrix."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from qa.index.embed import Embedder, EmbeddingCache

TEXTS = [
    "Hong Kong plans a stamp duty waiver for tokenized ETFs.",
    "South Korea may allow ICOs again under stricter disclosure rules.",
    "The SEC rejected another spot Bitcoin ETF application, citing market manipulation concerns that the "
    "exchange had not addressed, and asked for comments on the amended filing within 21 days.",
]
HEAVY = ("torch", "sentence_transformers", "transformers", "bm25s", "scipy")


def test_torch_backend_gives_the_vectors_of_sentence_transformers(make_settings):
    from sentence_transformers import SentenceTransformer

    embedder = Embedder(make_settings(embedding_backend="torch"))
    reference = SentenceTransformer(str(embedder.model_dir), device="cpu", local_files_only=True)
    reference.max_seq_length = 256
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert embedder.backend == "torch"
    assert np.abs(embedder.encode(TEXTS, use_cache=False) - expected).max() <= 1e-5


def test_a_text_repeated_in_one_call_is_embedded_once(make_settings, tmp_path):
    embedder = Embedder(make_settings())
    embedder.cache = EmbeddingCache(tmp_path / "embeddings.sqlite", embedder.model_key)  # nothing cached yet
    seen: list[str] = []
    encode = embedder._encode
    embedder._encode = lambda texts, show: (seen.extend(texts), encode(texts, show))[1]
    vectors = embedder.encode([TEXTS[0], TEXTS[1], TEXTS[0]], use_cache=True)
    assert sorted(seen) == sorted(TEXTS[:2])
    assert np.array_equal(vectors[0], vectors[2])


def test_asking_imports_neither_torch_nor_bm25s(seed_pipeline, seed_settings):
    script = (
        "import json, sys\n"
        "from qa.cli import main\n"
        "main(['ask', 'What incentive does Hong Kong plan for tokenized ETFs?', '--json'])\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    env = {**os.environ, "QA_INDEX_DIR": str(seed_settings.index_dir), "QA_CORPUS_DIR": str(seed_settings.corpus_dir),
           "QA_CACHE_DIR": str(seed_settings.cache_dir), "QA_EMBEDDING_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    answer_json, _, imported = done.stdout.rpartition("\n[")
    assert json.loads("[" + imported) == []
    assert "stamp duty" in json.loads(answer_json)["answer"]
