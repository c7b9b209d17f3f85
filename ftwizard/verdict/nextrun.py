"""The next run worth making, concretely: what changes, on which GPU, its estimated hours and dollars, the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftwizard.errors import UsageError
from ftwizard.verdict.model import NextRun, RunRow
from ftwizard.verdict.runs import estimate_recipe_or_none, loss_still_falling

REFERENCE_GPU = "A40"  # the catalog's reference card (the seed's), for runs that recorded none
QUANTS = ("none", "8bit", "4bit")  # tried in this order: the first that fits is the one proposed


def run_command(row: RunRow, changes: dict[str, Any]) -> str:
    recipe = str(Path(row.run_dir) / "recipe.toml")
    sets = " ".join(f"--set {k}={_set_value(v)}" for k, v in changes.items())
    return f"ftwizard run {recipe} {sets}".strip()


def _set_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v.replace("-", "").replace("_", "").replace(".", "").replace("/", "").isalnum() else json.dumps(v)
    return str(v)


def gpu_on_record(row: RunRow) -> tuple[str, str]:
    """(the GPU a next local run is sized for, why that one)."""
    if row.gpu and row.gpu != "cpu":
        return row.gpu, f"the {row.gpu} on record"
    hw = row.recipe.hardware.gpu if row.recipe is not None else "auto"
    if hw not in ("auto", "cpu", ""):
        return hw, f"the recipe's {hw}"
    return REFERENCE_GPU, f"an {REFERENCE_GPU} (no GPU on record, a CPU run: the catalog's reference card)"


def estimate_next(row: RunRow, changes: dict[str, Any]):
    """The estimate (`plan.estimate.Estimate`) of the run's recipe with `changes`; None when it cannot be made."""
    try:
        recipe = row.recipe.with_updates(changes) if changes else row.recipe
    except UsageError:
        return None
    return estimate_recipe_or_none(recipe)


def _fill(n: NextRun, row: RunRow) -> NextRun:
    est = estimate_next(row, n.changes)
    if est is not None and n.backend == "local" and not est.local.fits and est.local.quant in QUANTS:
        # a run that does not fit is never priced: propose the lightest quantization that fits instead
        for q in QUANTS[QUANTS.index(est.local.quant) + 1:]:
            trial = estimate_next(row, {**n.changes, "model.quant": q})
            if trial is not None and trial.local.fits:
                n.changes = {**n.changes, "model.quant": q}
                n.command = run_command(row, n.changes)
                est = trial
                break
    if est is None:
        return n
    if n.backend == "local":
        _priced(n, est.local)
        n.gpu, n.model, n.quant = est.local.gpu or n.gpu, est.local.model or n.model, est.local.quant or n.quant
    else:
        n.cost_usd = est.hosted_plan.usd
    return n


def _priced(n: NextRun, local) -> None:
    """A next run's hours and dollars from its `LocalEstimate` (none when it does not fit)."""
    n.hours, n.cost_usd = local.hours, local.cost_usd
    if local.cost_range_usd:
        n.cost_range_usd = tuple(local.cost_range_usd)


