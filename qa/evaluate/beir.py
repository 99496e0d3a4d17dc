"""Loading of a BEIR dataset folder: corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv.

Returns plain dicts shaped for qa.evaluate.metrics; a missing or malformed file raises BeirFormatError.
"""

import json
from pathlib import Path

Corpus = dict[str, dict[str, str]]
Queries = dict[str, str]
Qrels = dict[str, dict[str, int]]

QRELS_HEADER = ("query-id", "corpus-id", "score")


class BeirFormatError(ValueError):
    """A BEIR file is missing or malformed; the message names the file, the line and the fix."""


def load_beir(dir: str | Path, split: str) -> tuple[Corpus, Queries, Qrels]:
    """Read a BEIR folder as (corpus, queries, qrels).

    corpus: doc id -> {"title": ..., "text": ...} (a missing title reads as "");
    queries: query id -> text, only the queries judged in qrels/SPLIT.tsv (as BEIR's loader does);
    qrels: query id -> doc id -> relevance, every row of the split including relevance 0.
    """
    folder = Path(dir)
    corpus = {
        doc_id: {"title": record.get("title") or "", "text": record["text"]}
        for doc_id, record in _read_jsonl(folder / "corpus.jsonl", optional_title=True).items()
    }
    all_queries = {query_id: record["text"] for query_id, record in _read_jsonl(folder / "queries.jsonl").items()}
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv", all_queries)
    queries = {query_id: all_queries[query_id] for query_id in qrels}
    return corpus, queries, qrels


def _read_jsonl(path: Path, optional_title: bool = False) -> dict[str, dict]:
    records: dict[str, dict] = {}
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BeirFormatError(
                f"{path}, line {number}: not valid JSON ({error.msg}). "
                "Fix: write one JSON object per line, e.g. {\"_id\": \"d1\", \"title\": \"\", \"text\": \"...\"}."
            ) from None
        if not isinstance(record, dict):
            raise BeirFormatError(f"{path}, line {number}: expected a JSON object. Fix: one object per line.")
        for field in ("_id", "text"):
            if not isinstance(record.get(field), str):
                raise BeirFormatError(
                    f"{path}, line {number}: field '{field}' is missing or not a string. "
                    f"Fix: give every line a string '{field}'."
                )
        if optional_title and record.get("title") is not None and not isinstance(record["title"], str):
            raise BeirFormatError(
                f"{path}, line {number}: field 'title' is not a string. Fix: use a string title or \"\"."
            )
        if record["_id"] in records:
            raise BeirFormatError(
                f"{path}, line {number}: duplicate _id {record['_id']!r}. Fix: give every line a unique '_id'."
            )
        records[record["_id"]] = record
    return records


def _read_qrels(path: Path, queries: Queries) -> Qrels:
    lines = _read_lines(path)
    if not lines or tuple(lines[0].split("\t")) != QRELS_HEADER:
        raise BeirFormatError(
            f"{path}, line 1: expected the header 'query-id<TAB>corpus-id<TAB>score'. "
            "Fix: make the first line that header, tab-separated."
        )
    qrels: Qrels = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise BeirFormatError(
                f"{path}, line {number}: expected 3 tab-separated fields, got {len(fields)}. "
                "Fix: write 'query-id<TAB>corpus-id<TAB>score'."
            )
        query_id, doc_id, score = fields
        try:
            relevance = int(score)
        except ValueError:
            raise BeirFormatError(
                f"{path}, line {number}: score {score!r} is not an integer. Fix: write an integer relevance."
            ) from None
        if query_id not in queries:
            raise BeirFormatError(
                f"{path}, line {number}: query-id {query_id!r} is not in queries.jsonl. "
                "Fix: add the query to queries.jsonl or drop the row."
            )
        qrels.setdefault(query_id, {})[doc_id] = relevance
    return qrels


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BeirFormatError(
            f"{path}: file not found. Fix: a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv."
        ) from None
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise BeirFormatError(f"{path}, line {line}: not valid UTF-8. Fix: save the file as UTF-8.") from None
