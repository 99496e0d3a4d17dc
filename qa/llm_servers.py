"""The LLM servers an admin may choose: only those in the settings (`QA_LLM_SERVERS`, or the one configured by
QA_LLM / QA_LLM_BASE_URL / QA_LLM_MODEL). A server is chosen by its name; no address typed in a browser is used.
"""
from __future__ import annotations

import threading

from qa.errors import ConfigError
from qa.settings import LLMServer, Settings

EXTRACTIVE = "Extractive (offline, no LLM)"


def configured_servers(settings: Settings) -> list[LLMServer]:
    """The choosable servers: `QA_LLM_SERVERS`, else the single generative one of QA_LLM, else none."""
    if settings.llm_servers:
        return list(settings.llm_servers)
    if settings.llm == "extractive":
        return []
    label = settings.llm_model or settings.llm
    return [LLMServer(name=f"{settings.llm}: {label}" if settings.llm_model else settings.llm, llm=settings.llm,
                      base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key)]


def server_names(settings: Settings) -> list[str]:
    """What the UI offers, in order: the extractive answerer, then every configured server's name."""
    return [EXTRACTIVE] + [server.name for server in configured_servers(settings)]


def default_server_name(settings: Settings) -> str:
    """The answerer in use before an admin chooses: QA_LLM's server (the first listed if QA_LLM_SERVERS is set)."""
    servers = configured_servers(settings)
    if settings.llm == "extractive" or not servers:
        return EXTRACTIVE
    if settings.llm_servers:
        same = [s for s in servers if s.llm == settings.llm and (s.base_url, s.model) ==
                (settings.llm_base_url, settings.llm_model)]
        return (same or servers)[0].name
    return servers[0].name


def settings_for_server(settings: Settings, name: str) -> Settings:
    """`settings` answering through the configured server called `name`; any other name is refused, so a URL
    or model typed by a visitor is never contacted."""
    if name == EXTRACTIVE:
        return settings.model_copy(update={"llm": "extractive"})
    for server in configured_servers(settings):
        if server.name == name:
            return settings.model_copy(update={"llm": server.llm, "llm_base_url": server.base_url,
                                               "llm_model": server.model, "llm_api_key": server.api_key})
    raise ConfigError(f"{name[:80]!r} is not one of the configured LLM servers; add it to QA_LLM_SERVERS "
                      "(a JSON list of {name, llm, base_url, model, api_key}) and restart the app")


class ServerChoice:
    """The server every session of the app answers through, as the last admin chose it (shared by sessions)."""

    def __init__(self, settings: Settings):
        self._lock = threading.Lock()
        self._name = default_server_name(settings)

    @property
    def name(self) -> str:
        with self._lock:
            return self._name

    def set(self, name: str) -> str:
        """Makes `name` the server in use and returns the previous one."""
        with self._lock:
            previous, self._name = self._name, name
        return previous
