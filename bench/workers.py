"""One system's ingest or queries, run in its own process by `python -m bench`.

`python -m bench.workers SYSTEM PHASE --corpus FILE --work DIR [--queries FILE]` prints
one JSON line: for `ingest`, what it built (chunks; for `bare`, the encode seconds); for
`query`, each query's ranked document ids and its latency. The parent measures wall time
and peak memory of the whole process (imports and model load included).

The LangChain and LlamaIndex pipelines are the ones their users would write from the
projects' own getting-started pages, on the same bundled model and Chroma.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["SYSTEMS", "main"]

K = 10  # chunks asked for per query


def _rows(corpus: Path) -> Iterator[tuple[str, str, str]]:
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                yield str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or "")


def _model_path() -> str:
    from rag.config import EmbedderConfig
    from rag.embed.model_files import resolve_model_dir

    return str(resolve_model_dir(EmbedderConfig()))


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _timed_queries(queries: dict[str, str], search: Callable[[str], list[str]]) -> dict[str, Any]:
    search("warm-up question")
    ranked, latency = {}, []
    for qid, text in queries.items():
        started = time.perf_counter()
        ranked[qid] = _unique(search(text))
        latency.append((time.perf_counter() - started) * 1000)
    return {"ranked": ranked, "latency_ms": latency}


# --- LangChain: RecursiveCharacterTextSplitter(500, 0) -> HuggingFaceEmbeddings -> Chroma


def _langchain_store(work: Path) -> Any:
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(model_name=_model_path())
    return Chroma(
        collection_name="bench", embedding_function=embeddings, persist_directory=str(work)
    )


def langchain_ingest(corpus: Path, work: Path) -> dict[str, Any]:
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [
        Document(page_content=f"{title}\n{text}".strip(), metadata={"doc_id": doc_id})
        for doc_id, title, text in _rows(corpus)
    ]
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    chunks = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=0).split_documents(docs)
    embeddings = HuggingFaceEmbeddings(model_name=_model_path())
    # from_documents, as the tutorials write it (it also cuts Chroma's batches to size)
    Chroma.from_documents(chunks, embeddings, collection_name="bench", persist_directory=str(work))
    return {"chunks": len(chunks)}


def langchain_query(work: Path, queries: dict[str, str]) -> dict[str, Any]:
    store = _langchain_store(work)
    return _timed_queries(
        queries, lambda q: [d.metadata["doc_id"] for d in store.similarity_search(q, k=K)]
    )


# --- LlamaIndex: SentenceSplitter -> HuggingFaceEmbedding -> VectorStoreIndex on Chroma


def _llama_store(work: Path) -> Any:
    import chromadb
    from llama_index.core import Settings
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    Settings.embed_model = HuggingFaceEmbedding(model_name=_model_path())
    Settings.llm = None
    collection = chromadb.PersistentClient(path=str(work)).get_or_create_collection("bench")
    return ChromaVectorStore(chroma_collection=collection)


def llamaindex_ingest(corpus: Path, work: Path) -> dict[str, Any]:
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter

    store = _llama_store(work)
    docs = [
        Document(text=f"{title}\n{text}".strip(), doc_id=doc_id, metadata={"doc_id": doc_id})
        for doc_id, title, text in _rows(corpus)
    ]
    index = VectorStoreIndex.from_documents(
        docs,
        storage_context=StorageContext.from_defaults(vector_store=store),
        transformations=[SentenceSplitter()],
    )
    return {"chunks": len(index.index_struct.nodes_dict) or store._collection.count()}


def llamaindex_query(work: Path, queries: dict[str, str]) -> dict[str, Any]:
    from llama_index.core import VectorStoreIndex

    retriever = VectorStoreIndex.from_vector_store(_llama_store(work)).as_retriever(
        similarity_top_k=K
    )
    return _timed_queries(
        queries, lambda q: [n.node.metadata["doc_id"] for n in retriever.retrieve(q)]
    )


# --- ours: `rag ingest --jsonl` (run by the parent as the CLI); queries through Runtime.open


def ours_query(work: Path, queries: dict[str, str], mode: str) -> dict[str, Any]:
    from rag.config import load_config
    from rag.runtime import Runtime

    os.environ["RAG_DATA_DIR"] = str(work)
    if mode != "default":
        os.environ["RAG_RETRIEVAL__MODE"] = mode
    with Runtime.open(load_config()) as runtime:
        search = runtime.kb().pipeline.search
        return _timed_queries(queries, lambda q: [h.chunk.doc_id for h in search.retrieve(q, K)])


# --- the bare model: SentenceTransformer.encode over the texts our pipeline embeds (fp32)


def bare_ingest(corpus: Path, work: Path) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    from ingest.run import corpus_document
    from ingest.split import TokenSplitter
    from ingest.writer import embedding_text
    from rag.config import EmbedderConfig, load_config
    from rag.embed import create_embedder

    # our chunks of the corpus, with the headers our pipeline puts on them
    tokenizer = create_embedder(EmbedderConfig(backend="sentence_transformers")).tokenizer
    splitter = TokenSplitter(load_config().chunker, tokenizer)
    texts = [
        embedding_text(chunk, tokenizer)
        for doc_id, title, text in _rows(corpus)
        for chunk in splitter.split(
            corpus_document(corpus, {"_id": doc_id, "title": title, "text": text})
        )
    ]
    model = SentenceTransformer(_model_path(), device="cpu")
    started = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return {"chunks": len(texts), "encode_s": time.perf_counter() - started}


SYSTEMS: dict[str, dict[str, Callable[..., dict[str, Any]]]] = {
    "langchain": {"ingest": langchain_ingest, "query": langchain_query},
    "llamaindex": {"ingest": llamaindex_ingest, "query": llamaindex_query},
    "ours": {"query": ours_query},
    "bare": {"ingest": bare_ingest},
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("phase", choices=["ingest", "query"])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--queries", type=Path, help="JSON {id: text}")
    parser.add_argument("--mode", default="default")
    args = parser.parse_args(argv)
    run = SYSTEMS[args.system][args.phase]
    if args.phase == "ingest":
        result = run(args.corpus, args.work)
    else:
        queries = json.loads(args.queries.read_text(encoding="utf-8"))
        extra = {"mode": args.mode} if args.system == "ours" else {}
        result = run(args.work, queries, **extra)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
