"""Specification of qa.evaluate.beir.load_beir on a tiny folder, on broken files, and on SciFact."""

import json
from pathlib import Path

import pytest

from qa.evaluate.beir import BeirFormatError, load_beir

SCIFACT = Path("/work/shared/datasets/scifact")
CORPUS = [
    {"_id": "d1", "title": "Stablecoins", "text": "Issuers need a licence."},
    {"_id": "d2", "text": "No title here."},
]
QUERIES = [
    {"_id": "q1", "text": "Who needs a licence?"},
    {"_id": "q2", "text": "Untitled?"},
    {"_id": "q3", "text": "Judged only in another split."},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td1\t0\n"


def write_folder(root: Path, corpus: str | None = None, queries: str | None = None, qrels: str = QRELS) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(corpus or "\n".join(json.dumps(doc) for doc in CORPUS) + "\n")
    (root / "queries.jsonl").write_text(queries or "\n".join(json.dumps(query) for query in QUERIES) + "\n")
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


def test_a_folder_loads_as_corpus_judged_queries_and_qrels(tmp_path):
    corpus, queries, qrels = load_beir(write_folder(tmp_path), "test")

    assert corpus == {
        "d1": {"title": "Stablecoins", "text": "Issuers need a licence."},
        "d2": {"title": "", "text": "No title here."},
    }
    assert queries == {"q1": "Who needs a licence?", "q2": "Untitled?"}
    assert qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}


def test_a_missing_split_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(BeirFormatError, match=r"qrels/dev\.tsv: file not found\. Fix: ") as error:
        load_beir(write_folder(tmp_path), "dev")
    assert isinstance(error.value, ValueError)


def test_a_line_that_is_not_json_names_the_file_and_line(tmp_path):
    corpus = json.dumps(CORPUS[0]) + "\n{not json\n"
    with pytest.raises(BeirFormatError, match=r"corpus\.jsonl, line 2: not valid JSON .*Fix: "):
        load_beir(write_folder(tmp_path, corpus=corpus), "test")


def test_a_query_without_text_names_the_field(tmp_path):
    queries = json.dumps({"_id": "q1"}) + "\n"
    with pytest.raises(BeirFormatError, match=r"queries\.jsonl, line 1: field 'text' is missing"):
        load_beir(write_folder(tmp_path, queries=queries), "test")


def test_a_qrels_file_without_the_header_is_rejected_at_line_1(tmp_path):
    with pytest.raises(BeirFormatError, match=r"test\.tsv, line 1: expected the header"):
        load_beir(write_folder(tmp_path, qrels="q1\td1\t1\n"), "test")


def test_a_score_that_is_not_an_integer_names_its_line(tmp_path):
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\thigh\n"
    with pytest.raises(BeirFormatError, match=r"test\.tsv, line 3: score 'high' is not an integer"):
        load_beir(write_folder(tmp_path, qrels=qrels), "test")


def test_a_row_with_the_wrong_number_of_fields_names_its_line(tmp_path):
    qrels = "query-id\tcorpus-id\tscore\nq1 d1 1\n"
    with pytest.raises(BeirFormatError, match=r"test\.tsv, line 2: expected 3 tab-separated fields, got 1"):
        load_beir(write_folder(tmp_path, qrels=qrels), "test")


def test_a_judgement_for_an_unknown_query_names_its_line(tmp_path):
    qrels = "query-id\tcorpus-id\tscore\nq9\td1\t1\n"
    with pytest.raises(BeirFormatError, match=r"test\.tsv, line 2: query-id 'q9' is not in queries\.jsonl"):
        load_beir(write_folder(tmp_path, qrels=qrels), "test")


@pytest.mark.skipif(not SCIFACT.exists(), reason=f"{SCIFACT} is not present on this machine")
def test_scifact_train_has_809_judged_queries_over_5183_documents():
    corpus, queries, qrels = load_beir(SCIFACT, "train")

    assert len(corpus) == 5183
    assert len(queries) == 809
    assert len(qrels) == 809
