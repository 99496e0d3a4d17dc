"""The Streamlit app: a chat whose every answer carries numbered sources that can be opened and checked,
plus the evaluation page. Thin: questions, reindexing and uploads all go to the `qa` library.
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
import uuid
from dataclasses import dataclass

import render
import streamlit as st
from pydantic import ValidationError

from qa.answer.extractive import Answer
from qa.errors import QAError
from qa.feedback import record_feedback
from qa.index.embed import Embedder
from qa.index.reindex import ReindexReport
from qa.ingest.load import SUPPORTED_SUFFIXES
from qa.ingest.upload import Upload, UploadError, add_to_corpus
from qa.pipeline import IndexStatus, Pipeline
from qa.search.retrieve import Filters
from qa.settings import Settings, load_settings

logger = logging.getLogger("qa.ui")

APP_TITLE = "Digital-Asset Policy Q&A"
INTRO = ("Ask about crypto and digital-asset policy in the indexed news articles. Every answer cites its "
         "sources: open a source to read the passage, with the cited sentences highlighted.")
SAMPLE_QUESTIONS = (
    "What does the LEAP acronym stand for?",
    "When will South Korea allow ICOs again?",
    "Is cryptocurrency property under Hong Kong law?",
    "Which exchange listed stWEMIX?",
)
LLM_LABELS = {
    "extractive": "Extractive (offline, no LLM)",
    "openai": "OpenAI-compatible server",
    "ollama": "Ollama",
    "llamacpp": "llama.cpp (local GGUF file)",
}
STAGE_LABELS = {"embed": "Embedding passages", "bm25": "Building the keyword index"}


@dataclass
class Choices:
    """What the reader set in the sidebar for the next question."""

    settings: Settings
    llm: str
    k: int
    filters: Filters
    show_timings: bool


# --- heavy objects, once per process -----------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the embedding model…")
def shared_embedder(_settings: Settings, key: str) -> Embedder:
    """One embedding model per model, backend and cache folder (`key`), loaded before the first question."""
    embedder = Embedder(_settings)
    embedder.encode(["warm up"], use_cache=False)
    return embedder


@st.cache_resource(show_spinner=False)
def shared_pipeline(_settings: Settings, key: str) -> Pipeline:
    """One `Pipeline` per settings (`key` is their JSON); all sessions share it."""
    model_key = _settings.model_dump_json(include={"embedding_model", "embedding_backend", "embedding_batch_size",
                                                   "cache_dir"})
    return Pipeline(_settings, embedder=shared_embedder(_settings, model_key))


def read_settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        fields = "; ".join(f"QA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        st.error(f"Invalid setting: {render.md_escape(fields)}")
        st.stop()


def pipeline_for(settings: Settings) -> Pipeline:
    try:
        return shared_pipeline(settings, settings.model_dump_json())
    except QAError as exc:
        st.error(render.md_escape(exc))
        st.stop()


# --- sidebar ---------------------------------------------------------------------------------------------

def sidebar(settings: Settings, pipeline: Pipeline, status: IndexStatus) -> Choices:
    with st.sidebar:
        st.header("Answers")
        modes = list(LLM_LABELS)
        llm = st.selectbox("Answer mode", modes, index=modes.index(settings.llm), format_func=LLM_LABELS.get,
                           key="llm", help="Extractive answers quote the articles and need no LLM.")
        if llm != "extractive":
            model = st.text_input("Model", value=settings.llm_model or "", key="llm_model",
                                  help="Model name on the server, or the GGUF file path for llama.cpp.")
            updates: dict = {"llm_model": model.strip() or None}
            if llm in ("openai", "ollama"):
                url = st.text_input("Server URL", value=settings.llm_base_url or "", key="llm_base_url",
                                    placeholder="http://127.0.0.1:8080/v1")
                updates["llm_base_url"] = url.strip() or None
            settings = settings.model_copy(update=updates)
        k = st.slider("Passages to retrieve", 1, max(20, settings.top_k), settings.top_k, key="top_k")

        st.header("Filters")
        facets = index_facets(pipeline)
        filters = Filters(
            sources=tuple(st.multiselect("Source", facets["sources"], key="filter_sources")),
            categories=tuple(st.multiselect("Category", facets["categories"], key="filter_categories")),
            jurisdictions=tuple(st.multiselect("Jurisdiction", facets["jurisdictions"], key="filter_jurisdictions")),
            date_from=st.date_input("Published from", value=None, key="filter_from", format="YYYY-MM-DD",
                                    help="Date filters leave out articles without a calendar date."),
            date_to=st.date_input("Published until", value=None, key="filter_to", format="YYYY-MM-DD"),
        )

        st.header("Index")
        index_panel(settings, pipeline, status)
        upload_panel(settings, pipeline)

        st.divider()
        show_timings = st.toggle("Show timings", key="show_timings", help="Retrieval and answer times per answer.")
        st.button("Clear the conversation", on_click=clear_conversation, width="stretch")
    return Choices(settings=settings, llm=llm, k=k, filters=filters, show_timings=show_timings)


def index_facets(pipeline: Pipeline) -> dict[str, list[str]]:
    try:
        return pipeline.reader.refresh().facets()
    except QAError:
        return {"sources": [], "categories": [], "jurisdictions": []}


def index_panel(settings: Settings, pipeline: Pipeline, status: IndexStatus) -> None:
    if status.generation is None:
        st.caption("No index yet.")
    else:
        left, right = st.columns(2)
        left.metric("Articles", status.articles)
        right.metric("Passages", status.chunks)
        st.caption(f"Last reindex: {render.md_escape(when(status.last_reindex))}")
        if status.problems:
            with st.expander(f"{len(status.problems)} file problem(s)"):
                for problem in status.problems:
                    st.text(problem)
    full = st.checkbox("Rebuild everything", key="reindex_full",
                       help="Re-embed every article instead of only new and changed ones.")
    if st.button("Reindex the corpus", key="reindex", width="stretch") and reindex_now(pipeline, full):
        st.rerun()
    show_reindex_outcome()


def upload_panel(settings: Settings, pipeline: Pipeline) -> None:
    with st.form("upload", clear_on_submit=True, border=False):
        files = st.file_uploader(
            "Add articles", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], accept_multiple_files=True,
            help=f"Saved into {settings.corpus_dir} and indexed.",
        )
        submitted = st.form_submit_button("Add and index", width="stretch")
    if submitted and files:
        add_uploads(settings, pipeline, [(f.name, f.getvalue()) for f in files])
    show_upload_outcome()


def clear_conversation() -> None:
    st.session_state["turns"] = []


# --- reindexing and uploads --------------------------------------------------------------------------------

def reindex_now(pipeline: Pipeline, full: bool = False) -> ReindexReport | None:
    """Runs a reindex with a progress bar; the outcome is shown after the page reruns with the new index."""
    bar = st.progress(0.0, text="Reading the corpus…")

    def progress(stage: str, done: int, total: int) -> None:
        label = STAGE_LABELS.get(stage, stage)
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{label} ({done}/{total})")

    try:
        report = pipeline.reindex(full=full, progress=progress)
    except QAError as exc:
        st.session_state["reindex_outcome"] = ("error", str(exc), [])
    except Exception as exc:
        logger.exception("reindex failed")
        st.session_state["reindex_outcome"] = ("error", f"the reindex failed ({type(exc).__name__}: {exc})", [])
    else:
        kind = "warning" if report.failed else "success"
        st.session_state["reindex_outcome"] = (kind, f"Indexed: {report.summary()}",
                                               [str(p) for p in report.problems])
        return report
    finally:
        bar.empty()
    return None


def show_reindex_outcome() -> None:
    outcome = st.session_state.pop("reindex_outcome", None)
    if outcome is None:
        return
    kind, message, problems = outcome
    getattr(st, kind)(render.md_escape(message))
    for problem in problems:
        st.text(problem)


def add_uploads(settings: Settings, pipeline: Pipeline, files: list[tuple[str, bytes]]) -> None:
    saved: list[Upload] = []
    messages: list[tuple[str, str]] = []
    for name, data in files:
        try:
            saved.append(add_to_corpus(settings.corpus_dir, name, data))
        except UploadError as exc:
            messages.append(("error", str(exc)))
    if any(not upload.already_there for upload in saved):
        report = reindex_now(pipeline)
        problems = report.problems if report else []
    else:
        problems = []
    for upload in saved:
        mine = upload.problems_in(problems) or upload.problems
        if upload.already_there:
            messages.append(("info", f"{upload.name} is already in the corpus."))
        elif any(p.skipped for p in mine):
            messages.append(("warning", f"{upload.name}: saved, but some of it was not indexed."))
        else:
            messages.append(("success", f"{upload.name}: added ({upload.articles} article(s))."))
        messages.extend(("warning", str(p)) for p in mine)
    st.session_state["upload_outcome"] = messages
    st.rerun()


def show_upload_outcome() -> None:
    for kind, message in st.session_state.pop("upload_outcome", []):
        getattr(st, kind)(render.md_escape(message))


# --- the conversation -------------------------------------------------------------------------------------

def index_notice(settings: Settings, pipeline: Pipeline, status: IndexStatus) -> None:
    if status.generation is None:
        st.warning(f"No index yet in {render.md_escape(settings.index_dir)}. Build it from the articles in "
                   f"{render.md_escape(settings.corpus_dir)} to start asking.")
        if st.button("Build the index", key="build_index", type="primary") and reindex_now(pipeline):
            st.rerun()
        show_reindex_outcome()
    elif status.articles == 0:
        st.info(f"The index is empty: the corpus folder {render.md_escape(settings.corpus_dir)} holds no "
                "readable article. Add articles with the upload box in the sidebar, then ask.")


def sample_questions() -> None:
    st.markdown("**Try a question**")
    columns = st.columns(2)
    for i, question in enumerate(SAMPLE_QUESTIONS):
        columns[i % 2].button(question, key=f"sample-{i}", on_click=choose_sample, args=(question,),
                              width="stretch")


def choose_sample(question: str) -> None:
    st.session_state["pending_question"] = question


def ask(question: str, pipeline: Pipeline, choices: Choices) -> None:
    turns = st.session_state["turns"]
    history = [(t["role"], t["text"]) for t in turns if t.get("text")]
    turns.append({"role": "user", "text": question})
    with st.chat_message("user"):
        st.text(question)
    with st.chat_message("assistant"):
        turn = {"role": "assistant", "text": "", "id": uuid.uuid4().hex}
        placeholder = st.empty()
        try:
            stream = pipeline.ask_stream(question, k=choices.k, filters=choices.filters, llm=choices.llm,
                                         history=history)
            with st.spinner("Searching the articles…"):
                first = next(stream)
            answer = None
            streamed = ""
            for item in itertools.chain([first], stream):
                if isinstance(item, Answer):
                    answer = item
                else:
                    streamed += item
                    placeholder.html(render.streaming_html(streamed))
        except QAError as exc:
            turn["error"] = str(exc)
        except Exception as exc:
            logger.exception("answering failed")
            turn["error"] = f"Something went wrong while answering ({type(exc).__name__}: {exc})."
        else:
            turn["answer"] = answer
            turn["text"] = answer.answer
        placeholder.empty()
        turns.append(turn)
        show_assistant_turn(turn, choices)


def show_assistant_turn(turn: dict, choices: Choices) -> None:
    if "error" in turn:
        st.error(render.md_escape(turn["error"]))
        return
    answer: Answer = turn["answer"]
    if answer.notice:
        st.warning(render.md_escape(answer.notice))
    if answer.standalone_question and answer.standalone_question != answer.question:
        st.caption(f"Searched for: {render.md_escape(answer.standalone_question)}")
    st.html(render.answer_html(answer))
    unsupported = sum(1 for s in answer.sentences if not s.supported)
    if unsupported:
        which = "1 sentence is" if unsupported == 1 else f"{unsupported} sentences are"
        st.caption(f":warning: {which} not supported by the retrieved passages; check before relying on it.")
    if answer.citations:
        st.caption("Sources")
        for citation in answer.citations:
            with st.expander(render.card_label(citation)):
                st.html(render.citation_meta_html(citation))
                st.html(render.passage_html(citation))
    elif answer.retrieved:
        titles = "; ".join(dict.fromkeys(render.md_escape(r["title"]) for r in answer.retrieved[:5]))
        st.caption(f"Closest articles: {titles}")
    st.feedback("thumbs", key=f"feedback-{turn['id']}", on_change=save_feedback,
                args=(choices.settings, turn))
    if choices.show_timings and answer.timings_ms:
        with st.expander("Timings"):
            st.caption(render.timings_caption(answer.timings_ms))


def save_feedback(settings: Settings, turn: dict) -> None:
    value = st.session_state.get(f"feedback-{turn['id']}")
    if value is None:
        return
    try:
        record_feedback(settings.feedback_path, turn["answer"], "up" if value == 1 else "down",
                        answer_id=turn["id"])
    except OSError as exc:
        st.toast(f"Could not save the feedback to {settings.feedback_path}: {exc.strerror or exc}")
    else:
        st.toast("Thanks, your feedback was saved.")


def when(stamp: str | None) -> str:
    if not stamp:
        return "unknown"
    try:
        return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def chat_page() -> None:
    settings = read_settings()
    st.html(render.STYLE)
    pipeline = pipeline_for(settings)
    status = pipeline.status()
    choices = sidebar(settings, pipeline, status)
    if choices.settings is not settings:
        pipeline = pipeline_for(choices.settings)

    st.title(APP_TITLE)
    st.caption(INTRO)
    index_notice(settings, pipeline, status)
    turns = st.session_state.setdefault("turns", [])
    question = st.chat_input("Ask about digital-asset policy…", key="question")
    question = question or st.session_state.pop("pending_question", None)
    if not turns and not question:
        sample_questions()
    for turn in turns:
        with st.chat_message(turn["role"]):
            if turn["role"] == "user":
                st.text(turn["text"])
            else:
                show_assistant_turn(turn, choices)
    if question:
        ask(question, pipeline, choices)


def main() -> None:
    st.set_page_config(page_title=APP_TITLE, page_icon="⚖️", layout="centered")
    pages = [
        st.Page(chat_page, title="Ask", icon=":material/forum:", default=True),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/monitoring:"),
    ]
    st.navigation(pages).run()


main()
