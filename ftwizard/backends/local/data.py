"""The training data pipeline: rendered text -> token ids and labels, truncation counts, packing, padding.

Labels: `loss_on = "all"` learns the whole text (the seed); `"answer"` masks the prompt (-100) so only the
answer, what follows it in the template, and the EOS are learned. The EOS is appended here, and padding is
masked by position (attention mask), never by token id - so pad == eos still teaches the model to stop.
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


def build_examples(recipe: "Recipe", tokenizer, rows: list[dict[str, str]], templates) -> tuple[list[dict], DataStats]:
    """Tokenized examples (dicts with input_ids, labels) and the counts to report."""
    st = DataStats(examples=len(rows))
    out = []
    max_len = recipe.train.max_length
    for row in rows:
        prompt = templates.render_prompt(row)
        text = templates.render_text(row)
        ids, labels, truncated = encode_example(tokenizer, prompt, text, max_length=max_len, loss_on=recipe.train.loss_on)
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
        out = pack(out, max_len)
        st.packed_sequences = len(out)
    return out, st


def pack(examples: list[dict], max_length: int) -> list[dict]:
    """Concatenate examples (each already ends with EOS) into sequences of at most max_length tokens.

    Examples are not split across sequences (a split answer teaches half an answer); a sequence is closed when
    the next example does not fit.
    """
    packed, cur_ids, cur_labels = [], [], []
    for ex in examples:
        ids, labels = ex["input_ids"], ex["labels"]
        if cur_ids and len(cur_ids) + len(ids) > max_length:
            packed.append({"input_ids": cur_ids, "labels": cur_labels})
            cur_ids, cur_labels = [], []
        cur_ids = cur_ids + ids
        cur_labels = cur_labels + labels
    if cur_ids:
        packed.append({"input_ids": cur_ids, "labels": cur_labels})
    return packed


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
