"""Digital-Asset Policy Q&A: answers questions about digital-asset regulation from indexed articles,
with numbered citations. The pipeline reads as its modules: load, chunk, embed, store, retrieve, answer.
"""
