"""One question's path through the app: check the question, make it standalone, retrieve, answer.

The CLI and the Streamlit UI both build one `Pipeline` and call it; neither adds logic of its own.
"""
from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from qa.answer.extractive import Answer, ExtractiveAnswerer
from qa.answer.generate import GenerativeAnswerer
from qa.answer.heuristic import HeuristicAnswerer
from qa.answer.neural import NeuralReader
from qa.errors import LLMError, QuestionError
from qa.index.backends import index_backend
from qa.index.embed import Embedder
from qa.index.reindex import ProgressCallback, ReindexReport, reindex
from qa.search.filters import Filters
from qa.search.retrieve import IndexReader, Retriever
from qa.settings import Settings

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
_FOLLOW_UP = re.compile(r"^(and|also|what about|how about|but|so|then)\b|\b(it|its|they|their|them|this|that|these|"
                        r"those|he|she|his|her)\b", re.I)


@dataclass
class IndexStatus:
    articles: int
    chunks: int
    last_reindex: str | None
    generation: str | None
    problems: list[str]


def clean_question(question: str) -> tuple[str, str | None]:
    """The question without control characters, shortened if huge; a notice says what was changed."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    # Control characters separate words; invisible format characters (zero-width spaces, direction marks,
    # lone surrogates from undecodable input) are dropped, as they often sit inside words copied from the web.
    text = "".join(" " if unicodedata.category(ch) == "Cc" else "" if unicodedata.category(ch)[0] == "C" else ch
                   for ch in question)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty; type a question about digital-asset policy")
    if not re.search(r"\w", text):
        raise QuestionError("the question has no words; type a question about digital-asset policy")
    notices = []
    if len(text) > MAX_QUESTION_CHARS:
        text = text[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]
        notices.append(f"the question was {len(question):,} characters long; only its first {len(text):,} were used")
    letters = [ch for ch in text if ch.isalpha()]
    if sum("LATIN" not in unicodedata.name(ch, "") for ch in letters) > len(letters) / 2:
        notices.append("the embedding model and the articles are in English, so questions in other languages "
                       "are matched poorly; ask in English for better answers")
    return text, "; ".join(notices) or None


def is_follow_up(question: str) -> bool:
    return len(question.split()) <= 10 and bool(_FOLLOW_UP.search(question))


def extractive_answerer(settings: Settings, embedder: Embedder) -> ExtractiveAnswerer | HeuristicAnswerer:
    """The answerer `settings.reader` names; also every LLM mode's fallback."""
    if settings.reader == "neural":
        return ExtractiveAnswerer(embedder, reader=NeuralReader.from_settings(settings, settings.abstain_threshold))
    if settings.reader == "fitted":
        return ExtractiveAnswerer(embedder, settings.abstain_threshold)
    return HeuristicAnswerer(embedder, settings.abstain_threshold)


class Pipeline:
    """Owns the heavy objects (embedding model, index reader) and answers questions with them."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder or Embedder(settings)
        self.backend = index_backend(settings)
        self.reader = IndexReader(self.backend)
        self.retriever = Retriever(settings, self.embedder, self.reader)
        self.extractive = extractive_answerer(settings, self.embedder)
        self._generative: dict[str, object] = {}

    def generative(self, llm: str) -> GenerativeAnswerer:
        if llm not in self._generative:
            self._generative[llm] = GenerativeAnswerer(self.settings, self.embedder, llm)
        return self._generative[llm]

    def standalone_question(self, question: str, history: Sequence[tuple[str, str]] = (),
                            llm: str | None = None) -> str:
        """A follow-up rewritten so that it can be retrieved on its own (the LLM's rewrite, or in extractive
        mode the previous question joined to it)."""
        user_turns = [text for role, text in history if role == "user"]
        if not user_turns:
            return question
        llm = llm or self.settings.llm
        if llm != "extractive":
            try:
                return self.generative(llm).condense(history, question)
            except LLMError as exc:
                logger.warning("could not rewrite the follow-up: %s", exc)
        if is_follow_up(question):
            return f"{user_turns[-1].rstrip('?. ')}? {question}"
        return question

    def ask(self, question: str, *, k: int | None = None, filters: Filters | None = None, llm: str | None = None,
            history: Sequence[tuple[str, str]] = ()) -> Answer:
        result = None
        for item in self.ask_stream(question, k=k, filters=filters, llm=llm, history=history):
            if isinstance(item, Answer):
                result = item
        assert result is not None
        return result

    def ask_stream(self, question: str, *, k: int | None = None, filters: Filters | None = None,
                   llm: str | None = None, history: Sequence[tuple[str, str]] = ()) -> Iterator[str | Answer]:
        """Yields the answer's text as it is generated (generative modes), then the final `Answer`."""
        started = time.perf_counter()
        llm = llm or self.settings.llm
        text, notice = clean_question(question)
        t = time.perf_counter()
        standalone = self.standalone_question(text, history, llm)
        rewrite_ms = round((time.perf_counter() - t) * 1000, 2)
        result = self.retriever.search(standalone, k=k, filters=filters)
        timings = {"rewrite": rewrite_ms, **result.timings_ms}
        timings["retrieve"] = round(sum(v for key, v in result.timings_ms.items()), 2)
        answer: Answer | None = None
        if llm == "extractive" or not result.hits:
            answer = self.extractive.answer(standalone, result.hits, result.query_vector)
        else:
            try:
                for item in self.generative(llm).stream(standalone, result.hits):
                    if isinstance(item, Answer):
                        answer = item
                    else:
                        yield item
            except LLMError as exc:
                answer = self.extractive.answer(standalone, result.hits, result.query_vector)
                notice = f"{exc}. This answer is extractive."
        answer.question = text
        answer.standalone_question = standalone
        answer.notice = "; ".join(n for n in (notice, answer.notice) if n) or None
        answer.timings_ms = {**timings, **answer.timings_ms,
                             "total": round((time.perf_counter() - started) * 1000, 2)}
        yield answer

    def reindex(self, *, full: bool = False, progress: ProgressCallback | None = None,
                show_progress: bool = False, wait: bool = False) -> ReindexReport:
        return reindex(self.settings, full=full, embedder=self.embedder, progress=progress,
                       show_progress=show_progress, wait=wait, backend=self.backend)

    def status(self) -> IndexStatus:
        current = self.backend.current_manifest()
        if current is None:
            return IndexStatus(0, 0, None, None, [])
        name, manifest = current
        return IndexStatus(
            articles=manifest["counts"]["articles"], chunks=manifest["counts"]["chunks"],
            last_reindex=manifest.get("created"), generation=name,
            problems=manifest.get("problems", []),
        )
