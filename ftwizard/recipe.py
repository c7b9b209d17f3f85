"""The recipe: one declared schema for an experiment, loaded from TOML, validated, immutable.

Everything that reads a recipe (the CLI, `--set`, the wizard's forms, the docs) reads this schema.
Errors are collected and reported together, each with its key path and the line in the file.
"""

from __future__ import annotations

import os

import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ftwizard.errors import UsageError, did_you_mean
from ftwizard.fsutil import read_user_text
from ftwizard.providers import PROVIDER_ORDER

Auto = Literal["auto"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class DataSection(_Section):
    """Where the examples come from."""

    source: Literal["bundled", "files", "hf"] = Field(
        "bundled", description="bundled: the copy shipped with ftwizard; files: local JSONL/CSV; hf: a Hugging Face dataset"
    )
    train: str = Field("train", description="split name (bundled/hf) or file path (files) of the training examples")
    eval: str = Field("test", description="split name (bundled/hf) or file path (files) of the evaluation examples "
                      "('' with files: hold out a seeded 10% of the training file, at most 1,000)")
    hf_id: str = Field("", description="Hugging Face dataset id when source = 'hf', e.g. 'GEM/viggo'")
    hf_config: str = Field("", description="Hugging Face dataset configuration name, if any")
    format: Literal["auto", "chat", "prompt_completion", "alpaca", "fields"] = Field(
        "auto", description="chat: OpenAI chat JSONL ({\"messages\": [...]}); prompt_completion: prompt + completion; "
        "alpaca: instruction / input / output; fields: any columns with [prompt] templates; auto: detected"
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="template field = dataset column, for data whose columns are named otherwise"
    )
    limit_train: int = Field(0, ge=0, description="use only the first N training examples (0 = all)")
    limit_eval: int = Field(0, ge=0, description="use only the first N evaluation examples (0 = all)")


class PromptSection(_Section):
    """How an example becomes training text (local) and chat messages (hosted). Fields are `{name}`."""

    template: str = Field("", description="local training text; the answer field comes last ('' = the task's default)")
    answer_field: str = Field("", description="the field the model learns to produce ('' = the task's default)")
    system: str | None = Field(None, description="hosted chat: system message (None = the task's default)")
    user: str | None = Field(None, description="hosted chat: user message (None = the task's default)")
    assistant: str | None = Field(None, description="hosted chat: assistant message (None = '{answer_field}')")


class ModelSection(_Section):
    """The open model to LoRA fine-tune (local backend)."""

    base: str = Field("codellama/CodeLlama-34b-hf", description="Hugging Face model id or local directory")
    gguf_file: str = Field("", description="a GGUF file (in `base` or a path) to load and dequantize")
    catalog_id: str = Field("", description="the catalog entry for estimates when `base` is a local path")
    quant: Literal["none", "8bit", "4bit"] = Field("none", description="load the base in 8-bit or 4-bit (bitsandbytes >= 0.48; CUDA or CPU)")
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field("auto", description="compute dtype; auto picks by hardware")
    trust_remote_code: bool = False


class LoraSection(_Section):
    r: int = Field(8, ge=1, le=1024, description="LoRA rank")
    alpha: float = Field(16, gt=0, description="LoRA alpha (scaling = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="module names to adapt, or ['all-linear']",
    )
    bias: Literal["none", "all", "lora_only"] = "none"

    @field_validator("target_modules")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must name at least one module")
        return v


class TrainSection(_Section):
    """Local training settings (transformers Trainer)."""

    max_length: int = Field(512, ge=8, le=1_000_000, description="tokens per example; longer ones are truncated")
    micro_batch_size: int = Field(8, ge=1, description="examples per device per forward pass")
    grad_accum: int = Field(16, ge=1, description="gradient accumulation steps")
    max_steps: int = Field(0, ge=0, description="optimizer steps (0 = from `epochs` and the data size)")
    epochs: float = Field(3.0, gt=0, description="passes over the data when max_steps = 0")
    warmup_steps: int = Field(0, ge=0, description="warm-up steps (0 = `warmup_ratio` of the run)")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="warm-up as a share of the run when warmup_steps = 0")
    lr: float = Field(3e-4, gt=0, lt=1, description="peak learning rate")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    optimizer: str = Field("adamw_torch", description="a transformers optimizer name")
    weight_decay: float = Field(0.0, ge=0)
    group_by_length: bool = True
    packing: bool = Field(False, description="pack several examples into each max_length sequence")
    loss_on: Literal["all", "answer"] = Field("answer", description="loss on the whole text or only the answer")
    train_on_turns: Literal["all", "last"] = Field(
        "all", description="chat data: learn every assistant turn of a conversation (all) or only its last one")
    logging_steps: int = Field(1, ge=1)
    eval_every: int = Field(20, ge=0, description="eval loss every N steps (0 = never)")
    save_every: int = Field(20, ge=0, description="checkpoint every N steps (0 = only at the end)")
    save_total_limit: int = Field(3, ge=1)
    eval_loss_examples: int = Field(0, ge=0, description="eval-loss subset size (0 = the whole eval split)")
    gradient_checkpointing: Union[Auto, bool] = Field(
        "auto", description="recompute activations in backward (use_reentrant=False); auto = on for an 8-bit/4-bit "
        "base (turning it off there warns with the estimated memory), off otherwise")
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto", description="attention kernel; auto = flash_attention_2 on a CUDA GPU when flash-attn is installed "
        "and the dtype is 16-bit, else sdpa")
    use_liger: Union[Auto, bool] = Field(
        "auto", description="Liger kernels (fused RMSNorm/RoPE/SwiGLU/cross-entropy; CUDA, `ftwizard[fast]`); "
        "auto = on when installed and on a CUDA GPU")
    torch_compile: bool = Field(False, description="torch.compile the model (slower start, faster steps on a GPU)")
    activation_offloading: bool = Field(
        False, description="keep what the decoder layers save for backward in pinned host memory, copied over PCIe "
        "and back each step (CUDA; with checkpointing: each layer's input): less GPU memory, slower steps")
    fsdp: bool = Field(False, description="shard the model with FSDP2 across the torchrun processes, GPUs or CPU "
                       "(16-bit or 4-bit bases; FTWIZARD_FSDP=1 also turns it on)")
    seed: int = 42
    merge: bool = Field(False, description="merge the adapter into the base at the end and save the merged model")


