"""Specification of the span reader (`QA_READER=neural`, qa/answer/neural.py): the committed fine-tuned model run
with ONNX Runtime on two small hand-made articles, the real tokenizer and the shipped word embeddings."""
import shutil
import subprocess
import sys

import pytest

from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.neural import ONNX_PATH, NeuralReader, SpanReaderWeights, assemble_onnx
from qa.index.embed import PACKAGED_MODEL, resolve_model_dir
from tests.answer_articles import BITMART, GATECOIN, hits_for
from tests.seed import REPO_ROOT


@pytest.fixture(scope="module")
def reader(cache_dir):
    return NeuralReader(resolve_model_dir(PACKAGED_MODEL), cache_dir / "onnx")


@pytest.fixture(scope="module")
def answerer(embedder, reader):
    return ExtractiveAnswerer(embedder, reader=reader)


@pytest.fixture(scope="module")
def hits(embedder):
    return hits_for(embedder, BITMART, GATECOIN)


def test_a_date_question_is_answered_with_the_exact_span_first(answerer, hits):
    answer = answerer.answer("In what year did Gatecoin start liquidating its business?", hits)
    assert not answer.abstained
    assert answer.answer.startswith("2019.")
    short = answer.short_answer
    cited = next(c for c in answer.citations if c.n == short["n"])
    assert short["text"] == "2019" == cited.text[short["start"]:short["end"]]
    assert cited.answer_span == (short["start"], short["end"])
    # The span sits inside the highlighted supporting sentence.
    assert any(a <= short["start"] and short["end"] <= b for a, b in cited.highlights)


def test_a_who_question_is_answered_with_the_person(answerer, hits):
    answer = answerer.answer("Who was the judge in the Hong Kong property ruling?", hits)
    assert not answer.abstained and "Linda Chan" in answer.short_answer["text"]
    assert answer.citations[0].title == GATECOIN.title


def test_a_price_question_is_answered_with_the_amount(answerer, hits):
    answer = answerer.answer("What is the token priced at on BitMart?", hits)
    assert not answer.abstained and answer.short_answer["text"] == "$3.48"


def test_abstains_when_the_passages_do_not_hold_the_fact(answerer, hits):
    answer = answerer.answer("Who is the chief executive of BitMart?", hits)
    assert answer.abstained
    assert answer.answer.startswith("No person for") and answer.short_answer is None and not answer.citations


def test_confidence_is_a_probability_that_orders_an_answer_above_a_miss(reader, hits):
    found = reader.read("When was BitMart established?", hits)
    missing = reader.read("Who is the chief executive of BitMart?", hits)
    assert 0.0 <= missing.confidence < found.confidence <= 1.0
    assert found.answers[0].text == "2018"


def test_no_passages_give_no_answer(reader):
    result = reader.read("When was BitMart established?", [])
    assert result.abstain and result.answers == []


def test_a_changed_model_file_is_refused_with_the_fix(tmp_path):
    changed = tmp_path / ONNX_PATH.name
    shutil.copyfile(ONNX_PATH, changed)
    with changed.open("ab") as file:
        file.write(b"\0")
    with pytest.raises(RuntimeError, match=r"does not match span_reader\.json.*restore both from git"):
        assemble_onnx(resolve_model_dir(PACKAGED_MODEL), tmp_path / "onnx", onnx_path=changed)


def test_other_word_embeddings_are_refused_with_the_fix(tmp_path):
    weights = SpanReaderWeights.load()
    weights.word_embeddings_sha256 = "0" * 64
    with pytest.raises(RuntimeError, match="not the ones the span reader was fitted with; reinstall"):
        assemble_onnx(resolve_model_dir(PACKAGED_MODEL), tmp_path / "onnx", weights=weights)


def test_reading_needs_no_torch(cache_dir):
    code = (
        "import sys\n"
        "from qa.answer.neural import NeuralReader\n"
        "from qa.index.embed import PACKAGED_MODEL, resolve_model_dir\n"
        f"r = NeuralReader(resolve_model_dir(PACKAGED_MODEL), {str(cache_dir / 'onnx')!r})\n"
        "r.warm_up()\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
