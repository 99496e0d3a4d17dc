"""Writes what `qa eval` measured as reports the UI shows: a JSON file, a Markdown page and its chart, at
fixed names in `Settings.reports_dir` (eval-latest.* for answers, retrieval-latest.* for retrieval).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from qa.evaluate.qa_eval import QAEvalResult
from qa.evaluate.retrieval_eval import RetrievalEvalResult

QA_REPORT = "eval-latest"
RETRIEVAL_REPORT = "retrieval-latest"

# Metric key -> label, in the order of the tables and charts; rates where higher is better come first.
QA_METRICS = {
    "answer_accuracy": "answer accuracy",
    "recall@5": "recall@5",
    "citation_accuracy": "citation accuracy",
    "citation_precision": "citation precision",
    "abstention_rate": "abstention (unanswerable)",
    "false_abstention_rate": "false abstention (answerable)",
}
RETRIEVAL_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def write_qa_report(result: QAEvalResult, reports_dir: Path, *, dataset: str, settings: dict) -> dict[str, Path]:
    """eval-latest.json (summary, per kind, one row per question), eval-latest.md and eval-latest.png."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: reports_dir / f"{QA_REPORT}.{ext}" for ext in ("json", "md", "png")}
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    payload = {"created": created, "dataset": dataset, "settings": settings, "summary": result.summary,
               "by_kind": result.by_kind, "questions": [r.report_row() for r in result.results]}
    _write_json(paths["json"], payload)
    _qa_chart(result, paths["png"])
    paths["md"].write_text(_qa_markdown(payload, paths["png"].name), encoding="utf-8")
    return paths


