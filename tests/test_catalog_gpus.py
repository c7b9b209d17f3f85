"""The GPU catalog: the cards published LoRA / QLoRA tables and users name, each resolving from the spellings
NVML / nvidia-smi / torch print and from `--gpu`, with datasheet figures the estimator reads the right way."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from ftwizard.catalog import flash_attention_2_runs_on, get_gpu, gpus, match_gpu
from ftwizard.cli import output
from ftwizard.cli.main import main

# (name as NVML / nvidia-smi print it, total memory in GiB as they report it, the catalog card)
REPORTED = [
    ("NVIDIA RTX A6000", 47.5, "RTX-A6000"), ("NVIDIA RTX 6000 Ada Generation", 47.5, "RTX-6000-Ada"),
    ("NVIDIA A800-SXM4-80GB", 79.3, "A800-80GB"), ("NVIDIA A800 80GB PCIe", 79.3, "A800-80GB"),
    ("NVIDIA A800 40GB Active", 39.4, "A800-40GB"), ("NVIDIA H800", 79.6, "H800"),
    ("NVIDIA H800 PCIe", 79.6, "H800-PCIe"), ("NVIDIA H20", 95.0, "H20"), ("NVIDIA L20", 44.5, "L20"),
    ("NVIDIA L40", 44.5, "L40"), ("NVIDIA L40S", 44.5, "L40S"), ("NVIDIA RTX A5000", 23.7, "RTX-A5000"),
    ("NVIDIA RTX A4000", 15.7, "RTX-A4000"), ("NVIDIA A30", 23.5, "A30"),
    ("Tesla V100-SXM2-16GB", 15.8, "V100-16GB"), ("Tesla V100-SXM2-32GB", 31.7, "V100-32GB"),
    ("Tesla V100-PCIE-16GB", 15.8, "V100-16GB"), ("Tesla V100S-PCIE-32GB", 31.7, "V100-32GB"),
    ("NVIDIA GeForce RTX 5090", 31.4, "RTX-5090"), ("NVIDIA GeForce RTX 4090", 23.6, "RTX-4090"),
    ("NVIDIA GeForce RTX 4080", 15.6, "RTX-4080"), ("NVIDIA GeForce RTX 3090", 23.6, "RTX-3090"),
    ("NVIDIA GeForce RTX 3080", 9.8, "RTX-3080"), ("NVIDIA GeForce RTX 3060", 11.8, "RTX-3060-12GB"),
    ("NVIDIA B200", 179.1, "B200"), ("NVIDIA GH200 480GB", 95.6, "GH200-96GB"),
    ("NVIDIA GH200 144G HBM3e", 143.0, "GH200-144GB"), ("NVIDIA H200", 139.8, "H200"),
    ("NVIDIA H100 80GB HBM3", 79.6, "H100-SXM"), ("NVIDIA A100-SXM4-80GB", 79.2, "A100-80GB"),
    ("NVIDIA A10", 22.5, "A10"), ("NVIDIA L4", 22.5, "L4"), ("Tesla T4", 15.0, "T4"),
    # other cards sharing a number: unknown rather than another card's physics
    ("NVIDIA GeForce RTX 3080 Ti", 11.7, None), ("NVIDIA GeForce RTX 3060 Ti", 7.8, None),
    ("NVIDIA GeForce RTX 4090 Laptop GPU", 15.6, None), ("NVIDIA RTX PRO 6000 Blackwell Server Edition", 95.0, None),
]


def _hits(reported: str, vram: float) -> dict[str, int]:
    """Every card whose match strings hit the name (as match_gpu judges one), with its longest hit."""
    low = reported.lower()
    words = set(low.replace("-", " ").replace("_", " ").split())
    out = {}
    for g in gpus():
        if g.is_cpu or words & set(g.exclude) or (g.min_vram_gb and vram < g.min_vram_gb) \
                or (g.max_vram_gb and vram > g.max_vram_gb):
            continue
        lengths = [len(m) for m in g.match if ((m in words) if g.exact_match else (m in low))]
        if lengths:
            out[g.name] = max(lengths)
    return out


@pytest.mark.parametrize("reported,vram,expected", REPORTED)
def test_each_reported_name_is_one_card(reported, vram, expected):
    got = match_gpu(reported, vram)
    assert (got.name if got else None) == expected
    hits = _hits(reported, vram)
    if expected:
        best = max(hits.values())
        assert [n for n, n_len in hits.items() if n_len == best] == [expected], hits  # no tie decides it
        assert get_gpu(reported).name == expected  # `--gpu "Tesla V100-SXM2-16GB"`, the memory read from the name


def test_every_card_is_what_its_own_match_strings_name():
    """No card's spelling lands on another card: `NVIDIA <match>` at the card's memory is that card."""
    for g in gpus():
        if g.is_cpu:
            continue
        for m in g.match:
            got = match_gpu(f"NVIDIA {m}", g.vram_gb * 0.97)
            assert got is not None and got.name == g.name, (g.name, m, got and got.name)
        for a in (g.name, *g.aliases):
            assert get_gpu(a).name == g.name, (a, g.name)


@pytest.mark.parametrize("typed,expected", [
    ("A800", "A800-80GB"), ("H800", "H800"), ("H20", "H20"), ("L20", "L20"), ("L40", "L40"), ("A6000", "RTX-A6000"),
    ("A6000 Ada", "RTX-6000-Ada"), ("RTX 6000 Ada", "RTX-6000-Ada"), ("A5000", "RTX-A5000"), ("A4000", "RTX-A4000"),
    ("A30", "A30"), ("V100", "V100-32GB"), ("V100 16GB", "V100-16GB"), ("5090", "RTX-5090"), ("4080", "RTX-4080"),
    ("3080", "RTX-3080"), ("RTX 3060", "RTX-3060-12GB"), ("B200", "B200"), ("GH200", "GH200-96GB"),
    ("nvidia a40", "A40"), ("H100", "H100-SXM"), ("a100", "A100-80GB")])
def test_names_users_type(typed, expected):
    assert get_gpu(typed).name == expected


# GeForce cards train (FP16/BF16 with FP32 accumulate) at half their FP16-accumulate tensor rate; the catalog holds
# the FP32-accumulate figure of NVIDIA's architecture whitepapers (dense): GA102 (RTX 3080 59.5 / 119, RTX 3090
# 71 / 142), Ada (RTX 4080 97.5 / 194.9, RTX 4090 165.2 / 330.3), RTX Blackwell (RTX 5090 209.5 / 419).
GEFORCE_FP32_ACCUMULATE = {"RTX-3080": (59.5, 119), "RTX-3090": (71, 142), "RTX-4080": (97.5, 194.9),
                           "RTX-4090": (165.2, 330.3), "RTX-5090": (209.5, 419)}


@pytest.mark.parametrize("name", sorted(GEFORCE_FP32_ACCUMULATE))
def test_geforce_figures_are_the_fp32_accumulate_ones(name):
    fp32_acc, fp16_acc = GEFORCE_FP32_ACCUMULATE[name]
    g = get_gpu(name)
    assert g.bf16_tflops == pytest.approx(fp32_acc, abs=0.5) and g.bf16_tflops < 0.6 * fp16_acc
    assert "fp32 accumulate" in g.spec_source.lower()


def test_new_cards_carry_their_figures_and_sources():
    for name in ("A800-80GB", "H800", "H20", "L20", "L40", "RTX-A6000", "RTX-6000-Ada", "RTX-A5000", "RTX-A4000",
                 "A30", "V100-16GB", "V100-32GB", "RTX-5090", "RTX-4080", "RTX-3080", "RTX-3060-12GB", "B200",
                 "GH200-96GB"):
        g = get_gpu(name)
        assert g.vram_gb > 0 and g.bf16_tflops > 0 and g.mem_bandwidth_gbs > 0 and g.link_gbs > 0
        assert g.spec_source and g.link_source and g.compute_capability
    # the pairs the catalog must keep apart: same silicon, different figures
    assert get_gpu("L40").bf16_tflops * 2 == pytest.approx(get_gpu("L40S").bf16_tflops, rel=0.01)
    assert get_gpu("H20").bf16_tflops < 0.2 * get_gpu("H100").bf16_tflops
    assert get_gpu("H800").link_gbs < get_gpu("H100").link_gbs and get_gpu("A800").link_gbs < get_gpu("A100").link_gbs
    assert get_gpu("RTX-6000-Ada").mem_bandwidth_gbs == 960 and get_gpu("RTX-A6000").mem_bandwidth_gbs == 768


def _estimate(*argv: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        output.reset()
        code = int(main(["estimate", *argv, "--json"]) or 0)
    return code, json.loads(out.getvalue())


@pytest.mark.parametrize("gpu", [g.name for g in gpus() if not g.is_cpu])
def test_estimate_runs_on_every_card(gpu, tmp_path, monkeypatch):
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR", raising=False)
    code, est = _estimate("--model", "meta-llama/Llama-2-7b-hf", "--gpu", gpu, "--quant", "4bit", "--examples",
                          "1000", "--tokens-per-example", "512", "--runs-dir", str(tmp_path))
    loc = est["local"]
    g = get_gpu(gpu)
    assert code == 0 and loc["gpu"] == gpu and loc["tokens_per_s"] > 0
    assert loc["breakdown"]["time"]["peak_tflops"] == g.bf16_tflops
    assert loc["dtype"] == ("bf16" if g.bf16 else "fp16")
    assert (loc["cost_usd"] is None) == (g.default_usd_per_hour is None or not loc["fits"])


def test_cards_without_bf16_train_in_fp16_without_flash_attention(tmp_path, monkeypatch):
    """V100 goes the T4's way: fp16 at the fp16 tensor figure, and SDPA (FlashAttention-2 needs compute
    capability 8.0+) even with flash-attn installed, in the estimate as in the trainer."""
    import ftwizard.estimate.throughput as tp
    from ftwizard.backends.local import speed

    monkeypatch.setattr(tp, "_installed", lambda module: module == "flash_attn")
    monkeypatch.setattr(speed, "installed", lambda module: module == "flash_attn")
    runs = ["--model", "meta-llama/Llama-2-7b-hf", "--examples", "1000", "--tokens-per-example", "512",
            "--set", "train.attn_implementation=auto", "--runs-dir", str(tmp_path)]
    for card, dtype, attn in (("V100-32GB", "fp16", "sdpa"), ("T4", "fp16", "sdpa"),
                              ("A100-80GB", "bf16", "flash_attention_2")):
        code, est = _estimate("--gpu", card, *runs)
        assert code == 0 and (est["local"]["dtype"], est["local"]["breakdown"]["time"]["attn"]) == (dtype, attn)
    assert not flash_attention_2_runs_on("7.0") and not flash_attention_2_runs_on("7.5")
    assert flash_attention_2_runs_on("8.0") and flash_attention_2_runs_on("12.0")

    from ftwizard.recipe import validate_dict

    r = validate_dict({"name": "t", "task": "sql", "train": {"attn_implementation": "auto"}}, source="<test>")
    v100 = speed.resolve_speed(r, "cuda", dtype_is_16bit=True, compute_capability="7.0")
    a100 = speed.resolve_speed(r, "cuda", dtype_is_16bit=True, compute_capability="8.0")
    assert (v100.attn_implementation, a100.attn_implementation) == ("sdpa", "flash_attention_2")
    assert any("8.0+" in why for why in v100.reasons)


def test_the_trainer_picks_fp16_on_a_volta_card(monkeypatch):
    """torch's is_bf16_supported() says True on a compute capability 7.x card (bf16 emulated, no tensor cores);
    the trainer asks without emulation, so `model.dtype = auto` trains a V100 / T4 in fp16."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from ftwizard.backends.local.modeling import pick_dtype
    from ftwizard.recipe import validate_dict

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(major=7, minor=0))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda d: True)  # a bf16 tensor can be made
    monkeypatch.setattr(torch.version, "hip", None)
    assert torch.cuda.is_bf16_supported() is True  # the emulated answer the trainer must not take
    r = validate_dict({"name": "t", "task": "sql"}, source="<test>")
    assert pick_dtype(r, "cuda") == torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(major=8, minor=0))
    assert pick_dtype(r, "cuda") == torch.bfloat16


def test_a_bigger_card_suggested_is_one_the_catalog_prices(tmp_path):
    """Between a card and the next priced one sit unpriced cards (V100-32GB, RTX-5090 at 32 GB): what does not
    fit names a card it can price."""
    from ftwizard.estimate import estimate_recipe
    from ftwizard.recipe import validate_dict

    r = validate_dict({"name": "t", "task": "sql", "train": {"max_steps": 0, "epochs": 1, "max_length": 1024,
                                                            "micro_batch_size": 2, "gradient_checkpointing": True,
                                                            "attn_implementation": "sdpa", "use_liger": False}},
                      source="<test>")
    loc = estimate_recipe(r, model="Qwen/Qwen3-14B", gpu="RTX-4090", examples=1000, tokens_per_example=1024,
                          runs_dir=tmp_path).to_json()["local"]
    assert not loc["fits"]
    bigger = [n["change"].removeprefix("--gpu ") for n in loc["nearest_fits"] if n["change"].startswith("--gpu ")]
    assert bigger and get_gpu(bigger[0]).default_usd_per_hour is not None
