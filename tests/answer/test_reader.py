"""Specification of the reader: what a question asks for, which span it reads from small hand-made
passages (real embedding model, real spaCy pipeline, the committed fitted weights), and when it abstains."""
import pytest

from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.reader import _LRU, LABELS, Reader, ReaderWeights, question_kind
from qa.ingest.load import Article
from tests.answer_articles import hits_for

GATECOIN = Article(
    article_id="gatecoin.md", title="Hong Kong Deems Crypto as Property", path="gatecoin.md",
    text=("A Hong Kong judge has determined cryptocurrency as being property capable of being held in trust. "
          "Presiding over the case, Justice Linda Chan stated that Hong Kong takes a broad definition of property. "
          "Gatecoin announced that it would commence the liquidation of the business in 2019."),
)
BITMART = Article(
    article_id="bitmart.md", title="WEMIX’s staked token listed on BitMart exchange", path="bitmart.md",
    text=("Established in 2018, BitMart offers futures contracts and spot trading. The token was listed for trading "
          "on the exchange last Friday and is priced at $3.48. Users can redeem their funds after the period is "
          "over, and the principal is paid to their wallets without extra fees."),
)


@pytest.fixture(scope="module")
def reader(embedder):
    return Reader(embedder)


@pytest.fixture(scope="module")
def hits(embedder):
    return hits_for(embedder, GATECOIN, BITMART)


@pytest.mark.parametrize("question, kind", [
    ("When was the 2022 Super Bowl played?", "date"),
    ("In what year did Gatecoin close?", "date"),
    ("Who presided over the case?", "person"),
    ("Where is the exchange based?", "place"),
    ("Which company issued the token?", "org"),
    ("How much does the token cost?", "money"),
    ("What percentage of users redeemed?", "percent"),
    ("How many exchanges list the token?", "number"),
    ("How long is the staking period?", "duration"),
    ("What is a stablecoin?", "definition"),
    ("Which sectors are candidates for tokenization?", "list"),
    ("Why did the court rule so?", "other"),
])
def test_question_kind_comes_from_the_wh_word_and_its_noun(question, kind):
    assert question_kind(question) == kind


def test_weights_file_names_what_it_was_fitted_on():
    weights = ReaderWeights.load()
    assert 0 < weights.threshold < 1
    # The class x label association is learned: the fitted candidate model has weights for the crosses.
    assert any(f.startswith("kind=date&label=") for f in weights.candidate.features)


def test_reads_the_year_asked_for_with_its_sentence_and_offsets(reader, hits):
    result = reader.read("In what year did Gatecoin start liquidating its business?", hits)
    best = result.answers[0]
    assert best.text == "2019"
    assert best.hit.chunk.text[best.start:best.end] == "2019"
    assert "liquidation" in best.sentence
    a, b = best.offsets_in_sentence
    assert best.sentence[a:b] == "2019"
    assert not result.abstain and 0 < result.confidence <= 1


def test_reads_the_person_asked_for(reader, hits):
    result = reader.read("Who was the judge in the Hong Kong property case?", hits)
    assert "Linda Chan" in result.answers[0].text
    assert result.answers[0].label in LABELS


def test_reads_the_price_asked_for(reader, hits):
    assert "3.48" in reader.read("At what price is the staked token trading?", hits).answers[0].text


def test_candidates_are_scored_between_0_and_1_best_first(reader, hits):
    answers = reader.read("Who was the judge in the Hong Kong property case?", hits, top_k=5).answers
    scores = [a.score for a in answers]
    assert len(answers) == 5 and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_no_answer_wins_when_the_passages_say_nothing_about_the_question(reader, hits):
    result = reader.read("What is the boiling point of liquid nitrogen in Kelvin?", hits)
    assert result.abstain and result.no_answer > 1 - result.threshold


def test_extractive_answer_leads_with_the_span_then_its_cited_sentence(embedder, reader, hits):
    answer = ExtractiveAnswerer(embedder, reader=reader).answer(
        "In what year did Gatecoin start liquidating its business?", hits)
    assert answer.answer.startswith("2019. [1]")
    short = answer.short_answer
    cited = next(c for c in answer.citations if c.n == short["n"])
    assert cited.text[short["start"]:short["end"]] == short["text"] == "2019"
    assert answer.to_json()["short_answer"] == short and 0 < answer.to_json()["confidence"] <= 1


def test_abstention_says_what_was_looked_for_and_keeps_the_closest_articles(embedder, reader, hits):
    answer = ExtractiveAnswerer(embedder, reader=reader).answer("When did the Moon landing happen in Kenya?", hits)
    assert answer.abstained and answer.short_answer is None and answer.citations == []
    assert answer.answer == 'No date for "Moon landing happen in Kenya" was found in the indexed articles.'
    assert GATECOIN.title in [r["title"] for r in answer.retrieved]


def test_per_sentence_cache_is_bounded():
    cache = _LRU(2)
    for key in "abc":
        cache.put(key, key)
    assert cache.get("a") is None and cache.get("c") == "c" and len(cache.items) == 2
