"""The development-set builders read the public formats (CMRC 2018, SQuAD/DuReader-robust,
BioASQ Task B golden files, HotpotQA distractor, a download cut off mid-file) into BEIR
folders that `rag eval beir` loads."""

from __future__ import annotations

import json
from pathlib import Path

from eval.beir_folder import load_beir
from eval.devsets import build_cmrc2018, build_hotpotqa, build_squad, main
from rag.lexical.analyzer import simplified_converter

CMRC = [
    {
        "context_id": "DEV_0",
        "title": "广茂铁路",
        "context_text": "广茂铁路是中国广东省内的一条铁路，全长365公里。",
        "qas": [
            {
                "query_id": "DEV_0_QUERY_0",
                "query_text": "广茂铁路全长多少公里？",
                "answers": ["365公里"],
            }
        ],
    },
    {
        "context_id": "DEV_1",
        "title": "锣鼓经",
        "context_text": "锣鼓经是中国传统戏曲中锣鼓演奏的记谱方法。",
        "qas": [
            {"query_id": "DEV_1_QUERY_0", "query_text": "锣鼓经是什么？", "answers": ["记谱方法"]}
        ],
    },
]
# DuReader-robust dev as published: SQuAD format, a paragraph of a Baidu search result each,
# the same paragraph sometimes asked twice.
DUREADER = {
    "data": [
        {
            "title": "",
            "paragraphs": [
                {
                    "context": "爬行垫根据中间材料的不同可以分为XPE爬行垫、EPE爬行垫。",
                    "qas": [{"question": "爬行垫什么材质的好", "id": "a1", "answers": []}],
                },
                {
                    "context": "小米6的防水等级是IP52。",
                    "qas": [{"question": "小米6防水等级", "id": "a2", "answers": []}],
                },
                {
                    "context": "小米6的防水等级是IP52。",
                    "qas": [{"question": "小米6防不防水", "id": "a3", "answers": []}],
                },
            ],
        }
    ]
}
# BioASQ Task B golden file: overlapping snippets, a title snippet, a listed article with no
# snippet (not in the corpus, so not judged).
PUBMED = "http://www.ncbi.nlm.nih.gov/pubmed/"
BIOASQ = {
    "questions": [
        {
            "id": "b1",
            "body": "Concizumab is used for which diseases?",
            "type": "list",
            "documents": [PUBMED + "111", PUBMED + "222", PUBMED + "999"],
            "snippets": [
                {
                    "document": PUBMED + "111",
                    "beginSection": "abstract",
                    "offsetInBeginSection": 40,
                    "text": "It treats hemophilia A and B.",
                },
                {
                    "document": PUBMED + "111",
                    "beginSection": "abstract",
                    "offsetInBeginSection": 0,
                    "text": "Concizumab is an antibody. It treats hemophilia A and B.",
                },
                {
                    "document": PUBMED + "111",
                    "beginSection": "title",
                    "offsetInBeginSection": 0,
                    "text": "Concizumab: first approval",
                },
                {
                    "document": PUBMED + "222",
                    "beginSection": "abstract",
                    "offsetInBeginSection": 0,
                    "text": "Concizumab prevents bleeding in hemophilia.",
                },
            ],
        },
        {
            "id": "b2",
            "body": "What does TFPI inhibit?",
            "type": "factoid",
            "documents": [PUBMED + "333"],
            "snippets": [
                {
                    "document": PUBMED + "333",
                    "beginSection": "abstract",
                    "offsetInBeginSection": 0,
                    "text": "TFPI inhibits factor Xa.",
                }
            ],
        },
    ]
}
HOTPOT = [
    {
        "_id": "q1",
        "question": "Which office did the actress who played Corliss Archer hold?",
        "supporting_facts": [["Kiss and Tell (1945 film)", 0], ["Shirley Temple", 0]],
        "context": [
            [
                "Kiss and Tell (1945 film)",
                ["Kiss and Tell is a 1945 film ", "starring Shirley Temple."],
            ],
            ["Shirley Temple", ["Shirley Temple was an actress ", "and a diplomat."]],
            ["Meet Corliss Archer", ["Meet Corliss Archer is a radio show."]],
        ],
    },
    {
        "_id": "q2",
        "question": "Were Scott Derrickson and Ed Wood of the same nationality?",
        "supporting_facts": [["Scott Derrickson", 0], ["Ed Wood", 0]],
        "context": [
            ["Scott Derrickson", ["An American director."]],
            ["Ed Wood", ["An American filmmaker."]],
        ],
    },
]


