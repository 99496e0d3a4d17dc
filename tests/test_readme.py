"""The README documents every setting and both set-up commands."""
from qa.settings import Settings
from tests.seed import REPO_ROOT


def test_every_setting_is_in_the_readme_table():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f"QA_{name.upper()}" for name in Settings.model_fields if f"`QA_{name.upper()}`" not in readme]
    assert missing == []


def test_readme_shows_the_two_setup_commands():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme


def test_the_performance_figures_in_the_readme_and_the_settings_help_are_results_json():
    """README's performance table and the int8 speed-up quoted by README and by `QA_EMBEDDING_BACKEND`'s help are
    written from bench/results.json by `python -m bench.readme_table`, never by hand."""
    from bench.readme_table import RESULTS, stale

    assert stale(RESULTS) == [], "run `python -m bench.readme_table` (make bench does)"


def test_the_readme_table_shows_each_figure_of_results_json(tmp_path):
    import json

    from bench.readme_table import table

    figures = {"retrieval_filtered_p95_ms_100k": 31.25, "load_questions_per_s": 40.0, "load_p95_ms": 310.0,
               "load_errors": 0.0, "incremental_fraction": 0.033}
    (tmp_path / "results.json").write_text(json.dumps(figures))
    rows = table(figures).splitlines()
    assert any(row.startswith("| filtered retrieval p95 at 100k") and row.endswith("| 31.2 ms | ≤ 50.0 ms | met |")
               for row in rows)
    assert any("40.0/s / 310 ms / 0 |" in row and row.endswith("| met |") for row in rows)
    assert any("3.3% | ≤ 5.0% | met |" in row for row in rows)
    assert len(rows) == 2 + 3
