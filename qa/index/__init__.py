"""Embedding chunks and keeping them in a searchable index (local generations or a Chroma server).
"""
