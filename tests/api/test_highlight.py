"""The cited sentences a passage is shown with (`Source.highlights`): where the markers
sit, Chinese text, code-point offsets, and nothing marked when nothing fits."""

from __future__ import annotations

from api.highlight import cited_spans

PASSAGE = (
    "Leave accrues monthly. Unused days carry over to March of the next year. "
    "Sick leave is counted apart."
)


def _marked(answer: str, n: int, passage: str = PASSAGE) -> list[str]:
    return [passage[a:b] for a, b in cited_spans(answer, n, passage)]


def test_marker_before_or_after_the_full_stop_cites_that_sentence() -> None:
    carried = "Unused days carry over to March of the next year."
    assert _marked("Unused days carry over to March [1].", 1) == [carried]
    after = "Unused days carry over to March. [1] Sick leave is apart. [2]"
    assert _marked(after, 1) == [carried]  # [1] opens the second span: it cites the first
    assert _marked(after, 2) == ["Sick leave is counted apart."]


def test_each_claim_marks_its_own_sentence_once_in_passage_order() -> None:
    answer = "Sick leave is counted apart [1]. Leave accrues monthly [1][2]. It accrues [1]."
    assert _marked(answer, 1) == ["Leave accrues monthly.", "Sick leave is counted apart."]


def test_uncited_or_unrelated_marks_nothing() -> None:
    assert _marked("Unused days carry over to March.", 1) == []  # no marker
    assert _marked("Printers need toner [1].", 1) == []  # shares too little
    assert _marked("Unused days carry over [3].", 1) == []


def test_chinese_offsets_count_code_points() -> None:
    passage = "😀年假每年十五天。未使用的年假可以结转到次年三月。病假另计。"
    spans = cited_spans("未使用的年假可结转至次年三月[1]。", 1, passage)
    assert spans == [(9, 25)]
    assert passage[9:25] == "未使用的年假可以结转到次年三月。"
