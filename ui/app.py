"""The Streamlit app: a chat whose every answer carries numbered sources that can be opened and checked,
plus the evaluation page. Thin: questions, reindexing, uploads and URLs to add all go to the `qa` library.
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

from qa import admin
from qa.access import AccessPolicy, PasswordGate, Role, access_policy, oidc_role
from qa.answer.extractive import Answer
from qa.audit import record_action
from qa.errors import QAError
from qa.feedback import record_feedback
from qa.index.embed import Embedder
from qa.index.reindex import ReindexReport
from qa.ingest.load import SUPPORTED_SUFFIXES
from qa.ingest.upload import Upload, UploadError
from qa.ingest.web import UrlResult
from qa.limits import PipelineCache, QuestionRateLimit, UrlBatch, check_upload_batch, check_url_batch
from qa.llm_servers import ServerChoice, server_names, settings_for_server
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
STAGE_LABELS = {"embed": "Embedding passages", "bm25": "Building the keyword index"}


@dataclass
class Choices:
    """What the reader set in the sidebar for the next question."""

    settings: Settings
    llm: str
    k: int
    filters: Filters
    show_timings: bool


@dataclass
class Visitor:
    """Who is using this session: a reader or an admin, and the name the audit log records for them."""

    role: Role
    who: str
    policy: AccessPolicy

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# --- heavy objects, once per process -----------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the embedding model…")
def shared_embedder(_settings: Settings, key: str) -> Embedder:
    """One embedding model per model, backend and cache folder (`key`), loaded before the first question."""
    embedder = Embedder(_settings)
    embedder.encode(["warm up"], use_cache=False)
    return embedder


@st.cache_resource(show_spinner=False)
def shared_pipelines(max_entries: int) -> PipelineCache[Pipeline]:
    """The process's pipelines, one per settings, at most `max_entries` (QA_MAX_CACHED_PIPELINES) kept."""
    return PipelineCache(max_entries)


def build_pipeline(settings: Settings) -> Pipeline:
    model_key = settings.model_dump_json(include={"embedding_model", "embedding_backend", "embedding_batch_size",
                                                  "cache_dir"})
    pipeline = Pipeline(settings, embedder=shared_embedder(settings, model_key))
    pipeline.extractive.warm_up()  # the answer-span reader's NER model, before the first question
    return pipeline


@st.cache_resource(show_spinner=False)
def shared_server_choice(_settings: Settings, key: str) -> ServerChoice:
    """The LLM server all sessions answer through, as an admin last chose it (`key`: the settings' JSON)."""
    return ServerChoice(_settings)


@st.cache_resource(show_spinner=False)
def shared_password_gate(password_hash: str, failures: int, lockout_s: float) -> PasswordGate:
    """One gate per process, so that a lockout holds for every session."""
    return PasswordGate(password_hash, failures, lockout_s)


