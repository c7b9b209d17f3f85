"""The training data pipeline: rendered text -> token ids and labels, truncation counts, packing, padding.

Text templates (field rows): `loss_on = "all"` learns the whole text (the seed); `"answer"` masks the prompt
(-100) so only the answer, what follows it in the template, and the EOS are learned. The EOS is appended here,
and padding is masked by position (attention mask), never by token id - so pad == eos still teaches the model
to stop.

Chat rows (`{"messages": [...]}`) train on the tokenizer's own chat template (`apply_chat_template`), or on
`ftwizard.prompts.DEFAULT_CHAT_TEMPLATE` when the model has none, with the loss on assistant turns only
(`weight: 0` turns learn nothing). Each assistant turn's tokens are found by rendering the conversation prefix
by prefix (up to the turn with the generation prompt, then through the turn) and mapping those character
spans onto the tokens of the whole rendering by their offsets; a template whose prefixes are not prefixes of
the whole rendering is detected and that turn is skipped (counted). `eval_prompt` gives the evaluator the
conversation up to the last assistant turn with the generation prompt, tokenized the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

IGNORE = -100


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
    turns_skipped: int = 0    # chat rows: assistant turns left out (weight 0)
    turns_unstable: int = 0   # chat rows: turns whose prefix renders differently inside the whole conversation
    boundary_straddles: int = 0  # tokens that hold both prompt and answer characters (learned)
    lengths: list[int] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "lengths"}
        return d


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


def _plain(messages: list[dict]) -> list[dict]:
    """Messages as chat templates expect them (no `weight`)."""
    return [{k: v for k, v in m.items() if k != "weight"} for m in messages]


def _render(tokenizer, messages: list[dict], *, generation_prompt: bool) -> str:
    from jinja2 import TemplateError

    from ftwizard.errors import UsageError

    try:
        # enable_thinking=False: hybrid reasoning templates (Qwen3) render the empty <think></think> block in the
        # answer turn and in the generation prompt alike, so the model trains and is evaluated answering directly;
        # templates without the switch ignore the extra variable.
        return tokenizer.apply_chat_template(_plain(messages), tokenize=False, add_generation_prompt=generation_prompt,
                                             enable_thinking=False)
    except TemplateError as e:  # e.g. templates that refuse a system message (raise_exception in the template)
        roles = ", ".join(m.get("role", "?") for m in messages)
        raise UsageError(f"the model's chat template refuses a conversation ({roles}): {e}") from None


def assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]], int, int]:
    """(the whole rendering, character spans of the assistant turns to learn, turns skipped for weight 0,
    turns whose prefix rendering is not a prefix of the whole). `messages` ends at its last assistant turn."""
    full = _render(tokenizer, messages, generation_prompt=False)
    spans, skipped, unstable = [], 0, 0
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        if m.get("weight", 1) == 0:
            skipped += 1
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True) if i else ""
        through = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not (full.startswith(through) and through.startswith(before)) or len(through) <= len(before):
            unstable += 1
            continue
        spans.append((len(before), len(through)))
    return full, spans, skipped, unstable


def encode_chat(tokenizer, messages: list[dict], *, max_length: int) -> tuple[list[int], list[int], bool, dict]:
    """(input_ids, labels, truncated, counts) for one conversation on the tokenizer's chat template, with
    labels only on the assistant turns to learn (their content and the template's end-of-turn tokens)."""
    from ftwizard.prompts import conversation

    msgs = conversation({"messages": messages})
    full, spans, skipped, unstable = assistant_spans(tokenizer, msgs)
    counts = {"learned": len(spans), "skipped": skipped, "unstable": unstable, "straddles": 0}
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
    on the same chat template as training, ending with the generation prompt; for field rows the text template
    up to the answer. (generate() tokenizes with the tokenizer's own special tokens, so a BOS the template
    writes is left to the tokenizer.)"""
    if not templates.is_chat:
        return templates.render_prompt(row)
    ensure_chat_template(tokenizer)
    text = _render(tokenizer, templates.messages(row, with_answer=False), generation_prompt=True)
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and _adds_bos(tokenizer):
        text = text[len(bos):]
    return text


def rendered_example(tokenizer, templates, row: dict) -> dict[str, str]:
    """The text an example trains on and the prompt it is evaluated with, as this tokenizer renders them
    (the run's data/ files: what the model really saw)."""
    if not templates.is_chat:
        return {"text": templates.render_text(row), "prompt": templates.render_prompt(row)}
    from ftwizard.prompts import conversation

    ensure_chat_template(tokenizer)
    return {"text": _render(tokenizer, conversation(row), generation_prompt=False),
            "prompt": eval_prompt(tokenizer, templates, row)}


def build_examples(recipe: "Recipe", tokenizer, rows: list[dict[str, str]], templates) -> tuple[list[dict], DataStats]:
    """Tokenized examples (dicts with input_ids, labels) and the counts to report."""
    st = DataStats(examples=len(rows))
    out = []
    max_len = recipe.train.max_length
    if templates.is_chat:
        st.chat_template = ensure_chat_template(tokenizer)
    for row in rows:
        if templates.is_chat:
            ids, labels, truncated, counts = encode_chat(tokenizer, row["messages"], max_length=max_len)
            st.turns_learned += counts["learned"]
            st.turns_skipped += counts["skipped"]
            st.turns_unstable += counts["unstable"]
            st.boundary_straddles += counts["straddles"]
        else:
            prompt = templates.render_prompt(row)
            text = templates.render_text(row)
            ids, labels, truncated = encode_example(tokenizer, prompt, text, max_length=max_len,
                                                    loss_on=recipe.train.loss_on)
        st.truncated += truncated
        if all(l == IGNORE for l in labels):
            st.answer_cut_off += 1
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