class HostedSection(_Section):
    """Hosted fine-tuning: OpenAI, Azure OpenAI, Together AI, Tinker or Fireworks AI."""

    provider: Literal[PROVIDER_ORDER] = "openai"
    model: str = Field("gpt-4o-mini-2024-07-18", description="the base model to fine-tune (the provider's spelling)")
    epochs: Union[Auto, int] = Field("auto", description="'auto' (the cookbook rule: 3, clamped by data size) or 1..50")
    batch_size: Union[Auto, int] = Field("auto", description="'auto' (the provider's default; Together: 'max') or N")
    lr_multiplier: Union[Auto, float] = Field("auto", description="OpenAI / Azure: learning-rate multiplier")
    learning_rate: Union[Auto, float] = Field("auto", description="Together / Tinker: peak learning rate "
                                              "('auto' = the provider's default)")
    lora_r: int | None = Field(None, ge=1, le=1024, description="Together / Tinker: LoRA rank (None = the model's "
                               "default)")
    lora_alpha: float | None = Field(None, gt=0, description="Together: LoRA alpha (None = 2 x rank)")
    n_evals: int = Field(0, ge=0, description="Together: validation passes during training (billed as tokens)")
    suffix: str = Field("", max_length=64, description="suffix of the fine-tuned model's name")
    seed: int | None = None
    validation: bool = Field(True, description="upload the eval split as the job's validation file")
    azure_api_version: str = "2025-04-01-preview"
    deployment: str = Field("", description="Azure / Fireworks: the deployment that serves the fine-tuned model for "
                            "evaluation (both serve fine-tunes only through a deployment)")
    create_deployment: bool = Field(False, description="Azure / Fireworks: create the deployment `deployment` after "
                                    "training, billed per hour while it exists (Fireworks: deleted again after "
                                    "evaluation; Azure: the management API, needs AZURE_SUBSCRIPTION_ID, "
                                    "AZURE_RESOURCE_GROUP, AZURE_OPENAI_RESOURCE and a token: ftwizard[azure] or "
                                    "AZURE_MANAGEMENT_TOKEN)")
    deployment_sku: str = Field("Standard", description="Azure: the deployment's SKU (Standard, GlobalStandard, "
                                "Developer)")
    download_adapter: bool = Field(True, description="Together / Tinker / Fireworks: download the trained LoRA "
                                   "adapter into the run's adapter/ (the weights come home)")
    poll_seconds: float = Field(10.0, gt=0)

    @field_validator("epochs", "batch_size")
    @classmethod
    def _positive_int(cls, v: Any) -> Any:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be 'auto' or a whole number >= 1")
        return v

    @field_validator("lr_multiplier")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, float) and v <= 0:
            raise ValueError("must be 'auto' or a number > 0")
        return v