def read_settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        fields = "; ".join(f"QA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        st.error(f"Invalid setting: {render.md_escape(fields)}")
        st.stop()


def pipeline_for(settings: Settings) -> Pipeline:
    try:
        return shared_pipelines(settings.max_cached_pipelines).get(settings.model_dump_json(),
                                                                   lambda: build_pipeline(settings))
    except QAError as exc:
        st.error(render.md_escape(exc))
        st.stop()


# --- who is asking ----------------------------------------------------------------------------------------

def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all: Streamlit raises instead of answering False
        return False


def oidc_provider() -> str | None:
    """The named provider of `[auth.<name>]` in secrets.toml, or None for the unnamed one."""
    auth = st.secrets.get("auth", {})
    named = [name for name, value in auth.items() if hasattr(value, "items")]
    return named[0] if named else None


def oidc_signed_in() -> bool:
    # `st.user` has no `is_logged_in` key before Streamlit has read an [auth] section (AppTest, say): not signed in.
    return bool(st.user.get("is_logged_in", False))


def client_address() -> str:
    try:
        return st.context.ip_address or "local"
    except Exception:
        return "unknown"


def current_visitor(settings: Settings) -> Visitor:
    try:
        policy = access_policy(settings, oidc_configured=oidc_configured(),
                               server_address=st.get_option("server.address"))
    except QAError as exc:
        st.error(render.md_escape(exc))
        st.stop()
    if policy.mode == "single-user":
        return Visitor("admin", "local user", policy)
    if policy.mode == "oidc" and oidc_signed_in():
        email = st.user.get("email")
        return Visitor(oidc_role(settings, email), f"{email or st.user.get('name') or 'signed-in user'} (OIDC)",
                       policy)
    if policy.mode == "password" and st.session_state.get("admin_signed_in"):
        return Visitor("admin", f"admin (password) from {client_address()}", policy)
    return Visitor("reader", f"reader from {client_address()}", policy)


def access_panel(settings: Settings, visitor: Visitor) -> None:
    st.header("Access")
    policy = visitor.policy
    if policy.mode == "single-user":
        st.caption(policy.explanation)
    elif policy.mode == "admin-off":
        st.warning(policy.explanation)
    elif visitor.is_admin:
        st.caption("Signed in as admin." if policy.mode == "password"
                   else f"Signed in as admin: {render.md_escape(visitor.who)}.")
        if st.button("Sign out", key="sign_out", width="stretch"):
            sign_out(policy)
    elif policy.mode == "oidc":
        if oidc_signed_in():
            st.caption(f"Signed in as {render.md_escape(visitor.who)}: a reader (not in QA_ADMIN_EMAILS).")
            if st.button("Sign out", key="sign_out", width="stretch"):
                sign_out(policy)
        else:
            st.caption("Reading and asking need no sign-in. " + policy.explanation)
            if st.button("Sign in as admin", key="sign_in", width="stretch"):
                st.login(oidc_provider())
    else:
        password_form(settings)


def password_form(settings: Settings) -> None:
    st.caption("Reading and asking need no sign-in. Admins reindex, add articles (files or URLs) and choose the "
               "LLM server.")
    with st.form("admin_sign_in", clear_on_submit=True, border=False):
        password = st.text_input("Admin password", type="password", key="admin_password")
        submitted = st.form_submit_button("Sign in as admin", width="stretch")
    if submitted:
        gate = shared_password_gate(settings.admin_password_hash, settings.admin_lockout_failures,
                                    settings.admin_lockout_s)
        result = gate.sign_in(password, client_address())
        if result.ok:
            st.session_state["admin_signed_in"] = True
            record_action(settings.audit_log_path, f"admin (password) from {client_address()}", "sign_in")
            st.rerun()
        record_action(settings.audit_log_path, f"from {client_address()}", "sign_in_failed")
        st.error(result.message)


def sign_out(policy: AccessPolicy) -> None:
    st.session_state.pop("admin_signed_in", None)
    if policy.mode == "oidc":
        st.logout()
    st.rerun()


# --- sidebar ---------------------------------------------------------------------------------------------

def sidebar(settings: Settings, pipeline: Pipeline, status: IndexStatus, visitor: Visitor) -> Choices:
    with st.sidebar:
        access_panel(settings, visitor)
        st.header("Answers")
        settings = answerer_panel(settings, visitor)
        llm = settings.llm
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
        index_panel(settings, pipeline, status, visitor)
        if visitor.is_admin:
            upload_panel(settings, pipeline, visitor)
            url_panel(settings, pipeline, visitor)
            delete_panel(settings, pipeline, visitor)

        st.divider()
        show_timings = st.toggle("Show timings", key="show_timings", help="Retrieval and answer times per answer.")
        st.button("Clear the conversation", on_click=clear_conversation, width="stretch")
    return Choices(settings=settings, llm=llm, k=k, filters=filters, show_timings=show_timings)


def answerer_panel(settings: Settings, visitor: Visitor) -> Settings:
    """The LLM server answering for everyone: admins choose it among the configured ones (by name: the browser
    never sees a server's address or key), readers see which one it is."""
    choice = shared_server_choice(settings, settings.model_dump_json())
    names = server_names(settings)
    if visitor.is_admin and len(names) > 1:
        st.session_state["llm_server"] = choice.name  # another admin may have changed it since the last rerun
        st.selectbox("LLM server", names, key="llm_server",
                     on_change=choose_server, args=(choice, settings, visitor),
                     help="The servers configured in QA_LLM_SERVERS (or QA_LLM); the choice applies to everyone.")
    else:
        st.caption(f"Answers by: {render.md_escape(choice.name)}")
    return settings_for_server(settings, choice.name)


def choose_server(choice: ServerChoice, settings: Settings, visitor: Visitor) -> None:
    try:
        admin.choose_llm_server(choice, settings, visitor.who, st.session_state["llm_server"])
    except QAError as exc:
        st.session_state["llm_server"] = choice.name
        st.toast(str(exc))


def index_facets(pipeline: Pipeline) -> dict[str, list[str]]:
    try:
        return pipeline.reader.refresh().facets()
    except QAError:
        return {"sources": [], "categories": [], "jurisdictions": []}


def index_panel(settings: Settings, pipeline: Pipeline, status: IndexStatus, visitor: Visitor) -> None:
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
    if not visitor.is_admin:
        st.caption("Only admins can reindex or add articles.")
        return
    full = st.checkbox("Rebuild everything", key="reindex_full",
                       help="Re-embed every article instead of only new and changed ones.")
    if st.button("Reindex the corpus", key="reindex", width="stretch") and reindex_now(pipeline, visitor, full):
        st.rerun()
    show_reindex_outcome()


def upload_panel(settings: Settings, pipeline: Pipeline, visitor: Visitor) -> None:
    with st.form("upload", clear_on_submit=True, border=False):
        files = st.file_uploader(
            "Add articles", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], accept_multiple_files=True,
            help=f"Up to {settings.max_upload_files} files of at most {settings.max_upload_mb:g} MB each; "
                 "saved into the corpus folder and indexed.",
        )
        submitted = st.form_submit_button("Add and index", width="stretch")
    if submitted and files:
        problems = check_upload_batch(settings, [(f.name, f.size) for f in files])
        if problems:
            st.session_state["upload_outcome"] = [("error", p) for p in problems]
        else:
            add_uploads(settings, pipeline, visitor, [(f.name, f.getvalue()) for f in files])
    show_upload_outcome()


