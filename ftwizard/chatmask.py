"""Which characters of a chat conversation a model learns, on any chat template: one rule, used by training,
`prepare` and the local preflight alike.

The rule: every assistant turn to learn (all of them with `train.train_on_turns = "all"`, the default; only the
last with "last"; never a `weight: 0` turn) is learned from where the model starts writing it through the
end-of-turn token it must emit to stop (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, `</s>`, ...). The
template's separator after that token (a newline before the next turn) is never generated, so never learned.

The training text is what the model sees when it writes the conversation's last answer: the prompt it is
evaluated with (`add_generation_prompt`) followed by that answer as the template renders it. For most templates
this is simply the whole conversation; a template that writes earlier text by position (Mistral v0.3 puts the
system message into the *last* user turn only, so the rendering that ends with the answer has no system text at
all) still gets its system message, as at inference.

Each turn is found in that text by what depends on it: the text is rendered a second time with the turn's
content replaced by a marker no template writes, and the turn is where the two renderings differ. This holds
however a template changes a turn by its position (Qwen3 drops the reasoning of turns before the last user
message; templates trim content), so every turn of a multi-turn conversation is learned as it is rendered. The
last turn is learned from the end of the generation prompt, so a reasoning block the model writes itself
(`<think>...</think>`, where the template keeps it) is learned with the answer; a template that strips
reasoning leaves the answer.

A conversation whose assistant turns carry `</think>` is rendered with `enable_thinking=True` (the generation
prompt leaves the model to reason, as the data shows it doing); every other one with `enable_thinking=False`, so
hybrid reasoning models (Qwen3) train and are evaluated answering directly. Templates without the switch ignore
it.

Light on purpose (no torch, no transformers at import): `prepare` and the preflight render with the model's
template read from its files (`model_template`), training with the tokenizer's own `apply_chat_template`; both
go through `plan_conversation`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

# Private-use code points: no chat template writes them and no content trims or splits on them, so where two
# renderings differ is exactly where the template put this turn's content.
MARKER = "\ue000ftwizard\ue001"
_LAYOUT_MARKER = "\ue002ftwizard\ue003"

RenderFn = Callable[[list[dict], bool, bool], str]  # (messages, add_generation_prompt, enable_thinking) -> text


class TemplateRefused(Exception):
    """The chat template raised on a conversation (e.g. roles that must alternate)."""


def has_reasoning(messages: Iterable[dict]) -> bool:
    """Whether any assistant turn carries a reasoning block (`...</think>`)."""
    return any(m.get("role") == "assistant" and "</think>" in (m.get("content") or "") for m in messages)


@dataclass
class MaskPlan:
    """One conversation on one template: the text trained on, the character spans learned, and the counts."""

    text: str = ""
    prompt_chars: int = 0                 # len of the generation prompt of the last turn (= its eval prompt)
    spans: list[tuple[int, int]] = field(default_factory=list)
    learned: int = 0                      # assistant turns with loss
    skipped: int = 0                      # turns left out on purpose (weight 0; earlier turns under "last")
    dropped: int = 0                      # turns the template itself leaves out of the rendering
    no_end_token: int = 0                 # learned turns with no end-of-turn token after them in the rendering
    problem: str = ""                     # why nothing of this conversation can be learned ("" when it can)


class ChatRenderer:
    """A conversation rendered on one chat template, with the template's special tokens (the candidates for the
    end-of-turn token). `render(messages, add_generation_prompt, enable_thinking)` raises TemplateRefused."""

    def __init__(self, render: RenderFn, special_tokens: Iterable[str], *, source: str = ""):
        self._render = render
        self.special_tokens = sorted({t for t in special_tokens if t}, key=len, reverse=True)
        self.source = source

    def __call__(self, messages: list[dict], *, generation_prompt: bool, thinking: bool) -> str:
        plain = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
        return self._render(plain, generation_prompt, thinking)

    def plan(self, messages: list[dict], *, train_on_turns: str = "all") -> MaskPlan:
        return plan_conversation(self, messages, train_on_turns=train_on_turns)


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: str, b: str, limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


def _align(full: str, prompt: str) -> int:
    """Where, in the rendering that ends with the last answer, the generation prompt's text ends: the position
    whose preceding text shares the longest ending with the prompt (the last user turn and its markers); the
    latest such position on a tie."""
    if not prompt:
        return 0
    best, best_len = 0, 0
    last_char = prompt[-1]
    limit = min(len(prompt), 4096)
    for x in range(len(full), 0, -1):
        if full[x - 1] != last_char:
            continue
        k = 0  # the common ending of full[:x] and prompt, compared in place (no slices: long chats stay linear)
        while k < limit and k < x and full[x - 1 - k] == prompt[-1 - k]:
            k += 1
        if k > best_len:
            best, best_len = x, k
    return best


def _layout(render: ChatRenderer, msgs: list[dict], last: int, thinking: bool) -> tuple[str, int]:
    """(training text before trimming, length of the last turn's generation prompt inside it)."""
    full = render(msgs[: last + 1], generation_prompt=False, thinking=thinking)
    if last == 0:
        return full, 0
    prompt = render(msgs[:last], generation_prompt=True, thinking=thinking)
    if full.startswith(prompt):
        return full, len(prompt)
    # The template writes earlier text differently when the conversation ends with the answer (Mistral v0.3's
    # system message goes into the last user turn only): train on what the model sees at inference, the prompt,
    # followed by the answer as the template writes it (from where the prompt's text ends, up to the answer).
    alt = msgs[:last] + [dict(msgs[last], content=_LAYOUT_MARKER)]
    a = _common_prefix(full, render(alt, generation_prompt=False, thinking=thinking))
    return prompt + full[_align(full[:a], prompt):], len(prompt)


def _turn_start(render: ChatRenderer, text: str, msgs: list[dict], i: int, a: int, thinking: bool) -> int:
    """Where an earlier assistant turn (content at `a`) starts being the model's own text: right after its
    generation prompt when the training text has that prompt's text before it, else at its content (with the
    whitespace the template writes between the prompt and the content, as Mistral's ` ` before an answer)."""
    if i == 0:
        return a
    prompt = render(msgs[:i], generation_prompt=True, thinking=thinking)
    if text.startswith(prompt) and len(prompt) <= a:
        return len(prompt)
    x = _align(text[:a], prompt)
    return x if x and not text[x:a].strip() else a


def _end_of_turn(text: str, b: int, specials: Sequence[str]) -> int | None:
    """End of the end-of-turn token that follows content ending at `b` (after optional whitespace), if any."""
    j = b
    while j < len(text) and text[j] in " \t\r\n":
        j += 1
    for s in specials:
        if text.startswith(s, j):
            return j + len(s)
    return None


def plan_conversation(render: ChatRenderer, messages: list[dict], *, train_on_turns: str = "all") -> MaskPlan:
    """The one masking rule (module docstring): `messages` end at their last assistant turn."""
    from ftwizard.prompts import last_assistant_index

    msgs = list(messages)
    last = last_assistant_index(msgs)
    out = MaskPlan()
    if last < 0:
        out.problem = "it has no assistant message"
        return out
    thinking = has_reasoning(msgs)
    turns = [i for i, m in enumerate(msgs) if m.get("role") == "assistant"]
    targets = [i for i in turns if msgs[i].get("weight", 1) != 0]
    if train_on_turns == "last":
        targets = [i for i in targets if i == last]
    out.skipped = len(turns) - len(targets)
    try:
        text, prompt_len = _layout(render, msgs, last, thinking)
    except TemplateRefused as e:
        out.problem = f"the model's chat template refuses it ({e})"
        return out
    out.prompt_chars = prompt_len
    if not targets:
        out.text = text
        out.problem = ("its last assistant turn has weight 0 (train.train_on_turns = 'last')"
                       if train_on_turns == "last" and turns else "every assistant turn has weight 0")
        return out
    spans: list[tuple[int, int]] = []
    end_last = len(text)
    problems: list[str] = []
    for i in targets:
        alt = [dict(m, content=MARKER) if k == i else m for k, m in enumerate(msgs)]
        try:
            alt_text, _ = _layout(render, alt, last, thinking)
        except TemplateRefused as e:
            problems.append(f"the model's chat template refuses assistant turn {turns.index(i) + 1} ({e})")
            continue
        a = _common_prefix(text, alt_text)
        s = _common_suffix(text, alt_text, min(len(text), len(alt_text)) - a)
        b = len(text) - s
        written = alt_text[a: len(alt_text) - s].count(MARKER)
        if written == 0:
            out.dropped += 1  # the template leaves this turn out: nothing of it to learn
            continue
        if written > 1:
            problems.append(f"the chat template writes assistant turn {turns.index(i) + 1} in more than one place")
            continue
        if i == last:
            if a < prompt_len:
                problems.append("the chat template writes the last answer inside its own generation prompt")
                continue
            start = prompt_len  # what the model writes after the prompt (a reasoning opener included)
        else:
            try:
                start = _turn_start(render, text, msgs, i, a, thinking)
            except TemplateRefused:
                start = a
        end = _end_of_turn(text, b, render.special_tokens)
        if end is None:
            out.no_end_token += 1
            end = b
        spans.append((start, end))
        if i == last:
            end_last = end
    spans.sort()
    if not spans:
        out.text = text
        out.problem = problems[0] if problems else "the chat template leaves every assistant turn out of its rendering"
        return out
    # Nothing after the last learned end-of-turn token is trained (the template's closing separator), so the
    # text ends there when the last turn is learned.
    out.text = text[:end_last] if spans[-1][1] == end_last else text
    out.spans = spans
    out.learned = len(spans)
    return out


# ---------------------------------------------------------------------------------------------
# The model's chat template from its files (prepare and preflight: no tokenizer is built)

def _special_from_config(cfg: dict) -> tuple[dict[str, Any], list[str]]:
    """(special-token variables a template sees, special token strings) from a tokenizer_config.json."""
    def text(v):
        return v.get("content") if isinstance(v, dict) else v

    names = {}
    for key in ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"):
        if cfg.get(key) is not None:
            names[key] = text(cfg[key])
    listed = cfg.get("additional_special_tokens") or cfg.get("extra_special_tokens") or []
    if isinstance(listed, dict):
        listed = list(listed.values())
    extra = [text(t) for t in listed if isinstance(text(t), str) and text(t)]
    if extra:
        names["additional_special_tokens"] = extra
    specials = [v for v in names.values() if isinstance(v, str)] + extra
    for tok in (cfg.get("added_tokens_decoder") or {}).values():
        if isinstance(tok, dict) and tok.get("special") and tok.get("content"):
            specials.append(tok["content"])
    return names, specials


def _from_folder(folder: Path) -> tuple[str, dict, list[str]] | None:
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    template = cfg.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    for name in ("chat_template.jinja",):  # where newer tokenizers save it
        if not template and (folder / name).is_file():
            template = (folder / name).read_text(encoding="utf-8")
    if not cfg and not template:
        return None
    names, specials = _special_from_config(cfg)
    return template or "", names, specials


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_WANTED = ("tokenizer.chat_template", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                "tokenizer.ggml.padding_token_id")


def gguf_metadata(path: Path, wanted: Iterable[str] = _GGUF_WANTED) -> dict[str, Any]:
    """The `wanted` key-value fields of a GGUF file's header (format: github.com/ggml-org/ggml docs/gguf.md),
    read sequentially up to the tensor infos. gguf's GGUFReader maps every tensor and makes an array per string
    (17 s for SmolLM2's 49,152 tokens on a busy 2-core machine); this reads the same values in a fraction of a
    second, so the preflight can afford it. A test checks it against GGUFReader."""
    import struct

    want = set(wanted)
    out: dict[str, Any] = {}
    with open(path, "rb") as f:
        def read(fmt):
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        def string():
            return f.read(read("<Q")).decode("utf-8", errors="replace")

        def value(kind, keep):
            if kind == 8:
                return string() if keep else f.seek(read("<Q"), 1)
            if kind == 9:
                item, n = read("<I"), read("<Q")
                if item in _GGUF_SCALARS and not keep:
                    return f.seek(struct.calcsize(_GGUF_SCALARS[item]) * n, 1)
                return [value(item, keep) for _ in range(n)]
            return read(_GGUF_SCALARS[kind])

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        read("<I")  # version
        read("<Q")  # tensor count
        for _ in range(read("<Q")):
            key = string()
            keep = key in want
            v = value(read("<I"), keep)
            if keep:
                out[key] = v
                if len(out) == len(want):
                    break
    return out


def _from_gguf(path: Path) -> tuple[str, dict, list[str]]:
    meta = gguf_metadata(path)
    tokens = meta.get("tokenizer.ggml.tokens") or []
    types = meta.get("tokenizer.ggml.token_type") or []
    names: dict[str, Any] = {}
    for key, var in (("bos", "bos_token"), ("eos", "eos_token"), ("unknown", "unk_token"), ("padding", "pad_token")):
        idx = meta.get(f"tokenizer.ggml.{key}_token_id")
        if isinstance(idx, int) and 0 <= idx < len(tokens):
            names[var] = tokens[idx]
    control = [t for t, ty in zip(tokens, types) if ty == 3]  # CONTROL tokens (gguf.TokenType.CONTROL)
    return meta.get("tokenizer.chat_template") or "", names, [v for v in names.values() if v] + control


def model_template(recipe: "Recipe") -> tuple[str, dict, list[str], str] | None:
    """(chat template, special-token variables, special token strings, where from) of the recipe's model, read
    from its files on this machine (folder, installed package's GGUF, or the Hugging Face cache); None when the
    model is not here. An empty template means the model has none (ftwizard's default one is used)."""
    from ftwizard.modelfiles import resolve_base
    from ftwizard.errors import UsageError

    try:
        src = resolve_base(recipe)
    except UsageError:
        return None
    if src.kind == "gguf":
        path = Path(src.path) / src.gguf_file
        t, names, specials = _from_gguf(path)
        return t, names, specials, str(path)
    if src.kind == "folder":
        got = _from_folder(Path(src.path))
        return (*got, src.path) if got else None
    from ftwizard.catalog import hub_cache_file

    cfg = hub_cache_file(src.path, "tokenizer_config.json")
    if cfg is None:
        return None
    got = _from_folder(Path(cfg).parent)
    return (*got, str(Path(cfg).parent)) if got else None


def renderer_from_files(recipe: "Recipe") -> ChatRenderer | None:
    """A renderer on the model's own chat template read from its files (transformers' Jinja renderer, the one
    `apply_chat_template` uses, without building a tokenizer), or on ftwizard's default template when the
    model has none. None when the model's files are not on this machine."""
    got = model_template(recipe)
    if got is None:
        return None
    template, names, specials, where = got
    from ftwizard.prompts import DEFAULT_CHAT_TEMPLATE

    if not template:
        template = DEFAULT_CHAT_TEMPLATE  # a BOS-adding tokenizer gets it in training too; no effect on masking
        where = f"ftwizard's default chat template ({where} has none)"

    def render(messages: list[dict], generation_prompt: bool, thinking: bool) -> str:
        from jinja2 import TemplateError
        from transformers.utils.chat_template_utils import render_jinja_template

        try:
            rendered, _ = render_jinja_template(conversations=[messages], chat_template=template,
                                                add_generation_prompt=generation_prompt,
                                                enable_thinking=thinking, **names)
        except TemplateError as e:
            raise TemplateRefused(str(e)) from None
        return rendered[0]

    return ChatRenderer(render, specials, source=where)


# ---------------------------------------------------------------------------------------------
# Reporting rows that cannot be learned

def describe_rows(problems: dict[str, list[int]], *, where: str, limit: int = 8) -> list[str]:
    """One line per reason: how many rows, which (line numbers of `where`), and why."""
    out = []
    for reason, rows in sorted(problems.items(), key=lambda kv: -len(kv[1])):
        if not rows:
            continue
        shown = ", ".join(str(r) for r in rows[:limit]) + (f", ... ({len(rows) - limit:,} more)" if len(rows) > limit else "")
        out.append(f"{where}: {len(rows):,} example{'s' if len(rows) != 1 else ''} (line{'s' if len(rows) != 1 else ''} "
                   f"{shown}) cannot be trained: {reason}")
    return out


def plan_rows(render: ChatRenderer, rows: list[dict], lines: list[int] | None = None, *,
              train_on_turns: str = "all") -> tuple[list[MaskPlan], dict[str, list[int]]]:
    """Every chat row's plan, and the rows nothing of which can be learned by reason ({reason: [lines]})."""
    from ftwizard.prompts import conversation

    plans, problems = [], {}
    for n, row in enumerate(rows):
        plan = render.plan(conversation(row), train_on_turns=train_on_turns)
        plans.append(plan)
        if plan.problem:
            problems.setdefault(plan.problem, []).append(lines[n] if lines and n < len(lines) else n + 1)
    return plans, problems


_CHECKED: dict[str, tuple[int, int, list[str]]] = {}


def unlearnable_rows(recipe: "Recipe") -> tuple[int, int, list[str]] | None:
    """Before a local run: (training rows, rows that cannot be trained on the model's chat template, one line
    per reason naming them). None when the data is not chat or the model's files are not on this machine (the
    worker then checks the same rule on the tokenizer before training). Remembered per recipe in this process
    (the preflight and the warnings before launch ask in turn)."""
    from ftwizard.tasks import get_task

    stamp = []
    for name in (recipe.data.train, recipe.data.eval):
        path = Path(name).expanduser()
        if name and path.is_file():  # a file edited since (the wizard stays open): checked again
            st = path.stat()
            stamp.append(f"{st.st_size}:{st.st_mtime_ns}")
    key = recipe.to_toml() + "|".join(stamp)
    if key in _CHECKED:
        return _CHECKED[key]
    task = get_task(recipe.task)
    if not task.templates(recipe).is_chat:
        return None
    render = renderer_from_files(recipe)
    if render is None:
        return None
    split = task.load_split(recipe, "train")
    _plans, problems = plan_rows(render, split.rows, split.lines, train_on_turns=recipe.train.train_on_turns)
    bad = sum(len(v) for v in problems.values())
    _CHECKED[key] = (len(split.rows), bad, describe_rows(problems, where=split.source))
    return _CHECKED[key]
