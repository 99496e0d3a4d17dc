"""Measured figures live in bench/results.md and docs/performance.md, which a benchmark run rewrites;
comments and docstrings in the code only point there, so they never quote a figure that went stale."""
from __future__ import annotations

import ast
import io
import re
import tokenize

from tests.seed import REPO_ROOT

# A ratio (1.23x, 2×), a percentage, a duration (58.3 s, 9.8 ms) or a throughput (26 texts/s).
FIGURE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:x|×)(?!\w)|\b\d+(?:\.\d+)?\s?%|\b\d+(?:\.\d+)?\s?(?:ms|s|min)\b"
                    r"|\b\d+(?:\.\d+)?\s?(?:texts|chunks)/s\b")


def prose_of(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring of a module."""
    found = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((node.body[0].lineno, doc))
    return found


def test_no_comment_or_docstring_quotes_a_benchmark_figure():
    quoted = [f"{path.relative_to(REPO_ROOT)}:{line}: {match.group(0)!r}"
              for folder in ("qa", "ui") for path in sorted((REPO_ROOT / folder).rglob("*.py"))
              for line, text in prose_of(path.read_text(encoding="utf-8"))
              for match in FIGURE.finditer(text)]

    assert not quoted, "figures belong in bench/results.md:\n" + "\n".join(quoted)


def test_the_figure_pattern_finds_the_figures_it_is_meant_to():
    text = "took 1.40x the encoder, 58.3 s, p95 9.8 ms, 26.2 texts/s, 15% slower"
    assert [m.group(0) for m in FIGURE.finditer(text)] == ["1.40x", "58.3 s", "9.8 ms", "26.2 texts/s", "15%"]
