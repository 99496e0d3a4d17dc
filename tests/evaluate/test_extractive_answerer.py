"""Specification of the extractive answerer's calibrated signals: when it abstains and which sentences it
picks, on two small hand-made articles and the real embedding model."""
import pytest

from qa.answer.heuristic import HeuristicAnswerer, names_missing, question_names
from tests.answer_articles import BITMART, GATECOIN, hits_for


@pytest.fixture(scope="module")
def answerer(embedder):
    return HeuristicAnswerer(embedder, abstain_threshold=0.32)


@pytest.fixture(scope="module")
def hits(embedder):
    return hits_for(embedder, BITMART, GATECOIN)


def test_question_names_are_capitalised_words_acronyms_and_figures_not_the_first_word():
    assert question_names("What did the SEC's chair say about MiCA in 2021?") == ["SEC", "MiCA", "2021"]


def test_a_demonym_is_found_under_its_country_name():
    assert names_missing("What did an American court decide?", "a US court ruled") == []
    assert names_missing("What did a Japanese court decide?", "a US court ruled") == ["Japanese"]
    # The places' names come from the jurisdiction gazetteer (qa/ingest/jurisdictions.py), not a list of its own.
    assert names_missing("What did the British regulator say?", "the UK's FCA said") == []
    assert names_missing("When will Korean exchanges list it?", "South Korea's exchanges will") == []
    assert names_missing("What did the British regulator say?", "the US regulator said") == ["British"]


def test_a_name_that_is_no_place_has_no_other_names():
    assert names_missing("What did Binance announce?", "the exchange announced") == ["Binance"]


def test_answers_with_the_sentence_that_holds_the_asked_time(answerer, hits):
    answer = answerer.answer("At what time (UTC) did the token start trading on BitMart?", hits)
    assert not answer.abstained and "10 a.m." in answer.answer


def test_a_who_question_is_answered_with_the_sentence_naming_the_person(answerer, hits):
    answer = answerer.answer("Who was the judge in the Hong Kong property ruling?", hits)
    assert not answer.abstained and "Linda Chan" in answer.answer


def test_abstains_when_the_passages_never_mention_a_name_of_the_question(answerer, hits):
    assert answerer.answer("How does Singapore's MAS license crypto exchanges?", hits).abstained


def test_abstains_when_a_number_is_asked_and_the_best_sentence_has_none(answerer, hits):
    assert answerer.answer("What minimum capital must BitMart hold?", hits).abstained


def test_abstains_when_the_answer_shares_only_names_with_the_question(answerer, hits):
    # Every name is in the passages, but nothing about a chief executive is.
    assert answerer.answer("Who is the chief executive of BitMart?", hits).abstained


def test_answers_a_question_with_a_figure_it_holds(answerer, hits):
    answer = answerer.answer("In what year did Gatecoin start liquidating its business?", hits)
    assert not answer.abstained and "2019" in answer.answer and answer.citations[0].title == GATECOIN.title
