"""Model shapes read from the config.json of the architectures published LoRA tables train (issue 22): GPT-2,
GPT-J, GPT-NeoX / Pythia, Falcon, BLOOM, OPT, Phi, StarCoder / StarCoder2, ChatGLM3, Baichuan2, InternLM2, Gemma,
Mixtral, Qwen1.5-MoE, DeepSeek-MoE, OLMo-2, MPT. The configs are in tests/data/configs (SOURCES.md says where
each comes from); every count below is the model maker's published one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.catalog import OpenModel, get_open_model, open_model_from_config
from ftwizard.errors import UsageError
from ftwizard.estimate import estimate_vram, lora_params, resolve_targets

CONFIGS = Path(__file__).parent / "data" / "configs"           # the refused ones
BUNDLED = Path(__file__).parent.parent / "ftwizard" / "catalog" / "hub_configs"
HUB_ID = {"gpt2": "openai-community/gpt2", "gpt-neo-1.3b": "EleutherAI/gpt-neo-1.3B", "gpt-j-6b": "EleutherAI/gpt-j-6b", "pythia-1.4b": "EleutherAI/pythia-1.4b",
          "pythia-12b": "EleutherAI/pythia-12b", "gpt-neox-20b": "EleutherAI/gpt-neox-20b",
          "falcon-7b": "tiiuae/falcon-7b", "falcon-180b": "tiiuae/falcon-180B", "bloom-560m": "bigscience/bloom-560m",
          "opt-1.3b": "facebook/opt-1.3b", "opt-6.7b": "facebook/opt-6.7b", "phi-1_5": "microsoft/phi-1_5",
          "phi-2": "microsoft/phi-2", "phi-3-mini-4k-instruct": "microsoft/Phi-3-mini-4k-instruct",
          "starcoder": "bigcode/starcoder", "starcoder2-3b": "bigcode/starcoder2-3b",
          "chatglm3-6b": "THUDM/chatglm3-6b", "baichuan2-7b-base": "baichuan-inc/Baichuan2-7B-Base",
          "internlm2-7b": "internlm/internlm2-7b", "gemma-7b": "google/gemma-7b", "gemma-2-9b": "google/gemma-2-9b",
          "mixtral-8x7b-v0.1": "mistralai/Mixtral-8x7B-v0.1", "qwen1.5-moe-a2.7b": "Qwen/Qwen1.5-MoE-A2.7B",
          "deepseek-moe-16b-base": "deepseek-ai/deepseek-moe-16b-base", "olmo-2-1124-7b": "allenai/OLMo-2-1124-7B",
          "mpt-7b": "mosaicml/mpt-7b"}


def config_file(name: str) -> Path:
    return BUNDLED / (HUB_ID[name].replace("/", "--") + ".json") if name in HUB_ID else CONFIGS / f"{name}.json"

# file -> (published total parameters, active per token (MoE) or None, where it is published)
PUBLISHED = {
    "gpt2": (124e6, None, "OpenAI's release: the 124M model"),
    "gpt-j-6b": (6_053_381_344, None, "EleutherAI/gpt-j-6b model card, n_parameters"),
    "gpt-neo-1.3b": (1.3e9, None, "EleutherAI/gpt-neo-1.3B model card: 1.3B"),
    "pythia-1.4b": (1_414_647_808, None, "EleutherAI/pythia-1.4b model card, total params"),
    "pythia-12b": (11_846_072_320, None, "EleutherAI/pythia-12b model card, total params"),
    "gpt-neox-20b": (20_554_567_680, None, "GPT-NeoX-20B paper (Black et al. 2022), Table 1"),
    "falcon-7b": (7e9, None, "tiiuae/falcon-7b model card: 7B"),
    "falcon-180b": (180e9, None, "tiiuae/falcon-180B model card: 180B"),
    "bloom-560m": (559_214_592, None, "bigscience/bloom-560m model card"),
    "opt-1.3b": (1.3e9, None, "OPT paper (Zhang et al. 2022), Table 1"),
    "opt-6.7b": (6.7e9, None, "OPT paper (Zhang et al. 2022), Table 1"),
    "phi-3-mini-4k-instruct": (3.8e9, None, "microsoft/Phi-3-mini-4k-instruct model card: 3.8B"),
    "starcoder2-3b": (3e9, None, "StarCoder2 paper (Lozhkov et al. 2024): 3B"),
    "starcoder": (15.5e9, None, "StarCoder paper (Li et al. 2023): 15.5B"),
    "gemma-7b": (8_537_680_896, None, "Gemma paper (2024), Table 2: 786,432,000 embedding + 7,751,248,896"),
    "gemma-2-9b": (9_241_705_984, None, "Gemma 2 paper (2024), Table 2: 917,504,000 embedding + 8,324,201,984"),
    "mixtral-8x7b-v0.1": (46.7e9, 12.9e9, "Mistral AI's Mixtral announcement: 46.7B total, 12.9B per token"),
    "qwen1.5-moe-a2.7b": (14.3e9, 2.7e9, "Qwen1.5-MoE blog / model card: 14.3B total, 2.7B activated"),
    "deepseek-moe-16b-base": (16.4e9, 2.8e9, "DeepSeekMoE paper (Dai et al. 2024): 16.4B total, 2.8B activated"),
    "olmo-2-1124-7b": (7.3e9, None, "OLMo 2 paper (2024): 7B model, 7.3B parameters"),
    "mpt-7b": (6.7e9, None, "mosaicml/mpt-7b model card: 6.7B"),
}
# Cards that round their size more coarsely than 2%: the count is the checkpoint's, as the hub lists it.
CHECKPOINT = {
    "phi-2": (2_779_683_840, "microsoft/phi-2 checkpoint (the card says 2.7B)"),
    "phi-1_5": (1_418_270_720, "microsoft/phi-1_5 checkpoint (the card says 1.3B)"),
    "chatglm3-6b": (6_243_584_000, "THUDM/chatglm3-6b checkpoint (the card says 6B)"),
    "baichuan2-7b-base": (7_505_973_248, "baichuan-inc/Baichuan2-7B-Base checkpoint (the card says 7B)"),
    "internlm2-7b": (7_737_708_544, "internlm/internlm2-7b checkpoint (the card says 7B)"),
}
UNSUPPORTED = {"flan-t5-base": "`t5`", "mamba-130m-hf": "`mamba`", "deepseek-v2-lite": "`kv_lora_rank`"}


def shape(name: str) -> OpenModel:
    return open_model_from_config(json.loads(config_file(name).read_text()), id=name, source=name)


def test_every_config_file_is_covered():
    assert {p.stem for p in CONFIGS.glob("*.json")} == set(UNSUPPORTED)
    assert {p.stem for p in BUNDLED.glob("*.json")} == {HUB_ID[n].replace("/", "--") for n in HUB_ID}
    assert set(HUB_ID) == set(PUBLISHED) | set(CHECKPOINT)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_is_the_published_one(name):
    total, active, _where = PUBLISHED[name]
    m = shape(name)
    assert m.params == pytest.approx(total, rel=0.02)
    if active is not None:
        assert m.is_moe and m.active_params == pytest.approx(active, rel=0.02)


@pytest.mark.parametrize("name", sorted(CHECKPOINT))
def test_parameter_count_is_the_checkpoints(name):
    assert shape(name).params == pytest.approx(CHECKPOINT[name][0], rel=0.005)


def test_exact_where_the_maker_publishes_exact_counts():
    # Pythia's cards, GPT-NeoX-20B's paper and Gemma's tables give counts to the parameter: biases, LayerNorms,
    # head_dim x heads != hidden, Gemma 2's four norms per block all included
    for name in ("pythia-1.4b", "pythia-12b", "gpt-neox-20b", "gemma-7b", "gemma-2-9b"):
        assert shape(name).params == PUBLISHED[name][0], name


def test_the_block_is_the_architectures():
    names = lambda m: {g.name for g in m.linears()}  # noqa: E731
    assert names(shape("pythia-1.4b")) == {"qkv_proj", "o_proj", "up_proj", "down_proj"}
    assert names(shape("phi-2")) == {"q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"}
    assert names(shape("chatglm3-6b")) == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}
    f7, f180 = shape("falcon-7b"), shape("falcon-180b")
    assert (f7.kv_heads, f7.block_norms, f7.intermediate) == (1, 1, 4 * 4544)        # multi_query, parallel
    assert (f180.kv_heads, f180.block_norms) == (8, 2)                                # new_decoder_architecture
    glm = shape("chatglm3-6b")
    assert (glm.layers, glm.kv_heads, glm.dim_head, glm.vocab) == (28, 2, 128, 65024)
    assert shape("starcoder").kv_heads == 1 and shape("gpt2").positions == 1024 and shape("gpt2").kv_heads == 12
    santacoder = {**json.loads(config_file("gpt2").read_text()), "attention_head_type": "multiquery"}
    assert open_model_from_config(santacoder, id="s", source="s").kv_heads == 1
    ds = shape("deepseek-moe-16b-base")
    assert (ds.experts, ds.active_experts, ds.shared_intermediate, ds.dense_layers) == (64, 6, 2 * 1408, 1)
    qm = shape("qwen1.5-moe-a2.7b")
    assert (qm.experts, qm.shared_intermediate, qm.dense_layers) == (60, 5632, 0)
    assert shape("gemma-7b").tied and not shape("gpt-j-6b").tied


def test_a_two_matrix_mlp_has_fewer_lora_parameters_than_a_gated_one():
    gated = shape("olmo-2-1124-7b")  # Llama's block at 4096 / 11008
    plain = OpenModel(**{**gated.__dict__, "gated_mlp": False})
    mlp = ["up_proj", "down_proj", "gate_proj"]
    assert lora_params(plain, 16, mlp) == 16 * 32 * 2 * (4096 + 11008)
    assert lora_params(gated, 16, mlp) == 16 * 32 * 3 * (4096 + 11008)
    assert lora_params(plain, 16, ["all-linear"]) < lora_params(gated, 16, ["all-linear"])
    # the frozen MLP also keeps less for backward (no gate) and holds fewer weights
    assert plain.linear_params < gated.linear_params
    assert estimate_vram(plain, seq_len=2048)["vram_gb"] < estimate_vram(gated, seq_len=2048)["vram_gb"]


def test_a_fused_qkv_is_one_adapter():
    m = shape("pythia-1.4b")
    h = 2048
    assert lora_params(m, 8, ["query_key_value"]) == 8 * 24 * (h + 3 * h)  # one (h, 3h) matrix, not three
    assert lora_params(m, 8, ["query_key_value"]) < 8 * 24 * 3 * (h + h)


@pytest.mark.parametrize("name,targets,expected", [
    ("gpt2", ["c_attn"], ["qkv_proj"]),
    ("gpt2", ["c_proj"], ["o_proj", "down_proj"]),          # attention and MLP outputs share the name
    ("gpt2", ["attn.c_proj"], ["o_proj"]),
    ("gpt2", ["mlp.c_fc", "mlp.c_proj"], ["up_proj", "down_proj"]),
    ("starcoder", ["c_attn", "c_fc"], ["qkv_proj", "up_proj"]),
    ("starcoder2-3b", ["c_proj"], ["down_proj"]),            # StarCoder2's attention output is o_proj
    ("pythia-1.4b", ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
     ["qkv_proj", "o_proj", "up_proj", "down_proj"]),
    ("falcon-7b", ["query_key_value", "dense"], ["qkv_proj", "o_proj"]),
    ("bloom-560m", ["self_attention.query_key_value"], ["qkv_proj"]),
    ("chatglm3-6b", ["query_key_value", "dense_h_to_4h"], ["qkv_proj", "gate_up_proj"]),
    ("opt-1.3b", ["q_proj", "v_proj", "out_proj", "fc1", "fc2"],
     ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]),
    ("phi-2", ["q_proj", "dense", "fc1", "fc2"], ["q_proj", "o_proj", "up_proj", "down_proj"]),
    ("gpt-j-6b", ["q_proj", "out_proj", "fc_in", "fc_out"], ["q_proj", "o_proj", "up_proj", "down_proj"]),
    ("phi-3-mini-4k-instruct", ["qkv_proj", "gate_up_proj"], ["qkv_proj", "gate_up_proj"]),
    ("baichuan2-7b-base", ["W_pack", "mlp.down_proj"], ["qkv_proj", "down_proj"]),
    ("internlm2-7b", ["wqkv", "wo", "w1", "w2", "w3"], ["qkv_proj", "o_proj", "gate_proj", "down_proj", "up_proj"]),
    ("mixtral-8x7b-v0.1", ["w1", "w2", "w3"], ["gate_proj", "down_proj", "up_proj"]),
    ("mpt-7b", ["Wqkv", "out_proj", "up_proj"], ["qkv_proj", "o_proj", "up_proj"]),
])
def test_target_names_resolve_by_architecture(name, targets, expected):
    assert resolve_targets(shape(name), targets) == (expected, [])


def test_the_same_name_means_different_matrices_in_different_models():
    qwen1 = open_model_from_config({"model_type": "qwen", "num_hidden_layers": 32, "hidden_size": 4096,
                                    "intermediate_size": 22016, "num_attention_heads": 32, "vocab_size": 151936,
                                    "kv_channels": 128}, id="qwen", source="test")
    assert resolve_targets(qwen1, ["w2"])[0] == ["gate_proj"]             # Qwen v1: c_proj(w1(x) * silu(w2(x)))
    assert resolve_targets(shape("internlm2-7b"), ["w2"])[0] == ["down_proj"]
    assert resolve_targets(shape("mixtral-8x7b-v0.1"), ["w2"])[0] == ["down_proj"]
    assert resolve_targets(shape("pythia-1.4b"), ["dense_h_to_4h"])[0] == ["up_proj"]
    assert resolve_targets(shape("chatglm3-6b"), ["dense_h_to_4h"])[0] == ["gate_up_proj"]


def test_an_unknown_target_is_reported_not_counted():
    names, unknown = resolve_targets(shape("pythia-1.4b"), ["query_key_value", "q_proj", "lm_head_x"])
    assert names == ["qkv_proj"] and unknown == ["q_proj", "lm_head_x"]  # NeoX has no separate q_proj


def test_moe_lora_counts_every_expert_and_the_shared_one():
    ds = shape("deepseek-moe-16b-base")
    h, w = 2048, 1408
    per_name = 27 * 64 * (h + w) + 27 * (h + 2 * w) + 1 * (h + 10944)  # experts, shared, the dense first layer
    assert lora_params(ds, 1, ["gate_proj"]) == per_name


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_models_are_a_usage_error_naming_the_reason(name):
    with pytest.raises(UsageError) as e:
        shape(name)
    assert UNSUPPORTED[name] in str(e.value)


def _estimate(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftwizard", "estimate", "--model", str(folder), "--gpu", "A100-80GB",
                           "--examples", "1000", "--tokens-per-example", "512", "--json", *extra],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"})


@pytest.mark.parametrize("name", ["gpt2", "falcon-7b", "chatglm3-6b", "deepseek-moe-16b-base", "phi-2"])
def test_the_cli_estimates_a_folder_with_a_config_json(tmp_path, name):
    (tmp_path / "config.json").write_text(config_file(name).read_text())
    r = _estimate(tmp_path, "--rank", "16", "--set", 'lora.target_modules=["all-linear"]')
    assert r.returncode == 0, r.stderr
    local = json.loads(r.stdout)["local"]
    assert local["params"] == shape(name).params and local["vram_gb"] > 0 and local["tokens_per_s"] > 0
    assert local["breakdown"]["lora_params"] == lora_params(shape(name), 16, ["all-linear"])


def test_llama_default_targets_on_a_fused_model_say_what_its_modules_are(tmp_path):
    (tmp_path / "config.json").write_text(config_file("gpt2").read_text())
    r = _estimate(tmp_path)  # the recipe's default q_proj, k_proj, v_proj, o_proj: GPT-2 has none of them
    assert r.returncode == 0, r.stderr
    note = next(n for n in json.loads(r.stdout)["notes"] if "LoRA targets" in n)
    assert "q_proj" in note and "c_attn, c_proj, c_fc" in note


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_the_cli_refuses_unsupported_models_with_exit_2(tmp_path, name):
    (tmp_path / "config.json").write_text(config_file(name).read_text())
    r = _estimate(tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert UNSUPPORTED[name] in r.stderr


def test_the_catalog_keeps_its_shapes():
    # defaults are Llama's block: catalog models read exactly as before
    m = get_open_model("meta-llama/Llama-2-7b-hf")
    assert (m.gated_mlp, m.fused_qkv, m.block_norms, m.positions) == (True, False, 2, 0)
    assert m.computed_params == m.params == 6_738_415_616
    phi4 = get_open_model("microsoft/phi-4")
    assert resolve_targets(phi4, ["qkv_proj"])[0] == ["qkv_proj"]
    assert lora_params(phi4, 8, ["qkv_proj"]) == 8 * 40 * (5120 + 5120 + 2 * 10 * 128)


# The same configs built by transformers' own model classes on the meta device (no weights, no network): the
# parameter count, and the LoRA parameters of the modules PEFT would adapt for a target list (a module adapts when
# its name is the target or ends in "." + target; nn.Linear and GPT-2's Conv1D).
IN_TRANSFORMERS = {
    "gpt2": ["c_attn", "c_proj", "c_fc"], "gpt-neo-1.3b": ["q_proj", "v_proj", "out_proj", "c_fc", "c_proj"],
    "gpt-j-6b": ["q_proj", "v_proj", "out_proj", "fc_in", "fc_out"],
    "pythia-1.4b": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "falcon-7b": ["query_key_value", "dense_4h_to_h"], "falcon-180b": ["query_key_value", "dense"],
    "bloom-560m": ["query_key_value", "dense_h_to_4h"], "opt-1.3b": ["q_proj", "out_proj", "fc1", "fc2"],
    "phi-2": ["q_proj", "k_proj", "dense", "fc1", "fc2"], "phi-3-mini-4k-instruct": ["qkv_proj", "gate_up_proj"],
    "starcoder": ["c_attn", "attn.c_proj", "mlp.c_proj"], "starcoder2-3b": ["q_proj", "o_proj", "c_fc", "c_proj"],
    "gemma-2-9b": ["all-linear"], "olmo-2-1124-7b": ["all-linear"], "mpt-7b": ["Wqkv", "out_proj", "down_proj"],
    "mixtral-8x7b-v0.1": None, "qwen1.5-moe-a2.7b": None,  # experts are fused 3-D parameters in transformers 5
}


@pytest.mark.parametrize("name", sorted(IN_TRANSFORMERS))
def test_transformers_builds_the_same_model(name):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = json.loads(config_file(name).read_text())
    config = transformers.AutoConfig.for_model(**cfg)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    m = shape(name)
    assert m.params == pytest.approx(sum(p.numel() for p in model.parameters()), rel=5e-5)
    targets = IN_TRANSFORMERS[name]
    if targets is None:
        return
    linear = [(n, mod) for n, mod in model.named_modules()
              if (isinstance(mod, torch.nn.Linear) or type(mod).__name__ == "Conv1D")
              and not n.endswith("lm_head") and "embed_out" not in n]

    def adapted(n: str) -> bool:
        return targets == ["all-linear"] or any(n == t or n.endswith("." + t) for t in targets)

    def dims(mod) -> int:
        return sum(mod.weight.shape)

    peft_count = 8 * sum(dims(mod) for n, mod in linear if adapted(n))
    assert lora_params(m, 8, targets) == peft_count


def test_positions_and_activations_as_each_architecture_has_them():
    assert [shape(n).rotary for n in ("gpt2", "pythia-1.4b", "phi-2", "gpt-j-6b", "falcon-7b", "bloom-560m")] == \
        [0.0, 0.25, 0.4, 0.25, 1.0, 0.0]
    assert [shape(n).hidden_act for n in ("gpt2", "pythia-1.4b", "opt-1.3b", "starcoder2-3b")] == \
        ["gelu_new", "gelu", "relu", "gelu_pytorch_tanh"]
    from ftwizard.estimate import activation_bytes_per_token

    gpt2 = shape("gpt2")
    plain = OpenModel(**{**gpt2.__dict__, "hidden_act": "gelu"})
    # gelu_new's Python formula keeps 3 more tensors of the MLP's width than torch's GELU
    assert activation_bytes_per_token(gpt2, [], 0.0) - activation_bytes_per_token(plain, [], 0.0) == 3 * 2 * 3072


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "relu", "quick_gelu"])
def test_what_an_activation_keeps_is_what_autograd_saves(act):
    torch = pytest.importorskip("torch")
    activations = pytest.importorskip("transformers.activations")
    from ftwizard.estimate.base import ACT_SAVED

    x = torch.randn(8, 256, requires_grad=True)
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.data_ptr()] = t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        activations.get_activation(act)(x)
    assert sum(seen.values()) == ACT_SAVED.get(act, 1) * x.numel()


@pytest.mark.parametrize("name", ["falcon-7b", "EleutherAI/pythia-1.4b"])
def test_a_bundled_hub_id_is_estimable_offline(tmp_path, monkeypatch, name):
    hub_id = HUB_ID.get(name, name)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    m = get_open_model(hub_id.lower())
    assert m.params == shape(name if name in HUB_ID else "pythia-1.4b").params and "bundled" in m.source
    r = subprocess.run([sys.executable, "-m", "ftwizard", "estimate", "--model", hub_id, "--gpu", "A100-80GB",
                        "--examples", "100", "--tokens-per-example", "256", "--json"],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["local"]["params"] == m.params


def test_llama4_experts_shared_expert_and_interleaved_dense_layers():
    # Llama 4 Maverick's text_config (meta-llama/Llama-4-Maverick-17B-128E): 128 experts every other layer, a shared
    # expert, dense layers of intermediate_size_mlp between; Meta: 400B total, 17B active
    text = {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
            "intermediate_size_mlp": 16384, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
            "num_hidden_layers": 48, "num_local_experts": 128, "num_experts_per_tok": 1,
            "interleave_moe_layer_step": 2, "vocab_size": 202048, "tie_word_embeddings": False}
    m = open_model_from_config({"model_type": "llama4", "text_config": text}, id="maverick", source="test")
    assert (m.experts, m.dense_layers, m.shared_intermediate, m.intermediate) == (128, 24, 8192, 16384)
    assert m.params == pytest.approx(400e9, rel=0.02) and m.active_params == pytest.approx(17e9, rel=0.02)


def test_linear_attention_layers_are_refused_by_key():
    cfg = {"model_type": "qwen3_next", "num_hidden_layers": 4, "hidden_size": 256, "intermediate_size": 512,
           "num_attention_heads": 4, "vocab_size": 1000,
           "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"]}
    with pytest.raises(UsageError, match="`layer_types`.*linear_attention"):
        open_model_from_config(cfg, id="x", source="test")
    gemma3 = {**cfg, "model_type": "gemma3_text", "layer_types": ["sliding_attention", "full_attention"] * 2}
    assert open_model_from_config(gemma3, id="g", source="test").layers == 4


@pytest.mark.parametrize("name,key,value", [
    ("pythia-1.4b", "num_attention_heads", 0), ("pythia-1.4b", "hidden_size", "2048"),
    ("gpt2", "n_layer", 10**12), ("qwen1.5-moe-a2.7b", "mlp_only_layers", "all"),
    ("mpt-7b", "attn_config", "grouped"), ("phi-2", "partial_rotary_factor", 40),
    ("gpt-j-6b", "rotary_dim", -1), ("gemma-2-9b", "layer_types", "full_attention"),
])
def test_a_bad_value_is_a_usage_error_naming_the_key(name, key, value):
    cfg = {**json.loads(config_file(name).read_text()), key: value}
    with pytest.raises(UsageError, match=f"`{key}`"):
        open_model_from_config(cfg, id=name, source="config.json")


def test_a_huge_layer_count_is_counted_not_listed():
    # a MoE's dense and sparse layers are counted arithmetically: a config saying a billion layers costs nothing
    cfg = {**json.loads(config_file("deepseek-moe-16b-base").read_text()), "num_hidden_layers": 10**9}
    assert open_model_from_config(cfg, id="x", source="x").dense_layers == 1
