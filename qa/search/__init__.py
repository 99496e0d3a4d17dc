"""Finding the passages that answer a question: dense and BM25 retrieval, fused, with filters.
"""
