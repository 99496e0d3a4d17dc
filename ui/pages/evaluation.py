"""The evaluation page: the latest `qa eval` report (reports/eval-latest.json, .md, .png) as tables and a chart.

The report is written by `qa eval`: {"summary": {metric: number, ...}, "rows": [{...per question...}], ...}.
"""
from __future__ import annotations

import json

import pandas as pd
import render
import streamlit as st

from qa.settings import load_settings

REPORT_JSON = "eval-latest.json"
REPORT_MD = "eval-latest.md"
REPORT_PNG = "eval-latest.png"
RUN_HINT = "qa eval qa --dataset tests/eval/seed_questions.jsonl"


def flatten(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Numeric metrics of a possibly nested summary, keyed like `retrieval.ndcg@5`."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def evaluation_page() -> None:
    settings = load_settings()
    st.title("Evaluation")
    st.caption("The latest run of `qa eval`: how well retrieval and answers do on the development questions.")
    path = settings.reports_dir / REPORT_JSON
    if not path.exists():
        st.info(f"No evaluation yet; run `{RUN_HINT}`, then reload this page.")
        return
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(report, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        st.error(f"Cannot read {render.md_escape(path)} ({render.md_escape(exc)}); run `{RUN_HINT}` again.")
        return

    about = [f"{key}: {report[key]}" for key in ("created", "dataset", "mode", "llm", "k") if report.get(key)]
    if about:
        st.caption(render.md_escape(" · ".join(about)))
    metrics = flatten(report.get("summary") or report.get("metrics") or {})
    if metrics:
        st.subheader("Summary")
        table = pd.DataFrame({"metric": list(metrics), "value": list(metrics.values())})
        st.dataframe(table, hide_index=True, width="stretch")
        # Scores between 0 and 1 share one chart; counts and timings would flatten it.
        scores = {name: value for name, value in metrics.items() if 0.0 <= value <= 1.0}
        if scores:
            st.bar_chart(pd.DataFrame({"score": list(scores.values())}, index=list(scores)), horizontal=True)
    else:
        st.warning("The report has no summary metrics.")

    chart = settings.reports_dir / REPORT_PNG
    if chart.exists():
        st.image(str(chart), caption="Chart written by `qa eval`")

    rows = report.get("rows") or report.get("questions") or report.get("per_question") or []
    if isinstance(rows, list) and rows:
        st.subheader("Per question")
        frame = pd.DataFrame([row for row in rows if isinstance(row, dict)])
        for column in frame.columns:  # lists and dicts shown as JSON text, never as markup
            if frame[column].map(lambda v: isinstance(v, (list, dict))).any():
                frame[column] = frame[column].map(lambda v: json.dumps(v, ensure_ascii=False))
        st.dataframe(frame, hide_index=True, width="stretch")

    markdown = settings.reports_dir / REPORT_MD
    if markdown.exists():
        with st.expander("Full report (Markdown)"):
            st.code(markdown.read_text(encoding="utf-8"), language="markdown")


evaluation_page()
