"""LLM servers come only from the settings: a URL a visitor types is never contacted, and the choosable servers
are named by their configured names."""
from __future__ import annotations

import pytest

from qa.errors import ConfigError
from qa.llm_servers import EXTRACTIVE, configured_servers, default_server_name, server_names, settings_for_server
from qa.pipeline import Pipeline
from qa.settings import LLMServer, Settings


def test_the_single_configured_server_is_the_only_choice_besides_extractive():
    settings = Settings(llm="openai", llm_base_url="http://127.0.0.1:8080/v1", llm_model="smollm2")

    assert server_names(settings) == [EXTRACTIVE, "openai: smollm2"]
    assert default_server_name(settings) == "openai: smollm2"
    assert server_names(Settings()) == [EXTRACTIVE]


def test_qa_llm_servers_lists_the_choices_in_order_and_its_first_is_the_default():
    settings = Settings(llm="openai", llm_servers=[LLMServer(name="a", base_url="http://a/v1"),
                                                   LLMServer(name="b", llm="ollama", base_url="http://b")])

    assert server_names(settings) == [EXTRACTIVE, "a", "b"]
    assert default_server_name(settings) == "a"
    assert settings_for_server(settings, "b").llm_base_url == "http://b"


def test_the_llm_servers_setting_is_read_from_json_in_the_environment(monkeypatch):
    from qa.settings import load_settings

    monkeypatch.setenv("QA_LLM_SERVERS", '[{"name": "team", "base_url": "http://10.0.0.5/v1", "api_key": "k"}]')

    [server] = configured_servers(load_settings())
    assert (server.name, server.llm, server.base_url, server.api_key) == ("team", "openai", "http://10.0.0.5/v1", "k")


def test_a_typed_url_is_refused_and_never_contacted(listener, seed_pipeline, embedder):
    url, connections = listener
    settings = seed_pipeline.settings.model_copy(update={"llm": "openai", "llm_base_url": "http://127.0.0.1:9/v1"})

    with pytest.raises(ConfigError, match="not one of the configured LLM servers"):
        settings_for_server(settings, url)
    # What the app then answers with is the configured set only; asking through it never touches the listener.
    answer = Pipeline(settings_for_server(settings, EXTRACTIVE), embedder=embedder).ask(
        "What incentive does Hong Kong plan for tokenized ETFs?")

    assert answer.mode == "extractive"
    assert connections == []
