"""The speed and memory model against the physics it claims and the published measurements it was fitted on:
quantized never faster than 16-bit, what the recipe turns on moves the estimate, the loss path at long context,
FSDP shards, configurations that do not fit are not priced, MFU vs HFU, every published row estimable from the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ftwizard.catalog import get_gpu, get_open_model
from ftwizard.estimate import estimate_recipe, estimate_vram
from ftwizard.estimate.base import UNCALIBRATED_RANGE
from ftwizard.estimate.flops import flops_per_token
from ftwizard.estimate.throughput import RunShape, step_time
from ftwizard.recipe import load_recipe, validate_dict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FTWIZARD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ftwizard-cache"))
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR", raising=False)
    monkeypatch.delenv("FTWIZARD_RUNS_DIR", raising=False)
    monkeypatch.delenv("FTWIZARD_FSDP", raising=False)


def what_if(**train):
    base = {"max_steps": 0, "epochs": 1, "max_length": 2048, "attn_implementation": "sdpa", "use_liger": False}
    return validate_dict({"name": "what-if", "task": "sql", "train": {**base, **train}}, source="<test>")


def local(tmp_path, recipe=None, **kw):
    kw.setdefault("examples", 1000)
    kw.setdefault("tokens_per_example", 1024)
    return estimate_recipe(recipe or what_if(), runs_dir=tmp_path, **kw).to_json()["local"]


@pytest.mark.parametrize("gpu", ["A40", "L4", "A100-80GB", "H100", "RTX-4090"])
@pytest.mark.parametrize("model", ["Qwen/Qwen3-8B", "meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen2.5-32B"])
@pytest.mark.parametrize("micro_batch,seq", [(1, 128), (8, 512), (2, 4096)])
def test_a_quantized_base_is_never_faster_than_bf16(gpu, model, micro_batch, seq):
    m, g = get_open_model(model), get_gpu(gpu)
    speed = {q: step_time(m, g, RunShape(quant=q, micro_batch=micro_batch, seq_len=seq, grad_accum=4,
                                         gradient_checkpointing=True))["tokens_per_s"] for q in ("none", "8bit", "4bit")}
    assert speed["8bit"] < speed["none"] and speed["4bit"] < speed["none"], speed


def test_what_the_recipe_turns_on_changes_the_estimate(tmp_path):
    base = local(tmp_path, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096,
                 recipe=what_if(max_length=4096, micro_batch_size=2, gradient_checkpointing=True))
    liger = local(tmp_path, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096,
                  recipe=what_if(max_length=4096, micro_batch_size=2, gradient_checkpointing=True, use_liger=True))
    compiled = local(tmp_path, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096,
                     recipe=what_if(max_length=4096, micro_batch_size=2, gradient_checkpointing=True,
                                    torch_compile=True))
    eager = local(tmp_path, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096,
                  recipe=what_if(max_length=4096, micro_batch_size=2, gradient_checkpointing=True,
                                 attn_implementation="eager"))
    # Liger's fused cross-entropy never holds the 128k-vocabulary logits: GiBs less, and less traffic
    assert liger["vram_gb"] < base["vram_gb"] - 4 and liger["tokens_per_s"] > base["tokens_per_s"]
    assert compiled["tokens_per_s"] > base["tokens_per_s"]
    assert eager["vram_gb"] > base["vram_gb"] and eager["tokens_per_s"] < base["tokens_per_s"]
    # checkpointing: the forward again (slower), one block's activations (smaller)
    no_gc = local(tmp_path, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096,
                  recipe=what_if(max_length=4096, micro_batch_size=2, gradient_checkpointing=False))
    assert no_gc["tokens_per_s"] > base["tokens_per_s"] and no_gc["vram_gb"] > base["vram_gb"]


def test_lora_on_the_mlp_costs_more_than_on_attention():
    m, g = get_open_model("meta-llama/Llama-2-7b-hf"), get_gpu("A100-80GB")
    attn = step_time(m, g, RunShape(targets=("q_proj", "k_proj", "v_proj", "o_proj"), rank=16, micro_batch=4,
                                    seq_len=512, lora_dropout=0.05))
    mlp = step_time(m, g, RunShape(targets=("gate_proj", "up_proj", "down_proj"), rank=16, micro_batch=4,
                                   seq_len=512, lora_dropout=0.05))
    assert mlp["tokens_per_s"] < attn["tokens_per_s"]


def test_small_batches_are_bound_by_weights_and_dispatch_not_flops():
    """The old constant efficiency made a 1.8B model at 256 tokens and batch 1 five times too fast."""
    m, g = get_open_model("Qwen/Qwen-1_8B-Chat"), get_gpu("A100-80GB")
    short = step_time(m, g, RunShape(rank=64, targets=("all-linear",), seq_len=256, grad_accum=8,
                                     gradient_checkpointing=True, attn="flash_attention_2"))
    long = step_time(m, g, RunShape(rank=64, targets=("all-linear",), seq_len=4096, grad_accum=8,
                                    gradient_checkpointing=True, attn="flash_attention_2"))
    assert short["bound"] in ("host", "memory") and long["tokens_per_s"] > 1.5 * short["tokens_per_s"]
    # Qwen's table (A100 80GB): 2,048 tokens/s at 256, 9,930 at 4,096
    assert short["tokens_per_s"] == pytest.approx(2048, rel=0.3)
    assert long["tokens_per_s"] == pytest.approx(9930, rel=0.3)


@pytest.mark.parametrize("vram,seq", [(12, 932), (24, 5789), (48, 15502), (80, 28454)])
def test_the_loss_path_at_long_context(vram, seq):
    """Unsloth's Hugging Face + FA2 limits for Llama 3.1 8B QLoRA (r=32, all linears, batch 1): the longest sequence
    that fits each card. The loss path's fp32 copies dominate there (0.66x at 28k with two copies counted)."""
    v = estimate_vram("meta-llama/Llama-3.1-8B", quant="4bit", rank=32, target_modules=["all-linear"],
                      lora_dropout=0.0, micro_batch=1, seq_len=seq, gradient_checkpointing=True,
                      attn="flash_attention_2")
    assert v["vram_gb"] == pytest.approx(vram, rel=0.06)


