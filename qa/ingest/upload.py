"""Adds uploaded article files to the corpus folder: under a safe name inside the folder, never over an
existing file, and only when the file can be read as at least one article.
"""
from __future__ import annotations

import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import QAError
from qa.ingest.load import SUPPORTED_SUFFIXES, Article, LoadProblem, UnreadableFile, load_file

MAX_NAME_CHARS = 100


class UploadError(QAError):
    """An uploaded file was not added to the corpus; the message names the file and the fix."""


@dataclass
class Upload:
    """An uploaded file in the corpus folder: its name there, and caveats the loader had about it."""

    name: str  # relative to the corpus folder
    articles: int
    already_there: bool = False  # an identical file was already in the corpus
    problems: list[LoadProblem] = field(default_factory=list)

    def problems_in(self, problems: list[LoadProblem]) -> list[LoadProblem]:
        """Those of a reindex's `problems` that concern this file (or one of its JSONL lines)."""
        return [p for p in problems if p.path == self.name or p.path.startswith((f"{self.name}:", f"{self.name}#"))]


def safe_file_name(name: str) -> str:
    """A plain file name for an uploaded file: no folders, ASCII letters, digits, '.', '-' and '_' only,
    a supported suffix in lower case. Raises `UploadError` for an unsupported type."""
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", name)[-1]).strip()
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(
            f"{name!r} is not a supported article file ({suffix or 'no extension'}); "
            f"upload one of: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:MAX_NAME_CHARS] or "upload"
    return stem + suffix


def add_to_corpus(corpus_dir: Path, name: str, data: bytes) -> Upload:
    """Saves `data` (the content of the uploaded file `name`) into `corpus_dir`, after checking that it
    holds at least one article. An identical file already there is kept; a different one is never
    overwritten: the upload gets a numbered name instead."""
    safe = safe_file_name(name)
    try:
        corpus_dir.mkdir(parents=True, exist_ok=True)
        folder = corpus_dir.resolve(strict=True)
    except OSError as exc:
        raise UploadError(f"cannot use the corpus folder {corpus_dir} ({exc.strerror or exc}); "
                          "check QA_CORPUS_DIR") from exc
    # A hidden name keeps the half-written file out of any reindex running meanwhile.
    staging = folder / f".upload-{secrets.token_hex(6)}-{safe}"
    try:
        staging.write_bytes(data)
    except OSError as exc:
        raise UploadError(f"cannot write {name!r} into {folder} ({exc.strerror or exc}); "
                          "check that the corpus folder is writable") from exc
    try:
        articles, problems = _check_readable(staging, safe, name)
        return _publish(folder, staging, safe, data, articles, problems)
    finally:
        staging.unlink(missing_ok=True)


def _check_readable(path: Path, rel: str, shown_name: str) -> tuple[int, list[LoadProblem]]:
    try:
        items = list(load_file(path, rel))
    except UnreadableFile as exc:
        raise UploadError(f"{shown_name!r} was not added: {exc}") from None
    problems = [item for item in items if isinstance(item, LoadProblem)]
    articles = sum(1 for item in items if isinstance(item, Article))
    if not articles:
        detail = "; ".join(str(p) for p in problems[:3]) or "no article found"
        raise UploadError(f"{shown_name!r} was not added: it holds no readable article ({detail})")
    return articles, problems


def _publish(folder: Path, staging: Path, safe: str, data: bytes, articles: int,
             problems: list[LoadProblem]) -> Upload:
    stem, suffix = safe[: -len(Path(safe).suffix)], Path(safe).suffix
    for attempt in range(1, 1000):
        candidate = safe if attempt == 1 else f"{stem}-{attempt}{suffix}"
        target = folder / candidate
        if target.is_file() and not target.is_symlink() and target.read_bytes() == data:
            return Upload(candidate, articles, already_there=True, problems=_renamed(problems, safe, candidate))
        try:
            os.link(staging, target)  # fails if anything, even a dangling link, has that name
        except FileExistsError:
            continue
        except OSError as exc:
            raise UploadError(f"cannot save {candidate!r} in {folder} ({exc.strerror or exc})") from exc
        return Upload(candidate, articles, problems=_renamed(problems, safe, candidate))
    raise UploadError(f"too many files named like {safe!r} in {folder}; rename the file and upload it again")


def _renamed(problems: list[LoadProblem], old: str, new: str) -> list[LoadProblem]:
    return [LoadProblem(p.path.replace(old, new, 1), p.reason, p.skipped) for p in problems]


def remove_from_corpus(corpus_dir: Path, name: str) -> None:
    """Deletes the file `name` (a plain file name, as `add_to_corpus` saved it) from `corpus_dir`."""
    if name != safe_file_name(name) or not (corpus_dir / name).is_file():
        raise UploadError(f"{name!r} is not a file in the corpus folder {corpus_dir}; choose one of the listed uploads")
    try:
        (corpus_dir / name).unlink()
    except OSError as exc:
        raise UploadError(f"cannot delete {name!r} from {corpus_dir} ({exc.strerror or exc}); "
                          "check that the corpus folder is writable") from exc