class HardwareSection(_Section):
    gpu: str = Field("auto", description="catalog GPU name for estimates and pricing ('auto' = the one detected)")
    price_per_hour: float | None = Field(None, gt=0, description="USD per GPU-hour (None = the catalog's price)")
    nproc: int = Field(1, ge=1, description="processes (GPUs) per node for torchrun")
    nnodes: int = Field(1, ge=1, description="machines in the run (torchrun's static rendezvous; under SLURM "
                        "its SLURM_NNODES when this stays 1)")
    node_rank: int = Field(0, ge=0, description="this machine's rank among nnodes (0 creates and writes the run)")
    rdzv_endpoint: str = Field("", description="HOST:PORT of node 0 for the rendezvous (nnodes > 1)")
    device: Literal["auto", "cuda", "cpu"] = "auto"


class EvalSection(_Section):
    enabled: bool = Field(True, description="evaluate at the end of `ftwizard run`")
    limit: int = Field(0, ge=0, description="evaluate on the first N eval examples (0 = all)")
    batch_size: int = Field(16, ge=1, description="local generation batch size")
    max_new_tokens: int = Field(256, ge=1)
    baseline: bool = Field(False, description="also evaluate the base model without fine-tuning")
    concurrency: int = Field(8, ge=1, description="hosted: requests in flight at once")
    requests_per_month: int = Field(100_000, ge=0, description="serving volume for the verdict's cost figures")
    margin: float = Field(2.0, ge=0, le=100, description="the verdict moves you to the local model when it is at most "
                                                         "this many points worse on the deciding metric (95% interval)")
    metric: Literal["auto", "exact", "choice", "json", "judge"] = Field(
        "auto", description="custom tasks: how answers are scored (auto: json for JSON answers, choice for a small "
                            "closed set of labels, else exact)")
    judge_model: str = Field("", description="metric = judge: the judge model's name at FTWIZARD_JUDGE_BASE_URL")
    judge_rubric: str = Field("", description="metric = judge: what a passing answer is (default: same meaning "
                                              "as the reference, nothing wrong)")


