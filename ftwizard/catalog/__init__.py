"""The catalog: prices, hardware and model shapes as data files with sources and dates (loaders here)."""

from __future__ import annotations

import dataclasses
import datetime
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ftwizard.catalog.configs import open_model_from_config
from ftwizard.catalog.shapes import Linears, OpenModel
from ftwizard.errors import UsageError, did_you_mean
from ftwizard.providers import PROVIDER_ORDER

__all__ = ["GPU", "HostedModel", "Linears", "OpenModel", "get_gpu", "get_hosted_model", "get_open_model",
           "match_gpu", "open_model_from_config"]

CATALOG_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load_toml(name: str) -> dict:
    with open(CATALOG_DIR / name, "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class HostedModel:
    """A model a hosted provider fine-tunes, with its prices (USD per 1M tokens) and dates.

    `input_usd_per_1m` / `output_usd_per_1m` are the fine-tune's per-token serving prices; None where a fine-tune
    serves only on hourly hardware (`hosting_usd_per_hour`: a Together dedicated endpoint, an Azure deployment).
    Availability (`training_available_until`, `shutdown_date`, `trainable`) and the rest stay in `extra` too,
    read through the properties below, so `--as-of` can judge any day.
    """

    id: str
    provider: str
    encoding: str
    training_usd_per_1m: float
    price_source: str
    price_date: str
    input_usd_per_1m: float | None = None
    output_usd_per_1m: float | None = None
    max_tokens_per_example: int = 16_385
    context_window: int = 16_385
    aliases: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def training_available_until(self) -> str | None:
        """The last day (ISO, inclusive) a fine-tuning job can be created; None: no announced end."""
        return self.extra.get("training_available_until")

    @property
    def shutdown_date(self) -> str | None:
        """The day the model and every fine-tune of it stop serving (ISO); None: none announced."""
        return self.extra.get("shutdown_date")

    @property
    def weights_downloadable(self) -> bool:
        return bool(self.extra.get("weights_downloadable", False))

    @property
    def serving(self) -> str:
        """serverless (per token) | dedicated (an endpoint per hour) | deployment (Azure, per hour)."""
        return str(self.extra.get("serving", "serverless"))

    @property
    def hosting_usd_per_hour(self) -> float | None:
        v = self.extra.get("hosting_usd_per_hour")
        return None if v is None else float(v)

    @property
    def hub_id(self) -> str | None:
        """The Hugging Face id of the same open weights (LoRA them locally; `eval --local` loads it)."""
        return self.extra.get("hub_id")

    def shut_down(self, as_of: datetime.date) -> bool:
        """The model, and every fine-tune built on it, no longer serves on `as_of` (the one shut-down test)."""
        return bool(self.shutdown_date) and as_of.isoformat() >= self.shutdown_date

    def training_closed_reason(self, as_of: datetime.date) -> str | None:
        """Why no job can be created for this model on `as_of` (None: it can)."""
        if self.extra.get("trainable") is False:
            return f"{self.id} cannot be fine-tuned on {self.provider}"
        if self.shut_down(as_of):
            return f"{self.id} was shut down on {self.shutdown_date}, with every fine-tune built on it"
        if self.training_available_until and as_of.isoformat() > self.training_available_until:
            return f"{self.provider} stopped fine-tuning jobs for {self.id} after {self.training_available_until}"
        return None

    def available(self, as_of: datetime.date) -> bool:
        return self.training_closed_reason(as_of) is None


@lru_cache(maxsize=1)
def _hosted_models() -> tuple[HostedModel, ...]:
    out = []
    known = set(HostedModel.__dataclass_fields__)
    for m in load_toml("hosted_models.toml").get("model", []):
        base = {k: v for k, v in m.items() if k in known and k != "aliases"}
        out.append(HostedModel(**base, aliases=tuple(m.get("aliases", ())),
                               extra={k: v for k, v in m.items() if k not in known}))
    return tuple(out)


def hosted_models(provider: str | None = None) -> list[HostedModel]:
    """Every hosted model in the catalog (of one provider when given), in file order."""
    return [m for m in _hosted_models() if provider is None or m.provider == provider]


_AZURE_FT = re.compile(r"\.ft-[0-9a-fA-F]+(?:-[\w-]+)?$")


def fine_tune_base(name: str) -> str:
    """The base model a fine-tune's id names: OpenAI's `ft:<base>:org:suffix:id` and Azure's `<base>.ft-<hex>`
    (e.g. `gpt-4.1-mini-2025-04-14.ft-0123...`); any other name is its own base."""
    return _AZURE_FT.sub("", name.removeprefix("ft:").split(":")[0])


def get_hosted_model(name: str, provider: str | None = None) -> HostedModel:
    """A hosted model by id or alias; fine-tuned ids (`ft:gpt-4o-mini-2024-07-18:org::abc`, Azure's
    `gpt-4o-mini-2024-07-18.ft-<hex>`) map to their base.

    Several providers train the same spelling (`gpt-4o-mini` on OpenAI and Azure, `Qwen/Qwen3-8B` on Together
    and Tinker): `provider` picks that provider's entry (its prices and dates); without it the first entry wins.
    """
    key = fine_tune_base(name)
    models = hosted_models(provider)
    for m in models:
        if key == m.id or key in m.aliases:
            return m
    # Dated snapshots not listed: `gpt-4o-mini-2099-01-01` -> gpt-4o-mini. The longest alias wins, so
    # `gpt-4.1-mini-...` is gpt-4.1-mini, never gpt-4.1.
    prefixed = [(len(a), m) for m in models for a in m.aliases if key.startswith(a + "-")]
    if prefixed:
        return max(prefixed, key=lambda t: t[0])[1]
    names = [m.id for m in models] + [a for m in models for a in m.aliases]
    where = f" for provider `{provider}`" if provider else ""
    raise UsageError(f"unknown hosted model `{name}`{where}{did_you_mean(key, names)}; known: "
                     + ", ".join(dict.fromkeys(m.id for m in models)))


def wind_down() -> dict:
    return dict(load_toml("hosted_models.toml").get("wind_down", {}))


def hosted_candidates(as_of: datetime.date) -> list[dict]:
    """Every hosted fine-tuning candidate as the wizard and `estimate` list them, judged on `as_of`.

    One dict per (provider, model): prices with source and date, whether the weights come home, how a
    fine-tune serves, the closing dates and the days left before each, and whether a job can be created.
    """
    out = []
    for m in hosted_models():
        reason = m.training_closed_reason(as_of)

        def days_left(day: str | None) -> int | None:
            return None if not day else (datetime.date.fromisoformat(day) - as_of).days

        out.append({
            "provider": m.provider, "model": m.id, "aliases": list(m.aliases),
            "training_usd_per_1m": m.training_usd_per_1m,
            "input_usd_per_1m": m.input_usd_per_1m, "output_usd_per_1m": m.output_usd_per_1m,
            "hosting_usd_per_hour": m.hosting_usd_per_hour,
            "price_source": m.price_source, "price_date": m.price_date,
            "weights_downloadable": m.weights_downloadable, "serving": m.serving, "hub_id": m.hub_id,
            "training_available_until": m.training_available_until,
            "training_days_left": days_left(m.training_available_until),
            "shutdown_date": m.shutdown_date, "shutdown_days_left": days_left(m.shutdown_date),
            "available": reason is None, "unavailable_reason": reason, "as_of": as_of.isoformat(),
        })
    return out


def closing_cell(c: dict) -> str:
    """A `hosted_candidates` entry's availability in a few characters: `closed`, `jobs 30d` (job creation ends),
    `off 38d` (serving shuts down), or `open`."""
    if not c["available"]:
        return "closed"
    parts = []
    if c.get("training_days_left") is not None:
        parts.append(f"jobs {c['training_days_left']}d")
    if c.get("shutdown_days_left") is not None:
        parts.append(f"off {c['shutdown_days_left']}d")
    return ", ".join(parts) or "open"


PROVIDER_NAMES = {"openai": "OpenAI", "azure": "Azure OpenAI", "together": "Together AI", "tinker": "Tinker",
                  "fireworks": "Fireworks AI"}


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def _open_model_or_none(model_id: str | None) -> "OpenModel | None":
    if not model_id:
        return None
    try:
        return get_open_model(model_id, allow_hub=False)
    except UsageError:
        return None


def rank_hosted(candidates: list[dict], open_model: str | None = None) -> list[dict]:
    """`hosted_candidates` best first: those that take jobs today, then the same weights as `open_model` (its
    hub id), then its family, then weights that come home, then the provider order above, then the price."""
    om = _open_model_or_none(open_model)

    def kinship(c: dict) -> int:
        if om is None or not c.get("hub_id"):
            return 2
        theirs = _open_model_or_none(c["hub_id"])
        if theirs is not None and theirs.id == om.id or c["hub_id"].lower() == om.id.lower():
            return 0
        return 1 if theirs is not None and theirs.family == om.family else 2

    def key(c: dict):
        order = PROVIDER_ORDER.index(c["provider"]) if c["provider"] in PROVIDER_ORDER else len(PROVIDER_ORDER)
        return (not c["available"], kinship(c), not c["weights_downloadable"], order, c["training_usd_per_1m"])

    return sorted(candidates, key=key)


def default_hosted(open_model: str | None, as_of: datetime.date, provider: str | None = None) -> dict | None:
    """The hosted side a local run is weighed against: the first of `rank_hosted` that takes jobs on `as_of`
    (of `provider` when given); None when none does."""
    ranked = [c for c in rank_hosted(hosted_candidates(as_of), open_model)
              if c["available"] and (provider is None or c["provider"] == provider)]
    return ranked[0] if ranked else None


# ---------------------------------------------------------------------------------------
# GPUs

@dataclass(frozen=True)
class GPU:
    """A card (or `cpu`) with its throughput, memory and prices. `prices`: dicts provider/usd_per_hour/source/date."""

    name: str
    vram_gb: float
    bf16_tflops: float
    mem_bandwidth_gbs: float
    link_gbs: float = 0.0
    link_source: str = ""
    host_link_gbs: float = 0.0       # one direction to the host (PCIe); 0: the peer link when that is PCIe
    host_link_source: str = ""
    prices: tuple[dict, ...] = ()
    default_provider: str = ""
    compute_capability: str = ""
    spec_source: str = ""
    match: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()   # words of a reported name that make it another card (`Ti`, `Laptop`)
    exact_match: bool = False
    min_vram_gb: float = 0.0
    max_vram_gb: float = 0.0
    bf16: bool = True
    # A measured sustained dense 16-bit GEMM rate, where one is published for a card whose power limit holds its
    # clock well below the datasheet's boost under continuous tensor work (TFLOPS; 0: none published).
    sustained_tflops: float = 0.0
    sustained_source: str = ""
    is_cpu: bool = False
    effective: bool = False

    @property
    def default_price(self) -> dict | None:
        for p in self.prices:
            if p["provider"] == self.default_provider:
                return p
        return self.prices[0] if self.prices else None

    @property
    def default_usd_per_hour(self) -> float | None:
        p = self.default_price
        return None if p is None else float(p["usd_per_hour"])

    # The default price under the names other modules look for.
    @property
    def price_per_hour(self) -> float | None:
        return self.default_usd_per_hour

    @property
    def price_source(self) -> str:
        p = self.default_price
        return f"{p['provider']}: {p['source']}" if p else ""

    @property
    def price_date(self) -> str:
        p = self.default_price
        return p["date"] if p else ""

    @property
    def host_link(self) -> tuple[float, str]:
        """(GB/s one way, where it is published) of the card's link to host memory: `host_link_gbs`, else the
        peer link when that is PCIe (cards without NVLink reach their peers and the host over the same slot);
        (0, "") when the catalog does not say."""
        if self.host_link_gbs:
            return self.host_link_gbs, self.host_link_source
        if self.link_source.startswith("PCIe"):
            return self.link_gbs, self.link_source
        return 0.0, ""

    def to_dict(self) -> dict:
        return {"name": self.name, "vram_gb": self.vram_gb, "bf16_tflops": self.bf16_tflops,
                "mem_bandwidth_gbs": self.mem_bandwidth_gbs, "compute_capability": self.compute_capability,
                "prices": [dict(p) for p in self.prices], "default_usd_per_hour": self.default_usd_per_hour,
                "spec_source": self.spec_source}


def flash_attention_2_runs_on(compute_capability: str | None) -> bool:
    """FlashAttention-2 runs on Ampere and newer (compute capability 8.0+; its README: Ampere, Ada, Hopper), not
    on Volta / Turing (V100, T4). Unknown capability: assumed to run, as before this check."""
    if not compute_capability:
        return True
    try:
        return int(str(compute_capability).split(".")[0]) >= 8
    except ValueError:
        return True


def _norm(name: str) -> str:
    s = name.lower().replace("nvidia", "").replace("geforce", "").replace("tesla", "")
    return "".join(ch for ch in s if ch.isalnum())


@lru_cache(maxsize=1)
def gpus() -> tuple[GPU, ...]:
    out = []
    known = set(GPU.__dataclass_fields__)
    for g in load_toml("gpus.toml").get("gpu", []):
        d = {k: v for k, v in g.items() if k in known}
        d["prices"] = tuple(dict(p) for p in g.get("prices", ()))
        d["match"] = tuple(g.get("match", ()))
        d["aliases"] = tuple(g.get("aliases", ()))
        d["exclude"] = tuple(g.get("exclude", ()))
        out.append(GPU(**d))
    return tuple(out)


def gpu_names() -> list[str]:
    return [g.name for g in gpus()]


# Short names people type for cards the catalog splits by memory or form factor.
_GPU_SHORTHANDS = {"a100": "A100-80GB", "h100": "H100-SXM", "4090": "RTX-4090", "3090": "RTX-3090",
                   "rtx4090": "RTX-4090", "rtx3090": "RTX-3090", "a100sxm": "A100-80GB", "a10g": "A10G"}


def get_gpu(name: str) -> GPU:
    """A catalog GPU by name (`A40`, `a100-80gb`, `NVIDIA A40`, `H100`, `cpu`); UsageError with did-you-mean."""
    key = _norm(name)
    by_norm = {_norm(g.name): g for g in gpus()}
    for g in gpus():
        for a in g.aliases:
            by_norm.setdefault(_norm(a), g)
    if key in by_norm:
        return by_norm[key]
    if key in _GPU_SHORTHANDS:
        return by_norm[_norm(_GPU_SHORTHANDS[key])]
    for suffix in ("80gb", "40gb", "48gb", "24gb", "pcie", "sxm", "sxm4", "sxm5"):  # `A40 48GB`, `L4-24GB`
        if key.endswith(suffix) and key[: -len(suffix)] in by_norm:
            return by_norm[key[: -len(suffix)]]
    # The name as nvidia-smi / a published table prints it (`Tesla V100-SXM2-16GB`, `NVIDIA A800-SXM4-80GB`),
    # its memory read from the name where it says so.
    size = re.search(r"(\d+)\s*gi?b?\b", name.lower().replace("-", " ").replace("_", " "))
    reported = match_gpu(name, float(size.group(1)) if size else None)
    if reported is not None:
        return reported
    import difflib

    names = gpu_names()
    norm_to_name = {_norm(n): n for n in names}
    norm_to_name.update({k: _GPU_SHORTHANDS[k] for k in _GPU_SHORTHANDS})
    close = difflib.get_close_matches(key, list(norm_to_name), n=1, cutoff=0.5)
    hint = f" (did you mean `{norm_to_name[close[0]]}`?)" if close else ""
    raise UsageError(f"unknown GPU `{name}`{hint}; known: " + ", ".join(names))


def match_gpu(reported_name: str, vram_gb: float | None = None) -> GPU | None:
    """The catalog entry for a name as NVML / nvidia-smi / torch report it (`NVIDIA A100-SXM4-80GB`), or None."""
    low = reported_name.lower()
    words = set(low.replace("-", " ").replace("_", " ").split())
    best = None
    for g in gpus():
        if g.is_cpu:
            continue
        if words & set(g.exclude):
            continue
        if vram_gb:
            if g.min_vram_gb and vram_gb < g.min_vram_gb:
                continue
            if g.max_vram_gb and vram_gb > g.max_vram_gb:
                continue
        for m in g.match:
            hit = (m in words) if g.exact_match else (m in low)
            if hit and (best is None or len(m) > best[0]):
                best = (len(m), g)
    return best[1] if best else None


# ---------------------------------------------------------------------------------------
# Open models

@lru_cache(maxsize=1)
def open_models() -> tuple[OpenModel, ...]:
    out = []
    for m in load_toml("open_models.toml").get("model", []):
        d = dict(m)
        d["aliases"] = tuple(d.get("aliases", ()))
        d.setdefault("qkv_bias", d.get("family") == "qwen2")
        shape = OpenModel(**{"params": 0, **d})
        out.append(shape if "params" in d else dataclasses.replace(shape, params=shape.computed_params))
    return tuple(out)


def _hub_cache_dirs() -> list[Path]:
    import os

    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]))
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    dirs.append(home / "hub")
    return dirs


