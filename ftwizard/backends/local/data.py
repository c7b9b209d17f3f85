"""The training data pipeline: rendered text -> token ids and labels, truncation counts, packing, padding.

Text templates (field rows): `loss_on = "all"` learns the whole text (the seed); `"answer"` masks the prompt
(-100) so only the answer, what follows it in the template, and the EOS are learned. The EOS is appended here,
and padding is masked by position (attention mask), never by token id - so pad == eos still teaches the model
to stop.

Chat rows (`{"messages": [...]}`) train on the tokenizer's own chat template (`apply_chat_template`), or on
`ftwizard.prompts.DEFAULT_CHAT_TEMPLATE` when the model has none, with the loss on assistant turns only, by the
one rule of `ftwizard.chatmask` (every turn to learn: its content and its end-of-turn token; `weight: 0` turns
learn nothing; `train.train_on_turns = "last"` learns only the last). Its character spans are mapped onto the
tokens of the training text by their offsets. A row nothing of which can be learned is dropped and counted
under its reason (`DataStats.unlearnable`, with the data's line numbers), so the run and the preflight can say
which rows and why. `eval_prompt` gives the evaluator the conversation up to the last assistant turn with the
generation prompt: the training text starts with exactly it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftwizard.backends.local.packing import IGNORE

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe


@dataclass
class DataStats:
    examples: int = 0
    kept: int = 0
    truncated: int = 0
    answer_cut_off: int = 0  # examples whose whole answer fell past max_length: dropped (nothing to learn)
    tokens: int = 0           # tokens per epoch (after truncation)
    label_tokens: int = 0
    max_tokens_seen: int = 0
    packed_sequences: int = 0
    chat_template: str = ""   # chat rows: "model" (the tokenizer's own) or "default" (DEFAULT_CHAT_TEMPLATE)
    turns_learned: int = 0    # chat rows: assistant turns with loss
    turns_skipped: int = 0    # chat rows: assistant turns left out on purpose (weight 0, or train_on_turns = "last")
    turns_dropped: int = 0    # chat rows: assistant turns the template itself leaves out of its rendering
    turns_no_end: int = 0     # chat rows: learned turns with no end-of-turn token after them
    boundary_straddles: int = 0  # tokens that hold both prompt and answer characters (learned)
    length_needed: int = 0    # the train.max_length that would keep one answer token of every row cut for length
    # rows nothing of which is learned, by reason: {reason: [line numbers in the data]}
    unlearnable: dict[str, list[int]] = field(default_factory=dict, repr=False)
    lengths: list[int] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "lengths"}
        return d

    def add_unlearnable(self, reason: str, line: int) -> None:
        self.unlearnable.setdefault(reason, []).append(line)

    def why_nothing_learned(self, *, where: str) -> list[str]:
        """The problems to show when rows were dropped (one line per reason, naming the rows)."""
        from ftwizard.chatmask import describe_rows

        lines = describe_rows(self.unlearnable, where=where)
        if self.length_needed:
            lines.append(f"train.max_length = {self.length_needed:,} would keep at least one answer token of "
                         "every example cut for length")
        return lines


def encode_example(tokenizer, prompt: str, text: str, *, max_length: int, loss_on: str) -> tuple[list[int], list[int], bool]:
    """(input_ids, labels, truncated) for one example; `prompt` is the leading part of `text`."""
    eos = tokenizer.eos_token_id
    try:
        enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        offsets = enc["offset_mapping"]
        # The prompt is the leading tokens that end within it (a leading BOS has offsets (0, 0)). Offsets,
        # not a separate tokenization of the prompt, because a token may straddle the boundary.
        cut = len(prompt)
        n_prompt = 0
        for _s, e in offsets:
            if e > cut:
                break
            n_prompt += 1
    except (NotImplementedError, TypeError, KeyError):
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        n_prompt = len(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    if not ids or ids[-1] != eos:
        ids.append(eos)
    if loss_on == "answer":
        labels = [IGNORE] * n_prompt + ids[n_prompt:]
    else:
        labels = list(ids)
    truncated = len(ids) > max_length
    if truncated:
        ids, labels = ids[:max_length], labels[:max_length]
    return ids, labels, truncated


# ---------------------------------------------------------------------------------------------
# Chat rows on a chat template

def ensure_chat_template(tokenizer) -> str:
    """'model' when the tokenizer has its own chat template; else installs the default one (saved with the
    adapter, so serving renders the same) and returns 'default'."""
    if getattr(tokenizer, "chat_template", None):
        return "model" if not getattr(tokenizer, "_ftwizard_default_template", False) else "default"
    from ftwizard.prompts import DEFAULT_CHAT_TEMPLATE

    # A tokenizer that puts BOS before every text (Llama) gets it in the template, since chat renderings are
    # tokenized without special tokens (as apply_chat_template does).
    tokenizer.chat_template = ("{{ bos_token }}" if _adds_bos(tokenizer) else "") + DEFAULT_CHAT_TEMPLATE
    tokenizer._ftwizard_default_template = True
    return "default"


def _adds_bos(tokenizer) -> bool:
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos and ids.count(bos) == 1 and tokenizer("a", add_special_tokens=False)["input_ids"][:1] != [bos]


def chat_renderer(tokenizer):
    """The tokenizer's chat template (its own, or the default one `ensure_chat_template` installed) as a
    `ftwizard.chatmask.ChatRenderer`: one per tokenizer, cached on it."""
    r = getattr(tokenizer, "_ftwizard_renderer", None)
    if r is not None and r.source == tokenizer.chat_template:
        return r
    from ftwizard.chatmask import ChatRenderer, TemplateRefused

    def render(messages: list[dict], generation_prompt: bool, thinking: bool) -> str:
        from jinja2 import TemplateError

        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt,
                                                 enable_thinking=thinking)
        except TemplateError as e:  # e.g. templates that refuse a system message (raise_exception)
            raise TemplateRefused(str(e)) from None

    specials = list(tokenizer.all_special_tokens)
    specials += [t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special]
    r = ChatRenderer(render, specials, source=tokenizer.chat_template)
    tokenizer._ftwizard_renderer = r
    return r


def _render(tokenizer, messages: list[dict], *, generation_prompt: bool) -> str:
    """The conversation on the tokenizer's chat template (thinking mode as `ftwizard.chatmask` chooses it)."""
    from ftwizard.chatmask import TemplateRefused, has_reasoning
    from ftwizard.errors import UsageError

    try:
        return chat_renderer(tokenizer)(messages, generation_prompt=generation_prompt, thinking=has_reasoning(messages))
    except TemplateRefused as e:
        roles = ", ".join(m.get("role", "?") for m in messages)
        raise UsageError(f"the model's chat template refuses a conversation ({roles}): {e}") from None