def url_panel(settings: Settings, pipeline: Pipeline, visitor: Visitor) -> None:
    with st.form("add_urls", clear_on_submit=True, border=False):
        text = st.text_area("Add articles from URLs", key="add_urls_text", placeholder="https://…",
                            help=f"One http or https URL per line, up to {settings.max_add_urls}; each page is "
                                 "fetched (robots.txt honoured), saved into the corpus folder and indexed.")
        submitted = st.form_submit_button("Fetch and index", width="stretch")
    if submitted:
        batch = check_url_batch(settings, text)
        if batch.refusal:
            st.session_state["url_outcome"] = [("error", batch.refusal)]
        else:
            add_from_urls(settings, pipeline, visitor, batch)
    show_upload_outcome("url_outcome")


def delete_panel(settings: Settings, pipeline: Pipeline, visitor: Visitor) -> None:
    uploads = admin.deletable_uploads(settings)
    if not uploads:
        return
    with st.expander("Delete an uploaded file"):
        name = st.selectbox("Uploaded file", uploads, key="delete_choice")
        if st.button("Delete and reindex", key="delete_upload", width="stretch"):
            try:
                admin.delete_upload(settings, visitor.who, name)
            except QAError as exc:
                st.error(render.md_escape(exc))
            else:
                report = reindex_now(pipeline, visitor, reason=f"deleted {name}")
                st.session_state["upload_outcome"] = [("success", f"{name}: deleted"
                                                       + (" and the index updated." if report else "."))]
                st.rerun()


def clear_conversation() -> None:
    st.session_state["turns"] = []


# --- reindexing and uploads --------------------------------------------------------------------------------