def test_fsdp_divides_what_it_shards(tmp_path):
    r = what_if(max_length=1024, micro_batch_size=1, gradient_checkpointing=True)
    one = local(tmp_path, recipe=r, model="meta-llama/Llama-3.1-70B", gpu="H100")
    two = local(tmp_path, recipe=r.with_updates({"train.fsdp": True}), model="meta-llama/Llama-3.1-70B", gpu="H100",
                gpus=2)
    assert not one["fits"] and one["cost_usd"] is None          # 140 GB of bf16 weights on one 80 GB card
    assert two["fits"] and two["gpu_count"] == 2 and two["cost_usd"] > 0
    assert two["breakdown"]["vram"]["weights_quantized"] < 0.6 * one["breakdown"]["vram"]["weights_quantized"]
    assert two["tokens_per_s_total"] > two["tokens_per_s"]


def test_what_does_not_fit_is_not_priced_and_names_what_would(tmp_path):
    est = estimate_recipe(what_if(max_length=2048, micro_batch_size=8), model="Qwen/Qwen3-8B", gpu="L4",
                          examples=1000, tokens_per_example=2000, runs_dir=tmp_path).to_json()
    loc = est["local"]
    assert loc["fits"] is False and loc["cost_usd"] is None and loc["cost_range_usd"] is None
    assert est["ratio"] is None
    assert loc["nearest_fits"] and all(n["vram_gb"] <= loc["usable_vram_gb"] for n in loc["nearest_fits"]
                                       if not n["change"].startswith("--gpu "))
    assert any("not priced" in n for n in est["notes"])
    # each suggestion fits when applied
    first = loc["nearest_fits"][0]["change"]
    assert "micro_batch_size" in first or "--quant" in first or "checkpointing" in first


