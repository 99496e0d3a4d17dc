"""Shared pytest configuration: loads the server fixtures (Chroma, llama.cpp, Chromium)."""

pytest_plugins = ["tests.servers"]