def hub_cache_file(model_id: str, name: str) -> Path | None:
    """`name` (config.json, tokenizer.json) from the newest snapshot of `model_id` in the Hugging Face cache."""
    folder = "models--" + model_id.replace("/", "--")
    for d in _hub_cache_dirs():
        snaps = d / folder / "snapshots"
        if snaps.is_dir():
            for snap in sorted(snaps.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
                if (snap / name).is_file():
                    return snap / name
    return None


def hub_offline() -> bool:
    """HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set: nothing may be fetched from the hub."""
    import os

    return any(os.environ.get(k, "") not in ("", "0") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def cached_hub_models() -> list[str]:
    """Hub ids with a config.json in the local Hugging Face cache (they load without the network)."""
    out = []
    for d in _hub_cache_dirs():
        if not d.is_dir():
            continue
        for folder in sorted(d.glob("models--*")):
            model_id = folder.name.removeprefix("models--").replace("--", "/")
            if model_id not in out and hub_cache_file(model_id, "config.json") is not None:
                out.append(model_id)
    return out


def _config_in_hub_cache(model_id: str) -> Path | None:
    return hub_cache_file(model_id, "config.json")


HUB_CONFIGS = CATALOG_DIR / "hub_configs"


def bundled_config(model_id: str) -> Path | None:
    """The config.json ftwizard ships for a hub id outside the catalog (hub_configs/SOURCES.md: architectures
    published LoRA tables train - GPT-2, Pythia, Falcon, OPT, Phi, ChatGLM, Mixtral ...), so the id is estimable
    offline; None for any other id."""
    name = model_id.strip().rstrip("/").replace("/", "--").lower() + ".json"
    if "--" not in name or not HUB_CONFIGS.is_dir():
        return None
    return next((p for p in HUB_CONFIGS.glob("*.json") if p.name.lower() == name), None)


def _config_from_hub(model_id: str) -> dict | None:
    """config.json from the hub when it is reachable: one quick try, never when HF_HUB_OFFLINE is set."""
    import json
    import os
    import urllib.request

    if hub_offline() or "/" not in model_id:
        return None
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    req = urllib.request.Request(f"{endpoint}/{model_id}/resolve/main/config.json")
    token = os.environ.get("HF_TOKEN")
    if token:  # gated models (Llama); the token is sent, never printed
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=4) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except Exception:  # noqa: BLE001 - offline, gated, unknown: the caller reports it
        return None


def get_open_model(id: str, *, allow_hub: bool = True) -> OpenModel:
    """An open model by catalog id or alias, else from config.json: a local folder, the hub cache, the config.json
    ftwizard ships for that hub id (`bundled_config`), or the hub."""
    import json

    key = id.strip().rstrip("/").lower()
    models = open_models()
    for m in models:
        if key == m.id.lower() or key in (a.lower() for a in m.aliases):
            return m
    path = Path(id).expanduser()
    config_path = None
    if path.is_dir():
        config_path = path / "config.json" if (path / "config.json").is_file() else None
        if config_path is None:
            raise UsageError(f"model folder {path} has no config.json: cannot tell its shape "
                             "(set model.catalog_id to a catalog model of the same shape)")
    elif path.name == "config.json" and path.is_file():
        config_path = path
    else:
        config_path = _config_in_hub_cache(id) or bundled_config(id)
        if config_path is None and allow_hub:
            config = _config_from_hub(id)
            if config is not None:
                return open_model_from_config(config, id=id, source=f"config.json from the hub ({id})")
    if config_path is not None:
        try:
            config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"{config_path}: cannot read config.json ({e})") from None
        bundled = Path(config_path).parent == HUB_CONFIGS
        return open_model_from_config(config, id=id, source=f"{id}'s config.json as bundled with ftwizard "
                                      "(catalog/hub_configs)" if bundled else f"config.json at {config_path}")
    names = [m.id for m in models]
    raise UsageError(
        f"unknown model `{id}`{did_you_mean(id, names + [a for m in models for a in m.aliases])}: not in the "
        "catalog, not a local folder with config.json, and its config.json is not in the Hugging Face cache "
        "(the hub is not reachable); known: " + ", ".join(names)
    )
