"""Turning retrieved passages into a cited answer: the extractive reader and LLM generation.
"""
