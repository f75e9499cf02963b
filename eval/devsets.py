"""Development sets for retrieval work, rebuilt from public data as BEIR folders.

The data itself is not in the repository (it is not ours to ship, and it is large); this
module turns a downloaded copy into `corpus.jsonl`, `queries.jsonl` and `qrels/test.tsv`, so
`rag eval beir OUT` scores the configured pipeline on it.

- `cmrc2018`: CMRC 2018 dev (Chinese Wikipedia paragraphs, CC BY-SA 4.0): each paragraph is a
  document, the first question of each paragraph is asked of all of them.
  `--script traditional` converts corpus and questions to Traditional characters (OpenCC
  s2twp, the `opencc` extra), a zh-Hant encyclopaedia set.
- `hotpotqa`: HotpotQA dev, distractor setting (English Wikipedia, CC BY-SA 4.0): every
  paragraph of every question's context is a document (one per title); a question's relevant
  documents are its supporting paragraphs (2 each): a multi-hop set. A truncated download is
  read up to its last complete question.

Example:
    python -m eval.devsets cmrc2018 cmrc2018_dev.json dev/cmrc --questions 300
    python -m eval.devsets hotpotqa hotpot_dev_distractor_v1.json dev/hotpot
    rag eval beir dev/hotpot
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["build_cmrc2018", "build_hotpotqa", "main"]


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
    parser.add_argument("kind", choices=["cmrc2018", "hotpotqa"])
    parser.add_argument("source", type=Path, help="the downloaded JSON file")
    parser.add_argument("out", type=Path, help="the BEIR folder to write")
    parser.add_argument("--questions", type=int, default=0, help="at most this many (0: all)")
    parser.add_argument("--script", choices=["simplified", "traditional"], default="simplified")
    args = parser.parse_args(argv)
    if args.kind == "cmrc2018":
        convert = _traditional() if args.script == "traditional" else None
        docs, asked = build_cmrc2018(args.source, args.out, args.questions, convert)
    else:
        docs, asked = build_hotpotqa(args.source, args.out, args.questions)
    sys.stdout.write(f"{args.out}: {docs} documents, {asked} questions\n")


if __name__ == "__main__":
    main()
