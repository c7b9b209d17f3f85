"""A model's shape from its Hugging Face config.json, for the architectures published LoRA tables train.

Each architecture names the same quantities differently (GPT-2's n_embd / n_layer / n_inner, ChatGLM's num_layers /
ffn_hidden_size / multi_query_group_num, Falcon's num_kv_heads or multi_query ...) and builds its block
differently (a 2-matrix MLP, a fused query_key_value, biases, LayerNorms, one norm per block). The key names and
defaults follow each model's configuration class (transformers' configuration_*.py, or the model repository's
own for remote-code models). What cannot be shaped (encoder-decoders, state-space models, DeepSeek's latent
attention) is a UsageError naming the model_type or the key, never a wrong shape.
"""

from __future__ import annotations

from ftwizard.catalog.shapes import OpenModel
from ftwizard.errors import UsageError

_FAMILY_BY_TYPE = {"llama": "llama", "qwen": "qwen", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
                   "qwen3_moe": "qwen3", "qwen2_moe": "qwen2", "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma3",
                   "gemma3_text": "gemma3", "phi3": "phi3", "gpt_oss": "gpt-oss", "mixtral": "mistral",
                   "gpt_neox": "gpt-neox", "gpt_bigcode": "starcoder", "starcoder2": "starcoder",
                   "RefinedWeb": "falcon", "RefinedWebModel": "falcon", "phi-msft": "phi", "olmo2": "olmo",
                   "deepseek_v2": "deepseek", "deepseek_v3": "deepseek", "internlm": "internlm",
                   "internlm2": "internlm"}

# transformers' PretrainedConfig ties the lm_head to the embeddings unless the model's configuration class says
# otherwise; these say otherwise (or their remote code keeps a separate output layer).
_UNTIED_BY_DEFAULT = {"llama", "mistral", "mixtral", "qwen", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi",
                      "phi3", "gptj", "gpt_neox", "olmo", "olmo2", "olmoe", "internlm", "internlm2", "baichuan",
                      "chatglm", "deepseek", "deepseek_v2", "deepseek_v3", "gpt_oss", "phi-msft", "codegen"}

# Llama-keyed types whose configuration class ties by default (the rest default to a separate lm_head)
_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text", "starcoder2", "mpt", "cohere", "cohere2"}

_ENCODER_DECODER = {"t5", "mt5", "umt5", "longt5", "bart", "mbart", "pegasus", "pegasus_x", "marian", "led",
                    "blenderbot", "blenderbot-small", "m2m_100", "nllb-moe", "fsmt", "prophetnet", "plbart",
                    "switch_transformers", "bigbird_pegasus", "whisper", "speech_to_text", "encoder-decoder",
                    "seamless_m4t", "seamless_m4t_v2", "t5gemma", "mvp"}
_ENCODER_ONLY = {"bert", "roberta", "xlm-roberta", "deberta", "deberta-v2", "distilbert", "electra", "albert",
                 "modernbert", "camembert", "mpnet"}
_STATE_SPACE = {"mamba", "mamba2", "falcon_mamba", "rwkv", "rwkv5", "rwkv6", "rwkv7", "jamba", "zamba", "zamba2",
                "recurrent_gemma", "xlstm", "bamba", "falcon_h1", "nemotron_h", "granitemoehybrid", "lfm2", "retnet",
                "hymba"}


# widths, depths and head counts: a zero is no model (and would divide by zero)
_POSITIVE = {"num_hidden_layers", "hidden_size", "num_attention_heads", "n_embd", "n_head", "n_layer", "num_layers",
             "num_heads", "d_model", "n_heads", "n_layers", "n_embed", "vocab_size", "padded_vocab_size"}


