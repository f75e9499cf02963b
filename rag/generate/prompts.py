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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError
from rag.text import is_cjk

__all__ = ["PromptSet", "context_block"]

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


def context_block(n: int, source: str, text: str) -> str:
    """One numbered context passage."""
    return f"[{n}] {source}\n{text}"


@dataclass(frozen=True, slots=True)
class PromptSet:
    """System and user templates per language; the user template has {context}, {question}."""

    system: dict[str, str]
    user: dict[str, str]

    @classmethod
    def default(cls) -> PromptSet:
        return cls(dict(_SYSTEM), dict(_USER))

    @classmethod
    def load(cls, folder: str | Path | None) -> PromptSet:
        """The defaults, with any of `system.en.txt`, `system.zh.txt`, `user.en.txt`,
        `user.zh.txt` found in `folder` taking their place.

        Raises:
            ConfigError: The folder does not exist, or a user template lacks a field.
        """
        prompts = cls.default()
        if folder is None:
            return prompts
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ConfigError(f"prompt folder {path} does not exist; fix generator.prompt_dir")
        for kind, table in (("system", prompts.system), ("user", prompts.user)):
            for lang in ("en", "zh"):
                file = path / f"{kind}.{lang}.txt"
                if file.is_file():
                    table[lang] = file.read_text(encoding="utf-8").strip()
        for lang, template in prompts.user.items():
            if "{context}" not in template or "{question}" not in template:
                raise ConfigError(
                    f"{path / f'user.{lang}.txt'} must contain {{context}} and {{question}}"
                )
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
        lang = self.language(question, setting)
        user = self.user[lang].replace("{context}", "\n\n".join(blocks))
        return [
            {"role": "system", "content": self.system[lang]},
            {"role": "user", "content": user.replace("{question}", question)},
        ]