def local_training_problems(recipe: "Recipe") -> list[tuple[str, str]]:
    """Cross-field rules of [model] / [train] / [hardware] for local training: (key path, problem)."""
    m, t, hw = recipe.model, recipe.train, recipe.hardware
    out: list[tuple[str, str]] = []
    if hw.node_rank >= hw.nnodes:
        out.append(("hardware.node_rank", f"node_rank {hw.node_rank} is not below nnodes {hw.nnodes}"))
    if hw.nnodes > 1 and not hw.rdzv_endpoint:
        out.append(("hardware.rdzv_endpoint", "nnodes > 1 needs node 0's HOST:PORT (--rdzv-endpoint)"))
    if t.fsdp and m.quant == "8bit":
        out.append(("train.fsdp", "FSDP cannot shard an 8-bit base (int8 weights with per-row scales); use "
                    "model.quant = '4bit' (QLoRA under FSDP: 4-bit weights stored in the compute dtype) or several "
                    "processes without FSDP (data parallel: --nproc N)"))
    if t.attn_implementation == "flash_attention_2":
        if m.dtype == "fp32":
            out.append(("train.attn_implementation", "flash_attention_2 runs in fp16/bf16 only; set model.dtype = "
                        "'bf16' (or 'auto') or attn_implementation = 'sdpa'"))
        if hw.device == "cpu":
            out.append(("train.attn_implementation", "flash_attention_2 needs a CUDA GPU; hardware.device = 'cpu' "
                        "(use 'sdpa' or 'auto')"))
    if t.activation_offloading and hw.device == "cpu":
        out.append(("train.activation_offloading", "activation offloading moves activations from a CUDA GPU to host "
                    "memory; hardware.device = 'cpu' keeps them there already (set it to false)"))
    if t.activation_offloading and not recipe.activation_offloading_works():
        out.append(("train.activation_offloading", "with train.torch_compile = true it needs gradient checkpointing "
                    "(train.gradient_checkpointing = true): without it torch.compile traces the offloading hooks "
                    "away and nothing is offloaded (measured with torch 2.13)"))
    if t.use_liger is True and hw.device == "cpu":
        out.append(("train.use_liger", "Liger kernels are Triton kernels for CUDA GPUs; hardware.device = 'cpu' "
                    "(set use_liger = 'auto' or false)"))
    return out


