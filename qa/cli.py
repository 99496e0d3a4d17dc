"""The `qa` command: `qa reindex`, `qa ask`, `qa add`, `qa sync`, `qa status` (and `qa eval`), thin wrappers over
the library.

Errors a user can cause are printed as one line without a traceback, with a non-zero exit status.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_ERROR = 2
# Each command imports the stages it runs when it runs, so that `qa --help` and `qa status` start without
# loading the model, Chroma or LangChain (no import cycle is involved: lint-imports checks these too).


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2025-06-27") from None


def _passages(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of passages") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"{k} passages: ask for at least 1 (leave --k out for QA_TOP_K)")
    return k


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa",
                                     description="Questions and cited answers over digital-asset policy news.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("reindex", help="index the corpus folder (incremental by content hash)")
    p.add_argument("--full", action="store_true", help="rebuild the whole index")
    p.add_argument("--wait", action="store_true", help="wait for a running reindex instead of refusing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_reindex)

    p = commands.add_parser("ask", help="answer a question with numbered citations")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--k", type=_passages, default=None, help="passages to retrieve, 1 or more (default QA_TOP_K)")
    p.add_argument("--llm", choices=["extractive", "openai", "ollama", "llamacpp"], default=None,
                   help="answerer (default QA_LLM)")
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--category", action="append", default=[], help="only this category (repeatable)")
    p.add_argument("--jurisdiction", action="append", default=[], help="only articles about this jurisdiction")
    p.add_argument("--since", type=_date, help="only articles published on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", type=_date, help="only articles published on or before this date (YYYY-MM-DD)")
    p.set_defaults(func=cmd_ask)

    p = commands.add_parser("add", help="fetch web pages (or PDFs) into the corpus folder, then reindex")
    p.add_argument("urls", nargs="+", metavar="URL")
    p.add_argument("--source", help="source name for these articles (default: the site's name)")
    p.add_argument("--no-reindex", action="store_true", help="only save the articles; reindex later")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_add)

    p = commands.add_parser("sync", help="fetch what the feeds and sitemaps of the feeds file announce, then reindex")
    p.add_argument("--feeds", type=Path, default=None, help="feeds file (default QA_FEEDS or <corpus>/feeds.toml)")
    p.add_argument("--no-reindex", action="store_true", help="only save the articles; reindex later")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sync)

    p = commands.add_parser("status", help="what the index holds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = commands.add_parser("hash-password", help="make QA_ADMIN_PASSWORD_HASH from a password (prompt or stdin)")
    p.set_defaults(func=cmd_hash_password)

    try:
        from qa.evaluate.cli import add_eval_parser
    except ImportError:  # the evaluation package is optional for the app
        pass
    else:
        add_eval_parser(commands)
    return parser


def cmd_reindex(args, settings) -> int:
    from qa.index.reindex import reindex

    report = reindex(settings, full=args.full, show_progress=not args.quiet, wait=args.wait)
    for problem in report.problems:
        label = "failed" if problem.skipped else "warning"
        print(f"{label}: {problem}", file=sys.stderr)
    print(report.summary())
    return report.exit_status


def cmd_ask(args, settings) -> int:
    from qa.pipeline import Pipeline
    from qa.search.filters import Filters

    filters = Filters(tuple(args.source), tuple(args.category), tuple(args.jurisdiction), args.since, args.until)
    pipeline = Pipeline(settings)
    answer = pipeline.ask(args.question, k=args.k, filters=filters, llm=args.llm)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return 0
    if answer.notice:
        print(f"note: {answer.notice}", file=sys.stderr)
    print(answer.answer)
    unsupported = [s.text for s in answer.sentences if not s.supported]
    for text in unsupported:
        print(f"  (unsupported by the passages: {text})")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            when = f", {c.published}" if c.published else ""
            where = f" — {c.url}" if c.url else ""
            print(f"[{c.n}] {c.title} ({c.source or 'unknown source'}{when}){where}")
    elif answer.abstained and answer.retrieved:
        print("\nClosest passages:")
        for r in answer.retrieved[:3]:
            print(f"- {r['title']} ({r['chunk_id']})")
    return 0


def cmd_add(args, settings) -> int:
    from qa.ingest.web import add_urls

    with _fetcher(settings) as fetcher, _url_progress(len(args.urls), args.quiet) as progress:
        report = add_urls(args.urls, settings.corpus_dir, fetcher, source=args.source, progress=progress)
    return _after_fetch(report, args, settings)


def cmd_sync(args, settings) -> int:
    from qa.ingest.feeds import read_feeds_file
    from qa.ingest.web import sync_feeds

    sources = read_feeds_file(args.feeds or settings.feeds or settings.corpus_dir / "feeds.toml")
    with _fetcher(settings) as fetcher, _url_progress(None, args.quiet) as progress:
        report = sync_feeds(sources, settings.corpus_dir, fetcher, progress=progress)
    return _after_fetch(report, args, settings)


def _fetcher(settings):
    from qa.ingest.fetch import Fetcher, FetchPolicy

    return Fetcher(FetchPolicy.from_settings(settings))


@contextlib.contextmanager
def _url_progress(total: int | None, quiet: bool):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="url", desc="fetching", disable=quiet or not sys.stderr.isatty(), file=sys.stderr)
    try:
        yield lambda result: bar.update(1)
    finally:
        bar.close()


def _after_fetch(report, args, settings) -> int:
    """Per-URL problems on stderr, one summary line on stdout, then the reindex; exit status like reindex's."""
    from qa.ingest.web import write_log

    write_log(settings.fetch_log, report)
    for result in report.results:
        if result.status == "failed":
            print(f"failed: {result.url}: {result.reason}", file=sys.stderr)
        elif result.status in ("added", "updated"):
            print(f"{result.status}: {result.url} -> {result.path}", file=sys.stderr)
    status = report.exit_status
    line = report.summary()
    if report.changed and not args.no_reindex:
        from qa.index.reindex import reindex

        indexed = reindex(settings, show_progress=not args.quiet)
        for problem in indexed.problems:
            print(f"{'failed' if problem.skipped else 'warning'}: {problem}", file=sys.stderr)
        line += f"; reindex: {indexed.summary()}"
        status = max(status, indexed.exit_status)
    print(line)
    return status


