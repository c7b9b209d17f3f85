"""Prompt templates: `{field}` text rendered per example, for local training and for hosted chat."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Mapping

from ftwizard.errors import UsageError, did_you_mean


def template_fields(template: str, *, where: str = "template") -> list[str]:
    """The field names a template uses, in order. Raises UsageError on malformed braces."""
    names = []
    try:
        for _literal, name, spec, conv in string.Formatter().parse(template):
            if name is None:
                continue
            if name == "" or not name.isidentifier():
                raise UsageError(f"{where}: `{{{name}}}` is not a field name (use {{{{ and }}}} for literal braces)")
            if spec or conv:
                raise UsageError(f"{where}: `{{{name}}}` may not carry a format spec or conversion")
            names.append(name)
    except ValueError as e:
        raise UsageError(f"{where}: {e} (use {{{{ and }}}} for literal braces)") from None
    return names


@dataclass(frozen=True)
class PromptTemplates:
    """The resolved templates of a recipe: local text, and the three chat messages."""

    template: str
    answer_field: str
    system: str
    user: str
    assistant: str

    def __post_init__(self) -> None:
        names = template_fields(self.template, where="prompt.template")
        if names.count(self.answer_field) != 1:
            raise UsageError(
                f"prompt.template must use the answer field `{{{self.answer_field}}}` exactly once "
                f"(it uses {names.count(self.answer_field)} times)"
            )
        if names[-1] != self.answer_field:
            raise UsageError(f"prompt.template: the answer field `{{{self.answer_field}}}` must come last")
        for where, t in (("prompt.system", self.system), ("prompt.user", self.user), ("prompt.assistant", self.assistant)):
            template_fields(t, where=where)
        marker = "{" + self.answer_field + "}"
        prefix, suffix = self.template.split(marker, 1)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_suffix", suffix)

    @property
    def fields(self) -> set[str]:
        out = set()
        for t in (self.template, self.system, self.user, self.assistant):
            out.update(template_fields(t))
        return out

    def check_fields(self, available: list[str], *, source: str) -> None:
        """Every field a template names must exist in the data."""
        problems = []
        for where, t in (("prompt.template", self.template), ("prompt.system", self.system),
                         ("prompt.user", self.user), ("prompt.assistant", self.assistant)):
            for name in template_fields(t, where=where):
                if name not in available:
                    problems.append(
                        f"{where} names unknown field `{{{name}}}`{did_you_mean(name, available)}; "
                        f"the data has: {', '.join(available)}"
                    )
        if problems:
            raise UsageError(sorted(set(problems)), source=source)

    def render_text(self, ex: Mapping[str, str]) -> str:
        """The full training text (prompt + answer + whatever follows it)."""
        return self.template.format_map(ex)

    def render_prompt(self, ex: Mapping[str, str]) -> str:
        """The text up to where the answer starts: what a model is given at generation time."""
        return self._prefix.format_map(ex)  # type: ignore[attr-defined]

    def render_answer(self, ex: Mapping[str, str]) -> str:
        """The answer and what follows it in the template (e.g. a closing newline)."""
        return ex[self.answer_field] + self._suffix.format_map(ex)  # type: ignore[attr-defined]

    def messages(self, ex: Mapping[str, str], *, with_answer: bool = True) -> list[dict[str, str]]:
        msgs = []
        if self.system:
            msgs.append({"role": "system", "content": self.system.format_map(ex)})
        msgs.append({"role": "user", "content": self.user.format_map(ex)})
        if with_answer:
            msgs.append({"role": "assistant", "content": self.assistant.format_map(ex)})
        return msgs
