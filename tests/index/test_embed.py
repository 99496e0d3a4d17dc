"""The encoder's contract: an empty input has the model's width, a model is known by its weights' contents,
and questions never grow the embedding cache on disk."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from qa.index.embed import Embedder, EmbeddingCache, MemoryVectorCache, resolve_model_dir
from qa.pipeline import Pipeline

PACKAGED = "packaged:all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def narrow_model_dir(tmp_path_factory):
    """A real (tiny, untrained) BERT sentence-transformers model whose vectors are 32 wide, not 384."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    packaged = resolve_model_dir(PACKAGED)
    folder = tmp_path_factory.mktemp("narrow-model")
    bert = folder / "bert"
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(bert)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(packaged / name, bert / name)
    word = models.Transformer(str(bert), max_seq_length=256)
    model = SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension())], device="cpu")
    model.save(str(folder / "st"))
    return folder / "st"


def test_encoding_no_texts_gives_an_empty_array_as_wide_as_the_model(make_settings, narrow_model_dir):
    embedder = Embedder(make_settings(embedding_model=str(narrow_model_dir)), use_cache=False)

    vectors = embedder.encode([])

    assert vectors.shape == (0, 32) == (0, embedder.encode(["one text"]).shape[1])


def test_retrained_weights_of_the_same_size_get_another_model_key(make_settings, tmp_path):
    packaged = resolve_model_dir(PACKAGED)
    retrained = tmp_path / packaged.name
    shutil.copytree(packaged, retrained)
    weights = retrained / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one weight changed, same size
    weights.write_bytes(bytes(data))

    original_key = Embedder(make_settings(), use_cache=False).model_key
    retrained_key = Embedder(make_settings(embedding_model=str(retrained)), use_cache=False).model_key

    assert retrained_key != original_key


def test_the_same_weights_in_another_folder_of_that_name_keep_their_model_key(make_settings, tmp_path):
    packaged = resolve_model_dir(PACKAGED)
    copy = tmp_path / packaged.name
    shutil.copytree(packaged, copy)

    assert Embedder(make_settings(embedding_model=str(copy)), use_cache=False).model_key == \
        Embedder(make_settings(), use_cache=False).model_key


def test_asking_questions_leaves_the_embedding_cache_on_disk_as_it_was(seed_pipeline, seed_settings, tmp_path):
    embedder = Embedder(seed_settings)
    embedder.cache = EmbeddingCache(tmp_path / "embeddings.sqlite", embedder.model_key)  # empty
    pipeline = Pipeline(seed_settings, embedder=embedder)

    pipeline.ask("What incentive does Hong Kong plan for tokenized ETFs?")
    pipeline.ask("Which token was listed on BitMart?")

    assert embedder.cache.count() == 0
    assert len(embedder.memory) > 0  # the passages' sentences, kept for this process only


def test_the_in_memory_cache_forgets_the_least_recently_used_vectors_beyond_its_capacity():
    cache = MemoryVectorCache(capacity=2)
    cache.put_many([b"a", b"b"], np.eye(2, dtype=np.float32))
    cache.get_many([b"a"])  # "a" used again: "b" is now the oldest

    cache.put_many([b"c"], np.ones((1, 2), dtype=np.float32))

    assert sorted(cache.get_many([b"a", b"b", b"c"])) == [b"a", b"c"]


def test_the_default_int8_encoder_moves_a_text_only_a_little_with_its_batch(make_settings):
    """int8 ONNX (the default backend) quantizes activations per batch: the same text encoded beside others
    gets a slightly different vector. Retrieval quality measured with it is in bench/results.md
    (`onnx_ndcg_drop`); here, the size of the effect stays small."""
    embedder = Embedder(make_settings())
    assert embedder.backend == "onnx"
    text = "Hong Kong plans a stamp duty waiver for tokenized ETFs."
    others = ["South Korea may allow initial coin offerings again after banning them in 2017, subject to rules "
              "on investor protection and disclosure.", "ICO", "A stablecoin issuer needs a licence."]
    alone = embedder.encode([text], use_cache=False)[0]
    memory = type(embedder.memory)()
    embedder.memory = memory
    in_batch = embedder.encode([text, *others], use_cache=False)[0]
    assert float(alone @ in_batch) > 0.99
