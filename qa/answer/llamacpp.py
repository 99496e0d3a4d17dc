"""`QA_LLM=llamacpp`: a GGUF model run inside the app's process by llama-cpp-python, as a LangChain chat model
(langchain-community's ChatLlamaCpp would pull in that whole package for one class)."""
from __future__ import annotations

import atexit
import os
import queue
import threading
import time
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
# The chat template adds a few tokens per message (role markers, separators) that the contents do not count.
TEMPLATE_TOKENS_PER_MESSAGE = 8
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
    timeout_s: float | None = None  # QA_LLM_TIMEOUT_S: waiting for another session's answer counts too

    @classmethod
    def from_path(cls, path: str | os.PathLike, max_tokens: int = 256, n_threads: int | None = None,
                  n_ctx: int = CONTEXT_TOKENS, timeout_s: float | None = None) -> ChatLlamaCppInProcess:
        return cls(llama=load_model(str(path), n_ctx, n_threads), max_tokens=max_tokens, timeout_s=timeout_s)

    @property
    def context_tokens(self) -> int:
        return int(self.llama.n_ctx())

    @property
    def prompt_budget(self) -> int:
        """Tokens the prompt may use: the context less the room kept for the answer."""
        return self.context_tokens - self.max_tokens

    def count_tokens(self, messages: list[tuple[str, str]] | list[BaseMessage]) -> int:
        """Tokens of `messages` once put through the chat template (the template's own tokens estimated)."""
        total = 0
        for message in messages:
            content = message[1] if isinstance(message, tuple) else message.content
            total += len(self.llama.tokenize(str(content).encode("utf-8"), add_bos=False, special=True))
            total += TEMPLATE_TOKENS_PER_MESSAGE
        return total

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
        text = "".join(self._pieces(messages, stop))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for text in self._pieces(messages, stop):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk

    def _pieces(self, messages: list[BaseMessage], stop: list[str] | None) -> Iterator[str]:
        """The answer's text pieces. llama.cpp cannot be interrupted inside a call, so it runs in a worker thread
        and this generator stops waiting at the deadline (raising `TimeoutError`); the worker then stops at its
        next token and frees the model for the next question."""
        request = self._request(messages, stop)
        pieces: queue.Queue = queue.Queue()
        cancelled = threading.Event()

        def work() -> None:
            try:
                with _GENERATE_LOCK:
                    if cancelled.is_set():
                        return
                    for part in self.llama.create_chat_completion(**request, stream=True):
                        if cancelled.is_set():
                            return
                        text = part["choices"][0]["delta"].get("content") or ""
                        if text:
                            pieces.put(("text", text))
            except Exception as exc:  # handed to the caller's thread, which reports it
                pieces.put(("error", exc))
            else:
                pieces.put(("done", None))

        worker = threading.Thread(target=work, name="llama-cpp-generate", daemon=True)
        worker.start()
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        try:
            while True:
                wait = None if deadline is None else deadline - time.monotonic()
                try:
                    if wait is not None and wait <= 0:
                        raise queue.Empty
                    kind, value = pieces.get(timeout=wait)
                except queue.Empty:
                    raise TimeoutError(f"llama.cpp did not answer within {self.timeout_s:g}s") from None
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            cancelled.set()
