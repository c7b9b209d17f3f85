"""The shape of a decoder-only transformer: its linear layers, parameter counts and the names LoRA targets use.

One owner: parameters, FLOPs, memory and speed all read `OpenModel.linears()` and the counts derived here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Linears:
    """One kind of linear layer across the model: `copies` per layer (experts) in `layers` decoder layers, of
    which a token runs through `active`. `name` is the canonical module name LoRA targets resolve to:
    q_proj, k_proj, v_proj or the fused qkv_proj; o_proj; gate_proj, up_proj or the fused gate_up_proj; down_proj
    (a 2-matrix MLP has up_proj and down_proj only)."""

    name: str
    d_in: int
    d_out: int
    layers: int
    copies: int = 1
    active: int = 1

    @property
    def weights(self) -> int:
        return self.d_in * self.d_out


@dataclass(frozen=True)
class OpenModel:
    """The shape of a decoder-only transformer (dense or mixture-of-experts), enough to estimate memory and FLOPs.

    The defaults are a Llama block: separate q/k/v/o, a gated 3-matrix MLP (SwiGLU), two RMSNorms, no biases,
    rotary positions. Other architectures say what differs: a 2-matrix MLP (`gated_mlp` False: GPT-2, GPT-NeoX,
    Falcon, BLOOM, OPT, Phi-2, StarCoder2), fused projections (`fused_qkv`: one matrix for q, k and v, as
    GPT-NeoX's query_key_value; `fused_gate_up`: ChatGLM's dense_h_to_4h, Phi-3's gate_up_proj), biases,
    LayerNorms with a bias, learned positions, one norm per block (parallel attention and MLP). A MoE model
    (`experts` > 0) holds every expert in memory but runs `active_experts` per token, plus a shared expert of
    `shared_intermediate` every token runs (Qwen2-MoE, DeepSeek-MoE), and its first `dense_layers` layers may
    have a dense MLP of `intermediate` instead (DeepSeek's first_k_dense_replace).
    """

    id: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    params: int
    family: str
    source: str
    tied: bool = False
    head_dim: int = 0
    aliases: tuple[str, ...] = ()
    qkv_bias: bool = False
    experts: int = 0                 # routed experts per MoE layer (0: dense)
    active_experts: int = 0          # experts each token runs through
    expert_intermediate: int = 0     # intermediate size of one expert
    shared_intermediate: int = 0     # MoE: width of the shared expert(s) every token runs (0: none)
    dense_layers: int = 0            # MoE: layers whose MLP is dense (`intermediate` wide) rather than experts
    arch: str = ""                   # config.json's model_type: how LoRA target names map to matrices
    gated_mlp: bool = True           # gate, up and down (SwiGLU / GeGLU); False: up and down (GELU / ReLU)
    fused_qkv: bool = False          # q, k and v are one matrix (a LoRA on it is one adapter)
    fused_gate_up: bool = False      # gate and up are one matrix
    out_bias: bool = False           # the attention output projection has a bias
    mlp_bias: bool = False           # the MLP's matrices have biases
    norm_bias: bool = False          # LayerNorm (weight and bias) rather than RMSNorm
    block_norms: int = 2             # norms per decoder block (1: parallel attention and MLP; 4: Gemma 2/3)
    positions: int = 0               # learned absolute position embeddings (GPT-2, OPT); 0: rotary / ALiBi
    rotary: float = 1.0              # share of each head's dims that RoPE rotates (NeoX 0.25, Phi-2 0.4; 0: none)
    hidden_act: str = ""             # config.json's activation ("": SiLU): what a 2-matrix MLP keeps for backward
    license: str = ""
    gated: bool = False              # the hub asks you to accept a license before download
    instruct: bool = False           # an instruction-tuned (chat) model
    read_on: str = ""                # when the config.json figures were read
    released: str = ""               # YYYY-MM the weights were first published ("" unknown: sorts last)

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        return self.heads * self.dim_head

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.dim_head

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.is_moe else 0

    @property
    def embedding_params(self) -> int:
        """Input embedding plus a separate lm_head (these stay 16-bit when the rest is quantized)."""
        return self.vocab * self.hidden * (1 if self.tied else 2)

    def _attention(self) -> list[Linears]:
        h, q, kv, n = self.hidden, self.q_dim, self.kv_dim, self.layers
        proj = ([Linears("qkv_proj", h, q + 2 * kv, n)] if self.fused_qkv else
                [Linears("q_proj", h, q, n), Linears("k_proj", h, kv, n), Linears("v_proj", h, kv, n)])
        return proj + [Linears("o_proj", q, h, n)]

    def _mlp(self, width: int, layers: int, copies: int = 1, active: int = 1) -> list[Linears]:
        h = self.hidden
        if self.fused_gate_up:
            first = [Linears("gate_up_proj", h, 2 * width, layers, copies, active)]
        elif self.gated_mlp:
            first = [Linears("gate_proj", h, width, layers, copies, active),
                     Linears("up_proj", h, width, layers, copies, active)]
        else:
            first = [Linears("up_proj", h, width, layers, copies, active)]
        return first + [Linears("down_proj", width, h, layers, copies, active)]

    def linears(self) -> tuple[Linears, ...]:
        """Every linear layer of the decoder blocks (the router aside), grouped by kind: attention, then the
        experts, the shared expert and the dense MLPs of a MoE (a dense model: its MLP)."""
        groups = self._attention()
        if self.is_moe:
            groups += self._mlp(self.expert_intermediate, self.moe_layers, self.experts, self.active_experts)
            if self.shared_intermediate:
                groups += self._mlp(self.shared_intermediate, self.moe_layers)
            if self.dense_layers:
                groups += self._mlp(self.intermediate, self.dense_layers)
        else:
            groups += self._mlp(self.intermediate, self.layers)
        return tuple(groups)

    @property
    def router_params(self) -> int:
        return self.moe_layers * self.hidden * self.experts

    @property
    def linear_params(self) -> int:
        """Parameters of the decoder blocks' linear layers, every expert included: what memory holds and what
        8-bit / 4-bit loading quantizes."""
        return sum(g.layers * g.copies * g.weights for g in self.linears()) + self.router_params

    @property
    def active_linear_params(self) -> int:
        """The blocks' linear parameters one token runs through (MoE: only its `active_experts`)."""
        return sum(g.layers * g.active * g.weights for g in self.linears()) + self.router_params

    @property
    def mlp_width(self) -> float:
        """The MLP width one token runs through, per layer on average (MoE: its experts and the shared one)."""
        if not self.is_moe:
            return self.intermediate
        per_moe = self.active_experts * self.expert_intermediate + self.shared_intermediate
        return (self.moe_layers * per_moe + self.dense_layers * self.intermediate) / self.layers \
            if self.dense_layers else per_moe

    @property
    def matmul_params(self) -> int:
        """Every block linear and the lm_head (the lookup is free)."""
        return self.linear_params + self.vocab * self.hidden

    @property
    def active_matmul_params(self) -> int:
        """Parameters a token multiplies through: its active linears and the lm_head. FLOPs come from these."""
        return self.active_linear_params + self.vocab * self.hidden

    @property
    def computed_params(self) -> int:
        """Every parameter the shape implies: embeddings (and a separate lm_head), the block linears with their
        biases, the norms, learned positions and the final norm. The catalog's counts and every config.json
        model's come from here."""
        h = self.hidden
        norm = h * (2 if self.norm_bias else 1)
        biases = 0
        for g in self.linears():
            kind = "qkv" if g.name in ("q_proj", "k_proj", "v_proj", "qkv_proj") else \
                "out" if g.name == "o_proj" else "mlp"
            if {"qkv": self.qkv_bias, "out": self.out_bias, "mlp": self.mlp_bias}[kind]:
                biases += g.layers * g.copies * g.d_out
        return (self.embedding_params + self.positions * h + self.linear_params + biases
                + self.layers * self.block_norms * norm + norm)

    @property
    def active_params(self) -> int:
        return self.params - (self.linear_params - self.active_linear_params)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("id", "family", "layers", "hidden", "intermediate", "heads",
                                           "kv_heads", "vocab", "params", "tied", "source", "license", "gated")}
        if self.is_moe:
            d.update(experts=self.experts, active_experts=self.active_experts,
                     expert_intermediate=self.expert_intermediate, active_params=self.active_params)
            if self.shared_intermediate or self.dense_layers:
                d.update(shared_intermediate=self.shared_intermediate, dense_layers=self.dense_layers)
        if self.arch:
            d["arch"] = self.arch
        if not self.gated_mlp or self.fused_qkv or self.fused_gate_up:
            d["linears"] = sorted({g.name for g in self.linears()})
        return d
