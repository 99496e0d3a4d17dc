"""`make fit-reader`'s stages on a few examples: training examples from retrieved passages, a short fine-tuning
with torch, the int8 export without the word-embedding table, and the ONNX span model put together again from
it and the shipped embeddings, which must read as the torch model does. The real model and ONNX Runtime; only
the data is small (the full fit takes about 80 minutes)."""
import onnx
import pytest

from qa.answer.neural import SpanModel, word_embedding_initializer
from qa.evaluate.fit_span_reader import best_threshold, export, fine_tune, training_examples
from qa.evaluate.qa_eval import EvalQuestion
from qa.index.embed import PACKAGED_MODEL, resolve_model_dir
from tests.answer_articles import BITMART, GATECOIN


def _question(qid, text, answerable, golds=()):
    return EvalQuestion(id=qid, question=text, answerable=answerable, gold_titles=[],
                        must_include=[list(golds)] if golds else [], kind="test")


def test_training_examples_point_at_the_first_passage_holding_a_gold_answer():
    passages = {"a": [GATECOIN.text, BITMART.text], "u": [BITMART.text, GATECOIN.text]}
    examples = training_examples([_question("a", "When was BitMart established?", True, ["2018"]),
                                  _question("u", "Who founded BitMart?", False)], passages)
    question, passage, offset, gold = examples[0]
    assert passage == BITMART.text and passage[offset:offset + len(gold)] == "2018"
    # An unanswerable question's best passage is a no-answer example.
    assert ("Who founded BitMart?", BITMART.text, -1, "") in examples


def test_the_threshold_declines_at_most_the_allowed_share_of_answerable_questions():
    questions = [_question(str(i), "q", True, ["x"]) for i in range(100)] + [_question("u", "q", False)]
    confidence = {str(i): i / 100 for i in range(100)} | {"u": 0.05}
    threshold = best_threshold(questions, confidence)
    declined = sum(confidence[q.id] < threshold for q in questions if q.answerable)
    assert declined == 12 and threshold == 0.12


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_fine_tuned_model_survives_export_without_its_word_embeddings(tmp_path):
    import torch
    from transformers import BertForQuestionAnswering, BertTokenizerFast

    base = resolve_model_dir(PACKAGED_MODEL)
    passage = GATECOIN.text
    gold = "2019"
    examples = [("When did Gatecoin start liquidating?", passage, passage.index(gold), gold),
                ("Who owns BitMart?", passage, -1, "")] * 4
    checkpoint = tmp_path / "checkpoint"
    fine_tune(base, base, examples, checkpoint, epochs=1, learning_rate=1e-4, batch_size=4, seed=0)
    onnx_path = tmp_path / "encoder-int8.onnx"
    weights = export(base, checkpoint, tmp_path / "work", onnx_path=onnx_path)

    assert not word_embedding_initializer(onnx.load(str(onnx_path)).graph)
    assert onnx_path.stat().st_size < 20_000_000  # the 47 MB fp32 table is left out

    model = SpanModel(base, tmp_path / "cache", weights, onnx_path=onnx_path)
    question = "When did Gatecoin start liquidating?"
    reading = model.read(question, [passage])[0]
    tokenizer = BertTokenizerFast.from_pretrained(str(base))
    torch_model = BertForQuestionAnswering.from_pretrained(str(checkpoint)).eval()
    with torch.no_grad():
        out = torch_model(**tokenizer(question, passage, return_tensors="pt"))
    no_answer = float(out.start_logits[0, 0] + out.end_logits[0, 0])
    # int8 weights: close to the fp32 torch model, not equal.
    assert abs(reading.no_answer - no_answer) < 0.1 * max(1.0, abs(no_answer))
    assert reading.spans and all(0 <= s < e <= len(passage) for _, s, e in reading.spans)
