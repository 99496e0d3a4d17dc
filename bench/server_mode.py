"""Server mode against embedded mode on one machine: reindex throughput, question latency, the time an app
instance takes to reread the index from the server, and SmolLM2's generation speed in llama.cpp.

    PYTHONPATH=. QA_CACHE_DIR=/work/qa-cache python bench/server_mode.py [--copies 50] [--out bench/server-mode.json]

The corpus is the seed corpus copied `--copies` times under new file names, each copy ending in its own
sentence (identical files count as duplicates): most chunk texts are in the embedding cache after the first
run, so the reindex figures mostly measure chunking, storing and BM25, not the encoder.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.index.embed import Embedder  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402
from qa.settings import Settings  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
from tests.servers import ChromaServer, smollm2_gguf_path  # noqa: E402

QUESTIONS = [
    "What incentive does Hong Kong plan for tokenized ETFs?",
    "When does Hong Kong's licensing regime for stablecoin issuers start?",
    "Is crypto property under Hong Kong law?",
    "Where was stWEMIX listed?",
    "What rules will South Korea apply to ICOs?",
]


def make_corpus(folder: Path, copies: int) -> None:
    folder.mkdir(parents=True)
    for n in range(copies):
        for path in (REPO_ROOT / "corpus").glob("*.md"):
            text = path.read_text(encoding="utf-8").rstrip() + f"\n\nThis is copy number {n} of the article.\n"
            (folder / f"{path.stem}-{n:03d}.md").write_text(text, encoding="utf-8")


def question_latency(pipeline: Pipeline, rounds: int) -> dict:
    pipeline.retriever.search(QUESTIONS[0])  # opens the index
    stages: dict[str, list[float]] = {}
    for _ in range(rounds):
        for question in QUESTIONS:
            started = time.perf_counter()
            result = pipeline.retriever.search(question)
            stages.setdefault("total", []).append((time.perf_counter() - started) * 1000)
            for stage, ms in result.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
    return {f"{stage}_median_ms": round(statistics.median(times), 1) for stage, times in stages.items()}


def llama_tokens_per_second(threads: int) -> dict:
    from llama_cpp import Llama

    llama = Llama(model_path=str(smollm2_gguf_path()), n_ctx=2048, n_threads=threads, verbose=False)
    prompt = [{"role": "user", "content": "Explain in three sentences what a stablecoin is. " * 20}]
    prompt_tokens = len(llama.tokenize(prompt[0]["content"].encode()))
    started = time.perf_counter()
    first = None
    pieces = 0
    for part in llama.create_chat_completion(prompt, max_tokens=128, temperature=0, stream=True):
        if part["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter()
            pieces += 1
    end = time.perf_counter()
    return {"threads": threads, "prompt_tokens": prompt_tokens, "time_to_first_token_s": round(first - started, 2),
            "prompt_tokens_per_s": round(prompt_tokens / (first - started), 1), "generated_tokens": pieces,
            "generated_tokens_per_s": round((pieces - 1) / (end - first), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/server-mode.json"))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-server-"))
    server = ChromaServer(path=root / "chroma-server", log_path=root / "chroma.log")
    results: dict = {"copies": args.copies}
    try:
        make_corpus(root / "corpus", args.copies)
        base = Settings(corpus_dir=root / "corpus", index_dir=root / "embedded")
        embedder = Embedder(base)
        server.start()
        modes = {"embedded": base,
                 "server": base.model_copy(update={"index_dir": root / "server", "chroma_host": server.host,
                                                   "chroma_port": server.port})}
        for name, settings in modes.items():
            pipeline = Pipeline(settings, embedder=embedder)
            report = pipeline.reindex(full=True)
            results[f"reindex_{name}"] = {"chunks": report.chunks, "seconds": round(report.seconds, 2),
                                          "chunks_per_s": round(report.chunks / report.seconds, 1)}
            results[f"question_{name}"] = question_latency(pipeline, args.rounds)
        reader = Pipeline(modes["server"], embedder=embedder).reader
        started = time.perf_counter()
        reader.refresh()
        results["server_reader_reload"] = {"chunks": len(reader.chunks),
                                           "seconds": round(time.perf_counter() - started, 2)}
        try:
            results["llama_cpp_smollm2"] = llama_tokens_per_second(threads=1)
        except (ImportError, FileNotFoundError) as exc:
            results["llama_cpp_smollm2"] = f"not measured: {exc}"
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