def write_retrieval_report(result: RetrievalEvalResult, reports_dir: Path) -> dict[str, Path]:
    """retrieval-latest.json, retrieval-latest.md and retrieval-latest.png."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: reports_dir / f"{RETRIEVAL_REPORT}.{ext}" for ext in ("json", "md", "png")}
    payload = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result.report()}
    _write_json(paths["json"], payload)
    _retrieval_chart(result, paths["png"])
    paths["md"].write_text(_retrieval_markdown(payload, paths["png"].name), encoding="utf-8")
    return paths


def qa_table(summary: dict, by_kind: dict[str, dict]) -> str:
    """The summary as a plain-text table (what `qa eval qa` prints)."""
    lines = [f"{'metric':<32}{'value':>8}"]
    for key, label in QA_METRICS.items():
        lines.append(f"{label:<32}{_fmt(summary.get(key)):>8}")
    lines.append(f"{'latency p50 / p95 (ms)':<32}{_fmt_ms(summary.get('latency_p50_ms')):>8} / "
                 f"{_fmt_ms(summary.get('latency_p95_ms'))}")
    lines.append(f"questions: {summary['questions']} ({summary['answerable']} answerable, "
                 f"{summary['unanswerable']} unanswerable)")
    if by_kind:
        lines.append("")
        header = ["kind", "n", "answer", "recall@5", "cit.acc", "cit.prec", "abst.", "false abst."]
        lines.append(f"{header[0]:<14}{header[1]:>4}" + "".join(f"{h:>12}" for h in header[2:]))
        for kind, values in by_kind.items():
            row = [values[k] for k in QA_METRICS]
            lines.append(f"{kind:<14}{values['questions']:>4}" + "".join(f"{_fmt(v):>12}" for v in row))
    return "\n".join(lines)


def retrieval_table(metrics: dict[str, dict[str, float]]) -> str:
    """Modes as rows, the four BEIR metrics as columns (what `qa eval retrieval` prints)."""
    lines = [f"{'mode':<8}" + "".join(f"{m:>12}" for m in RETRIEVAL_METRICS)]
    for mode, values in metrics.items():
        lines.append(f"{mode:<8}" + "".join(f"{values[m]:>12.4f}" for m in RETRIEVAL_METRICS))
    return "\n".join(lines)


def _qa_markdown(payload: dict, chart: str) -> str:
    summary, by_kind, rows = payload["summary"], payload["by_kind"], payload["questions"]
    out = [
        "# Answer quality",
        "",
        f"Dataset `{payload['dataset']}`, {summary['questions']} questions ({summary['answerable']} answerable, "
        f"{summary['unanswerable']} unanswerable), run {payload['created']}.",
        "",
        f"![Answer quality by kind of question]({chart})",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    out += [f"| {label} | {_fmt(summary.get(key))} |" for key, label in QA_METRICS.items()]
    out += [f"| latency p50 / p95 | {_fmt_ms(summary.get('latency_p50_ms'))} / "
            f"{_fmt_ms(summary.get('latency_p95_ms'))} ms |", ""]
    out += ["## By kind of question", "",
            "| kind | n | " + " | ".join(QA_METRICS.values()) + " |",
            "|---|---|" + "---|" * len(QA_METRICS)]
    out += [f"| {kind} | {v['questions']} | " + " | ".join(_fmt(v[k]) for k in QA_METRICS) + " |"
            for kind, v in by_kind.items()]
    misses = [r for r in rows if _missed(r)]
    out += ["", f"## Questions to look at ({len(misses)})", ""]
    if not misses:
        out.append("None: every answerable question was answered correctly and every unanswerable one declined.")
    for r in misses:
        out.append(f"- **{r['id']}** ({r['kind']}, {_why(r)}): {r['question']}")
        answer = " ".join(r["answer"].split())
        out.append(f"  - answer: {answer[:300]}{'…' if len(answer) > 300 else ''}")
        if r["answerable"]:
            out.append(f"  - gold: {', '.join(r['gold_titles'])}; cited: {', '.join(r['cited_titles']) or 'nothing'}")
    out += ["", "Settings: " + ", ".join(f"`{k}={v}`" for k, v in payload["settings"].items()), ""]
    return "\n".join(out)


def _missed(row: dict) -> bool:
    return (row["answerable"] and not row["correct"]) or (not row["answerable"] and not row["abstained"])


def _why(row: dict) -> str:
    if not row["answerable"]:
        return "answered an unanswerable question"
    if row["abstained"]:
        return "abstained"
    return "answer lacks an expected phrase"


def _retrieval_markdown(payload: dict, chart: str) -> str:
    out = [
        "# Retrieval quality",
        "",
        f"BEIR dataset `{payload['dataset']}`, split `{payload['split']}`: {payload['queries']} queries over "
        f"{payload['documents']} documents ({payload['chunks']} chunks); run {payload['created']}.",
        "",
        f"![Retrieval quality by mode]({chart})",
        "",
        "| mode | " + " | ".join(RETRIEVAL_METRICS) + " | search time |",
        "|---|" + "---|" * (len(RETRIEVAL_METRICS) + 1),
    ]
    for mode, values in payload["metrics"].items():
        seconds = payload["search_seconds"].get(mode)
        out.append(f"| {mode} | " + " | ".join(f"{values[m]:.4f}" for m in RETRIEVAL_METRICS)
                   + f" | {seconds:.0f} s |")
    out += ["", f"Indexing took {payload['index_seconds']:.0f} s (embeddings come from the cache when present).",
            "A document scores the best score of its chunks; metrics as BEIR / trec_eval.",
            "", "Settings: " + ", ".join(f"`{k}={v}`" for k, v in payload["settings"].items()), ""]
    return "\n".join(out)


def _qa_chart(result: QAEvalResult, path: Path) -> None:
    plt = _pyplot()
    groups = {"all": result.summary, **result.by_kind}
    keys = list(QA_METRICS)
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=100)
    width = 0.8 / len(groups)
    for i, (name, values) in enumerate(groups.items()):
        xs = [k + (i - (len(groups) - 1) / 2) * width for k in range(len(keys))]
        ax.bar(xs, [values.get(key) or 0.0 for key in keys], width, label=f"{name} ({values['questions']})")
    ax.set_xticks(range(len(keys)), [QA_METRICS[k].replace(" (", "\n(") for k in keys], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of questions")
    ax.set_title("Answer quality by kind of question (false abstention: lower is better)")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _retrieval_chart(result: RetrievalEvalResult, path: Path) -> None:
    plt = _pyplot()
    metrics = result.to_json()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    width = 0.8 / max(1, len(metrics))
    for i, (mode, values) in enumerate(metrics.items()):
        xs = [k + (i - (len(metrics) - 1) / 2) * width for k in range(len(RETRIEVAL_METRICS))]
        bars = ax.bar(xs, [values[m] for m in RETRIEVAL_METRICS], width, label=mode)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(range(len(RETRIEVAL_METRICS)), RETRIEVAL_METRICS)
    ax.set_ylim(0, 1.08)
    ax.set_title(f"Retrieval on {Path(result.dataset).name or result.dataset} "
                 f"({result.split}, {result.queries} queries)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)  # the UI never reads half a report


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _fmt_ms(value) -> str:
    return "—" if value is None else f"{value:.0f}"