def encode_chat(tokenizer, messages: list[dict], *, max_length: int, train_on_turns: str = "all"
                ) -> tuple[list[int], list[int], bool, dict]:
    """(input_ids, labels, truncated, counts) for one conversation on the tokenizer's chat template, labels on
    the assistant turns to learn (`ftwizard.chatmask`: content and end-of-turn token). `counts["problem"]` says
    why nothing can be learned ("" when something can)."""
    from ftwizard.prompts import conversation

    plan = chat_renderer(tokenizer).plan(conversation({"messages": messages}), train_on_turns=train_on_turns)
    counts = {"learned": plan.learned, "skipped": plan.skipped, "dropped": plan.dropped,
              "no_end_token": plan.no_end_token, "straddles": 0, "problem": plan.problem}
    full, spans = plan.text, plan.spans
    try:
        enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [IGNORE] * len(ids)
        for k, (a, b) in enumerate(enc["offset_mapping"]):
            for s, e in spans:
                if b > s and a < e:
                    labels[k] = ids[k]
                    counts["straddles"] += a < s
                    break
    except (NotImplementedError, TypeError, KeyError):  # a slow tokenizer: no offsets, count prefix tokens
        ids = list(tokenizer(full, add_special_tokens=False)["input_ids"])
        labels = [IGNORE] * len(ids)
        for s, e in spans:
            a = len(tokenizer(full[:s], add_special_tokens=False)["input_ids"]) if s else 0
            b = len(tokenizer(full[:e], add_special_tokens=False)["input_ids"])
            labels[a:b] = ids[a:b]
    truncated = len(ids) > max_length
    if truncated:
        ids, labels = ids[:max_length], labels[:max_length]
    return ids, labels, truncated, counts


def eval_prompt(tokenizer, templates, row: dict) -> str:
    """What the model is given at generation time: for chat rows the conversation up to its last assistant turn
    on the same chat template as training, ending with the generation prompt (the training text starts with
    exactly this); for field rows the text template up to the answer. (generate() tokenizes with the
    tokenizer's own special tokens, so a BOS the template writes is left to the tokenizer.)"""
    if not templates.is_chat:
        return templates.render_prompt(row)
    from ftwizard.chatmask import has_reasoning

    ensure_chat_template(tokenizer)
    msgs = templates.messages(row, with_answer=False)
    text = chat_renderer(tokenizer)(msgs, generation_prompt=True, thinking=has_reasoning(row["messages"])) \
        if msgs else ""
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and _adds_bos(tokenizer):
        text = text[len(bos):]
    return text


