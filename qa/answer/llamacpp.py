"""`QA_LLM=llamacpp`: a GGUF model run inside the app's process by llama-cpp-python, as a LangChain chat model
(langchain-community's ChatLlamaCpp would pull in that whole package for one class)."""
from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from qa.errors import ConfigError

CONTEXT_TOKENS = 2048
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
# One llama.cpp context answers one request at a time; Streamlit runs each session in its own thread.
_GENERATE_LOCK = threading.Lock()
_LOADED: list = []  # every model load_model made, closed at exit


@atexit.register
def _close_models() -> None:
    """Frees the models while llama_cpp is still whole. Left to `Llama.__del__` at interpreter exit, the free ran
    after llama_cpp's ctypes functions were torn down and printed a TypeError traceback on every exit."""
    while _LOADED:
        _LOADED.pop().close()


@lru_cache(maxsize=2)
def load_model(path: str, n_ctx: int = CONTEXT_TOKENS, n_threads: int | None = None):
    """The llama.cpp model of a GGUF file, loaded once per process (it takes seconds and the file's size in RAM)."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ConfigError("QA_LLM=llamacpp needs llama-cpp-python: run `make test-llm` or "
                          "`pip install -r requirements-llm.txt -c requirements.txt`") from exc
    if not Path(path).is_file():
        raise ConfigError(f"QA_LLM_MODEL={path!r} is not a GGUF file; set it to the path of a .gguf model")
    threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
    try:
        model = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
    except ValueError as exc:  # llama.cpp could not read the file
        raise ConfigError(f"QA_LLM_MODEL={path!r} could not be loaded by llama.cpp ({exc})") from exc
    _LOADED.append(model)
    return model


class ChatLlamaCppInProcess(BaseChatModel):
    """Chat completions from an in-process llama.cpp model, using the chat template stored in the GGUF."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llama: Any
    max_tokens: int = 256
    temperature: float = 0.0

    @classmethod
    def from_path(cls, path: str | os.PathLike, max_tokens: int = 256, n_threads: int | None = None,
                  n_ctx: int = CONTEXT_TOKENS) -> ChatLlamaCppInProcess:
        return cls(llama=load_model(str(path), n_ctx, n_threads), max_tokens=max_tokens)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-in-process"

    def _request(self, messages: list[BaseMessage], stop: list[str] | None) -> dict:
        return {
            "messages": [{"role": _ROLES.get(m.type, "user"), "content": m.content} for m in messages],
            "max_tokens": self.max_tokens, "temperature": self.temperature, "stop": stop or [],
        }

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with _GENERATE_LOCK:
            response = self.llama.create_chat_completion(**self._request(messages, stop))
        text = response["choices"][0]["message"].get("content") or ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with _GENERATE_LOCK:
            for part in self.llama.create_chat_completion(**self._request(messages, stop), stream=True):
                text = part["choices"][0]["delta"].get("content") or ""
                if not text:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
