"""The admin actions — reindex, upload, add articles from URLs, delete an uploaded file, choose the LLM server —
each done through the library and recorded in the audit log with who did it. The UI calls these only for a
signed-in admin.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from qa.audit import record_action, uploaded_files
from qa.errors import QAError
from qa.index.reindex import ProgressCallback, ReindexReport
from qa.ingest.fetch import Fetcher, FetchPolicy
from qa.ingest.upload import Upload, UploadError, add_to_corpus, remove_from_corpus
from qa.ingest.web import STATUSES, UrlResult, WebReport, write_log
from qa.ingest.web import add_urls as fetch_urls
from qa.llm_servers import ServerChoice, settings_for_server
from qa.pipeline import Pipeline
from qa.settings import Settings

logger = logging.getLogger(__name__)


def reindex(pipeline: Pipeline, who: str, *, full: bool = False, reason: str = "requested",
            progress: ProgressCallback | None = None) -> ReindexReport:
    """Reindexes the corpus and logs the counts (or the error, which is raised again)."""
    audit = pipeline.settings.audit_log_path
    try:
        report = pipeline.reindex(full=full, progress=progress)
    except QAError as exc:
        record_action(audit, who, "reindex", full=full, reason=reason, error=str(exc))
        raise
    record_action(audit, who, "reindex", full=full, reason=reason, added=report.added, updated=report.updated,
                  removed=report.removed, unchanged=report.unchanged, failed=report.failed,
                  articles=report.articles, chunks=report.chunks)
    return report


def upload(settings: Settings, who: str, name: str, data: bytes) -> Upload:
    """Saves an uploaded file into the corpus (see `add_to_corpus`) and logs its name and size."""
    saved = add_to_corpus(settings.corpus_dir, name, data)
    record_action(settings.audit_log_path, who, "upload", file=saved.name, uploaded_as=name, bytes=len(data),
                  articles=saved.articles, already_there=saved.already_there)
    return saved


def add_urls(settings: Settings, who: str, urls: Sequence[str], *, refused_lines: Sequence[str] = (),
             progress: Callable[[UrlResult], None] | None = None) -> WebReport:
    """Fetches each URL's article into the corpus folder as `qa add` does (one bad URL never stops the others;
    `progress` hears of each URL as it is done), appends to the fetch log, and records in the audit log the
    URLs, what became of each, and the pasted lines that were refused before fetching (`refused_lines`)."""
    audit = settings.audit_log_path
    try:
        with Fetcher(FetchPolicy.from_settings(settings)) as fetcher:
            report = fetch_urls(urls, settings.corpus_dir, fetcher, progress=progress)
    except QAError as exc:
        record_action(audit, who, "add_urls", urls=list(urls), refused_lines=list(refused_lines), error=str(exc))
        raise
    write_log(settings.fetch_log, report)
    results = [{"url": r.url, "status": r.status, **({"path": r.path} if r.path else {}),
                **({"reason": r.reason} if r.reason else {})} for r in report.results]
    record_action(audit, who, "add_urls", urls=list(urls), refused_lines=list(refused_lines),
                  **{status: report.counts[status] for status in STATUSES}, results=results)
    logger.info("%s by %s", report.summary(), who)
    return report


def url_outcome(result: UrlResult) -> tuple[str, str]:
    """How one URL's result reads to an admin: a level (success, info, warning or error) and a sentence."""
    title = f"“{result.title}”" if result.title else "the page"
    if result.status == "added":
        return "success", f"{result.url}: added {title} ({result.path})."
    if result.status == "updated":
        return "success", f"{result.url}: updated {title}, whose text had changed ({result.path})."
    if result.status == "unchanged":
        return "info", f"{result.url}: already in the corpus and unchanged since it was last fetched ({result.path})."
    if result.status == "duplicate":
        return "info", f"{result.url}: already in the corpus ({result.reason}; {result.path})."
    if result.refused_by_robots:
        return "warning", f"{result.url}: refused by robots.txt ({result.reason})."
    return "error", f"{result.url}: not added: {result.reason}."


def deletable_uploads(settings: Settings) -> list[str]:
    """Files admins uploaded that are still in the corpus folder (seed and hand-placed files are not listed)."""
    return uploaded_files(settings.audit_log_path, settings.corpus_dir)


def delete_upload(settings: Settings, who: str, name: str) -> None:
    """Deletes an uploaded file from the corpus folder (only a file the audit log shows as uploaded)."""
    if name not in deletable_uploads(settings):
        raise UploadError(f"{name!r} is not an uploaded file in {settings.corpus_dir}; only uploaded files can be "
                          "deleted from the app (remove other files from the folder itself)")
    remove_from_corpus(settings.corpus_dir, name)
    record_action(settings.audit_log_path, who, "delete", file=name)


def choose_llm_server(choice: ServerChoice, settings: Settings, who: str, name: str) -> None:
    """Makes the configured server `name` the one every session answers through; any other name is refused."""
    chosen = settings_for_server(settings, name)  # raises for a name that is not configured
    previous = choice.set(name)
    if previous != name:
        record_action(settings.audit_log_path, who, "llm_server", previous=previous, chosen=name, llm=chosen.llm,
                      model=chosen.llm_model)
