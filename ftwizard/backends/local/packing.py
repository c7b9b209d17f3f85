"""Padding-free batches: examples laid end to end in one row, each with its own position ids, never attending to
each other.

`pack` groups tokenized examples (from data.py: input_ids, labels) into sequences of at most max_length tokens
without splitting an example, and remembers where each example starts. `FlatteningCollator` lays a micro-batch
out as one row of shape [1, total tokens] with `position_ids` that restart at 0 for every example and no
attention mask - the layout of transformers' DataCollatorWithFlattening. From restarting position ids
transformers builds a block-diagonal causal mask for SDPA and eager attention, and FlashAttention 2 runs its
variable-length kernel, so a token sees only its own example; the first label of each example is masked, so no
example is trained to predict the next one's first token. No padding is computed at all.

That block-diagonal mask is built only when the forward pass has no KV cache: with a cache (a model's config
says `use_cache = True` unless told otherwise, in training mode too) transformers takes the ordinary causal mask
and every example attends to the ones before it (measured on a tiny Llama: loss 6.207 instead of 6.182; the
issue's larger runs saw up to 1.79). So every flattened batch carries `use_cache=False` itself: it holds
whatever the model's config says, for training, eval loss and the memory probe alike.
"""

from __future__ import annotations

IGNORE = -100  # the label the loss skips (transformers' ignore_index); data.py masks prompts with it too


def pack(examples: list[dict], max_length: int) -> list[dict]:
    """Examples concatenated into sequences of at most max_length tokens (an example is never split: a split
    answer teaches half an answer), each sequence with `example_lengths` so attention can be kept apart."""
    packed: list[dict] = []
    cur_ids: list[int] = []
    cur_labels: list[int] = []
    cur_lengths: list[int] = []
    for ex in examples:
        ids, labels = ex["input_ids"], ex["labels"]
        if cur_ids and len(cur_ids) + len(ids) > max_length:
            packed.append({"input_ids": cur_ids, "labels": cur_labels, "example_lengths": cur_lengths})
            cur_ids, cur_labels, cur_lengths = [], [], []
        cur_ids = cur_ids + list(ids)
        cur_labels = cur_labels + list(labels)
        cur_lengths = cur_lengths + [len(ids)]
    if cur_ids:
        packed.append({"input_ids": cur_ids, "labels": cur_labels, "example_lengths": cur_lengths})
    return packed


class FlatteningCollator:
    """A micro-batch as one row [1, tokens] with per-example position ids (see the module docstring).

    Counts real tokens like data.Collator (every token here is real: there is no padding)."""

    def __init__(self) -> None:
        self.tokens_seen = 0

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for b in batch:
            lengths = b.get("example_lengths") or [len(b["input_ids"])]
            start = 0
            for n in lengths:
                ids += b["input_ids"][start:start + n]
                labels += [IGNORE] + list(b["labels"][start + 1:start + n])
                positions += list(range(n))
                start += n
        self.tokens_seen += len(ids)
        return {"input_ids": torch.tensor([ids], dtype=torch.long),
                "labels": torch.tensor([labels], dtype=torch.long),
                "position_ids": torch.tensor([positions], dtype=torch.long),
                "use_cache": False}  # the isolation of examples holds only without a cache (module docstring)
