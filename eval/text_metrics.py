"""Reference-based answer metrics: ROUGE-L, BLEU-4, exact match, contains-answer.

Text is cut into words as the seeds' LLaMA-Factory evaluation cuts it: Chinese (and any text
with a CJK run) with `jieba`; other text lowercased, split on what is not a letter or digit
(rouge-score's default tokenizer, without stemming). All scores are in [0, 1].

- ROUGE-L (Lin 2004): LCS = longest common subsequence of the two word lists;
  P = LCS / |hypothesis|, R = LCS / |reference|, F = 2PR / (P + R). Checked against
  `rouge-score`'s `rougeL` F-measure on the same words.
- BLEU-4 (Papineni et al. 2002), sentence level: clipped n-gram precisions p_1..p_4, brevity
  penalty BP = exp(1 - r/c) when c < r, BLEU = BP * exp(mean log p_n). Smoothing as
  sacreBLEU's default `exp` (Chen & Cherry 2014, method 3: the k-th order with no match
  counts 1 / 2^k matches) with its effective order (orders longer than the hypothesis are
  left out). Checked against `sacrebleu.sentence_bleu` on the same words.
- Exact match and contains-answer (SQuAD's normalisation: lowercase, no punctuation, no
  English articles, single spaces; for Chinese, no spaces at all).

Example:
    >>> round(rouge_l("the cat sat on the mat", "the cat is on the mat"), 4)
    0.8333
    >>> exact_match("The Answer.", "answer")
    1.0
"""

from __future__ import annotations

import logging
import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

from rag.text import is_cjk

__all__ = ["bleu", "contains_answer", "exact_match", "normalize", "rouge_l", "words"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("，。！？；：、（）《》“”‘’【】…—·「」『』")
MAX_ORDER = 4


@cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def words(text: str) -> list[str]:
    """The words the metrics compare: jieba's for text with Chinese, else lowercase runs
    of letters and digits."""
    lowered = text.lower()
    if _CJK.search(lowered):
        return [w for w in (t.strip() for t in _jieba().lcut(lowered)) if w and w not in _PUNCT]
    return [w for w in _NOT_WORD.split(lowered) if w]


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F-measure of the hypothesis against the reference (0 when either is empty)."""
    hyp, ref = words(hypothesis), words(reference)
    if not hyp or not ref:
        return 0.0
    lcs = _lcs(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(hypothesis: str, reference: str) -> float:
    """Sentence BLEU-4 with sacreBLEU's `exp` smoothing and effective order, in [0, 1]."""
    hyp, ref = words(hypothesis), words(reference)
    if not hyp or not ref:
        return 0.0
    log_total, orders, zeros = 0.0, 0, 0
    for n in range(1, MAX_ORDER + 1):
        total = len(hyp) - n + 1
        if total <= 0:
            break  # effective order: no n-grams of this length to count
        counts, possible = _ngrams(hyp, n), _ngrams(ref, n)
        matches = sum(min(c, possible[g]) for g, c in counts.items())
        if matches == 0:
            zeros += 1
            log_total += math.log(1 / (2**zeros * total))
        else:
            log_total += math.log(matches / total)
        orders += 1
    if zeros == orders:
        return 0.0  # sacreBLEU: no n-gram of any order matches
    penalty = 1.0 if len(hyp) >= len(ref) else math.exp(1 - len(ref) / len(hyp))
    return penalty * math.exp(log_total / orders)


def normalize(text: str) -> str:
    """SQuAD's answer normalisation (Chinese: spaces removed as well)."""
    lowered = "".join(c for c in text.lower() if c not in _PUNCT)
    if is_cjk(lowered) or _CJK.search(lowered):
        return re.sub(r"\s+", "", lowered)
    return " ".join(_ARTICLES.sub(" ", lowered).split())


def exact_match(answer: str, reference: str) -> float:
    """1.0 when the normalised answer equals the normalised reference."""
    return float(bool(normalize(reference)) and normalize(answer) == normalize(reference))


def contains_answer(answer: str, phrases: Sequence[str]) -> float:
    """1.0 when the normalised answer contains one of the normalised phrases."""
    text = normalize(answer)
    return float(any(p and p in text for p in map(normalize, phrases)))
