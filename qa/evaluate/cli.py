"""The `qa eval` command: `qa eval qa` (answers on a question set) and `qa eval retrieval` (a BEIR folder),
thin wrappers over qa.evaluate that print a table (or JSON) and write the reports the UI shows.
"""
from __future__ import annotations

import argparse
import json
import sys

# `qa` builds this parser on every start; the evaluation modules are imported only when `qa eval` runs.


def add_eval_parser(commands) -> None:
    """Adds `qa eval qa|retrieval` to the `qa` command's subparsers."""
    p = commands.add_parser("eval", help="measure answer and retrieval quality")
    kinds = p.add_subparsers(dest="eval_command", required=True)

    q = kinds.add_parser("qa", help="answer quality on a JSONL question set, through the `qa ask` code path")
    q.add_argument("--dataset", required=True, help="JSONL file of questions (see tests/eval/README.md)")
    q.add_argument("--output", help="write one JSON line per question: its id and the `qa ask --json` fields")
    q.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    q.set_defaults(func=cmd_eval_qa)

    r = kinds.add_parser("retrieval", help="nDCG@10, Recall@10/100, MRR@10 on a BEIR folder, in a temporary index")
    r.add_argument("--beir", required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")
    r.add_argument("--split", default="test", help="qrels split to score (default: test)")
    r.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    r.set_defaults(func=cmd_eval_retrieval)


def cmd_eval_qa(args: argparse.Namespace, settings) -> int:
    from qa.evaluate.qa_eval import QAEvaluator, load_questions
    from qa.evaluate.report import qa_table, write_qa_report
    from qa.pipeline import Pipeline

    questions = load_questions(args.dataset)
    pipeline = Pipeline(settings)
    if pipeline.backend.current_manifest() is None:
        print(f"no index in {pipeline.backend.location}: indexing the corpus in {settings.corpus_dir} first",
              file=sys.stderr)
        report = pipeline.reindex(show_progress=sys.stderr.isatty())
        print(f"indexed: {report.summary()}", file=sys.stderr)
    result = QAEvaluator(pipeline).evaluate(questions, progress=_progress("question"))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            for row in result.results:
                fh.write(json.dumps(row.row(), ensure_ascii=False) + "\n")
    used = {name: str(getattr(settings, name)) for name in ("llm", "top_k", "rrf_k", "abstain_threshold",
                                                             "embedding_backend", "index_dir")}
    paths = write_qa_report(result, settings.reports_dir, dataset=str(args.dataset), settings=used)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print(qa_table(result.summary, result.by_kind))
    print(f"report: {paths['md']}", file=sys.stderr)
    return 0


def cmd_eval_retrieval(args: argparse.Namespace, settings) -> int:
    from qa.evaluate.beir import BeirFormatError
    from qa.evaluate.qa_eval import DatasetError
    from qa.evaluate.report import retrieval_table, write_retrieval_report
    from qa.evaluate.retrieval_eval import RetrievalEvaluator

    try:
        result = RetrievalEvaluator(settings).evaluate(args.beir, args.split, progress=_staged_progress())
    except BeirFormatError as exc:
        raise DatasetError(str(exc)) from None
    paths = write_retrieval_report(result, settings.reports_dir)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(retrieval_table(result.to_json()))
    print(f"report: {paths['md']}", file=sys.stderr)
    return 0


def _progress(label: str):
    """Progress on stderr when it is a terminal: one line, rewritten."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        print(f"\r{label} {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show


def _staged_progress():
    if not sys.stderr.isatty():
        return None
    last = {"stage": None}

    def show(stage: str, done: int, total: int) -> None:
        if last["stage"] not in (None, stage):
            print(file=sys.stderr)
        last["stage"] = stage
        print(f"\r{stage} {done}/{total}", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)
            last["stage"] = None

    return show
