"""The estimator against the seed experiment and public measurements, what-ifs, caching and calibration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.catalog import get_open_model
from ftwizard.errors import UsageError
from ftwizard.estimate import (GIB, estimate_recipe, estimate_vram, lora_params,
                               serving_estimate, train_flops_per_token)
from ftwizard.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent
RECIPES = REPO / "recipes"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "ftwizard-cache"  # shared by the tests of a session: counted once
    monkeypatch.setenv("FTWIZARD_CACHE_DIR", str(cache))
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR", raising=False)
    monkeypatch.delenv("FTWIZARD_RUNS_DIR", raising=False)


def recipe(name: str, overrides=None):
    return load_recipe(RECIPES / f"{name}.toml", overrides)


def within(value, target, tol):
    return abs(value - target) <= tol * target


# -- the seed ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,cost,tokens", [("sql-gpt35", 11.99, 499_652), ("viggo-gpt35", 26.05, 1_085_690)])
def test_seed_hosted_costs(name, cost, tokens, tmp_path):
    est = estimate_recipe(recipe(name), runs_dir=tmp_path).to_json()
    h = est["hosted"]
    assert h["billed_tokens_per_epoch"] == tokens        # the cookbook count, exactly
    assert h["epochs"] == 3
    assert within(h["cost_usd"], cost, 0.01)
    assert h["price_date"] and h["price_source"]
    assert h["available_until"] == "2026-10-22"  # gpt-3.5-turbo shut down on 2026-10-23


@pytest.mark.parametrize("name,hours,cost,ratio", [("sql-codellama34b-lora", 7, 3.32, 3.6),
                                                   ("viggo-codellama34b-lora", 9, 4.27, 6.1)])
def test_seed_local_runs_on_an_a40(name, hours, cost, ratio, tmp_path):
    est = estimate_recipe(recipe(name), hosted_model="gpt-3.5-turbo", runs_dir=tmp_path).to_json()
    loc = est["local"]
    assert loc["gpu"] == "A40" and loc["quant"] == "8bit" and loc["price_per_hour"] == 0.475
    assert within(loc["hours"], hours, 0.25), loc["hours"]
    assert within(loc["cost_usd"], cost, 0.25), loc["cost_usd"]
    # "slightly more than 40 GB" on a 48 GB card
    assert 40 <= loc["vram_gb"] * GIB / 1e9 <= 46, loc["vram_gb"]
    assert loc["fits"] is True and loc["gpu_vram_gb"] == 48
    assert within(est["ratio"], ratio, 0.25), est["ratio"]
    assert loc["train_sequences"] == 400 * 128
    assert loc["price_date"] == "2023-09"
    parts = loc["breakdown"]["vram"]
    assert parts["weights_quantized"] > 30 and parts["activations"] > 0 and parts["logits"] > 0


def test_seed_without_int8_does_not_fit_an_a40(tmp_path):
    est = estimate_recipe(recipe("sql-codellama34b-lora"), quant="none", runs_dir=tmp_path).to_json()
    assert est["local"]["fits"] is False and est["local"]["vram_gb"] > 60


# -- public measurements --------------------------------------------------------------------------

def unsloth_gb(model_id: str, quant: str) -> float:
    """Unsloth's "minimum VRAM" setting: batch 1, short sequences, r=16 on all linears, 8-bit AdamW, offloaded
    checkpointing, fused loss; torch-reported memory in GB (1e9), as their table."""
    v = estimate_vram(model_id, quant=quant, rank=16, target_modules=["all-linear"], lora_dropout=0.0,
                      micro_batch=1, seq_len=512, gradient_checkpointing=True, optimizer="adamw_8bit",
                      kbit_prep=False, loss_chunks=8)
    return v["torch_peak_gb"] * GIB / 1e9


@pytest.mark.parametrize("model_id,quant,measured", [
    ("meta-llama/Llama-2-7b-hf", "none", 19), ("meta-llama/Llama-2-7b-hf", "4bit", 5),
    ("meta-llama/Llama-3.1-8B", "none", 22), ("meta-llama/Llama-3.1-8B", "4bit", 6)])
def test_unsloth_minimum_vram(model_id, quant, measured):
    assert within(unsloth_gb(model_id, quant), measured, 0.30)


def test_torchtune_llama31_8b_qlora_peak():
    # torchtune llama3_1/8B_qlora_single_device: rank 8 on q, v, output_proj and the MLP, batch 2, bf16 adapters,
    # activation checkpointing, chunked cross-entropy: 7.4 GiB peak on an RTX 4090.
    v = estimate_vram("meta-llama/Llama-3.1-8B", quant="4bit", rank=8,
                      target_modules=["q_proj", "v_proj", "output_proj", "w1", "w2", "w3"], lora_dropout=0.0,
                      micro_batch=2, seq_len=512, gradient_checkpointing=True, optimizer="adamw",
                      kbit_prep=False, adapter_bytes=2, loss_chunks=8)
    assert within(v["torch_peak_gb"], 7.4, 0.30)


def test_lora_parameter_counts():
    m = get_open_model("meta-llama/Llama-2-7b-hf")
    assert lora_params(m, 8, ["q_proj", "v_proj"]) == 4_194_304
    assert lora_params(m, 16, ["all-linear"]) == 39_976_960


def test_memory_parts_follow_the_knobs():
    base = dict(rank=8, micro_batch=4, seq_len=512)
    m = "meta-llama/Llama-3.1-8B"
    none, int8, nf4 = (estimate_vram(m, quant=q, **base)["vram_gb"] for q in ("none", "8bit", "4bit"))
    assert nf4 < int8 < none
    gc_on = estimate_vram(m, gradient_checkpointing=True, **base)["parts_gb"]["activations"]
    gc_off = estimate_vram(m, gradient_checkpointing=False, **base)["parts_gb"]["activations"]
    assert gc_off > 5 * gc_on
    longer = estimate_vram(m, rank=8, micro_batch=4, seq_len=2048)["vram_gb"]
    assert longer > none
    big_rank = estimate_vram(m, rank=256, micro_batch=4, seq_len=512)["parts_gb"]
    assert big_rank["optimizer_states"] > 20 * estimate_vram(m, **base)["parts_gb"]["optimizer_states"]


# -- what-ifs -----------------------------------------------------------------------------------------

def test_what_ifs_move_the_numbers(tmp_path):
    r = recipe("sql-codellama34b-lora")
    base = estimate_recipe(r, hosted_model="gpt-3.5-turbo", runs_dir=tmp_path).to_json()
    h100 = estimate_recipe(r, gpu="H100", hosted_model="gpt-3.5-turbo", runs_dir=tmp_path).to_json()
    assert h100["local"]["hours"] < base["local"]["hours"] / 3
    assert h100["local"]["price_per_hour"] == 3.29  # the recipe's $0.475 is for its A40, not an H100
    priced = estimate_recipe(r, price_per_hour=0.95, runs_dir=tmp_path).to_json()
    assert priced["local"]["cost_usd"] == pytest.approx(2 * base["local"]["cost_usd"], rel=0.01)
    assert priced["local"]["price_source"].startswith("--price-per-hour")
    q4 = estimate_recipe(r, quant="4bit", runs_dir=tmp_path).to_json()
    assert q4["local"]["vram_gb"] < base["local"]["vram_gb"] - 10
    more = estimate_recipe(r, examples=7922, epochs=2, hosted_model="gpt-3.5-turbo", runs_dir=tmp_path).to_json()
    assert more["hosted"]["epochs"] == 2
    assert more["hosted"]["billed_tokens"] == pytest.approx(2 * 2 * 499_652, rel=0.001)
    assert more["local"]["train_sequences"] >= 2 * 7922
    fixed = estimate_recipe(r, tokens_per_example=100, hosted_model="gpt-3.5-turbo", runs_dir=tmp_path).to_json()
    assert fixed["hosted"]["billed_tokens"] == 3961 * 100 * 3
    assert fixed["local"]["train_tokens"] == 400 * 128 * 100
    ranked = estimate_recipe(r, rank=64, runs_dir=tmp_path).to_json()
    assert ranked["local"]["breakdown"]["lora_params"] == 8 * base["local"]["breakdown"]["lora_params"]


@pytest.mark.parametrize("knob,value", [("examples", 0), ("examples", -5), ("tokens_per_example", 0),
                                        ("epochs", -1), ("price_per_hour", 0), ("rank", 0), ("epochs", 0)])
def test_zero_or_negative_what_ifs_are_usage_errors(knob, value, tmp_path):
    with pytest.raises(UsageError):
        estimate_recipe(recipe("sql-gpt35"), runs_dir=tmp_path, **{knob: value}).to_json()


def test_unknown_gpu_or_model_in_estimate(tmp_path):
    with pytest.raises(UsageError, match="did you mean `A40`"):
        estimate_recipe(recipe("sql-gpt35"), gpu="A4", runs_dir=tmp_path).to_json()
    with pytest.raises(UsageError, match="known: "):
        estimate_recipe(recipe("sql-gpt35"), model="nobody/no-such-model-7b", runs_dir=tmp_path).to_json()


# -- caching ----------------------------------------------------------------------------------------------

def test_token_statistics_are_cached_and_invalidated(tmp_path, monkeypatch):
    monkeypatch.setenv("FTWIZARD_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "train.jsonl"
    rows = [{"question": f"how many rows in table {i}", "answer": f"SELECT count(*) FROM t{i}"} for i in range(30)]
    data.write_text("\n".join(json.dumps(x) for x in rows) + "\n")
    text = f"""name = "custom"
