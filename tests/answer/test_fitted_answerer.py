"""Specification of the fitted reader's extractive answerer (`QA_READER=fitted`): when it abstains and which sentences
it picks, on two small hand-made articles, the real embedding model and the real spaCy pipeline."""
import pytest

from qa.answer.extractive import ExtractiveAnswerer
from tests.answer_articles import BITMART, GATECOIN, hits_for


@pytest.fixture(scope="module")
def answerer(embedder):
    return ExtractiveAnswerer(embedder)


@pytest.fixture(scope="module")
def hits(embedder):
    return hits_for(embedder, BITMART, GATECOIN)


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
