"""Prompt templates: `{field}` text rendered per example (local training and hosted chat), and chat examples.

`PromptTemplates` turns field rows into text and chat messages. `ChatTemplates` serves chat rows (OpenAI chat
JSONL, `{"messages": [...]}`) with the same methods: its messages are the data's own, and its text is the
conversation in `DEFAULT_CHAT_TEMPLATE` - the documented template for base models without a chat template
(instruct models train on their tokenizer's own, see `ftwizard.backends.local.data`).
"""

from __future__ import annotations

import re
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
    is_chat = False  # a class attribute: field rows rendered through `template`

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

    def answer(self, ex: Mapping[str, str]) -> str:
        """The answer alone (the reference an evaluation compares with)."""
        return ex.get(self.answer_field, "")

    def messages(self, ex: Mapping[str, str], *, with_answer: bool = True) -> list[dict[str, str]]:
        msgs = []
        if self.system:
            msgs.append({"role": "system", "content": self.system.format_map(ex)})
        msgs.append({"role": "user", "content": self.user.format_map(ex)})
        if with_answer:
            msgs.append({"role": "assistant", "content": self.assistant.format_map(ex)})
        return msgs


# ---------------------------------------------------------------------------------------------
# Chat examples

# The default chat template, for base models whose tokenizer has none: plain-text turn markers (no new tokens,
# so LoRA needs no embedding changes), the EOS after each assistant turn, `### Assistant:` as the generation
# prompt. `{% generation %}` marks what is learned for tokenizers that return an assistant mask.
# render_default_chat() below is the same template in Python (a test checks they agree).
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Assistant:\\n' }}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\\n\\n' }}"
    "{% else %}{{ '### ' + message['role'] | capitalize + ':\\n' + message['content'] + '\\n\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\\n' }}{% endif %}"
)


def render_default_chat(messages: list[dict], *, add_generation_prompt: bool = False, eos_token: str = "") -> str:
    """DEFAULT_CHAT_TEMPLATE in Python (no Jinja: prepare and estimates render without transformers)."""
    out = []
    for m in messages:
        role, content = m.get("role"), m.get("content") or ""
        if role == "system":
            out.append(f"{content}\n\n")
        elif role == "assistant":
            out.append(f"### Assistant:\n{content}{eos_token}\n\n")
        else:
            out.append(f"### {str(role).capitalize()}:\n{content}\n\n")
    if add_generation_prompt:
        out.append("### Assistant:\n")
    return "".join(out)


_REASONING = re.compile(r"^\s*<think>.*?</think>\s*", re.S)


def strip_reasoning(raw: str) -> str:
    """A model's output without a leading reasoning block (`<think>...</think>`, as Qwen3 and other hybrid
    reasoning models write): the answer is what follows it. An unclosed block is left as it is (and scores as
    the wrong answer it is)."""
    return _REASONING.sub("", raw, count=1)


def last_assistant_index(messages: list[dict]) -> int:
    """Index of the last assistant message (the answer an evaluation asks for); -1 when there is none."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "assistant":
            return i
    return -1


def conversation(row: Mapping) -> list[dict]:
    """A chat row's messages through the last assistant turn (later turns teach nothing)."""
    msgs = list(row["messages"])
    return msgs[: last_assistant_index(msgs) + 1]


@dataclass(frozen=True)
class ChatTemplates:
    """Templates for chat rows: the same interface as PromptTemplates, with the data's own messages."""

    system: str = ""
    user: str = ""
    assistant: str = ""
    template: str = ""          # no text template: chat rows are rendered as conversations
    answer_field: str = "assistant"
    is_chat = True

    @property
    def fields(self) -> set[str]:
        return set()

    def check_fields(self, available: list[str], *, source: str) -> None:
        """Chat rows carry their own messages: nothing to check against a template."""

    def messages(self, ex: Mapping, *, with_answer: bool = True) -> list[dict]:
        """The example's messages exactly as in the data; without the answer: up to the last assistant turn."""
        msgs = list(ex["messages"])
        return msgs if with_answer else msgs[: max(0, last_assistant_index(msgs))]

    def render_prompt(self, ex: Mapping) -> str:
        return render_default_chat(self.messages(ex, with_answer=False), add_generation_prompt=True)

    def render_text(self, ex: Mapping) -> str:
        return render_default_chat(conversation(ex))

    def render_answer(self, ex: Mapping) -> str:
        return self.render_text(ex)[len(self.render_prompt(ex)):]

    def answer(self, ex: Mapping) -> str:
        """The last assistant message without a leading reasoning block: what the model's answer is scored
        against (its own reasoning is cut off its output the same way)."""
        msgs = list(ex["messages"])
        i = last_assistant_index(msgs)
        return strip_reasoning(msgs[i].get("content") or "") if i >= 0 else ""
