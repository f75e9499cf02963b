"""The grounded-answer prompt, in English and Chinese, overridable from files.

The context blocks are numbered `[1]`, `[2]`... with their source; the model is told to
answer from them only, to cite them as `[n]`, and to say so when they do not hold the answer.
The language follows the question (`language = "auto"`) or the configuration.

Example:
    >>> prompt = PromptSet.default()
    >>> blocks = ["[1] handbook.md\\n员工每年享有二十天年假。"]
    >>> messages = prompt.messages("年假有几天？", blocks, "auto")
    >>> messages[0]["content"][:11]
    '你是一个严谨的问答助手'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import ConfigError
from rag.text import is_cjk

__all__ = ["NOTHING", "PromptSet", "context_block"]

_FIELD = re.compile(r"\{(context|question|answer|answers)\}")

_SYSTEM = {
    "en": (
        "You are a careful assistant that answers questions from the numbered context "
        "passages only. Cite every passage you use with its number in square brackets, like "
        "[1] or [2][3]. If the passages do not contain the answer, say that the documents do "
        "not say, and do not make anything up. Answer in English."
    ),
    "zh": (
        "你是一个严谨的问答助手，只根据编号的上下文段落回答问题。"
        "使用某段内容时，用方括号标注其编号，例如 [1] 或 [2][3]。"
        "如果段落中没有答案，请直接说明文档中没有相关信息，不要编造。请用中文回答。"
    ),
}
_USER = {
    "en": "Context:\n\n{context}\n\nQuestion: {question}",
    "zh": "上下文：\n\n{context}\n\n问题：{question}",
}
# `refine`: the answer so far, improved with one more passage.
_REFINE = {
    "en": (
        "Question: {question}\n\nThe answer so far, from earlier passages:\n{answer}\n\n"
        "One more passage:\n\n{context}\n\nRewrite the answer so that it also uses this "
        "passage where it helps. Keep the citations that still hold and cite this passage by "
        "its number. If the passage adds nothing, repeat the answer unchanged."
    ),
    "zh": (
        "问题：{question}\n\n根据前面段落写出的答案：\n{answer}\n\n新的段落：\n\n{context}\n\n"
        "如果新段落有帮助，请改写答案并用其编号标注引用；保留仍然成立的引用。"
        "如果新段落没有补充，请原样重复答案。"
    ),
}
# `map_reduce`: one answer per passage ("map"), then one answer from those ("reduce").
NOTHING = "NONE"
_MAP = {
    "en": (
        "Context:\n\n{context}\n\nQuestion: {question}\n\nAnswer from this passage only "
        f"and cite it. If it does not hold the answer, reply with the single word {NOTHING}."
    ),
    "zh": (
        "上下文：\n\n{context}\n\n问题：{question}\n\n只根据这一段回答并标注引用。"
        f"如果这一段没有答案，只回复 {NOTHING}。"
    ),
}
_REDUCE = {
    "en": (
        "Partial answers to the question, each written from the passages it cites:\n\n"
        "{answers}\n\nQuestion: {question}\n\nCombine them into one answer. Keep their "
        "[n] citations; where they disagree, say so."
    ),
    "zh": (
        "以下是根据不同段落得到的部分答案，每个都标注了引用：\n\n{answers}\n\n问题：{question}\n\n"
        "请把它们合并成一个答案，保留 [n] 引用；如有矛盾请指出。"
    ),
}
# The fields each template must contain.
_FIELDS = {
    "user": ("{context}", "{question}"),
    "refine": ("{context}", "{question}", "{answer}"),
    "map": ("{context}", "{question}"),
    "reduce": ("{answers}", "{question}"),
}


def context_block(n: int, source: str, text: str) -> str:
    """One numbered context passage."""
    return f"[{n}] {source}\n{text}"


@dataclass(frozen=True, slots=True)
class PromptSet:
    """Templates per kind and language. Kinds: `system`; `user` ({context}, {question});
    `refine` (+ {answer}); `map` ({context}, {question}); `reduce` ({answers}, {question})."""

    system: dict[str, str]
    user: dict[str, str]
    refine: dict[str, str] = field(default_factory=lambda: dict(_REFINE))
    map: dict[str, str] = field(default_factory=lambda: dict(_MAP))
    reduce: dict[str, str] = field(default_factory=lambda: dict(_REDUCE))

    @classmethod
    def default(cls) -> PromptSet:
        return cls(dict(_SYSTEM), dict(_USER))

    @classmethod
    def load(cls, folder: str | Path | None) -> PromptSet:
        """The defaults, with any `KIND.LANG.txt` found in `folder` taking their place
        (`system.en.txt`, `user.zh.txt`, `refine.en.txt`, `map.zh.txt`, `reduce.en.txt`...).

        Raises:
            ConfigError: The folder does not exist, or a template lacks a field.
        """
        prompts = cls.default()
        if folder is None:
            return prompts
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ConfigError(f"prompt folder {path} does not exist; fix generator.prompt_dir")
        for kind in ("system", *_FIELDS):
            table = getattr(prompts, kind)
            for lang in ("en", "zh"):
                file = path / f"{kind}.{lang}.txt"
                if not file.is_file():
                    continue
                table[lang] = file.read_text(encoding="utf-8").strip()
                missing = [f for f in _FIELDS.get(kind, ()) if f not in table[lang]]
                if missing:
                    raise ConfigError(f"{file} must contain {' and '.join(missing)}")
        return prompts

    def language(self, question: str, setting: str) -> str:
        """en or zh: the setting, or the question's language when it is auto."""
        if setting in ("en", "zh"):
            return setting
        return "zh" if is_cjk(question) else "en"

    def messages(
        self, question: str, blocks: Sequence[str], setting: str = "auto"
    ) -> list[dict[str, str]]:
        """The chat messages for a question and its numbered context blocks."""
        return self.render("user", question, setting, context="\n\n".join(blocks))

    def render(
        self, kind: str, question: str, setting: str = "auto", **fields: str
    ) -> list[dict[str, str]]:
        """System message plus template `kind` with {question} and `fields` filled in."""
        lang = self.language(question, setting)
        user = getattr(self, kind)[lang]
        # One pass, so text inside a field that looks like a field name stays as it is.
        values = {"question": question, **fields}
        user = _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), user)
        return [
            {"role": "system", "content": self.system[lang]},
            {"role": "user", "content": user},
        ]