def test_mfu_is_palm_and_hfu_counts_the_recomputation(tmp_path):
    m = get_open_model("meta-llama/Llama-3.1-8B")
    f = flops_per_token(m, 1024, gradient_checkpointing=True, n_lora=0)
    assert f["hardware"] / f["model"] == pytest.approx(1.45, abs=0.08)  # ~6N / ~4N
    loc = local(tmp_path, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB",
                recipe=what_if(gradient_checkpointing=True, max_length=1024))
    t = loc["breakdown"]["time"]
    assert 0 < t["mfu"] < t["hfu"] < 1


def test_the_range_is_the_held_out_spread(tmp_path):
    loc = local(tmp_path, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB")
    lo, hi = loc["hours_range"]
    assert lo == pytest.approx(loc["hours"] * UNCALIBRATED_RANGE[0], abs=0.011)
    assert hi == pytest.approx(loc["hours"] * UNCALIBRATED_RANGE[1], abs=0.011)
    assert "percentile" in loc["range_basis"]


def test_a_qwen_v1_config_folder_is_read_with_its_half_width_mlp(tmp_path):
    from ftwizard.catalog import get_open_model as gom

    cfg = {"model_type": "qwen", "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 22016,
           "num_attention_heads": 32, "vocab_size": 151936, "kv_channels": 128}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m = gom(str(tmp_path))
    assert m.intermediate == 11008 and m.params == pytest.approx(gom("Qwen/Qwen-7B-Chat").params, rel=0.001)


def test_every_published_row_is_estimable_from_the_cli_and_close_on_the_shipped_fit():
    """benchmarks/data/measurements.toml through `ftwizard estimate ... --json`: every row runs, and the shipped
    coefficients (fitted on all sources) land within the spread the docs report (in-sample median 11.8% on
    tokens/s, 8.4% on memory counted as each source counts it)."""
    import statistics

    import bench_estimator as b

    ratios_speed, ratios_mem = [], []
    for r in b.rows():
        loc = b.estimate(r)
        if r.get("tokens_per_s"):
            ratios_speed.append(loc["tokens_per_s"] / r["tokens_per_s"])
        if r.get("mem_gib"):
            ratios_mem.append(b.peak_as_measured(loc, r.get("mem_scope")) / r["mem_gib"])
    assert len(ratios_speed) >= 40 and len(ratios_mem) >= 40
    assert statistics.median(abs(x - 1) for x in ratios_speed) < 0.13
    assert statistics.median(abs(x - 1) for x in ratios_mem) < 0.10


def test_seed_recipes_unchanged_in_kind(tmp_path):
    """The seed's 8-bit A40 run is still priced on an 8-bit speed no faster than bf16 at the same shape."""
    r = load_recipe(REPO / "recipes" / "sql-codellama34b-lora.toml")
    int8 = estimate_recipe(r, runs_dir=tmp_path).to_json()["local"]
    assert int8["quant"] == "8bit" and int8["fits"]
    m, g = get_open_model("codellama/CodeLlama-34b-hf"), get_gpu("A40")
    shape = dict(micro_batch=8, seq_len=int8["breakdown"]["tokens"]["padded_len"], grad_accum=16,
                 gradient_checkpointing=True, rank=r.lora.r, targets=tuple(r.lora.target_modules))
    assert step_time(m, g, RunShape(quant="8bit", **shape))["tokens_per_s"] < \
        step_time(m, g, RunShape(quant="none", **shape))["tokens_per_s"]


def test_the_wizard_shows_the_local_cost_range():
    from types import SimpleNamespace

    from ftwizard.tui.screens.hardware import HardwareScreen

    recipe = load_recipe(REPO / "recipes" / "sql-codellama34b-lora.toml")
    own = {"source": SimpleNamespace(where="recipe"), "model": "x", "quant": recipe.model.quant, "cost_usd": 3.21,
           "cost_range_usd": [1.83, 3.69]}
    line = HardwareScreen._summary(None, recipe, [own], [])
    assert "$3.21 ($1.83-$3.69)" in line
    tiny = {**own, "cost_usd": 0.004, "cost_range_usd": [0.002, 0.005]}
    assert "-" not in HardwareScreen._summary(None, recipe, [tiny], [])  # "<$0.01-<$0.01" says nothing


def test_auto_speed_keys_follow_what_the_trainer_would_turn_on(tmp_path, monkeypatch):
    """use_liger / attn_implementation 'auto' resolve as the local worker resolves them: on when installed."""
    import ftwizard.estimate.throughput as tp

    r = what_if(max_length=4096, micro_batch_size=2, gradient_checkpointing=True, use_liger="auto",
                attn_implementation="auto")
    monkeypatch.setattr(tp, "_installed", lambda module: False)
    plain = local(tmp_path, recipe=r, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096)
    monkeypatch.setattr(tp, "_installed", lambda module: module in ("liger_kernel", "flash_attn"))
    fast = local(tmp_path, recipe=r, model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096)
    assert plain["breakdown"]["time"]["liger"] is False and plain["breakdown"]["time"]["attn"] == "sdpa"
    assert fast["breakdown"]["time"]["liger"] is True and fast["breakdown"]["time"]["attn"] == "flash_attention_2"
    assert fast["vram_gb"] < plain["vram_gb"] and fast["tokens_per_s"] > plain["tokens_per_s"]
    cpu = local(tmp_path, recipe=r, model="HuggingFaceTB/SmolLM2-135M-Instruct", gpu="cpu", tokens_per_example=256)
    assert cpu["breakdown"]["time"]["liger"] is False  # Liger needs CUDA


def test_a_multi_gpu_run_records_the_estimate_in_the_runs_unit(tmp_path):
    """train_summary.json's train_tokens_per_s counts every process's tokens: the recorded estimate does too."""
    r = what_if(max_length=1024, micro_batch_size=1, gradient_checkpointing=True, fsdp=True)
    typed = estimate_recipe(r, model="meta-llama/Llama-3.1-70B", gpu="H100", gpus=4, examples=1000,
                            tokens_per_example=1024, runs_dir=tmp_path)
    est = typed.to_json()
    rec = typed.local.run_record()
    assert rec["tokens_per_s"] == pytest.approx(est["local"]["breakdown"]["uncalibrated"]["tokens_per_s"] * 4)


def test_liger_keeps_fewer_activations_so_nemos_run_fits_its_card():
    """NeMo AutoModel trained Llama-3.1-8B LoRA without checkpointing at 2 x 4,096 tokens on one 80 GB H100 with
    fused kernels; HF's unfused RMSNorm / SwiGLU keep more than that card holds."""
    kw = dict(quant="none", rank=16, target_modules=["all-linear"], lora_dropout=0.1, micro_batch=2, seq_len=4096,
              gradient_checkpointing=False)
    fused = estimate_vram("meta-llama/Llama-3.1-8B", liger=True, **kw)
    plain = estimate_vram("meta-llama/Llama-3.1-8B", liger=False, **kw)
    assert fused["vram_gb"] < 80 * 0.94 < plain["vram_gb"]
    assert fused["parts_gb"]["activations"] < 0.85 * plain["parts_gb"]["activations"]


def test_gptq_dequantises_twice_per_step_and_bitsandbytes_three_times_with_checkpointing():
    """AutoGPTQ's torch path saves the fp16 weight it builds for backward (forward + recompute); bitsandbytes keeps
    only the packed weight and dequantises again for the input gradient. Counted traffic, not a fitted cost."""
    from ftwizard.estimate.throughput import GPTQ_DEQUANT_BYTES

    m, g = get_open_model("Qwen/Qwen-7B-Chat"), get_gpu("A100-80GB")

    def dequant(gptq, gc):
        shape = RunShape(quant="4bit", rank=64, targets=("all-linear",), seq_len=256, gradient_checkpointing=gc,
                         gptq=gptq)
        return step_time(m, g, shape)["parts_s"]["dequantize"]

    assert dequant(True, True) / dequant(True, False) == pytest.approx(2.0)
    assert dequant(False, True) / dequant(False, False) == pytest.approx(1.5)
    assert GPTQ_DEQUANT_BYTES == pytest.approx(16.5)
    # Qwen's 72B Q-LoRA at 256 tokens is dominated by that traffic: estimates no longer run 2.9x fast (held out,
    # with the cost fitted on the other sources until 2026-12-07); the count is a floor, 1.8x here
    shape = RunShape(quant="4bit", rank=64, targets=("all-linear",), seq_len=256, grad_accum=8,
                     gradient_checkpointing=True, attn="flash_attention_2", gptq=True)
    measured = 8 * 256 / 27.4  # Qwen README: 27.4 s per 8-micro-batch step
    assert step_time(get_open_model("Qwen/Qwen-72B-Chat"), g, shape)["tokens_per_s"] / measured < 2.0


def test_qwen_v1_in_16_bit_takes_its_loss_in_fp32_as_the_trainers_autocast_does(tmp_path):
    """Qwen's LoRA recipe trains in bf16 under the Trainer's autocast, which runs cross-entropy in fp32: its memory
    grows 2.5 MB a token on Qwen-1.8B (6.7 GB at 256 tokens, 16.2 GB at 4,096); 16-bit copies would grow half that."""
    def vram(seq):
        r = what_if(max_length=seq, micro_batch_size=1, grad_accum=8, gradient_checkpointing=True)
        r = r.with_updates({"lora.target_modules": ["all-linear"], "lora.dropout": 0.05})
        return local(tmp_path, r, model="Qwen/Qwen-1_8B-Chat", gpu="A100-80GB", rank=64, quant="none",
                     tokens_per_example=seq)["vram_gb"]

    slope = (vram(4096) - vram(256)) / 3840
    assert slope == pytest.approx((16.2 - 6.7) / 3840, rel=0.15)


def test_fsdp_gathers_the_weights_over_the_cards_link():
    """FSDP brings each GPU (n-1)/n of the weights twice a micro-batch: over PCIe a small micro-batch waits on the
    link (NVLink gathers the same bytes ~9x faster), and a larger micro-batch hides it behind compute."""
    m = get_open_model("meta-llama/Llama-2-7b-hf")
    pcie, nvlink = get_gpu("RTX-4090"), get_gpu("A100-80GB")
    assert pcie.link_gbs == 32 and nvlink.link_gbs == 300 and "NVLink" in nvlink.link_source

    def run(gpu, micro_batch, fsdp=True):
        shape = RunShape(quant="none", rank=64, targets=("all-linear",), micro_batch=micro_batch, seq_len=512,
                         gradient_checkpointing=True, gpus=2, fsdp=fsdp)
        return step_time(m, gpu, shape)

    small = run(pcie, 1)
    assert small["bound"] == "interconnect" and small["parts_s"]["fsdp_gather"] > small["parts_s"]["gpu"]
    assert run(nvlink, 1)["parts_s"]["fsdp_gather"] == pytest.approx(small["parts_s"]["fsdp_gather"] * 32 / 300)
    assert run(pcie, 1, fsdp=False)["parts_s"]["fsdp_gather"] == 0
    # per token, the gather costs the small micro-batch far more than a large one
    big = run(pcie, 16)
    assert small["micro_batch_s"] / 512 > 2 * big["micro_batch_s"] / (16 * 512)


def test_foreach_adamw_peaks_at_the_step_with_large_adapters_and_short_sequences():
    """torch's foreach AdamW builds sqrt(exp_avg_sq) for every adapter parameter at once: with r=64 on every
    linear of a 72B model at 256 tokens that copy (2.8 GiB) outweighs the activations and logits the backward
    freed; a fused optimizer has no such copy, and at long sequences the backward's peak is the larger."""
    def vram(optimizer, seq):
        return estimate_vram("Qwen/Qwen-72B-Chat", quant="4bit", rank=64, target_modules=["all-linear"], seq_len=seq,
                             optimizer=optimizer, kbit_prep=False, loss_fp32=False)

    short = vram("adamw_torch", 256)
    assert short["parts_gb"]["optimizer_step"] > 1.5
    assert vram("adamw_torch_fused", 256)["parts_gb"]["optimizer_step"] == 0
    assert short["vram_gb"] - vram("adamw_torch_fused", 256)["vram_gb"] == pytest.approx(
        short["parts_gb"]["optimizer_step"], abs=0.02)
    assert vram("adamw_torch", 8192)["parts_gb"]["optimizer_step"] == 0


def test_the_cli_quant_joins_the_configuration_the_recipe_checks(tmp_path):
    """`--quant none --set train.fsdp=true` on the seed's 8-bit recipe is a 16-bit FSDP estimate (the recipe's check
    refused it as 8-bit FSDP before --quant applied), and what would fit under FSDP never names 8-bit, which FSDP
    cannot shard."""
    import contextlib
    import io

    from ftwizard.cli.main import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["estimate", str(REPO / "recipes" / "sql-codellama34b-lora.toml"), "--model",
                   "meta-llama/Llama-3.1-70B", "--gpu", "H100", "--gpus", "2", "--quant", "none", "--set",
                   "train.fsdp=true", "--runs-dir", str(tmp_path), "--json"])
    assert rc == 0
    loc = json.loads(buf.getvalue())["local"]
    assert loc["quant"] == "none" and loc["gpu_count"] == 2 and loc["breakdown"]["time"]["fsdp"] is True
    assert loc["nearest_fits"] and not any("8bit" in n["change"] for n in loc["nearest_fits"])


