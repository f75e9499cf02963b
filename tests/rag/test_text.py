from __future__ import annotations

from rag.text import is_cjk, split_sentences


def test_chinese_punctuation_ends_sentences() -> None:
    assert split_sentences("年假十五天。病假要证明！可以请事假吗？可以；需审批") == [
        "年假十五天。",
        "病假要证明！",
        "可以请事假吗？",
        "可以；",
        "需审批",
    ]


def test_english_sentences_keep_decimals_and_quotes() -> None:
    text = 'Leave is 2.5 days per month. He said "fine." Then left!'
    assert split_sentences(text) == [
        "Leave is 2.5 days per month.",
        'He said "fine."',
        "Then left!",
    ]


def test_closing_chinese_quotes_stay_with_the_sentence() -> None:
    assert split_sentences("他说：“好的。”然后走了。") == ["他说：“好的。”", "然后走了。"]


def test_mixed_language_and_line_breaks() -> None:
    assert split_sentences("第一行\nSecond line. 第三句。") == [
        "第一行",
        "Second line.",
        "第三句。",
    ]


def test_is_cjk() -> None:
    assert is_cjk("这是中文 with a few words")
    assert not is_cjk("English only")
    assert not is_cjk("   ")
