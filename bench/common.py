"""What the benchmarks share: the sizes of a full and a quick run, the datasets' paths, percentiles, and
running one measurement in a child process whose peak RSS is read from the kernel when it exits.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
CRYPTONEWS = DATASETS / "cryptonews" / "corpus.jsonl"
SCIFACT = DATASETS / "scifact"
SQUAD = DATASETS / "squad2"
SQUAD_CORPUS = SQUAD / "corpus"
QUESTIONS = Path(__file__).resolve().parent / "questions.txt"


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does; `make bench` runs FULL, `make bench-quick` QUICK."""

    name: str
    articles: int | None  # cryptonews articles reindexed (None: all 7,524)
    repeats: int  # timed runs of the reindex and of its encoder ceiling; the best of each is compared
    scale_chunks: tuple[int, int]  # chunk counts of the latency benchmarks ("10k" and "100k" in the keys)
    questions: int  # questions timed per latency benchmark
    throughput_texts: int  # 256-token texts encoded by torch and by ONNX
    scifact_docs: int | None  # SciFact documents besides the judged ones (None: the whole corpus)
    cold_starts: int  # timed `qa ask` runs (after one untimed run that warms the page cache)
    encoder_rounds: int  # alternating timed runs of each encoder
    squad_questions: int  # SQuAD questions answered cold, then warm, per latency benchmark
    baseline_questions: int  # questions per filter for Chroma's own filtered query
    load_seconds: float  # how long the 8 askers ask while the index is reindexed
    load_questions: int  # distinct questions the askers take in turn
    squad_articles: int  # SQuAD 2.0 dev articles in the passage sets (0: all 35)


FULL = Sizes("full", None, 2, (10_000, 100_000), 100, 128, None, 3, 3, 60, 30, 60, 3000, 0)
QUICK = Sizes("quick", 1_000, 1, (2_000, 10_000), 30, 48, 40, 2, 2, 20, 10, 15, 1000, 8)


def sizes_by_name(name: str) -> Sizes:
    return {"full": FULL, "quick": QUICK}[name]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2),
            "mean": round(float(np.mean(values)), 2), "n": len(values)}


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_json(path: Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False, default=_plain), encoding="utf-8")


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Sizes):
        return asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@dataclass
class ChildResult:
    data: dict
    peak_rss_mb: float
    seconds: float


def run_child(module: str, args: list[str], out: Path, env: dict[str, str] | None = None) -> ChildResult:
    """Runs `python -m bench.<module> ... --out <out>` and returns what it wrote, with its peak RSS.

    The peak RSS is the child's own high-water mark as the kernel reports it to `wait4`, so every measurement
    gets its own figure (getrusage(RUSAGE_CHILDREN) would only give the maximum over all children so far).
    """
    command = [sys.executable, "-m", f"bench.{module}", *map(str, args), "--out", str(out)]
    started = time.perf_counter()
    print(f"[bench] {module} {' '.join(map(str, args))}", flush=True)
    proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=REPO)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"bench.{module} failed with exit status {proc.returncode}")
    print(f"[bench] {module} done in {seconds:.0f}s", flush=True)
    return ChildResult(read_json(out), usage.ru_maxrss / 1024, seconds)  # Linux reports KiB


def child_arguments(description: str):
    """The argument parser every child starts from: it must write its result to `--out`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    return parser


def load_questions(n: int) -> list[str]:
    """The benchmark's questions: the hand-written ones, then cryptonews headlines turned into questions."""
    questions = [line.strip() for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("#")]
    if len(questions) < n:
        import random

        rows = [json.loads(line) for line in CRYPTONEWS.open(encoding="utf-8")]
        rng = random.Random(5)
        for row in rng.sample(rows, n - len(questions)):
            questions.append(f"What happened: {row['title']}?")
    return questions[:n]


def scifact_subset(corpus: dict, qrels: dict, extra_docs: int) -> dict:
    """SciFact's judged documents and the first `extra_docs` others (0: the whole corpus), as the encoder
    benchmark and the passage builder both take them (so the second finds the first's vectors in the cache)."""
    if not extra_docs:
        return corpus
    judged = {doc for rels in qrels.values() for doc in rels}
    keep = judged | set([d for d in corpus if d not in judged][:extra_docs])
    return {d: doc for d, doc in corpus.items() if d in keep}
