"""Runs every benchmark and writes `bench/results.json` (the figures, each a number) and `bench/results.md`.

`python -m bench.run` is `make bench` (full sizes, about half an hour on 2 cores); `--quick` is
`make bench-quick` (small sizes, a few minutes; its figures are for a quick look, not the targets). Written to
the repository's bench/ folder, the figures also rewrite README's performance table (`bench.readme_table`).
Every figure of results.json is a number; what lies behind them goes to `bench/results/details.json`.
Work files go to a temporary folder that is deleted at the end; the ONNX exports and the SciFact vectors
are kept in the QA cache folder (QA_CACHE_DIR, `.cache/` by default) so that a second run skips them.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import CRYPTONEWS, Sizes, run_child, sizes_by_name, write_json

RESULTS_DIR = Path(__file__).resolve().parent

# Target of each figure in results.json: (comparison, bound); the figures without one are context.
TARGETS = {
    "reindex_vs_encoder": ("<=", 1.15),
    "reindex_vs_langchain": ("<=", 0.6),
    "onnx_speedup": (">=", 1.8),
    "onnx_ndcg_drop": ("<=", 0.01),
    "cache_reembedded_texts": ("<=", 0),
    "retrieval_p95_ms_100k": ("<=", 20),
    "retrieval_filtered_p95_ms_100k": ("<=", 50),
    "answer_p95_ms_100k": ("<=", 150),
    "answer_cold_p95_ms_100k": ("<=", 150),
    "load_errors": ("<=", 0),
    "incremental_fraction": ("<=", 0.05),
    "peak_rss_mb_reindex": ("<=", 2048),
    "peak_rss_mb_query_100k": ("<=", 2048),
    "cold_start_s": ("<=", 6),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (make bench-quick)")
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx",
                        help="encoder of the reindex and query benchmarks (default: onnx)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the work files here (default: temporary)")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder for results.json and results.md")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed reindexes and encoder ceilings, best of each (default: 2; quick 1)")
    parser.add_argument("--scifact-docs", type=int, default=None,
                        help="SciFact documents besides the judged ones for nDCG@10 and the passage sets "
                             "(default: the whole corpus; quick 40)")
    args = parser.parse_args()

    sizes = sizes_by_name("quick" if args.quick else "full")
    overrides = {"repeats": args.repeats, "scifact_docs": args.scifact_docs}
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    from qa.settings import load_settings

    model_cache = load_settings().cache_dir.resolve()
    started = time.perf_counter()
    try:
        figures, details = run_all(sizes, args.backend, workdir, model_cache)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    details["bench_seconds"] = round(time.perf_counter() - started, 1)
    details["machine"] = machine()
    details["sizes"] = sizes
    details["backend"] = args.backend
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.results / "results.json", figures)
    (args.results / "results").mkdir(exist_ok=True)
    write_json(args.results / "results" / "details.json", details)
    (args.results / "results.md").write_text(markdown(figures, details), encoding="utf-8")
    print(markdown(figures, details))
    if args.results.resolve() == RESULTS_DIR:  # README's table and the settings help quote results.json
        from bench.readme_table import write as write_readme

        write_readme(args.results / "results.json")


def run_all(sizes: Sizes, backend: str, workdir: Path, model_cache: Path) -> tuple[dict, dict]:
    corpus_dir = workdir / "corpus"
    corpus_dir.mkdir(exist_ok=True)
    with CRYPTONEWS.open(encoding="utf-8") as src, (corpus_dir / "corpus.jsonl").open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if sizes.articles is not None and i >= sizes.articles:
                break
            dst.write(line)

    # First, because it also exports the models to ONNX (once, into the cache) outside any timed run.
    encoders = run_child("onnx_vs_torch", [
        "--model-cache", model_cache, "--texts", sizes.throughput_texts, "--scifact-docs", sizes.scifact_docs or 0,
        "--rounds", sizes.encoder_rounds,
    ], workdir / "onnx_vs_torch.json")
    index_dir = workdir / "index"
    reindex = run_child("reindex_speed", [
        "--corpus-dir", corpus_dir, "--index-dir", index_dir, "--model-cache", model_cache,
        "--scratch", workdir / "reindex-caches", "--backend", backend, "--repeats", sizes.repeats,
    ], workdir / "reindex_speed.json")
    langchain = run_child("langchain_reindex", [
        "--corpus-dir", corpus_dir, "--persist-dir", workdir / "langchain",
    ], workdir / "langchain_reindex.json")
    shutil.rmtree(workdir / "langchain", ignore_errors=True)
    small, large = sizes.scale_chunks
    scale_dirs = {n: workdir / f"index-{n}" for n in (small, large)}
    # One build of both passage sets (the smaller is a prefix of the larger), used by every latency scene.
    scaled = run_child("distinct_index", [
        "--source-index", index_dir, "--model-cache", model_cache, "--scratch", workdir / "passages",
        "--backend", backend, "--scifact-docs", sizes.scifact_docs or 0, "--squad-articles", sizes.squad_articles,
        *[a for n, d in scale_dirs.items() for a in ("--target", d, "--chunks", n)],
    ], workdir / "distinct_index.json")
    queries = {
        n: run_child("query_latency", [
            "--index-dir", d, "--model-cache", model_cache, "--scratch", workdir / f"query-{n}",
            "--backend", backend, "--questions", sizes.questions, "--squad-questions", sizes.squad_questions,
            "--baseline-questions", sizes.baseline_questions,
        ], workdir / f"query_latency_{n}.json")
        for n, d in scale_dirs.items()
    }
    cold = run_child("cold_start", [
        "--index-dir", index_dir, "--corpus-dir", corpus_dir, "--model-cache", model_cache,
        "--backend", backend, "--runs", sizes.cold_starts,
    ], workdir / "cold_start.json")
    # Last: it reindexes (and edits) the cryptonews corpus and index the scenes above read.
    load = run_child("load", [
        "--index-dir", index_dir, "--corpus-dir", corpus_dir, "--model-cache", model_cache,
        "--embedding-cache", workdir / "reindex-caches" / f"cache-{sizes.repeats - 1}" / "embeddings.sqlite",
        "--backend", backend, "--seconds", sizes.load_seconds, "--questions", sizes.load_questions,
    ], workdir / "load.json")

    r, q_small, q_large = reindex.data, queries[small].data, queries[large].data
    best_reindex, best_ceiling = min(r["reindex_s"]), min(r["ceiling_s"])
    langchain_s = min(langchain.data["seconds"])
    figures = {
        "reindex_vs_encoder": best_reindex / best_ceiling,
        "reindex_vs_langchain": best_reindex / langchain_s,
        "onnx_speedup": encoders.data["onnx_speedup"],
        "onnx_ndcg_drop": encoders.data["onnx_ndcg_drop"],
        "cache_reembedded_texts": r["cached_full_reembedded_texts"],
        "cache_full_vs_first": r["cached_full_s"] / best_reindex,
        "retrieval_p50_ms_10k": q_small["retrieval_ms"]["p50"],
        "retrieval_p95_ms_10k": q_small["retrieval_ms"]["p95"],
        "retrieval_p50_ms_100k": q_large["retrieval_ms"]["p50"],
        "retrieval_p95_ms_100k": q_large["retrieval_ms"]["p95"],
        "retrieval_filtered_p95_ms_100k": q_large["retrieval_filtered_worst_p95_ms"],
        "answer_p50_ms_10k": q_small["answer_ms"]["p50"],
        "answer_p95_ms_10k": q_small["answer_ms"]["p95"],
        "answer_p50_ms_100k": q_large["answer_ms"]["p50"],
        "answer_p95_ms_100k": q_large["answer_ms"]["p95"],
        "answer_cached_sentences_p95_ms_100k": q_large["answer_cached_sentences_ms"]["p95"],
        "chroma_only_p50_ms_10k": q_small["chroma_only_ms"]["p50"],
        "chroma_only_p95_ms_10k": q_small["chroma_only_ms"]["p95"],
        "chroma_only_p50_ms_100k": q_large["chroma_only_ms"]["p50"],
        "chroma_only_p95_ms_100k": q_large["chroma_only_ms"]["p95"],
        "incremental_fraction": r["incremental_s"] / best_reindex,
        "peak_rss_mb_reindex": reindex.peak_rss_mb,
        "peak_rss_mb_query_100k": queries[large].peak_rss_mb,
        "cold_start_s": cold.data["median_s"],
        "distinct_passages_100k": scaled.data["distinct_passages"][str(large)],
        "answer_cold_p95_ms_100k": q_large["answer_cold_ms"]["p95"],
        "answer_warm_p95_ms_100k": q_large["answer_warm_ms"]["p95"],
        "onnx_vs_default_speedup": encoders.data["onnx_vs_default_speedup"],
        "load_questions_per_s": load.data["questions_per_s"],
        "load_p95_ms": load.data["latency_ms"]["p95"],
        "load_errors": load.data["errors"],
    }
    figures = {k: round(float(v), 4) for k, v in figures.items()}
    details = {
        "reindex": {**r, "best_reindex_s": best_reindex, "best_ceiling_s": best_ceiling},
        "langchain": langchain.data,
        "encoders": encoders.data,
        "scaled_index": scaled.data,
        "queries": {str(n): {**c.data, "peak_rss_mb": c.peak_rss_mb} for n, c in queries.items()},
        "cold_start": cold.data,
        "load": {**load.data, "peak_rss_mb": load.peak_rss_mb},
        "child_seconds": {"onnx_vs_torch": encoders.seconds, "reindex_speed": reindex.seconds,
                          "langchain_reindex": langchain.seconds, "distinct_index": scaled.seconds,
                          **{f"query_latency_{n}": c.seconds for n, c in queries.items()},
                          "cold_start": cold.seconds, "load": load.seconds},
    }
    return figures, details


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.platform(),
            "load_average_at_end": [round(x, 2) for x in load], "date": dt.datetime.now().isoformat(timespec="seconds")}


def markdown(figures: dict, details: dict) -> str:
    sizes = details["sizes"]
    small, large = sizes.scale_chunks if isinstance(sizes, Sizes) else sizes["scale_chunks"]
    r, m = details["reindex"], details["machine"]
    lines = [
        f"# Benchmark results ({sizes.name if isinstance(sizes, Sizes) else sizes['name']} run)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average at the end "
        f"{m['load_average_at_end']} (about 2 while the benchmarks alone keep both cores busy). {m['date']}. "
        f"Encoder of the reindex and query benchmarks: `{details['backend']}`. "
        f"Whole run: {details['bench_seconds']:.0f} s.",
        "",
        "| figure | value | target | met | measured as |",
        "|---|---|---|---|---|",
    ]
    explain = {
        "reindex_vs_encoder": f"full reindex {r['best_reindex_s']:.1f} s / encoding its {r['chunks']} chunk texts "
                              f"alone "
                              f"{r['best_ceiling_s']:.1f} s",
        "reindex_vs_langchain": f"full reindex / LangChain pipeline {min(details['langchain']['seconds']):.1f} s "
                                f"(torch via HuggingFaceEmbeddings)",
        "onnx_speedup": f"int8 ONNX / torch texts per second at 256 word pieces "
                        f"({details['encoders']['onnx_texts_per_s']:.1f} vs "
                        f"{details['encoders']['torch_texts_per_s']:.1f})",
        "onnx_ndcg_drop": f"SciFact nDCG@10 torch {details['encoders']['scifact_ndcg10_torch']:.4f} − "
                          f"ONNX {details['encoders']['scifact_ndcg10_onnx']:.4f}",
        "cache_reembedded_texts": "texts embedded by a second `--full` over the warm cache",
        "cache_full_vs_first": "second `--full` time / first",
        "answer_cached_sentences_p95_ms_100k": "the same questions again: their sentences' vectors come from the cache",
        "incremental_fraction": f"reindex after editing one article {r['incremental_s']:.2f} s / full reindex",
        "peak_rss_mb_reindex": "peak RSS of the reindex process, MB",
        "peak_rss_mb_query_100k": f"peak RSS of the query process at {large:,} chunks, MB",
        "cold_start_s": "`qa ask` process start to the first answer line, median, s",
        "retrieval_p95_ms_100k": "`Retriever.search`, hybrid, no filter, query embedding included",
        "retrieval_filtered_p95_ms_100k": "the worst p95 of the four filters below (each alone, and combined), "
                                          "query embedding included",
        "distinct_passages_100k": f"distinct passage texts of the {large:,}-passage index (how it is made: below)",
        "answer_cold_p95_ms_100k": "`Pipeline.ask` for SQuAD 2.0 dev questions, first time in the process "
                                   "(no sentence vector cached)",
        "answer_warm_p95_ms_100k": "the same SQuAD questions again (their sentences' vectors cached)",
        "onnx_vs_default_speedup": _default_explain(details.get("encoders", {})),
        "load_questions_per_s": _load_explain(details.get("load", {})),
        "load_p95_ms": "answer latency p95 under that load",
        "load_errors": "exceptions raised by `ask` or by the reindex under that load",
    }
    for key, value in figures.items():
        target = TARGETS.get(key)
        label = key.replace("_10k", f" ({small:,} chunks)").replace("_100k", f" ({large:,} chunks)")
        bound = f"{target[0]} {target[1]}" if target else ""
        met = "" if not target else ("yes" if _meets(value, target) else "**no**")
        how = explain.get(key, "milliseconds over the benchmark questions" if "_ms_" in key else "")
        lines.append(f"| {label} | {value:g} | {bound} | {met} | {how} |")
    lines += _details_sections(details, small, large)
    lines += ["", "Reproduce: `make bench` (full) or `make bench-quick`; figures in `bench/results.json`, "
              "what lies behind them in `bench/results/details.json`."]
    return "\n".join(lines) + "\n"


def _default_explain(encoders: dict) -> str:
    if "default_reindex_texts_per_s" not in encoders:
        return "int8 ONNX / the `torch` backend (the default until int8 became it)"
    return (f"int8 ONNX / the `{encoders['default_backend']}` backend ({encoders['default_encoder']}; the default "
            "until int8 became it), "
            f"chunk texts of {encoders['default_vs_onnx_texts']} in batches of "
            f"{encoders['default_vs_onnx_batch_size']} as a reindex encodes them "
            f"({encoders['onnx_reindex_texts_per_s']:.1f} vs {encoders['default_reindex_texts_per_s']:.1f} texts/s); "
            f"one question at a time: {encoders['onnx_vs_default_query_speedup']:.2f}x "
            f"({encoders['onnx_query_ms']:.1f} vs {encoders['default_query_ms']:.1f} ms)")


def _load_explain(load: dict) -> str:
    if not load:
        return "answered questions per second"
    kinds = f"{sum(r['full'] for r in load['reindexes'])} full, {sum(not r['full'] for r in load['reindexes'])} " \
            "incremental"
    return (f"answered questions per second, {load['askers']} askers (threads) on one `Pipeline` for "
            f"{load['seconds']:.0f} s over the {load['chunks']:,} cryptonews chunks while it was reindexed "
            f"({kinds} reindexes)")


def _details_sections(details: dict, small: int, large: int) -> list[str]:
    """What lies behind the table: how the passages were made, each filter, the answers, the time per scene."""
    lines: list[str] = []
    built = details.get("scaled_index", {})
    if "real_passages" in built:
        real = built["real_passages"]
        lines += [
            "", f"## The {small:,} and {large:,} passages", "",
            f"Made by `bench/distinct_index.py` (its docstring has the details): {built['real_passages_total']:,} "
            f"real passages, each embedded for real with the benchmark's encoder — SQuAD 2.0 dev "
            f"{real.get('squad2', 0):,} chunks, cryptonews {real.get('cryptonews', 0):,}, SciFact "
            f"{real.get('scifact', 0):,} (chunked by the app's chunker; a chunk repeating an earlier text is "
            f"left out) — then {built['mixtures']:,} sentence mixtures: the first half of the sentences of one "
            "real passage and the second half of another's, whose vector is not encoded but drawn around "
            "the real ones (their normalized mean weighted by text share, plus gaussian noise of sigma "
            f"{built['noise_sigma']} per dimension, normalized). Distinct passage texts: "
            + ", ".join(f"{int(n):,} of {int(n):,}" if v == int(n) else f"{v:,} of {int(n):,}"
                        for n, v in built["distinct_passages"].items())
            + ". Metadata: cryptonews chunks keep their article's source, jurisdictions and date (parsed from "
            "its day-month-year date); every other article, and each mixture, takes those of one cryptonews "
            f"article chosen by a hash of its id. The {small:,} index is the first {small:,} passages of the "
            "same list.",
        ]
    queries = details.get("queries", {})
    q_large = queries.get(str(large), {})
    if "retrieval_filtered_ms" in q_large and isinstance(q_large["retrieval_filtered_ms"], dict) \
            and "p95" not in q_large["retrieval_filtered_ms"]:
        lines += ["", f"## Filtered search at {large:,} passages", "",
                  "| filter | lets through | p50 ms | p95 ms | Chroma `query(where=)` p50 / p95 ms |",
                  "|---|---|---|---|---|"]
        for name, summary in q_large["retrieval_filtered_ms"].items():
            where = q_large["chroma_where_ms"][name]
            lines.append(f"| {name}: {q_large['filters'][name]} | {q_large['filter_lets_through'][name]:.1%} | "
                         f"{summary['p50']} | {summary['p95']} | {where['p50']} / {where['p95']} |")
        lines += ["", "Both include the query's embedding; Chroma's is asked for the same 30 candidates the "
                      "dense side of a search asks for, over fewer questions."]
    if all("answer_cold_ms" in queries.get(str(n), {}) for n in (small, large)):
        lines += ["", "## First-question latency on long passages (SQuAD 2.0 dev questions)", "",
                  "| passages | cold p50 / p95 ms | warm p50 / p95 ms | questions |", "|---|---|---|---|"]
        for n in (small, large):
            q = queries[str(n)]
            lines.append(f"| {n:,} | {q['answer_cold_ms']['p50']} / {q['answer_cold_ms']['p95']} | "
                         f"{q['answer_warm_ms']['p50']} / {q['answer_warm_ms']['p95']} | {q['squad_questions']} |")
    seconds = details.get("child_seconds")
    if seconds:
        lines += ["", "## Time per scene", "", "| scene | seconds |", "|---|---|"]
        lines += [f"| {name} | {value:.0f} |" for name, value in seconds.items()]
    return lines


def _meets(value: float, target: tuple[str, float]) -> bool:
    op, bound = target
    return value <= bound if op == "<=" else value >= bound


if __name__ == "__main__":
    main()
