"""Specification of `qa eval qa` and `qa eval retrieval`, run as a user runs them (a subprocess)."""
import json
import os
import shutil
import subprocess
import sys

from qa.evaluate.report import QA_REPORT, RETRIEVAL_REPORT
from tests.seed import REPO_ROOT

ASK_JSON_FIELDS = {"question", "answer", "abstained", "mode", "citations", "retrieved", "timings_ms", "sentences",
                   "evidence"}
QA_SUMMARY_FIELDS = {"questions", "answerable", "unanswerable", "answer_accuracy", "recall@5", "citation_accuracy",
                     "citation_precision", "abstention_rate", "false_abstention_rate", "latency_p50_ms",
                     "latency_p95_ms", "by_kind"}


def run_qa(args, env_overrides, timeout=600):
    env = {**os.environ, **{k: str(v) for k, v in env_overrides.items()}}
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO_ROOT)


def test_eval_qa_indexes_a_missing_index_then_reports_every_question(tmp_path, cache_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO_ROOT / "corpus", corpus)
    lines = (REPO_ROOT / "tests/eval/seed_questions.jsonl").read_text(encoding="utf-8").splitlines()
    dataset = tmp_path / "three.jsonl"
    # leap-05, prop-02, none-12
    dataset.write_text("\n".join([lines[4], lines[14], lines[-1]]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    env = {"QA_CORPUS_DIR": corpus, "QA_INDEX_DIR": tmp_path / "index", "QA_CACHE_DIR": cache_dir,
           "QA_REPORTS_DIR": tmp_path / "reports"}

    done = run_qa(["eval", "qa", "--dataset", dataset, "--output", out, "--json"], env)

    assert done.returncode == 0, done.stderr
    assert "indexing the corpus" in done.stderr
    summary = json.loads(done.stdout)
    assert set(summary) == QA_SUMMARY_FIELDS
    assert (summary["questions"], summary["answerable"], summary["unanswerable"]) == (3, 2, 1)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["leap-05", "prop-02", "none-12"]
    assert all(ASK_JSON_FIELDS <= set(r) for r in rows)
    report = json.loads((tmp_path / "reports" / f"{QA_REPORT}.json").read_text(encoding="utf-8"))
    assert [q["id"] for q in report["questions"]] == ["leap-05", "prop-02", "none-12"]
    assert (tmp_path / "reports" / f"{QA_REPORT}.png").read_bytes().startswith(b"\x89PNG")
    assert f"{QA_REPORT}.png" in (tmp_path / "reports" / f"{QA_REPORT}.md").read_text(encoding="utf-8")


def test_eval_qa_names_the_bad_line_of_a_dataset(tmp_path):
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('{"id": "x", "question": "Q?"}\n', encoding="utf-8")

    done = run_qa(["eval", "qa", "--dataset", dataset], {"QA_INDEX_DIR": tmp_path / "index"}, timeout=120)

    assert done.returncode == 2
    assert "line 1: field 'answerable'" in done.stderr and "Traceback" not in done.stderr


def test_eval_retrieval_scores_three_modes_in_a_temporary_index(tmp_path, cache_dir):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = {
        "d1": ("Stablecoin licences", "Hong Kong licenses stablecoin issuers from August."),
        "d2": ("Crypto as property", "A Hong Kong court held that cryptocurrency is property held in trust."),
        "d3": ("Korean ICOs", "South Korea will allow initial coin offerings again under disclosure rules."),
        "d4": ("Bitcoin price", "Bitcoin trades below its all-time high of 126,000 dollars."),
    }
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n"
                                               for k, (t, x) in docs.items()))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "Who licenses stablecoin issuers?"}) + "\n"
                                        + json.dumps({"_id": "q2", "text": "Are coin offerings allowed in Korea?"})
                                        + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    app_index = tmp_path / "app-index"

    done = run_qa(["eval", "retrieval", "--beir", beir, "--json"],
                  {"QA_INDEX_DIR": app_index, "QA_CACHE_DIR": cache_dir, "QA_REPORTS_DIR": tmp_path / "reports"})

    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert set(metrics) == {"bm25", "dense", "hybrid"}
    for values in metrics.values():
        assert set(values) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert values["recall@100"] == 1.0  # four documents: every one is in the top 100
    assert metrics["bm25"]["mrr@10"] == 1.0  # each query shares its rare words with its document only
    assert not app_index.exists()
    assert (tmp_path / "reports" / f"{RETRIEVAL_REPORT}.json").exists()
