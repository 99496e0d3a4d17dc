"""The default extractive answerer: the retrieved passages' best sentences, scored by similarity, coverage of the
question's words and the kind of thing asked, with hand-set weights and an evidence threshold; the exact answer
(`short_answer`) is the span reader's (qa/answer/neural.py) best span inside the chosen sentences.

Its sentence choice was calibrated on the development questions (tests/eval/seed_questions.jsonl); on held-out
SQuAD 2.0 it measures better than both readers deciding alone (`QA_READER=neural`, `QA_READER=fitted`) and on
the seed articles far better, so it stays the default until a reader beats it on both (docs/evaluation.md).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.answer.extractive import (
    EXTRACTIVE_MODE,
    MAX_UNITS,
    MAX_WORDS,
    Answer,
    AnswerSentence,
    Citation,
    _limit_words,
    _word_count,
    abstain_notice,
    cite,
    content_terms,
    lead_sentence,
    render_answer,
    retrieved_summary,
)
from qa.answer.neural import NeuralReader
from qa.answer.reader import FACT_KINDS, AnswerSpan, question_kind
from qa.index.embed import Embedder
from qa.ingest.chunk import split_units
from qa.ingest.jurisdictions import same_place
from qa.search.retrieve import Hit
from qa.text import bm25_terms

logger = logging.getLogger(__name__)

# Calibrated on the development questions: abstain below this evidence score.
DEFAULT_THRESHOLD = 0.32

# The word a question asks about: "what price", "which exchange", "how many users".
_FOCUS = re.compile(r"\b(?:what|which|whose|how many|how much)\s+(?:of\s+the\s+|the\s+|a\s+)?([a-z][\w-]+)", re.I)

# Words that shape a question but name nothing a passage should contain.
_QUESTION_WORDS = set(bm25_terms(
    "what which who whom whose when where why how did do does done is are was were been being would could should "
    "can may might must shall has have had each any both either about name named kind kinds type sort many much "
    "whether besides so far it its they their theirs them from out up under over onto than there those"
))
# Capitalised words that are not names when they start a clause of a question.
_NAME_STOPWORDS = {"i", "what", "which", "who", "when", "where", "why", "how", "is", "are", "was", "were", "do",
                   "does", "did", "the", "a", "an", "in", "on", "and", "or", "name"}
# "When ..." opening a question or a clause ("... issuers? and when does it start?"), not "... when it fails".
_WHEN = re.compile(r"(?:^|[?.!:]\s*|\b(?:and|but|so)\s+)\W*(?:by |since |until |from )?when\b"
                   r"|\b(?:what|which) (?:date|day|month|year)\b", re.I)
_WHO = re.compile(r"^\W*(?:who|whom)\b", re.I)
# Two or more capitalised words in a row, "Justice Linda Chan", "Alex Mashinsky": a name, once a leading
# function word ("In February") is dropped.
_PROPER_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+")
_NOT_NAME_START = {"The", "In", "On", "At", "A", "An", "This", "That", "It", "For", "With", "As", "By", "From", "If",
                   "When", "While", "Although", "But", "And", "Its", "Their", "His", "Her"}
_WHAT_TIME = re.compile(r"\bwhat time\b", re.I)
_HOW_LONG = re.compile(r"\bhow long\b", re.I)
_HOW_MANY = re.compile(r"\b(how (?:many|much|big|large)|at what price"
                       r"|what (?:[\w’'-]+ ){0,4}?(?:share|percentage|percent|price|amount|number|size|rate|ratio|fee"
                       r"|cost|volume|minimum|maximum)\b)", re.I)
_LIST = re.compile(r"\b(what are|which are|list|name the|stand for|stands for|two|three|four|five|what kinds"
                   r"|which kinds)\b", re.I)
_NOT_PLURAL = r"(?!(?:does|was|is|has)\b)"
_PLURAL_ASK = re.compile(rf"\b(?:which|what)\s+(?:{_NOT_PLURAL}[\w-]+\s+){{0,2}}{_NOT_PLURAL}[a-z]+[^siu’'\s]s\b", re.I)
_DATE_TEXT = re.compile(r"\b(19|20)\d\d\b|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s*\d"
                        r"|\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
                        r"|\b(last|next|this) "
                        r"(week|month|year|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
                        r"|\bquarter\b|\bsince\b")
_TIME_TEXT = re.compile(r"\b\d{1,2}(?::\d\d)?\s*(?:a\.m\.|p\.m\.|am\b|pm\b)|\b(?:UTC|GMT|noon|midnight)\b", re.I)
_DURATION_TEXT = re.compile(r"\b(?:second|minute|hour|day|week|month|year)s?\b", re.I)
_NUMBER_TEXT = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?"
                          r"|thousands?|millions?|billions?|half|third|quarter)\b", re.I)
_PRICE = re.compile(r"\b(price|priced|cost|costs|worth|valued?|how much)\b", re.I)
_MONEY_TEXT = re.compile(r"[$€£¥₩]\s?\d|\d\s?(USD|USDT|won|dollars?|euros?)\b", re.I)
# A version such as "Policy Statement 2.0" is part of a name, not a figure.
_VERSION = re.compile(r"\b[A-Z][\w-]* \d+\.\d+\b")
# How the sentences of the answer are chosen after the best one (see ExtractiveAnswerer._select).
SELECT_GAIN = 0.5  # credit for the weighted share of question words a sentence adds to the answer
SELECT_FOLLOWS = 0.08  # credit for the sentence right after a chosen one
SELECT_MARGIN = 0.1  # a further sentence must score within this of the best one, credits included


@dataclass
class _Unit:
    hit_rank: int
    hit: Hit
    start: int  # offsets within the chunk's text
    end: int
    kind: str
    text: str
    score: float = 0.0
    similarity: float = 0.0
    coverage: float = 0.0
    terms: frozenset = frozenset()  # content terms of the sentence
    context: frozenset = frozenset()  # ... and of its article's title

    @property
    def position(self) -> tuple[str, int]:
        """Where the unit starts in its article: the same sentence in two overlapping chunks is one unit."""
        return self.hit.chunk.article_id, self.hit.chunk.start + self.start

    @property
    def article_end(self) -> int:
        return self.hit.chunk.start + self.end


def unit_vectors(embedder: Embedder, units: Sequence[_Unit]) -> np.ndarray:
    """Each unit's vector: the one stored with its chunk at reindex time (read in the chunk's context), else the
    encoding of its article's title and text (an index that stores none: the encoder's time on a first question)."""
    stored = [(u.hit.sentence_vectors or {}).get((u.start, u.end)) for u in units]
    missing = [i for i, v in enumerate(stored) if v is None]
    if missing:
        fresh = embedder.encode([f"{units[i].hit.chunk.title}\n{units[i].text}" for i in missing])
        for i, vector in zip(missing, fresh):
            stored[i] = vector
    return np.stack(stored).astype(np.float32, copy=False)


def _plain_terms(text: str) -> set[str]:
    """Stemmed words without stop words and question words (the generic vocabulary kept)."""
    return set(bm25_terms(text)) - _QUESTION_WORDS


def question_terms(question: str) -> set[str]:
    """The content words of a question that a passage answering it should contain."""
    return content_terms(question) - _QUESTION_WORDS


def question_names(question: str) -> list[str]:
    """Names and figures the question mentions (capitalised words after its first, acronyms, numbers)."""
    words = re.findall(r"[\w.-]+", re.sub(r"[’']s\b", "", question))
    names = []
    for i, word in enumerate(words):
        word = word.strip(".-")
        if not word:
            continue
        if re.fullmatch(r"\d[\d,.]*", word) or re.fullmatch(r"[A-Z][A-Za-z]*[A-Z][A-Za-z]*", word):
            names.append(word)  # a number, or an acronym / camel-case brand like SEC, MiCA, stWEMIX
        elif i > 0 and word[0].isupper() and word.lower() not in _NAME_STOPWORDS:
            names.append(word)
    return names


class HeuristicAnswerer:
    """Composes the answer from the retrieved passages' own sentences, each with its `[n]` marker.

    Every sentence (a list with its lead-in counts as one) of the retrieved passages is scored by its
    similarity to the question (read with its article's title), the share of the question's content words
    it and its title contain (rare words count more), the rank of its passage, and whether it holds what the
    question asks for (a date, a number, a list). The best sentence opens the answer; up to two more follow
    when they score close to it once credited for question words the answer still lacks and for continuing
    a chosen sentence.

    The answer abstains when the evidence (similarity and coverage of the question's words by the answer)
    is below `abstain_threshold`, when the passages never mention a name or figure of the question, or when
    the question asks for a number or date and the answer holds none.
    """

    mode = EXTRACTIVE_MODE

    def __init__(self, embedder: Embedder, abstain_threshold: float | None = None,
                 reader: NeuralReader | None = None):
        self.embedder = embedder
        self.abstain_threshold = DEFAULT_THRESHOLD if abstain_threshold is None else abstain_threshold
        self._reader = reader
        self._reader_lock = threading.Lock()

    @property
    def reader(self) -> NeuralReader:
        """The span reader (qa/answer/neural.py), which finds the exact answer in the sentences this answerer
        chose."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = NeuralReader.from_settings(self.embedder.settings)
        return self._reader

    def warm_up(self) -> None:
        """Load the span reader now, so that the first question does not wait."""
        self.reader.warm_up()

    def answer(self, question: str, hits: Sequence[Hit], query_vector: np.ndarray | None = None) -> Answer:
        started = time.perf_counter()
        units = self._units(hits)
        if not units:
            return self._abstain(question, hits, 0.0, started)
        if query_vector is None:
            query_vector = self.embedder.encode([question], use_cache=False)[0]
        vectors = unit_vectors(self.embedder, units)
        similarities = vectors @ query_vector
        q_terms = question_terms(question)
        weights = _term_weights(q_terms, units)
        wants = _wanted(question)
        focus = content_terms(" ".join(m.group(1) for m in _FOCUS.finditer(question)))
        for unit, similarity in zip(units, similarities):
            unit.similarity = float(similarity)
            unit.coverage = _coverage(q_terms & unit.context, weights)
            unit.score = (0.5 * unit.similarity + 0.4 * unit.coverage + 0.03 / (1 + unit.hit_rank)
                          + _type_bonus(wants, focus, unit, question))
        ranked = sorted(units, key=lambda u: -u.score)
        chosen = self._select(ranked, units, q_terms, weights)
        evidence = self._evidence(question, chosen, units, q_terms, weights, wants)
        if evidence < self.abstain_threshold:
            return self._abstain(question, hits, evidence, started)
        span, anchor = self._span(question, chosen)
        answer = self._compose(question, chosen, hits, evidence, anchor, span)
        answer.timings_ms["answer"] = round((time.perf_counter() - started) * 1000, 2)
        return answer

    def _units(self, hits: Sequence[Hit]) -> list[_Unit]:
        units: list[_Unit] = []
        seen: set[tuple[str, int]] = set()
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            title_terms = content_terms(chunk.title)
            for span in split_units(chunk.text):
                if span.kind == "heading":
                    continue
                unit = _Unit(rank, hit, span.start, span.end, span.kind, chunk.text[span.start:span.end])
                if unit.position in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add(unit.position)
                unit.terms = frozenset(content_terms(unit.text))
                unit.context = unit.terms | title_terms
                units.append(unit)
        return units

    @staticmethod
    def _select(ranked: list[_Unit], units: list[_Unit], q_terms: set[str], weights: dict[str, float]) -> list[_Unit]:
        best = ranked[0]
        chosen = [best]
        words = _word_count(best.text)
        covered = set(best.context & q_terms)
        while len(chosen) < MAX_UNITS:
            ends = {(u.hit.chunk.article_id, u.article_end) for u in chosen}
            candidates = []
            for unit in ranked[1:]:
                if unit in chosen or words + _word_count(unit.text) > MAX_WORDS:
                    continue
                gain = _coverage((unit.context & q_terms) - covered, weights)
                follows = any(a == unit.hit.chunk.article_id and 0 <= unit.position[1] - end <= 2
                              for a, end in ends)
                candidates.append((unit.score + SELECT_GAIN * gain + (SELECT_FOLLOWS if follows else 0.0), unit))
            if not candidates:
                break
            value, unit = max(candidates, key=lambda c: c[0])
            if value < best.score - SELECT_MARGIN:
                break
            chosen.append(unit)
            covered |= unit.context & q_terms
            words += _word_count(unit.text)
        # Read in the order of the articles: by passage rank, then position in the passage.
        return sorted(chosen, key=lambda u: (u.hit_rank, u.start))

    def _span(self, question: str, chosen: list[_Unit]) -> tuple[AnswerSpan | None, _Unit]:
        """The span reader's most confident answer inside the chosen sentences (it reads only their passages),
        and the sentence that holds it; else no span and the best chosen sentence."""
        passages = list({id(u.hit): u.hit for u in sorted(chosen, key=lambda u: -u.score)}.values())
        for span in self.reader.spans(question, passages):
            for unit in chosen:
                if unit.hit is span.hit and unit.start <= span.start and span.end <= unit.end:
                    return dataclasses.replace(span, hit_rank=unit.hit_rank, sentence_start=unit.start,
                                               sentence_end=unit.end), unit
        return None, max(chosen, key=lambda u: u.score)

    @staticmethod
    def _evidence(question: str, chosen: list[_Unit], units: list[_Unit], q_terms: set[str],
                  weights: dict[str, float], wants: set[str]) -> float:
        """How sure the passages answer the question: 0 when they miss a name or figure it mentions, or
        when it asks for a number or date and the answer has none."""
        passages = " ".join({u.hit.chunk.chunk_id: f"{u.hit.chunk.title} {u.hit.chunk.text}" for u in units}.values())
        if names_missing(question, passages):
            return 0.0
        # What the question asks for must be in the best sentence: had another sentence held it, that one would
        # have scored higher (see `_type_bonus`).
        anchor = _VERSION.sub("", max(chosen, key=lambda u: u.score).text)
        if ("number" in wants and not _NUMBER_TEXT.search(anchor)) \
                or ("date" in wants and not _DATE_TEXT.search(anchor)) \
                or ("time" in wants and not _TIME_TEXT.search(anchor)):
            return 0.0
        if "person" in wants and not any(new_names(u.text, question) for u in chosen):
            return 0.0
        # An answer that shares nothing with the question but its names is about the right thing, not an
        # answer to it ("Who is the chief executive of X?" answered by a sentence about X).
        asked = _plain_terms(question) - _plain_terms(" ".join(question_names(question)))
        if len(asked) >= 2 and not asked & _plain_terms(" ".join(u.text for u in chosen)):
            return 0.0
        answer_terms = set().union(*(u.context for u in chosen))
        best_similarity = max(u.similarity for u in chosen)
        return 0.5 * best_similarity + 0.5 * _coverage(q_terms & answer_terms, weights)

    def _compose(self, question: str, chosen: list[_Unit], hits: Sequence[Hit], evidence: float,
                 anchor: _Unit, span: AnswerSpan | None = None) -> Answer:
        """The chosen sentences with their `[n]` markers. With `span` (the span reader's best answer span in
        `anchor`, the chosen sentence that holds it), `short_answer` names it and, where the question asks for one fact
        (a date, a person, an amount...), the answer leads with it, then its sentence and at most one more of
        the chosen ones."""
        fact = span is not None and question_kind(question) in FACT_KINDS
        if fact:
            # The span, its sentence, and at most the best of the others (MAX_UNITS sentences in all).
            chosen = [anchor] + sorted((u for u in chosen if u is not anchor), key=lambda u: -u.score)[:MAX_UNITS - 2]
        citations: dict[str, Citation] = {}
        sentences: list[AnswerSentence] = []
        for unit in chosen:
            citation = cite(citations, unit.hit)
            citation.highlights.append((unit.start, unit.end))
            text = _limit_words(unit.text, MAX_WORDS)
            sentences.append(AnswerSentence(text=text, citations=[citation.n], supported=True))
        short = None
        if span is not None:
            cited = citations[span.hit.chunk.chunk_id]
            cited.answer_span = (span.start, span.end)
            short = {"text": span.text, "n": cited.n, "start": span.start, "end": span.end}
            if fact:
                sentences.insert(0, AnswerSentence(text=lead_sentence(span.text), citations=[cited.n]))
        return Answer(
            question=question,
            answer=render_answer(sentences),
            abstained=False,
            mode=self.mode,
            citations=list(citations.values()),
            retrieved=retrieved_summary(hits),
            timings_ms={},
            sentences=sentences,
            evidence=evidence,
            short_answer=short,
            confidence=min(1.0, max(0.0, evidence)),
        )

    def _abstain(self, question: str, hits: Sequence[Hit], evidence: float, started: float) -> Answer:
        return Answer(
            question=question,
            answer=abstain_notice(question, question_kind(question)),
            abstained=True,
            mode=self.mode,
            citations=[],
            retrieved=retrieved_summary(hits),
            timings_ms={"answer": round((time.perf_counter() - started) * 1000, 2)},
            evidence=evidence,
            confidence=min(1.0, max(0.0, evidence)),
        )


def _wanted(question: str) -> set[str]:
    """What kind of answer the question asks for: a date, a time, a duration, a number, a list."""
    wants = set()
    if _WHEN.search(question):
        wants.add("date")
    if _WHAT_TIME.search(question):
        wants.add("time")
    if _WHO.search(question) or question_kind(question) == "person":
        wants.add("person")
    if _HOW_LONG.search(question):
        wants.add("duration")
    if _HOW_MANY.search(question):
        wants.add("number")
    if _PRICE.search(question):
        wants.add("money")
    if _LIST.search(question) or _PLURAL_ASK.search(question):
        wants.add("list")
    return wants


def _type_bonus(wants: set[str], focus: set[str], unit: _Unit, question: str) -> float:
    """Credit for holding what the question asks for: its focus word ("what price"), a date, a figure, ..."""
    bonus = 0.06 if focus & unit.terms else 0.0
    if "money" in wants and _MONEY_TEXT.search(unit.text):
        bonus += 0.08
    if "person" in wants and new_names(unit.text, question):
        bonus += 0.12
    if "date" in wants and _DATE_TEXT.search(unit.text):
        bonus += 0.08
    if "time" in wants and _TIME_TEXT.search(unit.text):
        bonus += 0.1
    if "duration" in wants and _DURATION_TEXT.search(unit.text):
        bonus += 0.06
    if "number" in wants and _NUMBER_TEXT.search(unit.text):
        bonus += 0.06
    if "list" in wants:
        if unit.kind == "list":
            bonus += 0.12
        elif unit.text.count(",") >= 2 or re.search(r",[^,]+\b(and|or)\b", unit.text):
            bonus += 0.04  # an enumeration inside a sentence
    return bonus


def new_names(text: str, question: str) -> list[str]:
    """Names of two or more capitalised words in the text that the question does not mention."""
    names = []
    for match in _PROPER_NAME.findall(text):
        words = match.split(" ")
        while words and words[0] in _NOT_NAME_START:
            words = words[1:]
        if len(words) >= 2 and " ".join(words) not in question:
            names.append(" ".join(words))
    return names


def _term_weights(q_terms: set[str], units: Sequence[_Unit]) -> dict[str, float]:
    """Inverse sentence frequency of each question word among the passages: a word every passage has says
    little about which sentence answers; a word no passage has weighs most."""
    n = len(units)
    return {t: math.log(1 + n / (1 + sum(t in u.context for u in units))) for t in q_terms}


def _coverage(terms: set[str], weights: dict[str, float]) -> float:
    total = sum(weights.values())
    return sum(weights[t] for t in terms if t in weights) / total if total else 0.0


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[’'](s\b)?", " ", text.lower()).split())


def names_missing(question: str, passages: str) -> list[str]:
    """The names and figures of the question that the passages never mention (word-bounded, any case)."""
    folded = f" {_fold(passages)} "
    missing = []
    for name in question_names(question):
        options = "|".join(re.escape(_fold(o)) for o in (name, *same_place(name)))
        if not re.search(rf"(?<!\w)(?:{options})(?!\w)", folded):
            missing.append(name)
    return missing