def test_a_what_if_quantization_is_judged_by_the_recipes_own_checks(tmp_path):
    """Every face's `quant` goes through the recipe's checks (the wizard's rows pass it to estimate_recipe): an
    8-bit estimate of an FSDP recipe is refused as the run would be, never priced as if FSDP could shard it."""
    from ftwizard.errors import UsageError

    r = what_if(fsdp=True, gradient_checkpointing=True)
    with pytest.raises(UsageError, match="8-bit"):
        estimate_recipe(r, quant="8bit", gpus=2, runs_dir=tmp_path)
    assert estimate_recipe(r, quant="4bit", gpus=2, runs_dir=tmp_path).local.quant == "4bit"


def test_the_eval_loss_pass_counts_the_logits_liger_materialises_in_eval_mode(tmp_path):
    """Liger fuses the loss only in training mode: the run's eval-loss steps materialise the full logits, so with
    Liger on and eval loss every N steps the peak can be the evaluation, not the training step."""
    kw = dict(model="meta-llama/Llama-3.1-8B", gpu="A100-80GB", tokens_per_example=4096, quant="4bit")

    def viggo(**train):  # a task with a bundled eval split, so the run takes eval-loss steps
        base = {"max_steps": 0, "epochs": 1, "max_length": 4096, "micro_batch_size": 4, "attn_implementation": "sdpa",
                "gradient_checkpointing": True}
        return validate_dict({"name": "what-if", "task": "viggo", "train": {**base, **train}}, source="<test>")

    liger_eval = local(tmp_path, recipe=viggo(use_liger=True, eval_every=5), **kw)
    liger_no_eval = local(tmp_path, recipe=viggo(use_liger=True, eval_every=0), **kw)
    hf_eval = local(tmp_path, recipe=viggo(use_liger=False, eval_every=5), **kw)
    part = liger_eval["breakdown"]["vram"]["eval_loss_pass"]
    # 4 x 4,096 tokens x 128,256 entries x (4 B fp32 logits from the upcast lm_head + 4 B log-softmax), + 10% slack
    eval_logits_gib = 4 * 4096 * 128256 * 8 * 1.1 / 2**30
    assert part > 0.5 * eval_logits_gib
    assert liger_eval["vram_gb"] == pytest.approx(liger_no_eval["vram_gb"] + part, abs=0.05)
    assert liger_no_eval["breakdown"]["vram"]["eval_loss_pass"] == 0
    # the HF loss path's training backward already holds more than an eval forward does
    assert hf_eval["breakdown"]["vram"]["eval_loss_pass"] == 0


