"""The evaluation's prompt files (judge, closed-book answers, question generation), in
English and Chinese, and the JSON reading of a model's reply.

The packaged prompts are `eval/prompt_files/{en,zh}/NAME.txt`; `eval.judge.prompt_dir` names a
folder with the same layout whose files replace them one by one. A prompt names its inputs
as `{question}`, `{answer}`, `{context}`, `{reference}`, `{sentences}`, `{passage}`,
`{target}`, `{target_label}`; any other braces (the JSON the reply must follow) stay as
written.

Example:
    >>> prompts = EvalPrompts.load()
    >>> "Question: why?" in prompts.render("closed_book", "en", question="why?")
    True
    >>> json_reply('Sure! {"answerable": true} Hope it helps.')
    {'answerable': True}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.text import is_cjk

__all__ = ["NAMES", "EvalPrompts", "json_reply", "language_of"]

PACKAGED = Path(__file__).parent / "prompt_files"
NAMES = (
    "faithfulness",
    "relevance",
    "context_precision",
    "context_recall",
    "citations",
    "closed_book",
    "generate_question",
    "answerable",
)
LANGUAGES = ("en", "zh")
_INPUTS = "question|answer|context|reference|sentences|passage|target|target_label"
_FIELD = re.compile(r"\{(" + _INPUTS + r")\}")


def language_of(text: str) -> str:
    """`zh` for Chinese text, else `en` (the prompt language that fits it)."""
    return "zh" if is_cjk(text) else "en"


@dataclass(frozen=True, slots=True)
class EvalPrompts:
    """Every evaluation prompt in both languages."""

    templates: dict[tuple[str, str], str]

    @classmethod
    def load(cls, folder: str | Path | None = None) -> EvalPrompts:
        """The packaged prompts, with those found in `folder` (`en/NAME.txt`,
        `zh/NAME.txt`) instead.

        Raises:
            ConfigError: `folder` does not exist, or one of its prompts is unreadable or
                names an input the prompt does not have.
        """
        override = Path(folder) if folder else None
        if override is not None and not override.is_dir():
            raise ConfigError(f"eval.judge.prompt_dir {override} is not a folder")
        templates = {}
        for language in LANGUAGES:
            for name in NAMES:
                path = PACKAGED / language / f"{name}.txt"
                if override is not None and (override / language / f"{name}.txt").is_file():
                    path = override / language / f"{name}.txt"
                try:
                    templates[(language, name)] = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise ConfigError(f"cannot read prompt {path}: {exc}") from exc
        return cls(templates)

    def render(self, name: str, language: str, **fields: str) -> str:
        """Prompt `name` in `language` with its inputs filled in."""
        template = self.templates[(language if language in LANGUAGES else "en", name)]
        return _FIELD.sub(lambda m: fields.get(m.group(1), m.group(0)), template)


def json_reply(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model's reply (prose and code fences around it are
    allowed), or None when there is none."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None
