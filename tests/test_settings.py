"""Where the settings put things: relative folders, the defaults included, are in the working directory,
the same place `.env` is read from, so an installed package never writes beside its own code."""
from __future__ import annotations

from qa.settings import Settings

FOLDERS = ("corpus_dir", "index_dir", "cache_dir", "reports_dir", "feedback_path")


def test_default_folders_are_in_the_working_directory(tmp_path, monkeypatch):
    for name in FOLDERS:
        monkeypatch.delenv(f"QA_{name.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)

    settings = Settings()

    assert settings.index_dir == tmp_path / "index"
    assert settings.corpus_dir == tmp_path / "corpus"
    assert all(getattr(settings, name).is_relative_to(tmp_path) for name in FOLDERS)


def test_a_relative_folder_in_dot_env_is_relative_to_the_working_directory_too(tmp_path, monkeypatch):
    monkeypatch.delenv("QA_INDEX_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("QA_INDEX_DIR=data/index\n", encoding="utf-8")

    assert Settings().index_dir == tmp_path / "data" / "index"
