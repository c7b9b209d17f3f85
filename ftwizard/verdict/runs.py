"""Reading one run directory into a row of the verdict: metrics, per-example verdicts, costs, loss, GPU."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

from ftwizard.errors import UsageError
from ftwizard.fsutil import read_json
from ftwizard.runs.directory import RunDirectory
from ftwizard.verdict.model import Metric, RunRow


def _read_jsonl(path: Path) -> Iterable[dict]:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a line being written as we read, or damaged on disk
            if isinstance(obj, dict):
                yield obj


def _safe_json(path: Path, problems: list[str]) -> dict:
    try:
        obj = read_json(path, default={})
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append(f"{path}: not valid JSON ({e})")
        return {}
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        problems.append(f"{path}: expected a JSON object")
        return {}
    return obj


def estimate_recipe_or_none(recipe, **kw):
    """`ftwizard.estimate.estimate_recipe` (an `Estimate`), or None for a model the catalog cannot size offline."""
    from ftwizard.estimate import estimate_recipe

    try:
        return estimate_recipe(recipe, **kw)
    except UsageError:
        return None


def _read_predictions(row: RunRow, path: Path) -> None:
    """Per-example verdicts (for the paired tests) and mean tokens per request (for serving cost) into `row`."""
    p_tok, c_tok = [], []
    for obj in _read_jsonl(path):
        idx = obj.get("index")
        if isinstance(idx, int) and isinstance(obj.get("verdicts"), dict):
            row.verdicts[idx] = obj["verdicts"]
            row.references[idx] = obj.get("reference")
        if isinstance(obj.get("prompt_tokens"), (int, float)):
            p_tok.append(obj["prompt_tokens"])
        if isinstance(obj.get("completion_tokens"), (int, float)):
            c_tok.append(obj["completion_tokens"])
    row.prompt_tokens = sum(p_tok) / len(p_tok) if p_tok else None
    row.completion_tokens = sum(c_tok) / len(c_tok) if c_tok else None


def read_home_twin(row: RunRow, problems: list[str]) -> RunRow | None:
    """The same weights served at home: a hosted run whose adapter came home and was scored on this machine
    (`ftwizard eval RUN_DIR --local`, metrics.json `local`) becomes a local row of its own, so the verdict weighs
    hosted serving against the user's GPU on identical weights. Training was paid once, by the hosted job: the
    twin carries that bill, not a second one. None when the run has no such evaluation."""
    if row.backend != "hosted":
        return None
    run = RunDirectory(row.run_dir)
    section = _safe_json(run.metrics_path, problems).get("local")
    if not isinstance(section, dict) or not isinstance(section.get("metrics"), dict):
        return None
    recipe = row.recipe
    open_model = recipe.model.catalog_id or recipe.model.base
    twin = RunRow(run_dir=row.run_dir, name=f"{row.name}@home", backend="local", model=open_model,
                  base_model=open_model, provider="local", imported=row.imported, state=row.state, task=row.task,
                  recipe=recipe, quant=recipe.model.quant)
    for name, d in section["metrics"].items():
        m = Metric.from_dict(d) if isinstance(d, dict) else None
        if m is not None:
            twin.metrics[name] = m
    _read_predictions(twin, run.path / str(section.get("predictions") or "predictions_local.jsonl"))
    twin.training_usd, twin.training_kind = row.training_usd, row.training_kind
    twin.training_usd_range, twin.trained_tokens = row.training_usd_range, row.trained_tokens
    twin.loss, twin.eval_loss, twin.max_steps, twin.wall_s = row.loss, row.eval_loss, row.max_steps, row.wall_s
    if recipe.hardware.gpu not in ("", "auto", "cpu"):
        twin.gpu, twin.price_per_hour = recipe.hardware.gpu, recipe.hardware.price_per_hour
    twin.notes.append(f"the adapter of {row.name} ({row.provider}), downloaded and evaluated on this machine: the "
                      "same weights served on your GPU; its training cost is the hosted job's bill, paid once")
    return twin


def read_run(path: str | Path, problems: list[str]) -> RunRow | None:
    """One run directory as a row; problems are collected (not raised) so that all are reported at once."""
    try:
        run = RunDirectory.open(path)
        recipe = run.recipe()
    except UsageError as e:
        problems.append(str(e))
        return None
    status = run.status()
    metrics = _safe_json(run.metrics_path, problems)
    cost = _safe_json(run.cost_path, problems)
    summary = _safe_json(run.path / "train_summary.json", problems)
    backend = status.get("backend") or metrics.get("backend") or recipe.backend
    hosted = backend == "hosted"
    provider = (status.get("provider") or recipe.hosted.provider) if hosted else "local"
    if hosted:
        base_model = recipe.hosted.model
        model = status.get("fine_tuned_model") or base_model
    else:
        base_model = recipe.model.catalog_id or recipe.model.base
        model = summary.get("model") or recipe.model.base
    row = RunRow(run_dir=str(run.path), name=run.name, backend=backend, model=str(model), base_model=str(base_model),
                 provider=provider, imported=bool(status.get("imported")), state=status.get("state", "pending"),
                 task=metrics.get("task") or recipe.task, recipe=recipe, quant=recipe.model.quant)

    for key, target in (("metrics", row.metrics), ("baseline", row.baseline)):
        block = metrics.get(key) or {}
        if key == "baseline" and isinstance(block, dict) and "metrics" in block:
            block = block["metrics"]  # a baseline recorded as a whole metrics object
        for name, d in (block.items() if isinstance(block, dict) else []):
            m = Metric.from_dict(d) if isinstance(d, dict) else None
            if m is not None:
                target[name] = m

    _read_predictions(row, run.predictions_path)
    for obj in _read_jsonl(run.path / "predictions_baseline.jsonl"):
        if isinstance(obj.get("index"), int) and isinstance(obj.get("verdicts"), dict):
            row.baseline_verdicts[obj["index"]] = obj["verdicts"]

    _read_costs(row, recipe, cost, status, summary, hosted)

    started, finished = status.get("started_at"), status.get("finished_at")
    if isinstance(started, (int, float)) and isinstance(finished, (int, float)) and finished >= started:
        row.wall_s = float(finished - started)
    elif summary.get("wall_s"):
        row.wall_s = float(summary["wall_s"])

    from ftwizard.runs import events

    for ev in events.typed(run.iter_events(("metric",))):  # every point: the report plots the whole curve
        if not isinstance(ev, events.Metric) or ev.step is None:
            continue
        if ev.max_steps and ev.max_steps > 0:
            row.max_steps = ev.max_steps
        if ev.loss is not None and math.isfinite(ev.loss):
            row.loss.append((float(ev.step), ev.loss))
        if ev.eval_loss is not None and math.isfinite(ev.eval_loss):
            row.eval_loss.append((float(ev.step), ev.eval_loss))
    if row.max_steps is None:
        row.max_steps = status.get("total_steps") or summary.get("steps") or None

    if row.state != "succeeded":
        row.notes.append(f"run state: {row.state}")
    if not row.metrics:
        row.notes.append(f"not evaluated yet: {next_step(row, run, status)}")
    return row


def next_step(row: RunRow, run: RunDirectory | None = None, status: dict | None = None) -> str:
    """The command that moves an unevaluated run on, one that works in the state it is in: `eval` once there is
    something to evaluate (an adapter, a fine-tuned model); `attach` while it runs; `run --resume` where its
    backend can resume it (`Backend.resume_refusal`, the one rule); else a new run of its recipe."""
    run = run or RunDirectory(row.run_dir)
    status = run.status() if status is None else status
    trained = (run.path / "adapter" / "adapter_config.json").is_file() or bool(status.get("fine_tuned_model"))
    if row.state == "succeeded" or trained:
        return f"ftwizard eval {row.run_dir}"
    if row.state in ("pending", "running"):
        return f"ftwizard attach {row.run_dir}"
    from ftwizard.backends import backend_for

    if backend_for(row.recipe).resume_refusal(run, status) is None:
        return f"ftwizard run --resume {row.run_dir}"
    return f"ftwizard run {run.recipe_path}"


def _read_costs(row: RunRow, recipe, cost: dict, status: dict, summary: dict, hosted: bool) -> None:
    """Training cost (actual where run, estimated where not) and the GPU and its price (ftwizard.pricing)."""
    from ftwizard.pricing import gpu_price, hosted_training_cost

    row.trained_tokens = status.get("trained_tokens") or cost.get("trained_tokens")
    if cost.get("training_usd") is not None:
        row.training_usd = float(cost["training_usd"])
        row.training_kind = cost.get("training_kind") or "actual"
        row.training_hours = cost.get("hours")
    elif hosted and row.trained_tokens:
        try:
            c = hosted_training_cost(_hosted_model(row), billed_tokens=int(row.trained_tokens))
        except UsageError:
            c = None
        if c is not None:
            row.training_usd, row.training_kind = c["usd"], "actual"
            row.notes.append(f"training cost from {c['detail']}")
    if row.training_usd is None:
        est = estimate_recipe_or_none(recipe)
        usd_, hours_, range_ = (None, None, None) if est is None else \
            (est.hosted_plan.usd, None, None) if hosted else (est.local.cost_usd, est.local.hours, est.local.cost_range_usd)
        if usd_ is not None:
            row.training_usd = float(usd_)
            row.training_kind = "estimated"
            row.training_hours = hours_
            if range_:
                row.training_usd_range = tuple(range_)
            row.notes.append("training cost estimated (no actual cost recorded)")
        else:
            row.notes.append("no training cost recorded and none could be estimated")

    if hosted:
        return
    row.gpu = cost.get("gpu") or summary.get("gpu") or (None if recipe.hardware.gpu == "auto" else recipe.hardware.gpu)
    if cost.get("price_per_hour"):
        row.price_per_hour = float(cost["price_per_hour"])
        row.price_source = cost.get("price_source") or "cost.json"
    elif row.gpu and row.gpu != "cpu":
        try:
            price = gpu_price(row.gpu, recipe=recipe)
        except UsageError:  # a card the catalog does not know: serving stays blank, with a note
            row.notes.append(f"{row.gpu} is not in the GPU catalog: its price is unknown")
        else:
            row.price_per_hour, row.price_source = price["price_per_hour"], price["price_source"]


def _hosted_model(row: RunRow):
    from ftwizard.catalog import get_hosted_model

    return get_hosted_model(row.base_model, row.provider)


def loss_still_falling(points: list[tuple[float, float]]) -> bool:
    """True when the last tenth of the loss curve is still clearly (3%+) below the tenth before it."""
    if len(points) < 10:
        return False
    k = max(2, len(points) // 10)
    last = sum(p[1] for p in points[-k:]) / k
    before = sum(p[1] for p in points[-2 * k:-k]) / k
    return before > 0 and (before - last) / before > 0.03
