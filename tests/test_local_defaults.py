"""Local training defaults and the recipe's cross-field rules for [model] / [train] (reported like any recipe error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftwizard.errors import UsageError
from ftwizard.recipe import load_recipe, parse_recipe

REPO = Path(__file__).resolve().parent.parent
BASE = 'name = "x"\ntask = "viggo"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(UsageError) as e:
        parse_recipe(BASE + text, source="r.toml")
    return e.value.problems


def test_checkpointing_is_on_for_a_quantized_base_unless_turned_off():
    assert parse_recipe(BASE + '[model]\nquant = "8bit"\n').gradient_checkpointing_on() is True
    assert parse_recipe(BASE + '[model]\nquant = "4bit"\n').gradient_checkpointing_on() is True
    assert parse_recipe(BASE + '[model]\nquant = "none"\n').gradient_checkpointing_on() is False
    off = parse_recipe(BASE + '[model]\nquant = "8bit"\n[train]\ngradient_checkpointing = false\n')
    assert off.gradient_checkpointing_on() is False
    assert parse_recipe(BASE + "[train]\ngradient_checkpointing = true\n").gradient_checkpointing_on() is True
    # what-ifs follow the quantization asked about
    assert parse_recipe(BASE).gradient_checkpointing_on("4bit") is True


@pytest.mark.parametrize("name", ["sql-codellama34b-lora", "viggo-codellama34b-lora"])
def test_the_seeds_34b_8bit_recipes_train_with_checkpointing(name):
    for folder in (REPO / "recipes", REPO / "ftwizard" / "recipes"):
        r = load_recipe(folder / f"{name}.toml")
        assert r.model.quant == "8bit" and r.train.gradient_checkpointing is True and r.gradient_checkpointing_on()


def test_the_estimate_and_the_worker_agree_on_checkpointing(tmp_path):
    from ftwizard.estimate import estimate_recipe

    seed = load_recipe(REPO / "recipes" / "viggo-codellama34b-lora.toml")
    on = estimate_recipe(seed, runs_dir=tmp_path).to_json()["local"]
    off = estimate_recipe(seed.with_updates({"train.gradient_checkpointing": False}), runs_dir=tmp_path).to_json()["local"]
    assert on["gradient_checkpointing"] is True and off["gradient_checkpointing"] is False
    assert off["vram_gb"] > on["vram_gb"] + 20  # every layer's activations kept: the OOM the seed would hit
    assert on["fits"] is True and off["fits"] is False


def test_cross_field_rules_name_their_keys_and_lines():
    p = problems('[model]\nquant = "4bit"\ndtype = "fp32"\n[train]\nfsdp = true\n'
                 'attn_implementation = "flash_attention_2"\n')
    assert not any(x.startswith("`train.fsdp`") for x in p)  # QLoRA under FSDP: a 4-bit base shards
    assert p[0].startswith("`train.attn_implementation` (line 8): flash_attention_2 runs in fp16/bf16 only")
    p = problems('[train]\nuse_liger = true\nattn_implementation = "flash_attention_2"\n[hardware]\ndevice = "cpu"\n')
    assert any(x.startswith("`train.use_liger` (line 4): Liger kernels are Triton kernels for CUDA") for x in p)
    assert any("flash_attention_2 needs a CUDA GPU" in x for x in p)
    # from --set: the override is named
    with pytest.raises(UsageError) as e:
        parse_recipe(BASE, overrides={"model.quant": "8bit", "train.fsdp": True})
    assert e.value.problems[0].startswith("`train.fsdp` (from --set): FSDP cannot shard an 8-bit base")
    # packing goes with every attention implementation offered: each keeps packed examples apart
    for attn in ("auto", "sdpa", "eager", "flash_attention_2"):
        parse_recipe(BASE + f'[train]\npacking = true\nattn_implementation = "{attn}"\n')


def test_preflight_refuses_fsdp_from_the_environment_with_a_quantized_base(monkeypatch, tiny_model_dir):
    from ftwizard.backends.local import LocalBackend
    from ftwizard.backends.local import modeling

    monkeypatch.setenv("FTWIZARD_FSDP", "1")
    monkeypatch.setattr(modeling, "cuda_visible_light", lambda: True)  # the rule, not the GPU, is under test
    r = parse_recipe(BASE + f'[model]\nbase = "{tiny_model_dir}"\nquant = "8bit"\n[data]\nlimit_train = 4\n')
    with pytest.raises(UsageError) as e:
        LocalBackend().preflight(r)
    assert any("FTWIZARD_FSDP is set but FSDP cannot shard an 8-bit base" in p for p in e.value.problems)


def test_speed_choices_on_this_machine():
    from ftwizard.backends.local.speed import resolve_speed

    r = parse_recipe(BASE + "[train]\npacking = true\n")
    cpu = resolve_speed(r, "cpu", dtype_is_16bit=False)
    assert (cpu.attn_implementation, cpu.use_liger, cpu.optimizer, cpu.padding_free) == ("sdpa", False, "adamw_torch", True)
    gpu = resolve_speed(r, "cuda", dtype_is_16bit=True)
    assert gpu.optimizer == "adamw_torch_fused"  # fused AdamW on CUDA
    assert resolve_speed(r, "cuda", dtype_is_16bit=True, fsdp=True).optimizer == "adamw_torch"
    with pytest.raises(UsageError, match="liger-kernel"):
        resolve_speed(parse_recipe(BASE + "[train]\nuse_liger = true\n"), "cuda", dtype_is_16bit=True)


def test_merge_reloads_a_quantized_base_in_the_training_dtype():
    import torch

    from ftwizard.backends.local.finish import merge_recipe

    r = parse_recipe(BASE + '[model]\nquant = "8bit"\ndtype = "auto"\n')
    m = merge_recipe(r, torch.bfloat16)  # dtype auto trained in bf16 on the GPU: never fp32 because merging is on the CPU
    assert (m.model.quant, m.model.dtype, m.hardware.device) == ("none", "bf16", "cpu")
    assert merge_recipe(r, torch.float16).model.dtype == "fp16"


def test_checkpointing_turned_off_on_a_quantized_base_warns_with_the_estimates(tmp_path):
    from ftwizard.backends.local.worker import Worker
    from ftwizard.runs.directory import RunDirectory

    seed = (REPO / "recipes" / "viggo-codellama34b-lora.toml").read_text()
    text = seed.replace("gradient_checkpointing = true", "gradient_checkpointing = false")
    run = RunDirectory.create(tmp_path / "runs", "off", text)
    w = Worker(run.path)
    w.estimate_shown = {"vram_gb": 92.3}  # what the worker's own estimate of this recipe says (gc off)
    w.warn_checkpointing_off()
    warning = [e for e in run.events(("log",)) if e.get("level") == "warning"][-1]["text"]
    assert "gradient checkpointing is off" in warning and "8bit base" in warning
    assert "92.3 GiB without it vs 39.7 GiB with it" in warning  # the estimate of the seed ViGGO recipe