task = "custom"
[data]
source = "files"
train = "{data}"
eval = "{data}"
[prompt]
template = "Q: {{question}}\\nA: {{answer}}"
answer_field = "answer"
[model]
base = "Qwen/Qwen2.5-0.5B"
[hosted]
model = "gpt-4o-mini"
[hardware]
gpu = "L4"
"""
    path = tmp_path / "r.toml"
    path.write_text(text)
    r = load_recipe(path)
    first = estimate_recipe(r, runs_dir=tmp_path).to_json()
    second = estimate_recipe(r, runs_dir=tmp_path).to_json()
    assert first["token_stats_cached"] is False and second["token_stats_cached"] is True
    assert first["hosted"] == second["hosted"]
    assert first["hosted"]["epochs"] == 3 and first["hosted"]["examples"] == 30
    rows.append({"question": "a much longer question " * 20, "answer": "SELECT 1"})
    data.write_text("\n".join(json.dumps(x) for x in rows) + "\n")
    third = estimate_recipe(r, runs_dir=tmp_path).to_json()
    assert third["token_stats_cached"] is False
    assert third["hosted"]["examples"] == 31
    assert third["hosted"]["billed_tokens_per_epoch"] > first["hosted"]["billed_tokens_per_epoch"]


def test_exact_tokens_with_a_local_tokenizer(tiny_model_dir, tmp_path):
    r = recipe("viggo-cpu-demo", {"model.base": str(tiny_model_dir), "model.gguf_file": "",
                                  "model.catalog_id": "", "data.limit_train": 50})
    est = estimate_recipe(r, runs_dir=tmp_path).to_json()
    tok = est["local"]["breakdown"]["tokens"]
    assert tok["method"] == "exact" and tok["tokenizer"].endswith("tokenizer.json")
    assert est["local"]["model"] == str(tiny_model_dir)
    assert est["local"]["gpu"] == "cpu" and est["local"]["price_per_hour"] == 0.05
    assert est["local"]["params"] == get_open_model(str(tiny_model_dir)).params


# -- calibration from finished runs ---------------------------------------------------------------------

def _summary(runs: Path, name: str, **kw) -> None:
    d = runs / name
    d.mkdir(parents=True)
    (d / "train_summary.json").write_text(json.dumps(kw))


def test_calibration_from_past_runs(tmp_path, monkeypatch):
    r = recipe("sql-codellama34b-lora")
    typed = estimate_recipe(r, runs_dir=tmp_path / "empty")
    plain = typed.to_json()
    assert plain["local"]["calibrated_from_runs"] == 0
    record = typed.local.run_record()
    runs = tmp_path / "runs"
    # train_summary.json as the local worker writes it: reserved GiB + CUDA context, tokens/s over training steps
    common = dict(gpu="NVIDIA A40", gpu_count=1, device="cuda", quant="8bit", train_tokens=1, steps=400, wall_s=1)
    _summary(runs, "a", model="codellama/CodeLlama-34b-hf", peak_mem_gib=record["vram_gb"] * 1.1,
             train_tokens_per_s=record["tokens_per_s"] * 0.45, mfu=0.14, estimate=record, **common)
    _summary(runs, "b", model="codellama/CodeLlama-13b-hf", peak_mem_gib=record["vram_gb"] * 1.1,
             train_tokens_per_s=record["tokens_per_s"] * 0.55, mfu=0.17, estimate=record, **common)  # llama2 too
    _summary(runs, "other-gpu", model="codellama/CodeLlama-34b-hf", peak_mem_gib=1, train_tokens_per_s=1,
             estimate=record, **{**common, "gpu": "NVIDIA H100 80GB HBM3"})
    _summary(runs, "other-family", model="Qwen/Qwen2.5-7B", peak_mem_gib=1, train_tokens_per_s=1, estimate=record,
             **common)
    # written before like quantities were recorded (allocated GB; tokens/s including evaluation): not used
    _summary(runs, "old-units", model="codellama/CodeLlama-34b-hf", peak_mem_gb=1, tokens_per_s=1, estimate=record,
             **common)
    (runs / "broken").mkdir()
    (runs / "broken" / "train_summary.json").write_text("{not json")
    cal_typed = estimate_recipe(r, runs_dir=runs)
    cal = cal_typed.to_json()
    loc = cal["local"]
    assert loc["calibrated_from_runs"] == 2
    assert loc["vram_gb"] == pytest.approx(plain["local"]["vram_gb"] * 1.1, abs=0.15)
    assert loc["hours"] == pytest.approx(plain["local"]["hours"] * 2, rel=0.05)
    assert loc["breakdown"]["calibration"]["mfu"] == [0.14, 0.17]
    # the range narrows to the runs' spread (0.45x-0.55x around the 0.5x median), never below +-15%
    lo, hi = loc["hours_range"]
    assert lo < loc["hours"] < hi and hi / lo < plain["local"]["hours_range"][1] / plain["local"]["hours_range"][0]
    assert loc["cost_range_usd"][0] < loc["cost_usd"] < loc["cost_range_usd"][1]
    assert any("calibrated from 2 runs" in n for n in cal["notes"])
    assert cal_typed.local.run_record()["vram_gb"] == record["vram_gb"]  # records stay uncalibrated
    monkeypatch.setenv("FTWIZARD_RUNS_DIR", str(runs))
    assert estimate_recipe(r).to_json()["local"]["calibrated_from_runs"] == 2
    # a run measured at 1/40,000 of its estimate (a compile warm-up counted as training) is not like for like: it
    # is left out, and cannot turn the range's lower bound to zero (it raised ZeroDivisionError)
    _summary(runs, "warm-up", model="codellama/CodeLlama-34b-hf", peak_mem_gib=record["vram_gb"] * 1.1,
             train_tokens_per_s=record["tokens_per_s"] / 40_000, estimate=record, **common)
    odd = estimate_recipe(r, runs_dir=runs).to_json()["local"]
    assert odd["calibrated_from_runs"] == 3  # its memory still counts; its speed does not
    assert odd["hours"] == pytest.approx(loc["hours"], rel=1e-6) and odd["hours_range"] == loc["hours_range"]


# -- serving ------------------------------------------------------------------------------------------------

def test_serving_break_even_is_where_monthly_costs_meet():
    s = serving_estimate(hosted_model="gpt-3.5-turbo", open_model="codellama/CodeLlama-34b-hf", gpu="A40",
                         quant="8bit", prompt_tokens=300, completion_tokens=40, requests_per_month=100_000)
    assert s["hosted_usd_per_1k"] == pytest.approx((300 * 3 + 40 * 6) / 1e6 * 1000)
    assert s["local_tokens_per_s"] > 0 and s["local_marginal_usd_per_1k"] < s["hosted_usd_per_1k"]
    assert s["local_monthly_usd"] == pytest.approx(730 * 0.475)
    # one computation: the per-1k figure at this volume is the month's bill over the month's requests
    assert s["local_usd_per_1k"] == pytest.approx(1000 * s["local_monthly_usd"] / 100_000, rel=1e-4)
    assert s["hosted_usd_per_1k"] == pytest.approx(1000 * s["hosted_monthly_usd"] / 100_000, rel=1e-3)
    be = s["break_even_requests_per_month"]
    at_be = serving_estimate(hosted_model="gpt-3.5-turbo", open_model="codellama/CodeLlama-34b-hf", gpu="A40",
                             quant="8bit", prompt_tokens=300, completion_tokens=40, requests_per_month=be)
    assert at_be["hosted_monthly_usd"] == pytest.approx(at_be["local_monthly_usd"], rel=0.01)
    assert s["price_source"] and s["hosted_price_date"]
    # decode is bandwidth-bound: an H100 serves faster than an A40
    fast = serving_estimate(hosted_model="gpt-3.5-turbo", open_model="codellama/CodeLlama-34b-hf", gpu="H100",
                            quant="8bit", prompt_tokens=300, completion_tokens=40, requests_per_month=1)
    assert fast["local_tokens_per_s"] > 3 * s["local_tokens_per_s"]


def test_serving_never_breaks_even_when_local_costs_more_per_request():
    s = serving_estimate(hosted_model="gpt-4.1-nano", open_model="meta-llama/Llama-2-70b-hf", gpu="H100",
                         price_per_hour=50, quant="4bit", prompt_tokens=100, completion_tokens=500,
                         requests_per_month=10_000)
    assert s["break_even_requests_per_month"] is None
    with pytest.raises(UsageError):
        serving_estimate(hosted_model="gpt-3.5-turbo", open_model="meta-llama/Llama-2-7b-hf", gpu="A40",
                         prompt_tokens=10, completion_tokens=0, requests_per_month=1)


# -- the command ----------------------------------------------------------------------------------------------

def _cli(*args, env_extra=None, cwd=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or REPO, timeout=120)


def test_cli_json_shape_and_no_torch(tmp_path):
    code = ("import sys, json; from ftwizard.cli.main import main; "
            "rc = main(['estimate', 'sql-codellama34b-lora', '--hosted-model', 'gpt-3.5-turbo', '--json', "
            f"'--runs-dir', {str(tmp_path)!r}]); "
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets', 'textual') if m in sys.modules]; "
            "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)")
    env = {**os.environ, "FTWIZARD_CACHE_DIR": os.environ["FTWIZARD_CACHE_DIR"]}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stderr
    est = json.loads(res.stdout)
    for key in ("model", "gpu", "quant", "vram_gb", "gpu_vram_gb", "fits", "train_tokens", "hours", "cost_usd",
                "price_per_hour", "price_source", "price_date", "breakdown", "calibrated_from_runs"):
        assert key in est["local"], key
    for key in ("model", "billed_tokens", "epochs", "cost_usd", "price_source", "price_date", "available_until"):
        assert key in est["hosted"], key
    assert est["ratio"] > 1 and est["serving"]["hosted_usd_per_1k"] > 0


def test_cli_table_and_usage_errors(tmp_path):
    res = _cli("estimate", "viggo-codellama34b-lora", "--gpu", "L40S", "--quant", "4bit", "--runs-dir",
               str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "L40S" in res.stdout and "training cost" in res.stdout and "$" in res.stdout
    bad = _cli("estimate", "sql-gpt35", "--examples", "0")
    assert bad.returncode == 2 and "--examples must be > 0" in bad.stderr and "Traceback" not in bad.stderr
    bad = _cli("estimate", "sql-gpt35", "--gpu", "A1OO")
    assert bad.returncode == 2 and "did you mean" in bad.stderr and "known:" in bad.stderr
    bad = _cli("estimate", "sql-gpt35", "--price-per-hour", "-1")
    assert bad.returncode == 2
    res = _cli("estimate", "--model", "meta-llama/Llama-3.1-8B", "--gpu", "A100-80GB", "--examples", "20000",
               "--tokens-per-example", "300", "--json", "--runs-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    est = json.loads(res.stdout)
    assert est["hosted"]["billed_tokens"] == 20000 * 300 * 1  # 20,000 x 3 > 25,000: the cookbook picks 1 epoch
    assert est["local"]["model"] == "meta-llama/Llama-3.1-8B"
    assert _cli("estimate").returncode == 2


@pytest.mark.parametrize("flags,needle", [
    (["--examples", "0", "--tokens-per-example", "200"], "--examples must be > 0 (got 0)"),
    (["--examples", "10", "--tokens-per-example", "-3"], "--tokens-per-example must be > 0 (got -3)"),
    (["--examples", "10"], "describe the data with --examples N and --tokens-per-example T"),
])
def test_cli_without_recipe_names_the_bad_flag(flags, needle):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "ftwizard", "estimate", *flags], capture_output=True, text=True)
    assert p.returncode == 2 and needle in p.stderr and "Traceback" not in p.stderr


# -- today's models: mixture of experts ------------------------------------------------------------------------

def test_moe_memory_from_all_experts_time_from_the_active_ones(tmp_path):
    """Qwen3-30B-A3B: 30.5B parameters held, 3.3B run per token - memory like a 30B model, time like a 3B one."""
    moe = get_open_model("Qwen/Qwen3-30B-A3B")
    assert moe.is_moe and moe.params == pytest.approx(30.5e9, rel=0.02)
    assert moe.active_params == pytest.approx(3.3e9, rel=0.05)
    dense30, dense3 = get_open_model("Qwen/Qwen3-32B"), get_open_model("meta-llama/Llama-3.2-3B")
    vram = {m: estimate_vram(m, quant="4bit", seq_len=512)["vram_gb"] for m in ("Qwen/Qwen3-30B-A3B",
                                                                                "Qwen/Qwen3-32B", "meta-llama/Llama-3.2-3B")}
    assert vram["Qwen/Qwen3-30B-A3B"] > 4 * vram["meta-llama/Llama-3.2-3B"]
    assert vram["Qwen/Qwen3-30B-A3B"] == pytest.approx(vram["Qwen/Qwen3-32B"], rel=0.35)
    f = {m.id: train_flops_per_token(m, 512, gradient_checkpointing=True) for m in (moe, dense30, dense3)}
    assert f[moe.id] < 1.5 * f[dense3.id] and f[moe.id] < 0.2 * f[dense30.id]
    r = recipe("sql-codellama34b-lora")
    # 16-bit: time follows the active experts. (In 4-bit every routed-to expert is dequantised each pass, and with
    # 8 x 150 tokens that is all 128 of them, so the dequantisation of 30B weights is paid like a dense 30B's.)
    est = {m: estimate_recipe(r, model=m, quant="none", gpu="H100", runs_dir=tmp_path).to_json()["local"]
           for m in ("Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B", "meta-llama/Llama-3.2-3B")}
    assert est["Qwen/Qwen3-30B-A3B"]["hours"] < 0.6 * est["Qwen/Qwen3-32B"]["hours"]  # + 48 layers of host dispatch
    assert est["Qwen/Qwen3-30B-A3B"]["vram_gb"] > 3 * est["meta-llama/Llama-3.2-3B"]["vram_gb"]
    q4 = {m: estimate_recipe(r, model=m, quant="4bit", gpu="H100", runs_dir=tmp_path).to_json()["local"]
          for m in ("Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B")}
    assert q4["Qwen/Qwen3-30B-A3B"]["hours"] < q4["Qwen/Qwen3-32B"]["hours"]


def test_moe_from_a_config_json(tmp_path):
    cfg = {"model_type": "qwen3_moe", "num_hidden_layers": 48, "hidden_size": 2048, "intermediate_size": 6144,
           "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8, "num_attention_heads": 32,
           "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": False}
    from ftwizard.catalog import open_model_from_config

    m = open_model_from_config(cfg, id="x/qwen3-moe", source="test")
    cat = get_open_model("Qwen/Qwen3-30B-A3B")
    assert (m.experts, m.active_experts, m.expert_intermediate, m.family) == (128, 8, 768, "qwen3")
    assert m.params == cat.params and m.active_params == cat.active_params


# -- one computation per quantity ------------------------------------------------------------------------------

def test_gpu_price_flag_recipe_environment_catalog(monkeypatch):
    from ftwizard.pricing import gpu_price

    seed = recipe("sql-codellama34b-lora")  # hardware.gpu = A40, price_per_hour = 0.475
    assert gpu_price("A40", recipe=seed)["origin"] == "recipe"
    h100 = gpu_price("H100", recipe=seed)  # the hardware step switching the card: the A40's price does not follow
    assert h100["price_per_hour"] == 3.29 and h100["origin"] == "catalog" and "is for A40" in h100["note"]
    monkeypatch.setenv("FTWIZARD_PRICE_PER_HOUR", "2.5")
    assert gpu_price("H100", recipe=seed)["price_per_hour"] == 2.5
    assert gpu_price("H100", recipe=seed)["origin"] == "environment"
    assert gpu_price("H100", flag=1.99, recipe=seed)["price_per_hour"] == 1.99
    monkeypatch.setenv("FTWIZARD_PRICE_PER_HOUR", "abc")
    with pytest.raises(UsageError, match="FTWIZARD_PRICE_PER_HOUR"):
        gpu_price("A40")
    # every face prices the chosen card through it: the estimate and the hardware report
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR")
    assert estimate_recipe(seed, gpu="H100").to_json()["local"]["price_per_hour"] == 3.29


def test_prepare_and_estimate_give_the_same_local_lengths(tmp_path):
    """The issue's contradiction: prepare said mean 146 tokens and estimate 152 for the same SQL recipe."""
    from ftwizard.prepare import prepare

    r = recipe("sql-codellama34b-lora")
    report = prepare(r, tmp_path / "prepared")
    mean_prepare = report["splits"]["train"]["local"]["tokens_per_example"]["mean"]
    mean_estimate = estimate_recipe(r, runs_dir=tmp_path).to_json()["local"]["breakdown"]["tokens"]["mean_len"]
    assert mean_prepare == pytest.approx(mean_estimate, abs=0.1)
    assert "1.25" in report["local"]["tokenizer"]  # one documented ratio for the llama2 family


