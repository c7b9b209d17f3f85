"""Packed examples never attend to each other: a packed, padding-free batch has the loss of its examples run
one by one (tiny Llama, SDPA and eager attention)."""

from __future__ import annotations

import pytest

from ftwizard.backends.local.data import IGNORE
from ftwizard.backends.local.packing import FlatteningCollator, pack


def _examples(vocab: int) -> list[dict]:
    import torch

    g = torch.Generator().manual_seed(3)
    out = []
    for n in (7, 12, 5, 9):
        ids = torch.randint(4, vocab, (n,), generator=g).tolist()
        labels = [IGNORE] * 2 + ids[2:]  # a masked prompt, as loss_on = "answer" makes
        out.append({"input_ids": ids, "labels": labels})
    return out


def _one_by_one(model, examples) -> float:
    """Mean token loss over all examples, each run alone (the reference)."""
    import torch

    total, count = 0.0, 0
    for ex in examples:
        ids = torch.tensor([ex["input_ids"]])
        labels = torch.tensor([ex["labels"]])
        n = int((labels[:, 1:] != IGNORE).sum())
        with torch.no_grad():
            total += float(model(input_ids=ids, labels=labels).loss) * n
        count += n
    return total / count


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def model(request, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation=request.param)
    m.eval()
    return m


def test_a_packed_batch_has_the_loss_of_its_examples_run_one_by_one(model):
    import torch

    exs = _examples(model.config.vocab_size)
    reference = _one_by_one(model, exs)
    packed = pack(exs, max_length=24)
    assert len(packed) < len(exs) and all(len(p["input_ids"]) <= 24 for p in packed)
    batch = FlatteningCollator()(packed)
    assert batch["input_ids"].shape == (1, sum(len(e["input_ids"]) for e in exs))
    assert "attention_mask" not in batch  # padding-free: nothing to mask, the positions keep examples apart
    with torch.no_grad():
        loss = float(model(**batch).loss)
    assert loss == pytest.approx(reference, rel=1e-5, abs=1e-5)

    # The same tokens without per-example positions (one long sequence) do attend across examples: the check
    # above would fail if isolation were lost.
    flat = {"input_ids": batch["input_ids"], "labels": batch["labels"]}
    with torch.no_grad():
        leaky = float(model(**flat, use_cache=False).loss)
    assert abs(leaky - reference) > 1e-3


def test_a_flattened_batch_turns_the_kv_cache_off_whatever_the_config_says(model):
    """Packing is correct only without a KV cache: with one, transformers builds the plain causal mask and the
    examples leak into each other. The batch itself carries use_cache=False, so a model whose config says
    use_cache = True (every model's default, in training mode too) still trains each example on its own."""
    import torch

    exs = _examples(model.config.vocab_size)
    reference = _one_by_one(model, exs)
    batch = FlatteningCollator()(pack(exs, max_length=24))
    assert batch["use_cache"] is False
    model.config.use_cache = True
    model.train()  # dropout is 0 in the tiny model: training mode changes nothing but the mode
    try:
        with torch.no_grad():
            loss = float(model(**batch).loss)
            leaky = float(model(**{**batch, "use_cache": True}).loss)
    finally:
        model.eval()
    assert loss == pytest.approx(reference, rel=1e-5, abs=1e-5)
    assert abs(leaky - reference) > 1e-3, "with a cache the examples attend to each other (the condition matters)"


def test_positions_restart_and_no_example_learns_the_next_ones_first_token():
    col = FlatteningCollator()
    packed = pack([{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}], 10)
    assert packed[0]["example_lengths"] == [3, 2]
    b = col(packed)
    assert b["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert b["labels"].tolist() == [[IGNORE, 6, 7, IGNORE, 9]]
    assert col.tokens_seen == 5
    # unpacked examples flatten the same way (each its own example)
    b2 = FlatteningCollator()([{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}])
    assert b2["position_ids"].tolist() == b["position_ids"].tolist() and b2["labels"].tolist() == b["labels"].tolist()


def test_the_trainer_takes_the_flattened_batch_as_it_is(tiny_model_dir, tmp_path):
    """transformers' Trainer hands the collator's batch (use_cache=False included) to the model unchanged."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert m.config.use_cache is True
    seen = []
    forward = m.forward

    def spy(*args, **kwargs):
        seen.append(kwargs.get("use_cache"))
        return forward(*args, **kwargs)

    m.forward = spy
    packed = pack(_examples(m.config.vocab_size), max_length=24)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=1, report_to=[],
                             use_cpu=True, save_strategy="no", logging_strategy="no", remove_unused_columns=False)
    Trainer(model=m, args=args, train_dataset=packed, data_collator=FlatteningCollator()).train()
    assert seen == [False, False]
