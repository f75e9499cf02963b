"""Development sets for retrieval work, rebuilt from public data as BEIR folders.

The data itself is not in the repository (it is not ours to ship, and it is large); this
module turns a downloaded copy into `corpus.jsonl`, `queries.jsonl` and `qrels/test.tsv`, so
`rag eval beir OUT` scores the configured pipeline on it.

- `cmrc2018`: CMRC 2018 dev (Chinese Wikipedia paragraphs, CC BY-SA 4.0): each paragraph is a
  document, the first question of each paragraph is asked of all of them.
  `--script traditional` converts corpus and questions to Traditional characters (OpenCC
  s2twp, the `opencc` extra), a zh-Hant encyclopaedia set.
- `squad`: a SQuAD-format file, such as DuReader-robust dev (Chinese web pages from Baidu
  search and Zhidao answers): each distinct paragraph is a document, the first
  question of each paragraph is asked of all of them: a Chinese web-page set.
- `bioasq`: BioASQ Task B golden files (biomedical questions, PubMed): a document per
  PubMed article, its text the snippets the experts marked in it (title and abstract
  passages, in order); a question's relevant documents are the articles it lists that
  have snippets: about 16 per question, a medical many-relevant set. Several files (the
  batches) make one set.
- `hotpotqa`: HotpotQA dev, distractor setting (English Wikipedia, CC BY-SA 4.0): every
  paragraph of every question's context is a document (one per title); a question's relevant
  documents are its supporting paragraphs (2 each): a multi-hop set. A truncated download is
  read up to its last complete question.

Example:
    python -m eval.devsets cmrc2018 cmrc2018_dev.json dev/cmrc --questions 300
    python -m eval.devsets squad dureader_robust_dev.json dev/dureader --questions 300
    python -m eval.devsets bioasq 12B1_golden.json 12B2_golden.json dev/bioasq
    python -m eval.devsets hotpotqa hotpot_dev_distractor_v1.json dev/hotpot
    rag eval beir dev/hotpot
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["build_bioasq", "build_cmrc2018", "build_hotpotqa", "build_squad", "main"]


def build_cmrc2018(
    source: Path, out: Path, questions: int = 0, convert: Callable[[str], str] | None = None
) -> tuple[int, int]:
    """A BEIR folder from CMRC 2018 JSON; (documents, questions) written."""
    rows = json.loads(source.read_text(encoding="utf-8"))
    convert = convert or (lambda text: text)
    corpus: list[dict[str, str]] = []
    queries: list[dict[str, str]] = []
    qrels: list[tuple[str, str]] = []
    for row in rows:
        doc_id = str(row["context_id"])
        corpus.append(
            {
                "_id": doc_id,
                "title": convert(str(row.get("title") or "")),
                "text": convert(str(row["context_text"])),
            }
        )
        asked = row.get("qas") or []
        if asked and (questions <= 0 or len(queries) < questions):
            qid = str(asked[0]["query_id"])
            queries.append({"_id": qid, "text": convert(str(asked[0]["query_text"]))})
            qrels.append((qid, doc_id))
    _write(out, corpus, queries, qrels)
    return len(corpus), len(queries)


def build_squad(source: Path, out: Path, questions: int = 0) -> tuple[int, int]:
    """A BEIR folder from a SQuAD-format JSON file; (documents, questions) written. A
    paragraph seen twice (same text) is one document."""
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    corpus: dict[str, dict[str, str]] = {}
    queries: list[dict[str, str]] = []
    qrels: list[tuple[str, str]] = []
    for article in data:
        for paragraph in article["paragraphs"]:
            text = str(paragraph["context"]).strip()
            doc_id = f"p{hashlib.sha1(text.encode()).hexdigest()[:12]}"
            corpus.setdefault(
                doc_id, {"_id": doc_id, "title": str(article.get("title") or ""), "text": text}
            )
            asked = paragraph.get("qas") or []
            if asked and (questions <= 0 or len(queries) < questions):
                qid = str(asked[0]["id"])
                queries.append({"_id": qid, "text": str(asked[0]["question"])})
                qrels.append((qid, doc_id))
    _write(out, list(corpus.values()), queries, qrels)
    return len(corpus), len(queries)


def build_bioasq(sources: list[Path], out: Path, questions: int = 0) -> tuple[int, int]:
    """A BEIR folder from BioASQ Task B golden JSON files; (documents, questions) written."""
    asked = [q for source in sources for q in json.loads(source.read_text("utf-8"))["questions"]]
    passages: dict[str, dict[tuple[str, int], str]] = {}
    for question in asked:
        for snippet in question.get("snippets") or []:
            where = (
                snippet.get("beginSection", "abstract"),
                snippet.get("offsetInBeginSection", 0),
            )
            passages.setdefault(_pubmed(snippet["document"]), {})[where] = snippet["text"].strip()
    corpus = []
    for doc_id, parts in passages.items():
        # Experts mark overlapping snippets: a passage inside another is kept once.
        texts = list(dict.fromkeys(text for _, text in sorted(parts.items())))
        kept = {t for t in texts if not any(t != other and t in other for other in texts)}
        title = " ".join(t for (sec, _), t in sorted(parts.items()) if sec == "title" and t in kept)
        body = " ".join(
            dict.fromkeys(
                t for (sec, _), t in sorted(parts.items()) if sec != "title" and t in kept
            )
        )
        corpus.append({"_id": doc_id, "title": title, "text": body or title})
    queries: list[dict[str, str]] = []
    qrels: list[tuple[str, str]] = []
    for question in asked:
        if questions > 0 and len(queries) >= questions:
            break
        relevant = [d for d in dict.fromkeys(map(_pubmed, question["documents"])) if d in passages]
        if relevant:
            queries.append({"_id": str(question["id"]), "text": str(question["body"])})
            qrels += [(str(question["id"]), d) for d in relevant]
    _write(out, corpus, queries, qrels)
    return len(corpus), len(queries)


def _pubmed(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def build_hotpotqa(source: Path, out: Path, questions: int = 0) -> tuple[int, int]:
    """A BEIR folder from HotpotQA's distractor JSON; (documents, questions) written."""
    corpus: dict[str, dict[str, str]] = {}
    queries: list[dict[str, str]] = []
    qrels: list[tuple[str, str]] = []
    for row in _complete_items(source.read_text(encoding="utf-8")):
        if questions > 0 and len(queries) >= questions:
            break
        ids = {}
        for title, sentences in row["context"]:
            doc_id = _slug(title)
            ids[title] = doc_id
            corpus.setdefault(
                doc_id, {"_id": doc_id, "title": title, "text": "".join(sentences).strip()}
            )
        supporting = dict.fromkeys(title for title, _ in row["supporting_facts"])
        if not all(title in ids for title in supporting):
            continue
        queries.append({"_id": str(row["_id"]), "text": str(row["question"])})
        qrels += [(str(row["_id"]), ids[title]) for title in supporting]
    _write(out, list(corpus.values()), queries, qrels)
    return len(corpus), len(queries)