class _Config:
    """config.json's keys, read with the key named in every error."""

    def __init__(self, c: dict, source: str):
        self.c, self.source = c, source

    def has(self, *keys: str) -> bool:
        return any(self.c.get(k) is not None for k in keys)

    def int(self, *keys: str, default: int | None = None) -> int:
        for k in keys:
            v = self.c.get(k)
            if v is None:
                continue
            low = 1 if k in _POSITIVE else 0
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not low <= v <= 2**31:
                raise UsageError(f"{self.source}: config.json key `{k}` must be a whole number from {low} to 2^31 "
                                 f"(got {v!r})")
            return int(v)
        if default is not None:
            return default
        raise UsageError(f"{self.source}: config.json lacks `{keys[0]}`"
                         + (f" (or {', '.join(f'`{k}`' for k in keys[1:])})" if len(keys) > 1 else "")
                         + " - cannot tell the model's shape")

    def fraction(self, key: str, default: float) -> float:
        v = self.c.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise UsageError(f"{self.source}: config.json key `{key}` must be a fraction from 0 to 1 (got {v!r})")
        return float(v)

    def bool(self, key: str, default: bool) -> bool:
        v = self.c.get(key)
        return default if v is None else bool(v)


def _unsupported(mtype: str, c: dict, source: str) -> None:
    if mtype in _ENCODER_DECODER or c.get("is_encoder_decoder"):
        raise UsageError(f"{source}: model_type `{mtype}` is an encoder-decoder; ftwizard estimates and trains "
                         "decoder-only causal language models (Llama, Qwen, Mistral, GPT-2, Falcon ...)")
    if mtype in _ENCODER_ONLY:
        raise UsageError(f"{source}: model_type `{mtype}` is an encoder-only model; ftwizard estimates and trains "
                         "decoder-only causal language models")
    if mtype in _STATE_SPACE or c.get("ssm_cfg") or c.get("state_size") is not None and "mamba" in mtype:
        raise UsageError(f"{source}: model_type `{mtype}` is a state-space / recurrent model; the estimator's shape "
                         "model is the transformer's (attention + MLP), so it cannot estimate it")
    kinds = c.get("layer_types") or []
    if not isinstance(kinds, list):
        raise UsageError(f"{source}: config.json key `layer_types` must be a list")
    mixers = set(map(str, kinds)) - {"full_attention", "sliding_attention", "chunked_attention"}
    if mixers:
        raise UsageError(f"{source}: config.json key `layer_types` has {', '.join(sorted(map(str, mixers)))} layers "
                         f"(model_type `{mtype}`): linear-attention / recurrent mixers are not modelled by the "
                         "estimator, whose shape model is the transformer's")
    for key in ("kv_lora_rank", "q_lora_rank"):
        if c.get(key) is not None:
            raise UsageError(f"{source}: config.json key `{key}`: multi-head latent attention (DeepSeek-V2/V3) is "
                             "not modelled by the estimator, which would get its attention shape wrong")


def _moe(k: _Config, mtype: str, layers: int, intermediate: int) -> dict:
    """Routed experts, the shared expert and the dense layers, as Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-MoE and
    gpt-oss spell them."""
    experts = k.int("num_experts", "num_local_experts", "n_routed_experts", default=0)
    if not experts:
        return {}
    active = k.int("num_experts_per_tok", "experts_per_token", "num_experts_per_token")
    width = k.int("moe_intermediate_size", default=intermediate)
    shared = 0
    if k.has("shared_expert_intermediate_size"):              # Qwen2-MoE: one shared expert of its own width
        shared = k.int("shared_expert_intermediate_size")
    elif k.has("n_shared_experts"):                            # DeepSeek-MoE: n experts' width, fused
        shared = k.int("n_shared_experts") * width
    sparse = layers                                            # counted, never listed: a layer count is untrusted
    if k.has("first_k_dense_replace"):                        # DeepSeek: dense first, then every moe_layer_freq-th
        first, freq = k.int("first_k_dense_replace"), max(1, k.int("moe_layer_freq", default=1))
        sparse = len(range(first + (-first % freq), layers, freq))
    if k.has("decoder_sparse_step") or k.c.get("mlp_only_layers"):  # Qwen2/3-MoE
        step = max(1, k.int("decoder_sparse_step", default=1))
        only = k.c.get("mlp_only_layers") or []
        if not isinstance(only, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in only):
            raise UsageError(f"{k.source}: config.json key `mlp_only_layers` must be a list of layer numbers")
        sparse = layers // step - len({i for i in only if 0 <= i < layers and (i + 1) % step == 0})
    return {"experts": experts, "active_experts": active, "expert_intermediate": width,
            "shared_intermediate": shared, "dense_layers": layers - sparse}


