"""Evaluation of retrieval runs and answers against judged questions."""
