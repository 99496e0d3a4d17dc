"""Benchmarks of reindexing, encoding, retrieval, answering, memory and start-up (`make bench`).

Each measurement runs in its own subprocess (for its peak RSS and a clean import state); `bench.run` drives
them and writes `bench/results.json` and `bench/results.md`.
"""