def _llama_like(k: _Config, mtype: str) -> dict:
    """Llama's keys: Llama, Mistral, Mixtral, Qwen 1.5-3 (and MoE), Gemma 1-3, Phi-3, OLMo, OLMo-2, InternLM 1/2,
    Baichuan, StarCoder2, DeepSeek-MoE, gpt-oss."""
    layers = k.int("num_hidden_layers")
    hidden = k.int("hidden_size")
    intermediate = k.int("intermediate_size")
    heads = k.int("num_attention_heads")
    d = dict(layers=layers, hidden=hidden, intermediate=intermediate, heads=heads,
             kv_heads=k.int("num_key_value_heads", default=heads) or heads, vocab=k.int("vocab_size"),
             head_dim=k.int("head_dim", default=0))
    if mtype == "qwen":  # Qwen v1: intermediate_size counts w1 and w2 together; c_attn fuses q, k, v (biased)
        d.update(intermediate=intermediate // 2, heads=heads, head_dim=k.int("kv_channels", default=0),
                 fused_qkv=True, qkv_bias=True)
    else:
        d["qkv_bias"] = k.bool("attention_bias", mtype in ("qwen2", "qwen2_moe", "qwen"))
        d["out_bias"] = k.bool("attention_bias", False) if mtype not in ("qwen2", "qwen2_moe") else False
    if mtype == "phi3":           # qkv_proj and gate_up_proj
        d.update(fused_qkv=True, fused_gate_up=True)
    elif mtype == "baichuan":     # W_pack
        d["fused_qkv"] = True
    elif mtype == "internlm2":    # wqkv, wo, w1 / w3 / w2
        d.update(fused_qkv=True, qkv_bias=k.bool("bias", False), out_bias=k.bool("bias", False))
    elif mtype == "internlm":     # Llama's names, biased attention
        d.update(qkv_bias=k.bool("bias", True), out_bias=k.bool("bias", True))
    elif mtype == "starcoder2":   # c_fc / c_proj (GELU), LayerNorm, biases throughout
        bias = k.bool("use_bias", True)
        d.update(gated_mlp=False, qkv_bias=bias, out_bias=bias, mlp_bias=bias, norm_bias=True,
                 hidden_act=str(k.c.get("hidden_act") or "gelu_pytorch_tanh"))
    elif mtype in ("gemma2", "gemma3", "gemma3_text"):
        d["block_norms"] = 4      # a norm before and after attention and MLP
    elif mtype in ("glm", "glm4"):  # gate_up_proj fused; GLM-4 also norms after attention and MLP
        d.update(fused_gate_up=True, block_norms=4 if mtype == "glm4" else 2, out_bias=False)
    elif mtype == "nemotron":     # up_proj / down_proj with squared ReLU, LayerNorm1P
        d.update(gated_mlp=False, norm_bias=True, hidden_act=str(k.c.get("hidden_act") or "relu2"))
    elif mtype in ("cohere", "cohere2"):  # attention and MLP in parallel after one LayerNorm (no bias)
        d["block_norms"] = 1
    d["mlp_bias"] = d.get("mlp_bias", False) or k.bool("mlp_bias", False)
    if mtype == "llama4_text":    # experts of intermediate_size plus a shared one; dense layers intermediate_size_mlp
        experts = k.int("num_local_experts")
        listed = k.c.get("moe_layers")
        if listed is None:
            step = max(1, k.int("interleave_moe_layer_step", default=1))
            sparse = len(range(step - 1, layers, step))
        elif isinstance(listed, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in listed):
            sparse = len({i for i in listed if 0 <= i < layers})
        else:
            raise UsageError(f"{k.source}: config.json key `moe_layers` must be a list of layer numbers")
        d.update(intermediate=k.int("intermediate_size_mlp", default=intermediate), experts=experts,
                 active_experts=k.int("num_experts_per_tok"), expert_intermediate=intermediate,
                 shared_intermediate=intermediate, dense_layers=layers - sparse)
        return d
    d.update(_moe(k, mtype, layers, d["intermediate"]))
    return d


