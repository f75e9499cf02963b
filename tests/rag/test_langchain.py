"""The retriever as a LangChain `BaseRetriever`, inside a real LangChain (LCEL) chain."""

from __future__ import annotations

from pathlib import Path

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from rag.config import RagConfig
from rag.integrations.langchain import RagRetriever
from tests.support.app import ingest, opened

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
QUESTION = "How do I remove a document from the index?"


def test_retriever_in_a_langchain_chain(config: RagConfig) -> None:
    assert ingest(config, [GUIDE]).exit_code == 0
    with opened(config) as app:
        retriever = RagRetriever(kb=app, k=3)
        docs = retriever.invoke(QUESTION)
        ours = retriever.kb.pipeline.search.retrieve(QUESTION, 3)

        prompt = ChatPromptTemplate.from_messages(
            [("system", "Answer from the context.\n\n{context}"), ("human", "{question}")]
        )
        join = RunnableLambda(lambda found: "\n\n".join(d.page_content for d in found))
        chain = {"context": retriever | join, "question": RunnablePassthrough()} | prompt
        messages = chain.invoke(QUESTION).to_messages()

    assert all(isinstance(d, Document) for d in docs) and len(docs) == 3
    assert [d.metadata["chunk_id"] for d in docs] == [h.chunk.chunk_id for h in ours]
    top = docs[0].metadata
    assert top["source"].endswith("user-guide.md") and "Removing documents" in top["section"]
    assert top["score"] == ours[0].score and set(top["stages"]) >= {"dense", "bm25", "fused"}
    assert top["stages"]["fused"]["rank"] == 1
    assert [d.metadata["score"] for d in docs] == sorted(
        (d.metadata["score"] for d in docs), reverse=True
    )
    assert docs[0].page_content in messages[0].content
    assert messages[1].content == QUESTION
