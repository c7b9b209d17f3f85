"""Calibration from finished local runs: measured / estimated memory and speed on the same GPU, family, quant."""

from __future__ import annotations

import json
import os
import statistics

from ftwizard.catalog import get_gpu, get_open_model, match_gpu
from ftwizard.errors import UsageError
from ftwizard.estimate.base import _quant
from ftwizard.runs.directory import default_runs_dir

def _gpu_key(name: str) -> str:
    try:
        return get_gpu(name).name
    except UsageError:
        g = match_gpu(str(name))
        return g.name if g else str(name).lower()


def _family_key(model: str) -> str:
    try:
        return get_open_model(model, allow_hub=False).family
    except UsageError:
        return str(model)


# A run measured at under 1/50 or over 50x its estimate measured something else (a compile warm-up counted as
# training, a machine shared with other work): it is not used, and it cannot drive the range to zero.
SPEED_RATIO_USED = (0.02, 50.0)


def calibration(runs_dir: str | os.PathLike | None, *, gpu: str, family: str, quant: str) -> dict:
    """Correction factors from `train_summary.json` of past local runs on the same GPU, model family and quant.

    Like quantities only (docs/estimates.md, "Calibration"): memory is the measured `peak_mem_gib` (torch's
    reserved memory + the CUDA context, GiB) against the estimate's `vram_gb` (the same scope), GPU runs only
    (a CPU run's peak is the process's RSS); speed is `train_tokens_per_s` (training steps only, no evaluation or
    checkpoint time) against the estimate's training tokens/s. Runs written before those fields existed are not
    used. mem_factor / speed_factor = the median ratio; `spread` = (min, max) of the speed ratios; `mfu` = the
    runs' measured model FLOPs utilization, recorded for the record.
    """
    root = default_runs_dir(runs_dir)
    mem, speed, mfu, used = [], [], [], []
    if root.is_dir():
        for summary_path in sorted(root.glob("*/train_summary.json")):
            try:
                s = json.loads(summary_path.read_text(encoding="utf-8"))
                est = s.get("estimate") or {}
                if _gpu_key(str(s.get("gpu", ""))) != gpu or _quant(str(s.get("quant", "none"))) != quant:
                    continue
                if _family_key(str(s.get("model", ""))) != family:
                    continue
                ok = False
                on_gpu = s.get("device", "cuda") == "cuda" and gpu != "cpu"
                if on_gpu and float(s.get("peak_mem_gib") or 0) > 0 and float(est.get("vram_gb") or 0) > 0:
                    mem.append(float(s["peak_mem_gib"]) / float(est["vram_gb"]))
                    ok = True
                if float(s.get("train_tokens_per_s") or 0) > 0 and float(est.get("tokens_per_s") or 0) > 0:
                    ratio = float(s["train_tokens_per_s"]) / float(est["tokens_per_s"])
                    if SPEED_RATIO_USED[0] <= ratio <= SPEED_RATIO_USED[1]:
                        speed.append(ratio)
                        ok = True
                if s.get("mfu") is not None:
                    mfu.append(float(s["mfu"]))
                if ok:
                    used.append(summary_path.parent.name)
            except (OSError, ValueError, TypeError, AttributeError, UsageError):
                continue  # a half-written or foreign file never breaks an estimate

    def factor(xs: list[float]) -> float:
        return min(4.0, max(0.25, statistics.median(xs))) if xs else 1.0

    return {"n": len(used), "runs": used, "mem_factor": round(factor(mem), 4),
            "speed_factor": round(factor(speed), 4),
            "speed_spread": [round(min(speed), 4), round(max(speed), 4)] if speed else None,
            "mfu": [round(x, 4) for x in mfu], "runs_dir": str(root)}
