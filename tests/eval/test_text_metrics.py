"""ROUGE-L, BLEU, exact match and contains-answer: by hand, and against rouge-score and
sacreBLEU on the same words (English and jieba-cut Chinese)."""

from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from eval.text_metrics import bleu, contains_answer, exact_match, normalize, rouge_l, words

PAIRS = [
    ("the cat sat on the mat", "the cat is on the mat"),
    ("Employees get twenty days of paid leave a year.", "Every employee has 20 paid leave days."),
    ("Remove a document with rag delete and its path.", "Use `rag delete PATH` to remove it."),
    ("a b c d e f", "a b c d e f"),
    ("completely different words here", "nothing in common at all"),
    ("short", "a much longer reference answer with many words"),
    ("x y", "x y z w"),
]
ZH = [
    ("员工每年享有二十天带薪年假。", "每位员工每年有二十天带薪年假。"),
    ("删除文档请使用 rag delete 命令。", "用 rag delete 删除文档。"),
    ("报销需要在三十天内提交发票。", "发票须在三十天内提交才能报销。"),
]


class _Words:
    """rouge-score's tokenizer interface over our word cutting."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


def test_by_hand() -> None:
    # LCS("the cat sat on the mat", "the cat is on the mat") = 5 of 6 and 6: F = 5/6
    assert rouge_l(*PAIRS[0]) == pytest.approx(5 / 6)
    assert rouge_l("a b", "c d") == 0.0
    assert rouge_l("", "a") == 0.0
    assert bleu("a b c d e f", "a b c d e f") == pytest.approx(1.0)
    assert bleu("", "a b") == 0.0
    assert bleu("q r s", "a b c") == 0.0
    # 2 words, both match as unigrams; the bigram matches; BP = exp(1 - 4/2); orders 1..2
    assert bleu("x y", "x y z w") == pytest.approx(2.718281828 ** (1 - 2) * 1.0)


@pytest.mark.parametrize(("hypothesis", "reference"), PAIRS + ZH)
def test_rouge_l_matches_rouge_score(hypothesis: str, reference: str) -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words())
    theirs = scorer.score(reference, hypothesis)["rougeL"].fmeasure
    assert rouge_l(hypothesis, reference) == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize(("hypothesis", "reference"), PAIRS + ZH)
def test_bleu_matches_sacrebleu(hypothesis: str, reference: str) -> None:
    # The same words on both sides; sacreBLEU's own tokenizer off.
    theirs = sacrebleu.sentence_bleu(
        " ".join(words(hypothesis)), [" ".join(words(reference))], tokenize="none"
    ).score
    assert bleu(hypothesis, reference) == pytest.approx(theirs / 100, abs=1e-9)


def test_chinese_is_cut_by_jieba() -> None:
    cut = words("员工每年享有二十天带薪年假。")
    assert "员工" in cut and "带薪" in cut and "。" not in cut
    assert rouge_l(*ZH[0]) > rouge_l("完全无关的句子", ZH[0][1])


def test_exact_match_and_contains() -> None:
    assert exact_match("The Twenty days!", "twenty days") == 1.0
    assert exact_match("twenty days", "twenty") == 0.0
    assert exact_match("anything", "") == 0.0
    assert exact_match("二十 天。", "二十天") == 1.0
    assert contains_answer("They get Twenty days of leave.", ["twenty days"]) == 1.0
    assert contains_answer("They get 20 days.", ["twenty days", "thirty"]) == 0.0
    assert contains_answer("每年享有二十天年假", ["二十天"]) == 1.0
    assert normalize("An  Apple, the pie.") == "apple pie"