def _complete_items(text: str) -> Iterator[dict[str, Any]]:
    """The objects of a JSON array, stopping quietly at a truncated last one."""
    decoder = json.JSONDecoder()
    at = text.index("[") + 1
    while True:
        while at < len(text) and text[at] in " \t\r\n,":
            at += 1
        if at >= len(text) or text[at] == "]":
            return
        try:
            item, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            return
        yield item


def _slug(title: str) -> str:
    return "_".join(title.split())


def _write(
    out: Path,
    corpus: list[dict[str, str]],
    queries: list[dict[str, str]],
    qrels: list[tuple[str, str]],
) -> None:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name, rows in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        with (out / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, d in qrels]
    (out / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _traditional() -> Callable[[str], str]:
    import opencc

    return opencc.OpenCC("s2twp").convert


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.devsets", description=__doc__)
    parser.add_argument("kind", choices=["cmrc2018", "squad", "bioasq", "hotpotqa"])
    parser.add_argument(
        "source", type=Path, nargs="+", help="the downloaded JSON file (bioasq: one or more)"
    )
    parser.add_argument("out", type=Path, help="the BEIR folder to write")
    parser.add_argument("--questions", type=int, default=0, help="at most this many (0: all)")
    parser.add_argument("--script", choices=["simplified", "traditional"], default="simplified")
    args = parser.parse_args(argv)
    if args.kind != "bioasq" and len(args.source) > 1:
        parser.error(f"{args.kind} reads one file; only bioasq reads several")
    source = args.source[0]
    if args.kind == "bioasq":
        docs, asked = build_bioasq(args.source, args.out, args.questions)
    elif args.kind == "cmrc2018":
        convert = _traditional() if args.script == "traditional" else None
        docs, asked = build_cmrc2018(source, args.out, args.questions, convert)
    elif args.kind == "squad":
        docs, asked = build_squad(source, args.out, args.questions)
    else:
        docs, asked = build_hotpotqa(source, args.out, args.questions)
    sys.stdout.write(f"{args.out}: {docs} documents, {asked} questions\n")


if __name__ == "__main__":
    main()
