"""The development-set builders read the public formats (CMRC 2018, HotpotQA distractor,
a download cut off mid-file) into BEIR folders that `rag eval beir` loads."""

from __future__ import annotations

import json
from pathlib import Path

from eval.beir_folder import load_beir
from eval.devsets import build_cmrc2018, build_hotpotqa
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
