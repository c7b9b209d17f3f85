"""Batched greedy generation for local models: left padding, the KV cache, per-sequence stop strings.

Takes a loaded model and tokenizer (transformers / peft); torch is imported only when generating.
Prompts are sorted by length so batches hold similar lengths (less padding), and the longest batch comes
first, so an out-of-memory error shows at once rather than at the end. Results come back in input order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass
class Generation:
    index: int  # position in the input list
    text: str  # the raw continuation (special tokens removed)
    prompt_tokens: int
    completion_tokens: int
    latency_s: float  # the batch's wall time shared among its examples (sums to the total time)


def _eos_ids(model, tokenizer) -> list[int]:
    ids = []
    for src in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if src is None:
            continue
        ids.extend(src if isinstance(src, (list, tuple)) else [src])
    return sorted(set(int(i) for i in ids))


def generation_prompt(prompt: str, *, keep_trailing_space: bool = False) -> str:
    """The prompt a model continues, ending where training's prompt tokens ended. Training tokenized
    `Category: billing` as `Category`, `:`, `Ġbilling` (BPE merges the space into the next word), so it never
    saw a lone `Ġ` token after `Category:`: the trailing space goes and the model writes it itself (extraction
    strips it). Digits are not merged with a space (`Answer:`, `Ġ`, `5` in Llama 3 / Qwen / GPT tokenizers), so
    a prompt before numeric answers keeps its space (`keep_trailing_space`, from
    `ftwizard.backends.local.data.prompt_keeps_trailing_space`)."""
    return prompt if keep_trailing_space else prompt.rstrip(" \t")


def one_line_done(text: str) -> bool:
    """A stop rule for one-line answers: a non-blank line has been completed."""
    return "\n" in text.lstrip()


def _stopping(tokenizer, prompt_len: int, done: Callable[[str], bool]):
    import torch
    from transformers import StoppingCriteria

    class TextDone(StoppingCriteria):
        """Ends each sequence once its continuation satisfies `done` (the others in the batch go on)."""

        def __call__(self, input_ids, scores, **kwargs):
            flags = [done(tokenizer.decode(row, skip_special_tokens=True))
                     for row in input_ids[:, prompt_len:].tolist()]
            return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)

    return TextDone()


def generate(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 256, batch_size: int = 16,
             stop_strings: Sequence[str] | None = None, stop_when: Callable[[str], bool] | None = None,
             indices: Sequence[int] | None = None,
             on_batch: Callable[[list[Generation]], None] | None = None) -> list[Generation]:
    """Greedy continuations of `prompts`, `batch_size` at a time.

    A sequence ends at EOS, or as soon as its continuation holds one of `stop_strings` or satisfies
    `stop_when(text)` (e.g. `one_line_done`); the rest of the batch goes on.
    `on_batch` receives each finished batch (in the order they were generated) so a caller can save as it goes.
    `indices` names the prompts in the Generations (default: their positions).
    """
    import torch

    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    indices = list(range(len(prompts))) if indices is None else list(indices)
    if len(indices) != len(prompts):
        raise ValueError("indices and prompts differ in length")
    eos = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    old_side = tokenizer.padding_side
    old_pad = tokenizer.pad_token
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    lengths = [len(ids) for ids in tokenizer(list(prompts))["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    results: dict[int, Generation] = {}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True)
            enc = {k: v.to(device) for k, v in enc.items()}
            kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                          pad_token_id=pad_id, eos_token_id=eos or None, temperature=None, top_p=None, top_k=None)
            if stop_strings or stop_when:
                stops = list(stop_strings or ())

                def done(text: str) -> bool:
                    return any(x in text for x in stops) or bool(stop_when and stop_when(text))

                from transformers import StoppingCriteriaList

                kwargs["stopping_criteria"] = StoppingCriteriaList([_stopping(tokenizer, enc["input_ids"].shape[1], done)])
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(**enc, **kwargs)
            wall = time.perf_counter() - t0
            new = out[:, enc["input_ids"].shape[1]:].tolist()
            batch = []
            for row, i in zip(new, chunk):
                n = len(row)
                for k, tok in enumerate(row):
                    if tok in eos:
                        n = k + 1
                        break
                # After a stop string the sequence is filled with pad (== eos for some tokenizers): not counted.
                if eos and pad_id not in eos:
                    while n and row[n - 1] == pad_id:
                        n -= 1
                text = tokenizer.decode(row[:n], skip_special_tokens=True)
                g = Generation(index=indices[i], text=text, prompt_tokens=lengths[i], completion_tokens=n,
                               latency_s=wall / len(chunk))
                results[i] = g
                batch.append(g)
            if on_batch is not None:
                on_batch(batch)
    finally:
        tokenizer.padding_side = old_side
        if old_pad is None:
            tokenizer.pad_token = None
        if was_training:
            model.train()
    return [results[i] for i in range(len(prompts))]