def cmd_status(args, settings) -> int:
    from qa.index.backends import index_backend

    backend = index_backend(settings)
    current = backend.current_manifest()
    where = backend.location
    if current is None:
        print(f"no index in {where}; run `qa reindex`")
        return 1
    name, manifest = current
    status = {"index_dir": where, "generation": name,
              "last_reindex": manifest.get("created"), **manifest["counts"], "problems": manifest.get("problems", [])}
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
    else:
        print(f"{status['articles']} articles, {status['chunks']} chunks, last reindex {status['last_reindex']} "
              f"({status['index_dir']})")
        for problem in status["problems"]:
            print(f"  problem: {problem}")
    return 0


def cmd_hash_password(args, settings) -> int:
    """Prints the salted scrypt hash of a password typed twice at a prompt, or of stdin's first line."""
    import getpass

    from qa.access import hash_password
    from qa.errors import ConfigError

    if sys.stdin.isatty():
        password = getpass.getpass("Admin password: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("the two passwords differ; run `qa hash-password` again")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    print(hash_password(password))
    print("Set it as QA_ADMIN_PASSWORD_HASH (environment or .env) and restart the app.", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from qa.errors import QAError
    from qa.settings import load_settings

    try:
        settings = load_settings()
        logging.basicConfig(level=logging.INFO if args.verbose else settings.log_level.upper(),
                            format="%(levelname)s %(name)s: %(message)s")
        for noisy in ("httpx", "chromadb", "bm25s", "sentence_transformers", "transformers"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        return args.func(args, settings)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            fields = "; ".join(f"QA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            print(f"error: invalid setting: {fields}", file=sys.stderr)
            return EXIT_ERROR
        # A bug: show where, and keep exit status 1 for "some files failed" (Python exits 1 on a traceback).
        import traceback

        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