class Recipe(_Section):
    """A whole experiment. `name` names its run directories."""

    name: str = Field(..., min_length=1, max_length=80)
    description: str = ""
    task: Literal["sql", "viggo", "custom"]
    backend: Literal["local", "hosted"] = "local"
    private_data: bool = Field(False, description="the data may not leave this machine (rules out hosted)")
    data: DataSection = Field(default_factory=DataSection)
    prompt: PromptSection = Field(default_factory=PromptSection)
    model: ModelSection = Field(default_factory=ModelSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    train: TrainSection = Field(default_factory=TrainSection)
    hosted: HostedSection = Field(default_factory=HostedSection)
    hardware: HardwareSection = Field(default_factory=HardwareSection)
    eval: EvalSection = Field(default_factory=EvalSection)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ValueError("use letters, digits, '.', '_' and '-' only (it names the run directory)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Recipe":
        if self.backend == "hosted" and self.private_data:
            raise ValueError("private_data = true forbids the hosted backend: the data would leave this machine")
        if self.task == "custom" and self.data.source == "bundled" and not Path(self.data.train).suffix:
            raise ValueError("task 'custom' needs data.source = 'files' or 'hf', or 'bundled' naming a file shipped "
                             "in ftwizard/data (e.g. data.train = 'tickets/train.jsonl')")
        if self.data.source == "hf" and not self.data.hf_id:
            raise ValueError("data.source = 'hf' needs data.hf_id")
        problems = local_training_problems(self)
        if problems:
            # One line per problem, each starting with its key path (_format_errors files it under that key).
            raise ValueError("\n".join(f"{key}: {text}" for key, text in problems))
        return self

    def gradient_checkpointing_on(self, quant: str | None = None) -> bool:
        """train.gradient_checkpointing resolved: 'auto' is on for an 8-bit/4-bit base (model.quant, or `quant`
        for a what-if), off for a 16-bit one."""
        gc = self.train.gradient_checkpointing
        return (quant or self.model.quant) != "none" if gc == "auto" else bool(gc)

    def activation_offloading_works(self, quant: str | None = None) -> bool:
        """Whether train.activation_offloading would move anything in this configuration: torch.compile without
        gradient checkpointing traces the offloading hooks away (measured with torch 2.13)."""
        return self.gradient_checkpointing_on(quant) or not self.train.torch_compile

    # -- conveniences -------------------------------------------------------------------
    def with_updates(self, dotted: dict[str, Any]) -> "Recipe":
        """A new recipe with dotted keys replaced (validated again: a combination the recipe refuses is a
        UsageError naming the key, as loading it would be - never pydantic's raw ValidationError)."""
        data = self.model_dump(mode="python")
        for key, value in dotted.items():
            _set_dotted(data, key.split("."), value)
        return validate_dict(data, source=f"recipe {self.name!r} with {', '.join(dotted)}")

    def to_toml(self, header: str | None = None) -> str:
        return dump_toml(self, header=header)

    def for_run(self) -> "Recipe":
        """The recipe a run directory records: its data files (data.source = "files") as absolute paths, read
        from the folder the run is started in - so `run --resume` or `eval` from any other folder reads the very
        same files (a relative `train.jsonl` would be another folder's file, or none)."""
        if self.data.source != "files":
            return self
        updates = {f"data.{key}": os.path.abspath(Path(value).expanduser())
                   for key in ("train", "eval") if (value := getattr(self.data, key)).strip()
                   and not Path(value).expanduser().is_absolute()}
        return self.with_updates(updates) if updates else self


# ---------------------------------------------------------------------------------------
# Loading, with every problem reported at once

def _set_dotted(data: dict, parts: list[str], value: Any) -> None:
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def parse_set_value(raw: str) -> Any:
    """`--set` values are TOML values when they parse as one, else plain strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return raw


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    problems = []
    for pair in pairs or []:
        if "=" not in pair:
            problems.append(f"--set {pair!r}: expected KEY=VALUE, e.g. --set train.lr=1e-4")
            continue
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key:
            problems.append(f"--set {pair!r}: empty key")
            continue
        out[key] = parse_set_value(raw.strip())
    if problems:
        raise UsageError(problems)
    return out


class _LineIndex:
    """Finds the line of a key path in TOML text (tomllib keeps no positions)."""

    _header = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\s*(#.*)?$")
    _key = re.compile(r"^\s*([A-Za-z0-9_\-\"]+(?:\s*\.\s*[A-Za-z0-9_\-\"]+)*)\s*=")

    def __init__(self, text: str):
        self.lines: dict[tuple[str, ...], int] = {}
        section: tuple[str, ...] = ()
        in_multiline = None
        for no, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            m = self._header.match(line)
            if m:
                section = tuple(p.strip().strip('"') for p in m.group(1).split("."))
                self.lines.setdefault(section, no)
                continue
            m = self._key.match(line)
            if m:
                key = tuple(p.strip().strip('"') for p in m.group(1).split("."))
                self.lines.setdefault(section + key, no)
                rest = line[m.end():]
                for q in ('"""', "'''"):
                    if rest.count(q) % 2 == 1:
                        in_multiline = q

    def line_of(self, path: tuple) -> int | None:
        path = tuple(str(p) for p in path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _fields_at(loc: tuple) -> list[str]:
    model: Any = Recipe
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}).keys())


_KEYED = re.compile(r"^([a-z_]+\.[a-z_0-9]+): ")


