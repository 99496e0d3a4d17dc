"""The `qa` command as a user runs it: real processes, real index."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.seed import LEAP_TITLE, SEED_CORPUS


def run_qa(settings, *args, check_code=None):
    env = {**os.environ, "QA_CORPUS_DIR": str(settings.corpus_dir), "QA_INDEX_DIR": str(settings.index_dir),
           "QA_CACHE_DIR": str(settings.cache_dir)}
    proc = subprocess.run([sys.executable, "-m", "qa", *args], env=env, capture_output=True, text=True, timeout=600)
    if check_code is not None:
        assert proc.returncode == check_code, proc.stderr
    return proc


@pytest.fixture(scope="module")
def cli_settings(tmp_path_factory, cache_dir):
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("cli")
    shutil.copytree(SEED_CORPUS, root / "corpus")
    return Settings(corpus_dir=root / "corpus", index_dir=root / "index", cache_dir=cache_dir)


def test_reindex_twice_then_ask_json(cli_settings):
    first = run_qa(cli_settings, "reindex", "--quiet", check_code=0)
    assert "added 4, updated 0, removed 0, unchanged 0, failed 0" in first.stdout
    second = run_qa(cli_settings, "reindex", check_code=0)
    assert "added 0, updated 0, removed 0, unchanged 4, failed 0" in second.stdout

    proc = run_qa(cli_settings, "ask", "--json", "What incentive does Hong Kong plan for tokenized ETFs?", check_code=0)
    data = json.loads(proc.stdout)
    assert "stamp duty" in data["answer"]
    assert data["citations"][0]["title"] == LEAP_TITLE
    assert data["abstained"] is False


def test_ask_prints_answer_and_numbered_sources(cli_settings):
    run_qa(cli_settings, "reindex", "--quiet")
    proc = run_qa(cli_settings, "ask", "--k", "3", "What does the LEAP acronym stand for?", check_code=0)
    assert "People and partnership development" in proc.stdout
    assert f"[1] {LEAP_TITLE} (CoinNess, 2025-06-27)" in proc.stdout


def test_ask_without_index_is_a_clear_error(tmp_path, cache_dir):
    from qa.settings import Settings

    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "none", cache_dir=cache_dir)
    proc = run_qa(settings, "ask", "anything", check_code=2)
    assert "no index" in proc.stderr and "qa reindex" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_setting_names_the_variable(cli_settings):
    env_proc = subprocess.run([sys.executable, "-m", "qa", "status"], capture_output=True, text=True,
                              env={**os.environ, "QA_TOP_K": "many"})
    assert env_proc.returncode == 2
    assert "QA_TOP_K" in env_proc.stderr


@pytest.mark.parametrize("k", ["0", "-2"])
def test_ask_refuses_fewer_than_one_passage(cli_settings, k):
    proc = run_qa(cli_settings, "ask", "--k", k, "What does the LEAP acronym stand for?", check_code=2)

    assert "--k" in proc.stderr and "at least 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_reindex_prints_no_debug_lines_at_the_default_log_level(cli_settings):
    proc = run_qa(cli_settings, "reindex", "--full", "--quiet", check_code=0)

    assert "DEBUG" not in proc.stderr
    assert proc.stdout.startswith("added ")