def bigger_model_run(row: RunRow) -> NextRun | None:
    """A larger open model and the quantization that lets it train on the GPU on record, with its estimate.

    Same family first (same tokenizer and prompt habits), then any family; the smallest step up that fits.
    """
    from ftwizard.catalog import get_open_model, open_models
    from ftwizard.estimate import estimate_vram
    from ftwizard.plan.fit import fit_on
    from ftwizard.catalog import get_gpu

    try:
        cur = get_open_model(row.base_model, allow_hub=False)
    except UsageError:
        return None
    gpu_name, why_gpu = gpu_on_record(row)
    try:
        g = get_gpu(gpu_name)
    except UsageError:
        return None
    recipe = row.recipe
    usable = fit_on(g, 0.0).usable_gb
    bigger = sorted((m for m in open_models() if m.params > 1.3 * cur.params), key=lambda m: m.params)
    ordered = [m for m in bigger if m.family == cur.family] + [m for m in bigger if m.family != cur.family]
    # nothing bigger fits: today's models (catalog entries with a read date) of at least half the size, largest first
    ordered += sorted((m for m in open_models() if m.read_on and m.id != cur.id and 0.5 * cur.params <= m.params
                       <= 1.3 * cur.params), key=lambda m: -m.params)
    for m in ordered:
        for q in QUANTS:
            screen = estimate_vram(m, quant=q, rank=recipe.lora.r, target_modules=recipe.lora.target_modules,
                                   lora_dropout=recipe.lora.dropout, micro_batch=recipe.train.micro_batch_size,
                                   seq_len=min(recipe.train.max_length, 512), gradient_checkpointing=True)
            # a screen at a short sequence: what does not fit there cannot fit at max_length (the estimate decides)
            if not fit_on(g, screen["vram_gb"]).fits:
                continue
            changes: dict[str, Any] = {"model.base": m.id, "model.quant": q}
            if recipe.model.catalog_id:
                changes["model.catalog_id"] = ""
            if gpu_name != (recipe.hardware.gpu or "auto"):
                changes["hardware.gpu"] = gpu_name
            if recipe.hardware.device == "cpu":
                changes["hardware.device"] = "auto"
            est = estimate_next(row, changes)
            if est is None or not est.local.fits:
                continue
            qname = {"none": "16-bit", "8bit": "8-bit", "4bit": "4-bit"}[q]
            gated = " (gated: accept its license on the hub first)" if m.gated else ""
            what = "more capacity than" if m.params > 1.3 * cur.params else "a newer model of about the size of"
            n = NextRun(f"{m.id.split('/')[-1]} in {qname} on {g.name}",
                        f"{what} {row.short_model}; fits {why_gpu} ({round(est.local.vram_gb, 1)} GB of "
                        f"{round(usable, 1)} GB){gated}", run_command(row, changes), changes, gpu=g.name,
                        model=m.id, quant=q)
            _priced(n, est.local)
            return n
    return None


def local_next_runs(row: RunRow) -> list[NextRun]:
    """What to try locally next to close a gap: answer-only loss, more steps, a bigger model - each estimated."""
    out: list[NextRun] = []
    recipe = row.recipe
    if recipe.train.loss_on == "all":
        ch = {"train.loss_on": "answer"}
        out.append(NextRun("answer-only loss", "the loss was on the whole prompt; learning only the answer puts "
                           "every step into what is scored", run_command(row, ch), ch))
    falling = loss_still_falling(row.loss)
    ch = {"train.max_steps": recipe.train.max_steps * 2} if recipe.train.max_steps > 0 else \
        {"train.epochs": recipe.train.epochs * 2}
    more = NextRun("more steps", "the training loss was still falling at the end" if falling
                   else "twice the training on the same data", run_command(row, ch), ch)
    big = bigger_model_run(row)
    # a loss still falling says the cheapest next step is more of the same; a flat one says more capacity
    out += ([more, big] if falling else [big, more])
    out = [n for n in out if n is not None]
    for n in out:
        if n.hours is None and n.changes:
            _fill(n, row)
    return out


def other_side_run(row: RunRow, *, hosted_open: bool) -> NextRun | None:
    """The same data on the other side: a local LoRA run of a hosted recipe, or the hosted fine-tune of a local one."""
    if row.backend == "hosted":
        ch = {"backend": "local"}
        return _fill(NextRun(f"the local LoRA run ({row.recipe.model.base.split('/')[-1]})",
                             "the same data and prompts on an open model, to compare on the same eval examples",
                             run_command(row, ch), ch, backend="local"), row)
    if not hosted_open:
        return None
    ch = {"backend": "hosted"}
    return _fill(NextRun(f"the hosted fine-tune ({row.recipe.hosted.model})",
                         "validates whether fine-tuning works for the task with a fully managed model",
                         run_command(row, ch), ch, backend="hosted"), row)
