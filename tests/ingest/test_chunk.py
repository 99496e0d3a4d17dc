"""Chunking: within the model window, on sentence boundaries, with overlap, offsets and stable ids."""
from qa.ingest.chunk import Chunker, split_sentences, split_units
from qa.ingest.load import Article, load_corpus
from tests.seed import SEED_CORPUS


def article(text: str, title: str = "T") -> Article:
    return Article(article_id="a.md", title=title, text=text, path="a.md")


def test_sentences_do_not_break_at_abbreviations_or_prices():
    text = "Rules start Aug. 1. The token trades at $3.48 at 10 a.m. (UTC) today. stWEMIX is a token. Done."
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Rules start Aug. 1.", "The token trades at $3.48 at 10 a.m. (UTC) today.", "stWEMIX is a token.", "Done."]


def test_a_list_stays_one_unit_with_its_lead_in():
    text = "Intro sentence.\n\nLEAP stands for:\n\n- Legal\n- Expanding\n- Advancing\n- People\n\nAfter."
    units = split_units(text)
    assert [(u.kind, text[u.start:u.end]) for u in units] == [
        ("sentence", "Intro sentence."),
        ("list", "LEAP stands for:\n\n- Legal\n- Expanding\n- Advancing\n- People"),
        ("sentence", "After."),
    ]


def test_chunks_fit_the_window_and_map_back_to_the_article(embedder):
    chunker = Chunker(embedder.count_tokens, max_tokens=120, overlap=1)
    for art in load_corpus(SEED_CORPUS).articles:
        chunks = chunker.chunk(art)
        assert len(chunks) >= 2
        for chunk in chunks:
            assert chunk.text == art.text[chunk.start:chunk.end]
            assert embedder.count_tokens([chunk.embedding_text])[0] <= 120 + 2
        # every sentence of the article is in some chunk
        covered = set()
        for chunk in chunks:
            covered.update(range(chunk.start, chunk.end))
        for unit in split_units(art.text):
            assert unit.start in covered


def test_neighbouring_chunks_overlap_by_one_sentence(embedder):
    text = " ".join(f"Sentence number {i} talks about the stablecoin regime in some detail." for i in range(40))
    chunks = Chunker(embedder.count_tokens, max_tokens=64, overlap=1).chunk(article(text))
    for previous, following in zip(chunks, chunks[1:]):
        assert following.start < previous.end  # shared text
        assert text[following.start:previous.end].count(".") == 1


def test_overlong_sentence_is_split_not_truncated(embedder):
    text = "The regulator said " + " ".join(f"clause{i}" for i in range(600)) + "."
    chunks = Chunker(embedder.count_tokens, max_tokens=200, overlap=0).chunk(article(text))
    assert len(chunks) > 2
    assert all(embedder.count_tokens([c.embedding_text])[0] <= 256 for c in chunks)
    assert "".join(c.text.replace(" ", "") for c in chunks) == text.replace(" ", "")


def test_chunk_ids_are_deterministic(embedder):
    art = load_corpus(SEED_CORPUS).articles[0]
    chunker = Chunker(embedder.count_tokens)
    first, second = chunker.chunk(art), chunker.chunk(art)
    expected_ids = [f"{art.article_id}::{i}" for i in range(len(first))]
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second] == expected_ids
    assert all(c.title == art.title and c.published == art.published for c in first)
