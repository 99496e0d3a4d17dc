"""Admin actions through the library: each does its job and leaves one audit line saying who, when and what."""
from __future__ import annotations

import shutil

import pytest

from qa import admin
from qa.audit import read_actions, record_action
from qa.errors import ConfigError
from qa.ingest.upload import UploadError
from qa.llm_servers import EXTRACTIVE, ServerChoice
from qa.pipeline import Pipeline
from qa.settings import LLMServer
from tests.seed import SEED_CORPUS

ARTICLE = b"""---
title: Freedonia licenses its first stablecoin issuer
published: 2025-08-01
---

The Freedonia Monetary Office licensed Quuxcoin as the first stablecoin issuer on 1 August 2025.
"""


@pytest.fixture
def settings(make_settings):
    settings = make_settings()
    shutil.copytree(SEED_CORPUS, settings.corpus_dir, dirs_exist_ok=True)
    return settings


def test_the_audit_log_sits_beside_the_feedback_file_unless_set(make_settings, tmp_path):
    assert make_settings().audit_log_path == tmp_path / "audit.jsonl"
    assert make_settings(audit_path=tmp_path / "x.jsonl").audit_log_path == tmp_path / "x.jsonl"


def test_an_unknown_action_is_refused(tmp_path):
    with pytest.raises(ValueError, match="action must be one of"):
        record_action(tmp_path / "audit.jsonl", "someone", "drop_tables")


def test_a_reindex_is_logged_with_who_and_its_counts(settings, embedder):
    pipeline = Pipeline(settings, embedder=embedder)

    report = admin.reindex(pipeline, "ops@example.com (OIDC)", full=True)

    [record] = read_actions(settings.audit_log_path)
    assert record["who"] == "ops@example.com (OIDC)" and record["action"] == "reindex" and record["full"] is True
    assert (record["added"], record["articles"], record["chunks"]) == (4, 4, report.chunks)
    assert record["time"].endswith("+00:00")


def test_an_upload_is_logged_with_the_saved_file_name_and_size_and_can_be_deleted(settings):
    saved = admin.upload(settings, "admin (password) from 10.0.0.7", "../Freedonia news.md", ARTICLE)

    assert admin.deletable_uploads(settings) == [saved.name] == ["Freedonia-news.md"]
    admin.delete_upload(settings, "admin (password) from 10.0.0.7", saved.name)

    upload, delete = read_actions(settings.audit_log_path)
    assert upload | {"time": None} == {"time": None, "who": "admin (password) from 10.0.0.7", "action": "upload",
                                       "file": "Freedonia-news.md", "uploaded_as": "../Freedonia news.md",
                                       "bytes": len(ARTICLE), "articles": 1, "already_there": False}
    assert delete["action"] == "delete" and delete["file"] == "Freedonia-news.md"
    assert not (settings.corpus_dir / "Freedonia-news.md").exists()
    assert admin.deletable_uploads(settings) == []


@pytest.mark.parametrize("name", ["hk-leap.md", "../feedback.jsonl", "missing.md"])
def test_only_uploaded_files_can_be_deleted(settings, name):
    seed_files = sorted(p.name for p in settings.corpus_dir.iterdir())

    with pytest.raises(UploadError, match="only uploaded files can be deleted"):
        admin.delete_upload(settings, "admin", name)
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == seed_files


def test_choosing_a_configured_llm_server_is_logged_and_applies_to_every_session(make_settings):
    settings = make_settings(llm_servers=[LLMServer(name="team vLLM", base_url="http://10.0.0.5:8000/v1",
                                                    model="qwen", api_key="sk-never-logged")])
    choice = ServerChoice(settings)

    admin.choose_llm_server(choice, settings, "ops", "team vLLM")
    admin.choose_llm_server(choice, settings, "ops", "team vLLM")  # no change: no second line

    [record] = read_actions(settings.audit_log_path)
    assert choice.name == "team vLLM"
    assert record | {"time": None} == {"time": None, "who": "ops", "action": "llm_server", "previous": EXTRACTIVE,
                                       "chosen": "team vLLM", "llm": "openai", "model": "qwen"}
    assert "sk-never-logged" not in settings.audit_log_path.read_text()


def test_a_server_name_that_is_not_configured_is_refused_and_nothing_changes(make_settings):
    settings = make_settings()
    choice = ServerChoice(settings)

    with pytest.raises(ConfigError, match="not one of the configured LLM servers.*QA_LLM_SERVERS"):
        admin.choose_llm_server(choice, settings, "ops", "http://evil.example/v1")
    assert choice.name == EXTRACTIVE
    assert read_actions(settings.audit_log_path) == []