def test_a_power_capped_card_is_priced_at_its_published_sustained_gemm_rate():
    """A 70 W T4 holds ~24 TFLOPS on large fp16 GEMMs (NVIDIA's forum: power capping), not its 65 TFLOPS boost-clock
    peak: compute runs at that clock, memory traffic does not, and MFU stays against the datasheet."""
    import dataclasses

    from ftwizard.estimate.base import SPEED
    from ftwizard.estimate.flops import power_cap

    t4 = get_gpu("T4")
    assert t4.bf16_tflops * SPEED["compute_eff"] * power_cap(t4, SPEED["compute_eff"]) == pytest.approx(24)
    assert power_cap(get_gpu("A100-80GB"), SPEED["compute_eff"]) == 1.0
    m = get_open_model("Qwen/Qwen2.5-1.5B")
    shape = RunShape(quant="none", micro_batch=8, seq_len=2048, grad_accum=1, gradient_checkpointing=True)
    capped = step_time(m, t4, shape, dtype="fp16")["parts_s"]
    datasheet = step_time(m, dataclasses.replace(t4, sustained_tflops=0), shape, dtype="fp16")["parts_s"]
    assert capped["linears"] == pytest.approx(datasheet["linears"] / power_cap(t4, SPEED["compute_eff"]), rel=0.02)
    assert capped["elementwise"] == pytest.approx(datasheet["elementwise"])
    # the published fp16 T4 steps of a 1.5B model (fitcheck's Kaggle archive): within 35%, where the datasheet
    # peak priced them 2.2-2.8x too fast
    import bench_estimator

    rows = [r for r in bench_estimator.rows() if r["source"] == "fitcheck-t4" and r.get("tokens_per_s")
            and r["model"] == "Qwen/Qwen2.5-1.5B"]
    assert len(rows) == 4
    for r in rows:
        ratio = bench_estimator.estimate(r)["tokens_per_s"] / r["tokens_per_s"]
        assert 0.85 < ratio < 1.35, (r["seq"], r["attn"], ratio)