def prompt_keeps_trailing_space(tokenizer, templates, rows: list[dict], limit: int = 200) -> bool:
    """Whether training kept the whitespace a text prompt ends with as prompt tokens (`Answer: 5`: `:`, `Ġ`,
    `5`) rather than merging it into the answer's first token (`Category: billing`: `:`, `Ġbilling`): decided
    on training rows whose prompt ends in a space, by majority, so evaluation prompts end where training's
    prompt tokens did (see `ftwizard.evaluation.generate.generation_prompt`). Chat rows: False (their
    generation prompt is the template's)."""
    if templates.is_chat:
        return False
    kept = merged = 0
    for row in rows[:limit]:
        prompt = templates.render_prompt(row)
        if not prompt.endswith((" ", "\t")):
            continue
        try:
            offsets = tokenizer(templates.render_text(row), add_special_tokens=False,
                                return_offsets_mapping=True)["offset_mapping"]
        except (NotImplementedError, TypeError, KeyError):
            return False
        # a token ending exactly where the prompt ends: its whitespace was a prompt token
        if any(e == len(prompt) for _s, e in offsets):
            kept += 1
        else:
            merged += 1
    return kept > merged


def rendered_example(tokenizer, templates, row: dict) -> dict[str, str]:
    """The text an example trains on and the prompt it is evaluated with, as this tokenizer renders them
    (the run's data/ files: what the model really saw)."""
    if not templates.is_chat:
        return {"text": templates.render_text(row), "prompt": templates.render_prompt(row)}
    from ftwizard.prompts import conversation

    ensure_chat_template(tokenizer)
    plan = chat_renderer(tokenizer).plan(conversation(row))
    return {"text": plan.text, "prompt": eval_prompt(tokenizer, templates, row)}


def length_reason(max_length: int) -> str:
    """The one reason a row is dropped for length: the only case where raising train.max_length is the advice
    (`DataStats.why_nothing_learned` adds how far)."""
    return f"its prompt fills train.max_length = {max_length:,} before the first answer token"


def build_examples(recipe: "Recipe", tokenizer, rows: list[dict[str, str]], templates,
                   lines: list[int] | None = None) -> tuple[list[dict], DataStats]:
    """Tokenized examples (dicts with input_ids, labels) and the counts to report. `lines`: each row's line in
    the data file (for the reasons rows are dropped); row numbers from 1 when not given."""
    st = DataStats(examples=len(rows))
    out = []
    max_len = recipe.train.max_length
    if templates.is_chat:
        st.chat_template = ensure_chat_template(tokenizer)
    for n, row in enumerate(rows):
        line = lines[n] if lines and n < len(lines) else n + 1
        if templates.is_chat:
            ids, labels, truncated, counts = encode_chat(tokenizer, row["messages"], max_length=10**9,
                                                         train_on_turns=recipe.train.train_on_turns)
            st.turns_learned += counts["learned"]
            st.turns_skipped += counts["skipped"]
            st.turns_dropped += counts["dropped"]
            st.turns_no_end += counts["no_end_token"]
            st.boundary_straddles += counts["straddles"]
            if counts["problem"]:
                st.add_unlearnable(counts["problem"], line)
                continue
        else:
            prompt = templates.render_prompt(row)
            text = templates.render_text(row)
            ids, labels, _ = encode_example(tokenizer, prompt, text, max_length=10**9, loss_on=recipe.train.loss_on)
        first = next((k for k, lab in enumerate(labels) if lab != IGNORE), None)
        if len(ids) > max_len:
            st.truncated += 1
            ids, labels = ids[:max_len], labels[:max_len]
        if first is None:
            st.add_unlearnable("it has no answer token to learn", line)
            continue
        if first >= max_len:
            st.answer_cut_off += 1
            st.length_needed = max(st.length_needed, first + 1)
            st.add_unlearnable(length_reason(max_len), line)
            continue
        out.append({"input_ids": ids, "labels": labels})
        st.tokens += len(ids)
        st.label_tokens += sum(1 for l in labels if l != IGNORE)
        st.max_tokens_seen = max(st.max_tokens_seen, len(ids))
        st.lengths.append(len(ids))
    st.kept = len(out)
    if recipe.train.packing and out:
        from ftwizard.backends.local.packing import pack  # keeps each example's attention to itself

        out = pack(out, max_len)
        st.packed_sequences = len(out)
    return out, st


class Collator:
    """Pads a batch on the right; pads are masked by position (attention 0, label -100). Counts real tokens."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.tokens_seen = 0

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        n = max(len(b["input_ids"]) for b in batch)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            n = (n + m - 1) // m * m
        ids = torch.full((len(batch), n), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, b in enumerate(batch):
            k = len(b["input_ids"])
            ids[i, :k] = torch.tensor(b["input_ids"], dtype=torch.long)
            labels[i, :k] = torch.tensor(b["labels"], dtype=torch.long)
            mask[i, :k] = 1
            self.tokens_seen += k
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def load_rows(recipe: "Recipe"):
    """(templates, train rows, eval rows for eval loss) from the recipe's task."""
    from ftwizard.tasks import get_task

    task = get_task(recipe.task)
    templates = task.templates(recipe)
    train = task.load_split(recipe, "train")
    eval_rows: list[dict[str, str]] = []
    if recipe.train.eval_every:
        ev = task.load_split(recipe, "eval")
        eval_rows = ev.rows
        if recipe.train.eval_loss_examples:
            eval_rows = eval_rows[: recipe.train.eval_loss_examples]
    return templates, train, eval_rows