def test_cmrc2018_becomes_a_beir_folder_in_either_script(tmp_path: Path) -> None:
    source = tmp_path / "cmrc.json"
    source.write_text(json.dumps(CMRC, ensure_ascii=False), encoding="utf-8")
    assert build_cmrc2018(source, tmp_path / "hans") == (2, 2)
    hans = load_beir(tmp_path / "hans")
    assert hans.queries["DEV_0_QUERY_0"] == "广茂铁路全长多少公里？"
    assert hans.qrels == {"DEV_0_QUERY_0": {"DEV_0": 1}, "DEV_1_QUERY_0": {"DEV_1": 1}}
    import opencc

    to_traditional = opencc.OpenCC("s2twp").convert
    assert build_cmrc2018(source, tmp_path / "hant", 1, to_traditional) == (2, 1)
    hant = load_beir(tmp_path / "hant")
    assert hant.queries == {"DEV_0_QUERY_0": "廣茂鐵路全長多少公里？"}
    assert simplified_converter()(hant.queries["DEV_0_QUERY_0"]) == "广茂铁路全长多少公里？"


def test_hotpotqa_keeps_supporting_paragraphs_and_stops_at_a_cut_off_item(tmp_path: Path) -> None:
    text = json.dumps(HOTPOT)
    source = tmp_path / "hotpot.json"
    source.write_text(text[: text.index('"_id": "q2"') + 20], encoding="utf-8")  # cut mid-item
    assert build_hotpotqa(source, tmp_path / "cut") == (3, 1)
    cut = load_beir(tmp_path / "cut")
    assert cut.qrels == {"q1": {"Kiss_and_Tell_(1945_film)": 1, "Shirley_Temple": 1}}
    source.write_text(text, encoding="utf-8")
    assert build_hotpotqa(source, tmp_path / "whole") == (5, 2)
    corpus = [json.loads(line) for line in (tmp_path / "whole" / "corpus.jsonl").open()]
    assert {
        "_id": "Shirley_Temple",
        "title": "Shirley Temple",
        "text": "Shirley Temple was an actress and a diplomat.",
    } in corpus


def test_squad_format_keeps_one_document_per_distinct_paragraph(tmp_path: Path) -> None:
    source = tmp_path / "dureader.json"
    source.write_text(json.dumps(DUREADER, ensure_ascii=False), encoding="utf-8")
    assert build_squad(source, tmp_path / "web") == (2, 3)
    web = load_beir(tmp_path / "web")
    assert web.queries["a1"] == "爬行垫什么材质的好"
    # The paragraph asked twice is one document, relevant to both questions.
    assert set(web.qrels["a2"]) == set(web.qrels["a3"])
    assert set(web.qrels["a1"]) != set(web.qrels["a2"])


def test_bioasq_batches_become_one_many_relevant_set(tmp_path: Path) -> None:
    first, second = tmp_path / "b1.json", tmp_path / "b2.json"
    first.write_text(json.dumps({"questions": BIOASQ["questions"][:1]}), encoding="utf-8")
    second.write_text(json.dumps({"questions": BIOASQ["questions"][1:]}), encoding="utf-8")
    main(["bioasq", str(first), str(second), str(tmp_path / "bio")])
    bio = load_beir(tmp_path / "bio")
    assert bio.qrels == {"b1": {"111": 1, "222": 1}, "b2": {"333": 1}}  # 999 has no snippet
    corpus = {
        json.loads(line)["_id"]: json.loads(line)
        for line in (tmp_path / "bio" / "corpus.jsonl").open()
    }
    assert corpus["111"]["title"] == "Concizumab: first approval"
    # The snippet inside a longer one is not repeated.
    assert corpus["111"]["text"] == "Concizumab is an antibody. It treats hemophilia A and B."
