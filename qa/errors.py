"""Errors a user can cause, each carrying a message that names the file or field and the fix.

The CLI prints these without a traceback and exits non-zero; the UI shows them as messages.
"""


class QAError(Exception):
    """Base class: the message is meant for the person running the app."""


class ConfigError(QAError):
    """A setting is wrong (bad model path, unreachable server, ...)."""


class IndexMissingError(QAError):
    """No index has been built yet in the configured folder."""


class ReindexBusyError(QAError):
    """Another reindex holds the lock on the same index folder."""


class LLMError(QAError):
    """The LLM endpoint is down, slow or answered something unusable."""


class QuestionError(QAError):
    """The question cannot be asked as given (empty, ...)."""