# -- what-if on equal terms, every provider's candidates -----------------------------------------------------------

def test_what_if_trains_local_and_hosted_on_the_same_epochs(tmp_path):
    for examples in (2_000, 20_000):
        res = _cli("estimate", "--model", "Qwen/Qwen3-8B", "--gpu", "H100", "--examples", str(examples),
                   "--tokens-per-example", "300", "--json", "--runs-dir", str(tmp_path))
        assert res.returncode == 0, res.stderr
        est = json.loads(res.stdout)
        epochs = est["hosted"]["epochs"]
        assert est["local"]["epochs_equivalent"] == pytest.approx(epochs, rel=0.02)
        assert est["local"]["train_tokens"] == pytest.approx(examples * epochs * 300, rel=0.05)
    assert est["warnings"] == []
    res = _cli("estimate", "--model", "Qwen/Qwen3-8B", "--examples", "50000000", "--tokens-per-example", "300",
               "--epochs", "40", "--json", "--runs-dir", str(tmp_path))
    est = json.loads(res.stdout)
    assert any("--examples 5e+07" in w or "--examples 50,000,000" in w for w in est["warnings"])
    assert any(w.startswith("--epochs 40") for w in est["warnings"])
    assert "far outside real fine-tuning" in res.stderr


def test_estimate_lists_every_providers_candidates(tmp_path):
    res = _cli("estimate", "sql-gpt35", "--json", "--as-of", "2026-12-01", "--runs-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    est = json.loads(res.stdout)
    assert est["hosted"]["cost_usd"] == 11.99 and est["hosted"]["available"] is False  # gpt-3.5-turbo is gone
    cands = est["hosted_candidates"]
    assert {c["provider"] for c in cands} >= {"openai", "azure", "together", "tinker"}
    for c in cands:
        for key in ("model", "cost_usd", "price_source", "price_date", "weights_downloadable", "available",
                    "training_days_left", "shutdown_days_left"):
            assert key in c, key
    mini = next(c for c in cands if c["provider"] == "openai" and c["model"].startswith("gpt-4o-mini"))
    assert mini["training_days_left"] == 36 and mini["shutdown_days_left"] == 44 and mini["available"]
    assert mini["cost_usd"] == pytest.approx(est["hosted"]["billed_tokens"] * 3.0 / 1e6, abs=0.01)
    together = next(c for c in cands if c["provider"] == "together")
    assert together["weights_downloadable"] is True
    table = _cli("estimate", "sql-gpt35", "--as-of", "2026-12-01", "--runs-dir", str(tmp_path))
    assert "$11.99" in table.stdout and "Hosted candidates as of 2026-12-01" in table.stdout
    assert "together" in table.stdout and "tinker" in table.stdout


def test_serving_prices_per_token_and_per_hour_from_one_place():
    from ftwizard.pricing import hosted_serving_cost, hosted_token_cost, local_serving_cost

    assert hosted_token_cost("gpt-4o-mini", prompt_tokens=1e6, completion_tokens=1e6) == pytest.approx(1.5)
    assert hosted_token_cost("Qwen/Qwen3-8B", provider="together", prompt_tokens=10, completion_tokens=10) is None
    dedicated = hosted_serving_cost("Qwen/Qwen3-8B", provider="together", prompt_tokens=300, completion_tokens=40,
                                    requests_per_month=50_000)
    assert dedicated["monthly_usd"] == pytest.approx(730 * 3.99)
    assert dedicated["usd_per_1k"] == pytest.approx(1000 * dedicated["monthly_usd"] / 50_000)
    local = local_serving_cost(gpu_seconds_per_request=0.5, requests_per_gpu_month=5_256_000,
                               price={"price_per_hour": 0.475}, requests_per_month=100_000)
    assert local["monthly_usd"] == pytest.approx(346.75) and local["usd_per_1k"] == pytest.approx(3.4675)
    assert local["marginal_usd_per_1k"] == pytest.approx(1000 * 0.5 * 0.475 / 3600)


def test_the_local_worker_prices_the_card_it_runs_on():
    """A recipe written for an A40 at $0.475/h that lands on an H100 is priced at the H100's rate."""
    from ftwizard.backends.local.reporter import price_per_hour

    seed = recipe("sql-codellama34b-lora")
    assert price_per_hour(seed)[0] == 0.475
    assert price_per_hour(seed, "NVIDIA A40")[0] == 0.475
    assert price_per_hour(seed, "NVIDIA H100 80GB HBM3")[0] == 3.29
    assert price_per_hour(seed, "Some Unknown Card") == (None, "not in the catalog: pass --price-per-hour", "")


def test_a_cpu_run_is_priced_by_ftwizard_price_per_hour(monkeypatch):
    """The worker used to price a CPU run by the recipe alone: FTWIZARD_PRICE_PER_HOUR was ignored there."""
    from ftwizard.backends.local.worker import price_per_hour

    cpu = recipe("viggo-cpu-demo").with_updates({"hardware.gpu": "auto", "hardware.price_per_hour": None})
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR", raising=False)
    assert price_per_hour(cpu, "cpu")[0] != 0.12  # the catalog's CPU price, if any
    monkeypatch.setenv("FTWIZARD_PRICE_PER_HOUR", "0.12")
    assert price_per_hour(cpu, "cpu")[:1] == (0.12,) and "FTWIZARD_PRICE_PER_HOUR" in price_per_hour(cpu, "cpu")[1]
    assert price_per_hour(cpu)[0] == 0.12  # before the device is known too


def test_a_cpu_recipe_is_estimated_on_the_cpu_not_an_a40():
    """hardware.device = 'cpu' with gpu = 'auto': the estimate follows the CPU the run trains on, not an A40."""
    from ftwizard.defaults import steps_for
    from ftwizard.estimate import estimate_recipe
    from ftwizard.recipe import load_recipe

    recipe = load_recipe(RECIPES / "viggo-cpu-demo.toml").with_updates({"hardware.gpu": "auto",
                                                                        "hardware.device": "cpu"})
    est = estimate_recipe(recipe).to_json()
    assert est["local"]["gpu"] == "cpu" and est["local"]["dtype"] == "fp32"
    # steps from epochs follow the one rule of ftwizard.defaults
    by_epochs = estimate_recipe(recipe.with_updates({"train.max_steps": 0, "train.epochs": 2.0})).to_json()
    t = recipe.train
    n = round(by_epochs["local"]["train_sequences"] / by_epochs["local"]["epochs_equivalent"])
    assert by_epochs["local"]["steps"] == steps_for(n, epochs=2.0, micro_batch_size=t.micro_batch_size,
                                                    grad_accum=t.grad_accum)


def test_estimate_judges_availability_on_the_same_day_as_run(monkeypatch):
    """FTWIZARD_AS_OF moves `estimate` as it moves `run`'s preflight: one day for both."""
    from ftwizard.estimate import estimate_recipe
    from ftwizard.recipe import load_recipe

    recipe = load_recipe(RECIPES / "viggo-together.toml")
    monkeypatch.setenv("FTWIZARD_AS_OF", "2027-02-01")
    assert estimate_recipe(recipe).to_json()["hosted"]["as_of"] == "2027-02-01"
    monkeypatch.delenv("FTWIZARD_AS_OF")
    import datetime

    assert estimate_recipe(recipe).to_json()["hosted"]["as_of"] == datetime.date.today().isoformat()