def _gpt2_like(k: _Config, mtype: str) -> dict:
    """GPT-2 and GPTBigCode (SantaCoder, StarCoder): c_attn (q, k, v fused; multi-query in BigCode), c_proj,
    c_fc / c_proj, learned positions, LayerNorms and biases."""
    hidden = k.int("n_embd", "hidden_size")
    heads = k.int("n_head", "num_attention_heads")
    # BigCode's multi_query; SantaCoder's first remote-code config says it as gpt2 with attention_head_type
    multi_query = (mtype == "gpt_bigcode" and k.bool("multi_query", True)
                   or k.c.get("attention_head_type") == "multiquery")
    return dict(layers=k.int("n_layer", "num_hidden_layers"), hidden=hidden, heads=heads,
                intermediate=k.int("n_inner", default=4 * hidden) or 4 * hidden,
                kv_heads=1 if multi_query else heads, vocab=k.int("vocab_size"), positions=k.int("n_positions"),
                gated_mlp=False, fused_qkv=True, qkv_bias=True, out_bias=True, mlp_bias=True, norm_bias=True,
                rotary=0.0, hidden_act=str(k.c.get("activation_function") or "gelu_new"))


def _rotary_share(k: _Config, hidden: int, heads: int, default: int | None = None) -> float:
    """GPT-J's and CodeGen's `rotary_dim` as a share of the head."""
    per_head = max(1, hidden // heads)
    return min(1.0, k.int("rotary_dim", default=per_head if default is None else default) / per_head)


def _gpt_neo(k: _Config, mtype: str) -> dict:
    """GPT-Neo: q/k/v_proj (no bias), out_proj, c_fc / c_proj (intermediate_size or 4 x hidden), learned positions,
    LayerNorms, tied."""
    hidden = k.int("hidden_size")
    heads = k.int("num_heads", "num_attention_heads")
    return dict(layers=k.int("num_layers", "num_hidden_layers"), hidden=hidden, heads=heads, kv_heads=heads,
                intermediate=k.int("intermediate_size", default=4 * hidden) or 4 * hidden, vocab=k.int("vocab_size"),
                positions=k.int("max_position_embeddings"), gated_mlp=False, out_bias=True, mlp_bias=True,
                norm_bias=True, rotary=0.0, hidden_act=str(k.c.get("activation_function") or "gelu_new"))


def _codegen(k: _Config, mtype: str) -> dict:
    """CodeGen: qkv_proj fused (no bias), out_proj, fc_in / fc_out, one LayerNorm per block, rotary_dim."""
    hidden = k.int("n_embd")
    heads = k.int("n_head")
    return dict(layers=k.int("n_layer"), hidden=hidden, heads=heads, kv_heads=heads,
                intermediate=k.int("n_inner", default=4 * hidden) or 4 * hidden, vocab=k.int("vocab_size"),
                gated_mlp=False, fused_qkv=True, mlp_bias=True, norm_bias=True, block_norms=1,
                rotary=_rotary_share(k, hidden, heads),
                hidden_act=str(k.c.get("activation_function") or "gelu_new"))


def _gptj(k: _Config, mtype: str) -> dict:
    """GPT-J: q/k/v/out_proj without biases, fc_in / fc_out with, one LayerNorm per block (attention and MLP run
    in parallel). Its lm_head's bias (vocab) is left out."""
    hidden = k.int("n_embd", "hidden_size")
    heads = k.int("n_head", "num_attention_heads")
    return dict(layers=k.int("n_layer", "num_hidden_layers"), hidden=hidden, heads=heads, kv_heads=heads,
                intermediate=k.int("n_inner", default=4 * hidden) or 4 * hidden, vocab=k.int("vocab_size"),
                gated_mlp=False, mlp_bias=True, norm_bias=True, block_norms=1,
                rotary=_rotary_share(k, hidden, heads),
                hidden_act=str(k.c.get("activation_function") or "gelu_new"))


def _gpt_neox(k: _Config, mtype: str) -> dict:
    """GPT-NeoX / Pythia: query_key_value, dense, dense_h_to_4h / dense_4h_to_h, biased, two LayerNorms."""
    heads = k.int("num_attention_heads")
    bias = k.bool("attention_bias", True)
    return dict(layers=k.int("num_hidden_layers"), hidden=k.int("hidden_size"), heads=heads, kv_heads=heads,
                intermediate=k.int("intermediate_size"), vocab=k.int("vocab_size"), gated_mlp=False,
                fused_qkv=True, qkv_bias=bias, out_bias=bias, mlp_bias=True, norm_bias=True,
                rotary=k.fraction("rotary_pct", 0.25), hidden_act=str(k.c.get("hidden_act") or "gelu"))


def _falcon(k: _Config, mtype: str) -> dict:
    """Falcon (and its first RefinedWeb configs): query_key_value fused with num_kv_heads (new decoder
    architecture: 40B, 180B) or one (multi_query: 7B); ffn_hidden_size or 4 x hidden; LayerNorm: one per block with
    parallel attention, two with the new decoder architecture."""
    hidden = k.int("hidden_size", "n_embed")
    heads = k.int("num_attention_heads", "n_head")
    new = k.bool("new_decoder_architecture", mtype == "RefinedWeb")
    if new:
        kv = k.int("num_kv_heads", "n_head_kv")
        norms = k.int("num_ln_in_parallel_attn", default=2)
    else:
        kv = 1 if k.bool("multi_query", True) else heads
        norms = 1 if k.bool("parallel_attn", True) else 2
    bias = k.bool("bias", False)
    return dict(layers=k.int("num_hidden_layers", "n_layer"), hidden=hidden, heads=heads, kv_heads=kv,
                intermediate=k.int("ffn_hidden_size", default=4 * hidden), vocab=k.int("vocab_size"),
                gated_mlp=False, fused_qkv=True, qkv_bias=bias, out_bias=bias, mlp_bias=bias, norm_bias=True,
                block_norms=norms, rotary=0.0 if k.bool("alibi", False) else 1.0, hidden_act="gelu")


def _bloom(k: _Config, mtype: str) -> dict:
    """BLOOM: query_key_value, dense, dense_h_to_4h (4 x hidden) / dense_4h_to_h, all biased, ALiBi. The LayerNorm
    after the embeddings (2 x hidden) is left out."""
    hidden = k.int("hidden_size", "n_embed")
    heads = k.int("n_head", "num_attention_heads")
    return dict(layers=k.int("n_layer", "num_hidden_layers"), hidden=hidden, heads=heads, kv_heads=heads,
                intermediate=4 * hidden, vocab=k.int("vocab_size"), gated_mlp=False, fused_qkv=True,
                qkv_bias=True, out_bias=True, mlp_bias=True, norm_bias=True, rotary=0.0, hidden_act="gelu")


def _opt(k: _Config, mtype: str) -> dict:
    """OPT: q/k/v/out_proj, fc1 / fc2 (ffn_dim, ReLU), biased, learned positions (max_position_embeddings + 2)."""
    hidden = k.int("hidden_size")
    heads = k.int("num_attention_heads")
    if k.int("word_embed_proj_dim", default=hidden) != hidden:
        raise UsageError(f"{k.source}: config.json key `word_embed_proj_dim` differs from hidden_size (OPT-350m's "
                         "projected embeddings): not modelled by the estimator")
    bias = k.bool("enable_bias", True)
    return dict(layers=k.int("num_hidden_layers"), hidden=hidden, heads=heads, kv_heads=heads,
                intermediate=k.int("ffn_dim"), vocab=k.int("vocab_size"),
                positions=k.int("max_position_embeddings") + 2, gated_mlp=False, qkv_bias=bias, out_bias=bias,
                mlp_bias=bias, norm_bias=True, rotary=0.0, hidden_act=str(k.c.get("activation_function") or "relu"))


def _phi(k: _Config, mtype: str) -> dict:
    """Phi-1 / 1.5 / 2: q/k/v_proj, dense, fc1 / fc2 (GELU), biased, one LayerNorm per block (parallel attention
    and MLP), partial rotary. `phi-msft` (the first remote-code configs): n_embd / n_layer / n_head / n_inner and a
    fused Wqkv. The lm_head's bias (vocab) is left out."""
    if mtype == "phi-msft":
        hidden = k.int("n_embd")
        heads = k.int("n_head")
        return dict(layers=k.int("n_layer"), hidden=hidden, heads=heads, kv_heads=heads,
                    intermediate=k.int("n_inner", default=4 * hidden) or 4 * hidden, vocab=k.int("vocab_size"),
                    gated_mlp=False, fused_qkv=True, qkv_bias=True, out_bias=True, mlp_bias=True, norm_bias=True,
                    block_norms=1, rotary=_rotary_share(k, hidden, heads, 32),
                    hidden_act="gelu_new")
    heads = k.int("num_attention_heads")
    return dict(layers=k.int("num_hidden_layers"), hidden=k.int("hidden_size"), heads=heads,
                kv_heads=k.int("num_key_value_heads", default=heads) or heads,
                intermediate=k.int("intermediate_size"), vocab=k.int("vocab_size"), gated_mlp=False,
                qkv_bias=True, out_bias=True, mlp_bias=True, norm_bias=True, block_norms=1,
                rotary=k.fraction("partial_rotary_factor", 0.5),
                hidden_act=str(k.c.get("hidden_act") or "gelu_new"))


def _chatglm(k: _Config, mtype: str) -> dict:
    """ChatGLM2 / 3 (and GLM-4's first configs): num_layers, query_key_value (multi_query_group_num kv heads of
    kv_channels), dense, dense_h_to_4h (gate and up fused, 2 x ffn_hidden_size) / dense_4h_to_h, RMSNorm,
    padded_vocab_size, a separate output layer. ChatGLM-6B (v1: inner_hidden_size, GELU, LayerNorm, biases)."""
    hidden = k.int("hidden_size")
    heads = k.int("num_attention_heads")
    if not k.has("ffn_hidden_size") and k.has("inner_hidden_size"):
        return dict(layers=k.int("num_layers"), hidden=hidden, heads=heads, kv_heads=heads,
                    intermediate=k.int("inner_hidden_size"), vocab=k.int("padded_vocab_size", "vocab_size"),
                    gated_mlp=False, fused_qkv=True, qkv_bias=True, out_bias=True, mlp_bias=True, norm_bias=True)
    kv = k.int("multi_query_group_num") if k.bool("multi_query_attention", False) else heads
    bias = k.bool("add_bias_linear", False)
    return dict(layers=k.int("num_layers", "num_hidden_layers"), hidden=hidden, heads=heads, kv_heads=kv,
                head_dim=k.int("kv_channels", default=0), intermediate=k.int("ffn_hidden_size"),
                vocab=k.int("padded_vocab_size", "vocab_size"), fused_qkv=True, fused_gate_up=True,
                qkv_bias=k.bool("add_qkv_bias", False) or bias, out_bias=bias, mlp_bias=bias,
                norm_bias=not k.bool("rmsnorm", True), rotary=0.5)  # RoPE on half of each head's dims


def _mpt(k: _Config, mtype: str) -> dict:
    """MPT: Wqkv (kv_n_heads under grouped-query attn_config), out_proj, up_proj / down_proj (expansion_ratio x
    d_model, GELU), no biases (no_bias), ALiBi, tied."""
    hidden = k.int("d_model")
    heads = k.int("n_heads")
    attn = k.c.get("attn_config") or {}
    ffn = k.c.get("ffn_config") or {}
    if not isinstance(attn, dict) or not isinstance(ffn, dict):
        raise UsageError(f"{k.source}: config.json keys `attn_config` / `ffn_config` must be objects")
    gqa = attn.get("attn_type") == "grouped_query_attention"
    kv = (_Config(attn, k.source).int("kv_n_heads", default=heads) or heads) if gqa else heads
    bias = not k.bool("no_bias", True)
    ratio = k.int("expansion_ratio", default=4)
    return dict(layers=k.int("n_layers"), hidden=hidden, heads=heads, kv_heads=kv,
                intermediate=int(_Config(ffn, k.source).int("ffn_hidden_size", default=0) or ratio * hidden),
                vocab=k.int("vocab_size"), gated_mlp=False, fused_qkv=True, qkv_bias=bias, out_bias=bias,
                mlp_bias=bias, norm_bias=bias, rotary=0.0 if attn.get("alibi", True) else 1.0, hidden_act="gelu")


def _olmo_remote(k: _Config, mtype: str) -> dict:
    """OLMo's first remote-code configs (hf_olmo): att_proj (q, k, v fused), attn_out, ff_proj (gate and up
    fused: mlp_hidden_size counts both) / ff_out, non-parametric LayerNorm."""
    hidden = k.int("d_model")
    heads = k.int("n_heads")
    both = k.int("mlp_hidden_size", default=k.int("mlp_ratio", default=4) * hidden)
    return dict(layers=k.int("n_layers"), hidden=hidden, heads=heads, kv_heads=k.int("n_kv_heads", default=heads)
                or heads, intermediate=both // 2, vocab=k.int("embedding_size", "vocab_size"), fused_qkv=True,
                fused_gate_up=True, block_norms=0)


_READERS = {"gpt2": _gpt2_like, "gpt_bigcode": _gpt2_like, "gpt_neo": _gpt_neo, "codegen": _codegen, "gptj": _gptj, "gpt_neox": _gpt_neox,
            "falcon": _falcon, "RefinedWeb": _falcon, "RefinedWebModel": _falcon, "bloom": _bloom, "opt": _opt,
            "phi": _phi, "phi-msft": _phi, "chatglm": _chatglm, "mpt": _mpt}


def open_model_from_config(config: dict, *, id: str, source: str) -> OpenModel:
    """An OpenModel from a Hugging Face config.json (multimodal models: their `text_config`)."""
    if not isinstance(config, dict):
        raise UsageError(f"{source}: config.json is not a JSON object")
    c = config.get("text_config") or config
    if not isinstance(c, dict):
        raise UsageError(f"{source}: config.json key `text_config` is not a JSON object")
    mtype = str(c.get("model_type") or config.get("model_type") or "")
    _unsupported(mtype, c, source)
    k = _Config(c, source)
    if mtype == "olmo" and "d_model" in c:
        d = _olmo_remote(k, mtype)
    else:
        d = _READERS.get(mtype, _llama_like)(k, mtype)
    if not d["heads"] or not d["hidden"] or not d["layers"]:
        raise UsageError(f"{source}: config.json gives a model with no layers, width or attention heads")
    default_tied = mtype not in _UNTIED_BY_DEFAULT and mtype in _READERS or mtype in _TIED_BY_DEFAULT
    tied = c.get("tie_word_embeddings", config.get("tie_word_embeddings", config.get("weight_tying")))
    d["tied"] = default_tied if tied is None else bool(tied)
    family = _FAMILY_BY_TYPE.get(mtype, mtype or "unknown")
    if family == "llama" and d["vocab"] <= 32016:
        family = "llama2"
    elif family == "llama" and d["vocab"] >= 128000:
        family = "llama3"
    shape = OpenModel(id=id, params=0, family=family, source=source, arch=mtype, **d)
    return _with_params(shape)


def _with_params(shape: OpenModel) -> OpenModel:
    import dataclasses

    return dataclasses.replace(shape, params=shape.computed_params)
