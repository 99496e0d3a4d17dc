"""Cold start of `qa ask`: from starting the process to the first line of its answer on stdout.

One untimed run first, so that the files the command reads are in the page cache (and any one-off work,
such as exporting the model to ONNX, is done); then the median of the timed runs.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, child_arguments, write_json

QUESTION = "What did the SEC say about a spot Bitcoin ETF?"


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--corpus-dir", type=Path, required=True)
    parser.add_argument("--model-cache", type=Path, required=True)
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    env = {**os.environ, "QA_INDEX_DIR": str(args.index_dir), "QA_CORPUS_DIR": str(args.corpus_dir),
           "QA_CACHE_DIR": str(args.model_cache), "QA_EMBEDDING_BACKEND": args.backend}
    first_answer_s(env)
    runs = [first_answer_s(env) for _ in range(args.runs)]
    print(f"  runs: {', '.join(f'{s:.2f}s' for s in runs)}", flush=True)
    write_json(args.out, {"runs_s": runs, "median_s": statistics.median(runs), "question": QUESTION})


def first_answer_s(env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "qa", "ask", QUESTION], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    rest, errors = proc.communicate()
    if proc.returncode != 0 or not first.strip():
        raise RuntimeError(f"`qa ask` failed (exit {proc.returncode}): {errors[-2000:]}")
    return elapsed


if __name__ == "__main__":
    main()