def test_sdpa_on_a_card_without_flash_attention_2_runs_the_memory_efficient_kernel():
    """Turing and Volta cards have no FlashAttention-2 kernels: SDPA runs PyTorch's memory-efficient kernel, with its
    own efficiency (fitted on the T4 archive); eager attention and every Ampere-or-newer card keep attn_eff."""
    import dataclasses

    from ftwizard.estimate.base import SPEED

    m = get_open_model("Qwen/Qwen2.5-1.5B")
    shape = RunShape(quant="none", micro_batch=1, seq_len=4096, grad_accum=1, gradient_checkpointing=True, attn="sdpa")
    t4 = get_gpu("T4")
    as_ampere = dataclasses.replace(t4, compute_capability="8.6")
    on_t4 = step_time(m, t4, shape, dtype="fp16")["parts_s"]["attention"]
    on_ampere = step_time(m, as_ampere, shape, dtype="fp16")["parts_s"]["attention"]
    assert on_t4 == pytest.approx(on_ampere * SPEED["attn_eff"] / SPEED["attn_eff_mem_efficient"], rel=1e-6)
    assert SPEED["attn_eff_mem_efficient"] < SPEED["attn_eff"]
    eager = dataclasses.replace(shape, attn="eager")
    assert step_time(m, t4, eager, dtype="fp16")["parts_s"]["attention"] == pytest.approx(
        step_time(m, as_ampere, eager, dtype="fp16")["parts_s"]["attention"])