def reindex_now(pipeline: Pipeline, visitor: Visitor, full: bool = False,
                reason: str = "requested") -> ReindexReport | None:
    """Runs a reindex with a progress bar; the outcome is shown after the page reruns with the new index."""
    bar = st.progress(0.0, text="Reading the corpus…")

    def progress(stage: str, done: int, total: int) -> None:
        label = STAGE_LABELS.get(stage, stage)
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{label} ({done}/{total})")

    try:
        report = admin.reindex(pipeline, visitor.who, full=full, reason=reason, progress=progress)
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


def add_uploads(settings: Settings, pipeline: Pipeline, visitor: Visitor, files: list[tuple[str, bytes]]) -> None:
    saved: list[Upload] = []
    messages: list[tuple[str, str]] = []
    for name, data in files:
        try:
            saved.append(admin.upload(settings, visitor.who, name, data))
        except UploadError as exc:
            messages.append(("error", str(exc)))
    if any(not upload.already_there for upload in saved):
        report = reindex_now(pipeline, visitor, reason="upload")
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


def add_from_urls(settings: Settings, pipeline: Pipeline, visitor: Visitor, batch: UrlBatch) -> None:
    """Fetches the batch's URLs with a progress bar ("3/7 fetched: <url>"), reindexes when something was added
    or updated, and keeps one message per URL (and per refused line) for the rerun."""
    messages = [("error", problem) for problem in batch.problems]
    if batch.urls:
        bar = st.progress(0.0, text=f"Fetching {len(batch.urls)} URL(s)…")
        done = itertools.count(1)

        def progress(result: UrlResult) -> None:
            n = next(done)
            bar.progress(n / len(batch.urls), text=f"{n}/{len(batch.urls)} fetched: {render.md_escape(result.url)}")

        report = None
        try:
            report = admin.add_urls(settings, visitor.who, batch.urls, refused_lines=batch.problems,
                                    progress=progress)
        except QAError as exc:
            messages.insert(0, ("error", str(exc)))
        except Exception as exc:
            logger.exception("adding URLs failed")
            messages.insert(0, ("error", f"adding the URLs failed ({type(exc).__name__}: {exc})"))
        finally:
            bar.empty()
        if report is not None:
            if report.changed:
                reindex_now(pipeline, visitor, reason="add_urls")
            messages[:0] = [admin.url_outcome(result) for result in report.results]
    st.session_state["url_outcome"] = messages
    st.rerun()


def show_upload_outcome(key: str = "upload_outcome") -> None:
    for kind, message in st.session_state.pop(key, []):
        getattr(st, kind)(render.md_escape(message))


# --- the conversation -------------------------------------------------------------------------------------

def index_notice(settings: Settings, pipeline: Pipeline, status: IndexStatus, visitor: Visitor) -> None:
    if status.generation is None:
        if not visitor.is_admin:
            who = "an admin has to build it (sign in in the sidebar)" if visitor.policy.admin_possible \
                else "run `qa reindex` on the server"
            st.warning(f"No index yet: {who} before questions can be answered.")
            return
        st.warning(f"No index yet in {render.md_escape(settings.index_dir)}. Build it from the articles in "
                   f"{render.md_escape(settings.corpus_dir)} to start asking.")
        if st.button("Build the index", key="build_index", type="primary") and reindex_now(pipeline, visitor):
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
    limit = st.session_state.get("question_limit")
    if limit is None or limit.per_minute != choices.settings.questions_per_minute:
        limit = st.session_state["question_limit"] = QuestionRateLimit(choices.settings.questions_per_minute)
    refused = limit.try_ask()
    if refused:
        st.warning(refused)
        return
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
    visitor = current_visitor(settings)
    pipeline = pipeline_for(settings)
    status = pipeline.status()
    choices = sidebar(settings, pipeline, status, visitor)
    if choices.settings.model_dump_json() != settings.model_dump_json():
        pipeline = pipeline_for(choices.settings)

    st.title(APP_TITLE)
    st.caption(INTRO)
    index_notice(settings, pipeline, status, visitor)
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
