"""Retrieval evaluation on a BEIR folder: indexes its corpus with the app's own reindex into a temporary
folder, runs every judged query through `Retriever.search` in bm25, dense and hybrid mode, and scores them.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.evaluate.beir import Corpus, Qrels, Queries, load_beir
from qa.evaluate.metrics import evaluate_run
from qa.index.embed import Embedder
from qa.index.local import LocalGenerations
from qa.index.reindex import ReindexReport, reindex
from qa.search.retrieve import IndexReader, Retriever
from qa.settings import Settings

MODES = ("bm25", "dense", "hybrid")
CUTOFFS = (10, 100)
BEIR_FILE = "corpus.jsonl"  # the name of the corpus file inside the temporary corpus folder

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def doc_id_of(article_id: str) -> str:
    """The BEIR doc id of a chunk's article: the JSONL loader names articles `<file>#<_id>`."""
    return article_id.split("#", 1)[1]


def write_beir_corpus(corpus: Corpus, folder: Path) -> Path:
    """The BEIR documents as one JSONL article file that `qa.ingest.load` reads (title + text per line).

    A document without a title gets its id as title (the loader's rule for untitled JSONL lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / BEIR_FILE
    with path.open("w", encoding="utf-8") as fh:
        for doc_id, doc in corpus.items():
            fh.write(json.dumps({"_id": doc_id, "title": doc["title"], "text": doc["text"]}, ensure_ascii=False) + "\n")
    return path


class BeirIndex:
    """A BEIR corpus indexed by `qa.index.reindex` into a temporary folder that is deleted on `close()`.

    The settings are the app's except `corpus_dir`, `index_dir` and the store (always the embedded one), so
    chunking, the embedding model and the embedding cache (`cache_dir`, where vectors of an earlier run are
    reused) are the app's own.
    """

    def __init__(self, settings: Settings, corpus: Corpus, *, embedder: Embedder | None = None,
                 progress: Progress | None = None):
        self._root = Path(tempfile.mkdtemp(prefix="qa-beir-"))
        self.settings = settings.model_copy(update={"corpus_dir": self._root / "corpus",
                                                    "index_dir": self._root / "index"})
        # Local generations in the temporary folder even when the app uses a Chroma server (QA_CHROMA_HOST).
        self.backend = LocalGenerations(self.settings.index_dir)
        self.reader = IndexReader(self.backend)
        try:
            write_beir_corpus(corpus, self.settings.corpus_dir)
            self.embedder = embedder or Embedder(self.settings)
            started = time.perf_counter()
            self.report: ReindexReport = reindex(self.settings, full=True, embedder=self.embedder, progress=progress,
                                                  backend=self.backend)
            self.index_seconds = time.perf_counter() - started
            self.reader.refresh()
        except BaseException:
            self.close()
            raise

    def retriever(self, **setting_overrides) -> Retriever:
        """A retriever over this index; keyword arguments override settings (e.g. `rrf_k=20`)."""
        settings = self.settings.model_copy(update=setting_overrides) if setting_overrides else self.settings
        return Retriever(settings, self.embedder, self.reader)

    @property
    def chunks_per_doc(self) -> float:
        return len(self.reader.chunks) / max(1, len({c.article_id for c in self.reader.chunks}))

    def close(self) -> None:
        self.backend.close()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> BeirIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def search_docs(retriever: Retriever, query: str, mode: str, docs: int = max(CUTOFFS),
                chunks_per_doc: float = 2.0) -> dict[str, float]:
    """The top `docs` documents for a query: chunks are retrieved in `mode` and a document scores the best
    score of its chunks. Asks for more chunks until `docs` distinct documents come back (or none are left)."""
    total = len(retriever.reader.chunks)
    k = min(total, math.ceil(docs * max(1.0, chunks_per_doc)) + 10)
    while True:
        hits = retriever.search(query, k=k, mode=mode, candidates=k).hits
        scores: dict[str, float] = {}
        for hit in hits:
            doc_id = doc_id_of(hit.chunk.article_id)
            if hit.score > scores.get(doc_id, -math.inf):
                scores[doc_id] = hit.score
        if len(scores) >= docs or k >= total or len(hits) < k:
            return scores
        k = min(total, 2 * k)


@dataclass
class RetrievalEvalResult:
    metrics: dict[str, dict[str, float]]  # mode -> {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    dataset: str
    split: str
    queries: int
    documents: int
    chunks: int
    index_seconds: float
    search_seconds: dict[str, float]
    settings: dict

    def to_json(self) -> dict:
        """The `qa eval retrieval --json` object: one key per mode, each holding the four metrics."""
        return {mode: {name: round(value, 4) for name, value in values.items()}
                for mode, values in self.metrics.items()}

    def report(self) -> dict:
        """`to_json()` plus what was measured and how long it took, for the report file."""
        return {
            "metrics": self.to_json(), "dataset": self.dataset, "split": self.split, "queries": self.queries,
            "documents": self.documents, "chunks": self.chunks, "index_seconds": round(self.index_seconds, 1),
            "search_seconds": {m: round(s, 1) for m, s in self.search_seconds.items()}, "settings": self.settings,
        }


class RetrievalEvaluator:
    """Scores retrieval of a BEIR dataset split in each mode of `Retriever.search` ("bm25", "dense",
    "hybrid") with the BEIR / trec_eval metrics of `qa.evaluate.metrics`:

    - ``ndcg@10``: nDCG at 10, linear gain, over judged queries;
    - ``recall@10`` and ``recall@100``: share of each query's relevant documents in its top 10 / 100;
    - ``mrr@10``: reciprocal rank of the first relevant document in the top 10.

    Documents are the BEIR corpus entries, indexed as articles (title + text, chunked by the app's chunker);
    a document's score for a query is the best score of its chunks.
    """

    def __init__(self, settings: Settings, *, modes: Sequence[str] = MODES, embedder: Embedder | None = None):
        unknown = set(modes) - set(MODES)
        if unknown:
            raise ValueError(f"unknown retrieval modes {sorted(unknown)}; choose from {MODES}")
        self.settings = settings
        self.modes = tuple(modes)
        self.embedder = embedder

    def evaluate(self, beir_dir: str | Path, split: str = "test",
                 progress: Progress | None = None) -> RetrievalEvalResult:
        corpus, queries, qrels = load_beir(beir_dir, split)
        with BeirIndex(self.settings, corpus, embedder=self.embedder, progress=progress) as index:
            return self.evaluate_index(index, queries, qrels, dataset=str(beir_dir), split=split, progress=progress)

    def evaluate_index(self, index: BeirIndex, queries: Queries, qrels: Qrels, *, dataset: str = "", split: str = "",
                       progress: Progress | None = None, **setting_overrides) -> RetrievalEvalResult:
        """Scores an index built once, e.g. under several settings (`rrf_k=...`) while tuning."""
        retriever = index.retriever(**setting_overrides)
        metrics: dict[str, dict[str, float]] = {}
        seconds: dict[str, float] = {}
        for mode in self.modes:
            started = time.perf_counter()
            run = {}
            for done, (query_id, text) in enumerate(queries.items(), start=1):
                run[query_id] = search_docs(retriever, text, mode, max(CUTOFFS), index.chunks_per_doc)
                if progress:
                    progress(f"search {mode}", done, len(queries))
            seconds[mode] = time.perf_counter() - started
            metrics[mode] = evaluate_run(run, qrels, CUTOFFS)
        tuned = {name: getattr(retriever.settings, name)
                 for name in ("rrf_k", "chunk_tokens", "chunk_overlap_sentences", "embedding_model",
                              "embedding_backend")}
        return RetrievalEvalResult(
            metrics=metrics, dataset=dataset, split=split, queries=len(queries),
            documents=len({c.article_id for c in index.reader.chunks}), chunks=len(index.reader.chunks),
            index_seconds=index.index_seconds, search_seconds=seconds, settings=tuned,
        )
