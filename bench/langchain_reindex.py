"""Times the LangChain tutorial's indexing pipeline on the same articles: read the JSONL file into
`Document`s, `RecursiveCharacterTextSplitter`, `HuggingFaceEmbeddings` on the packaged model, and
`Chroma.from_documents` into a persistent folder.

As on our side, the model is loaded and warmed up before the timer starts. The splitter uses the tutorial's
chunk size and overlap (1,000 and 200 characters); a document is the headline and the text, which is what
our chunks embed too.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from bench.common import child_arguments, write_json


def main() -> None:
    parser = child_arguments(__doc__)
    parser.add_argument("--corpus-dir", type=Path, required=True)
    parser.add_argument("--persist-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from qa.index.embed import PACKAGED_MODEL, resolve_model_dir

    embeddings = HuggingFaceEmbeddings(model_name=str(resolve_model_dir(PACKAGED_MODEL)),
                                       model_kwargs={"device": "cpu"})
    embeddings.embed_documents(["warm-up text"] * 64)

    seconds, chunks = [], 0
    for rep in range(args.repeats):
        t = time.perf_counter()
        documents = []
        with (args.corpus_dir / "corpus.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                meta = row.get("metadata") or {}
                documents.append(Document(
                    page_content=f"{row['title']}\n{row['text']}",
                    metadata={"id": row["_id"], "source": meta.get("source") or "", "url": meta.get("url") or ""},
                ))
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        splits = splitter.split_documents(documents)
        store = Chroma.from_documents(splits, embeddings, collection_name="langchain",
                                      persist_directory=str(args.persist_dir / f"run-{rep}"))
        seconds.append(time.perf_counter() - t)
        chunks = store._collection.count()
        print(f"  rep {rep}: {seconds[-1]:.1f}s for {len(documents)} documents, {chunks} chunks", flush=True)
    write_json(args.out, {"seconds": seconds, "documents": len(documents), "chunks": chunks})


if __name__ == "__main__":
    main()
