"""Digital-Asset Policy Q&A: load, chunk, embed, store, retrieve, answer, evaluate."""