def _format_errors(err: ValidationError, *, index: _LineIndex | None, overrides: dict[str, Any]) -> list[str]:
    problems = []
    errors = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if not e["loc"] and e["type"] == "value_error" and _KEYED.match(msg):
            # A cross-field rule: one "key.path: problem" per line, filed under its own key.
            for line in msg.splitlines():
                m = _KEYED.match(line)
                loc = tuple(m.group(1).split(".")) if m else ()
                errors.append({**e, "loc": loc, "msg": line[m.end():] if m else line})
        else:
            errors.append(e)
    for e in errors:
        loc = tuple(p for p in e["loc"] if not isinstance(p, int) or True)
        # Union members add their type names to loc (e.g. 'int', "literal['auto']"): drop them.
        loc = tuple(p for p in loc if not (isinstance(p, str) and (p in ("int", "float", "str", "bool") or p.startswith(("literal[", "function-")))))
        key = ".".join(str(p) for p in loc) or "(recipe)"
        where = ""
        if key in overrides or any(key.startswith(k + ".") for k in overrides):
            where = " (from --set)"
        elif index is not None:
            line = index.line_of(loc)
            if line:
                where = f" (line {line})"
        if e["type"] == "extra_forbidden":
            known = _fields_at(loc[:-1])
            msg = f"unknown key `{key}`{where}{did_you_mean(str(loc[-1]), known)}"
            if not did_you_mean(str(loc[-1]), known) and known:
                msg += "; known keys here: " + ", ".join(known)
            problems.append(msg)
        elif e["type"] == "missing":
            problems.append(f"missing key `{key}`{where}")
        else:
            text = e["msg"]
            if text.startswith("Value error, "):
                text = text[len("Value error, "):]
            got = e.get("input")
            got_s = ""
            if not isinstance(got, (dict, list)) and got is not None and e["type"] != "value_error":
                got_s = f" (got {got!r})"
            problems.append(f"`{key}`{where}: {text}{got_s}")
    # One problem per key: union validation can report the same key several times.
    seen, unique = set(), []
    for p in problems:
        k = p.split(":")[0]
        if k in seen:
            continue
        seen.add(k)
        unique.append(p)
    return unique


def load_recipe(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe file. Raises UsageError listing every problem."""
    path = Path(path)
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    overrides = overrides or {}
    return parse_recipe(read_user_text(path, "recipe file"), source=str(path), overrides=overrides)


def parse_recipe(text: str, *, source: str = "<recipe>", overrides: dict[str, Any] | None = None) -> Recipe:
    overrides = overrides or {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"not valid TOML: {e}", source=source) from None
    except RecursionError:
        raise UsageError("not a usable TOML recipe: arrays or tables nested too deeply to read", source=source) from None
    for key, value in overrides.items():
        _set_dotted(data, key.split("."), value)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise UsageError(_format_errors(e, index=_LineIndex(text), overrides=overrides), source=source) from None
    return recipe


def validate_dict(data: dict[str, Any], *, source: str = "<recipe>") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise UsageError(_format_errors(e, index=None, overrides={}), source=source) from None


# ---------------------------------------------------------------------------------------
# Writing: the fully resolved recipe, readable, loadable again

def _toml_str(s: str) -> str:
    if "\n" in s and '"""' not in s and not s.endswith('"') and "\\" not in s and "\r" not in s:
        return '"""\n' + s + '"""'
    import json

    return json.dumps(s, ensure_ascii=False)


def _toml_value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v))


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else '"' + k + '"'


def dump_toml(recipe: Recipe, header: str | None = None) -> str:
    """TOML text for a recipe; `None` values are left out (they mean 'the default')."""
    data = recipe.model_dump(mode="python")
    out: list[str] = []
    if header:
        out += [f"# {line}" if line else "#" for line in header.splitlines()]
    for k, v in data.items():
        if not isinstance(v, dict) and v is not None:
            out.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            out.append("")
            out.append(f"[{k}]")
            for kk, vv in v.items():
                if vv is not None:
                    out.append(f"{_toml_key(kk)} = {_toml_value(vv)}")
    return "\n".join(out) + "\n"


def schema_keys() -> dict[str, tuple[Any, str]]:
    """Every dotted key with its default and description (docs, the wizard's forms)."""
    out: dict[str, tuple[Any, str]] = {}
    for name, field in Recipe.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            for n2, f2 in sub.model_fields.items():
                default = f2.default_factory() if f2.default_factory else f2.default
                out[f"{name}.{n2}"] = (default, f2.description or "")
        else:
            out[name] = (field.default, field.description or "")
    return out
