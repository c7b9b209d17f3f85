"""Helpers that WRITE realistic run directories, as `ftwizard run` and `ftwizard import-openai-job` leave them.

Every file follows docs/ARCHITECTURE.md: recipe.toml (the fully resolved recipe), status.json, events.jsonl,
metrics.json, predictions.jsonl (per-example verdicts paired by `index`), cost.json, train_summary.json (local).
The eval examples are the task's real eval split (references and inputs come from the bundled data), so two runs
of one task are paired on the same examples, exactly as real evaluations are.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from ftwizard.fsutil import atomic_write_json, atomic_write_text
from ftwizard.recipe import load_recipe, parse_recipe
from ftwizard.runs.directory import RunDirectory

RECIPES = Path(__file__).resolve().parent.parent / "ftwizard" / "recipes"
T0 = 1_695_000_000.0  # 2023-09-18, the seed's time; only differences of timestamps matter


def paired_outcomes(n: int, *, both: int, a_only: int, b_only: int, seed: int = 0) -> tuple[list[bool], list[bool]]:
    """Per-example right/wrong for two runs on the same n examples, with the given concordant/discordant counts."""
    neither = n - both - a_only - b_only
    if neither < 0:
        raise ValueError("counts exceed n")
    pairs = [(True, True)] * both + [(True, False)] * a_only + [(False, True)] * b_only + [(False, False)] * neither
    random.Random(seed).shuffle(pairs)
    return [p[0] for p in pairs], [p[1] for p in pairs]


def outcomes(n: int, correct: int, seed: int = 0) -> list[bool]:
    v = [True] * correct + [False] * (n - correct)
    random.Random(seed).shuffle(v)
    return v


def _wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def _prop(values: list) -> dict:
    n = len(values)
    if values and not isinstance(values[0], bool):  # a per-example number (slot F1): mean and normal interval
        mean = sum(values) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in values) / max(1, n - 1))
        half = 1.96 * sd / math.sqrt(n)
        return {"n": n, "value": mean, "ci_low": max(0.0, mean - half), "ci_high": min(1.0, mean + half)}
    k = sum(values)
    lo, hi = _wilson(k, n)
    return {"n": n, "value": k / n if n else 0.0, "ci_low": lo, "ci_high": hi}


def task_verdicts(task: str, main: list[bool]) -> dict[str, list]:
    """All of a task's metrics per example, derived from the deciding one (others in a plausible relation)."""
    if task == "sql":
        normalized = [v and i % 9 != 0 for i, v in enumerate(main)]
        exact = [v and i % 4 != 0 for i, v in enumerate(normalized)]
        return {"exact_match": exact, "normalized_match": normalized, "execution_match": list(main)}
    if task == "viggo":
        return {"meaning_match": list(main), "exact_match": list(main),
                "function_match": [v or i % 5 != 0 for i, v in enumerate(main)],
                "attribute_set_match": [v or i % 3 == 0 for i, v in enumerate(main)],
                "slot_f1": [1.0 if v else (0.5 if i % 2 else 0.75) for i, v in enumerate(main)]}
    return {"exact_match": list(main)}


def _eval_examples(recipe, n: int) -> list[tuple[str, str]]:
    """(input, reference) of the first n eval examples of the recipe's task: the real data."""
    from ftwizard.tasks import get_task

    task = get_task(recipe.task)
    rows = task.load_split(recipe, "eval").rows[:n]
    tpl = task.templates(recipe)
    out = [(tpl.render_prompt(r)[-200:], task.reference(r, recipe)) for r in rows]
    if len(out) < n:
        raise ValueError(f"the eval split has only {len(out)} examples, asked for {n}")
    return out


def loss_curve(steps: int, *, start: float = 2.2, end: float = 0.35, still_falling: bool = False,
               every: int = 1) -> list[tuple[int, float]]:
    """A realistic training loss: fast drop then plateau (or still falling at the end)."""
    out = []
    for s in range(every, steps + 1, every):
        x = s / steps
        if still_falling:
            loss = start - (start - end) * x
        else:
            loss = end + (start - end) * math.exp(-6 * x)
        out.append((s, round(loss + 0.02 * math.sin(s), 4)))
    return out


def write_run(root: str | Path, recipe_name: str, *, name: str | None = None, overrides: dict | None = None,
              recipe_text: str | None = None, verdicts: list[bool] | None = None,
              baseline_verdicts: list[bool] | None = None, training_usd: float | None = None,
              training_kind: str = "actual", hours: float | None = None, wall_s: float = 3600.0,
              gpu: str | None = None, price_per_hour: float | None = None, trained_tokens: int | None = None,
              steps: int = 400, loss_still_falling: bool = False, prompt_tokens: int = 180,
              completion_tokens: int = 30, imported: bool = False, state: str = "succeeded",
              write_cost: bool = True, fine_tuned_model: str | None = None, provider: str | None = None,
              eval_usd: float = 0.0) -> RunDirectory:
    """Write one finished run directory. `recipe_name` is a bundled recipe (e.g. 'sql-gpt35'), `overrides` are
    dotted recipe keys. `verdicts` (the deciding metric per eval example) makes it an evaluated run."""
    if recipe_text is not None:
        recipe = parse_recipe(recipe_text)
    else:
        recipe = load_recipe(RECIPES / f"{recipe_name}.toml")
    if overrides:
        recipe = recipe.with_updates(overrides)
    run = RunDirectory.create(root, name or recipe.name, recipe.to_toml(header="the fully resolved recipe"))
    hosted = recipe.backend == "hosted"
    started, finished = T0, T0 + wall_s

    # events.jsonl, as the workers append it
    t = started
    run.append_event("status", state="running", t=t)
    # hosted jobs start lower (an instruction-tuned base) and log every step; local runs log every few
    curve = loss_curve(steps, still_falling=loss_still_falling, every=max(1, steps // 100),
                       start=1.6 if hosted else 2.2, end=0.22 if hosted else 0.35)
    for step, loss in curve:
        t = started + wall_s * step / steps * 0.9
        fields: dict[str, Any] = {"step": step, "max_steps": steps, "loss": loss, "t": t}
        if hosted:
            fields["train_mean_token_accuracy"] = round(1 - loss / 3, 3)
        else:
            fields.update(lr=3e-4, tokens_per_s=1500.0, gpu_mem_gb=41.2, elapsed_s=t - started)
        if step % max(1, steps // 10) == 0:
            fields["eval_loss"] = round(loss + 0.05, 4)
        run.append_event("metric", **fields)

    status: dict[str, Any] = {"state": state, "backend": recipe.backend, "created_at": started - 5,
                              "started_at": started, "finished_at": finished, "updated_at": finished}
    if hosted:
        ft = fine_tuned_model or f"ft:{recipe.hosted.model}:acme:{recipe.hosted.suffix or 'run'}:9xQ2abcd"
        status.update(provider=provider or recipe.hosted.provider, job_id="ftjob-abc123",
                      training_file_id="file-train1", validation_file_id="file-valid1",
                      job_status="succeeded" if state == "succeeded" else state,
                      fine_tuned_model=ft if state == "succeeded" else None, trained_tokens=trained_tokens)
        if imported:
            status["imported"] = True
    else:
        status.update(pid=12345, pgid=12345, host="gpu-box", total_steps=steps, step=steps)
    run.write_status(status)

    if not hosted and state == "succeeded":
        atomic_write_json(run.path / "train_summary.json", {
            "gpu": gpu, "gpu_count": 1, "model": recipe.model.base, "quant": recipe.model.quant,
            "peak_mem_gib": 41.2, "train_tokens_per_s": 1500.0, "mfu": 0.31, "train_tokens": steps * 128 * 180,
            "steps": steps,
            "wall_s": wall_s, "estimate": {"vram_gb": 42.0, "hours": wall_s / 3600, "tokens_per_s": 1400.0}})

    if write_cost and training_usd is not None:
        cost: dict[str, Any] = {"training_usd": training_usd, "training_kind": training_kind, "eval_usd": eval_usd}
        if hosted:
            from ftwizard.catalog import get_hosted_model

            hm = get_hosted_model(recipe.hosted.model)
            cost.update(trained_tokens=trained_tokens, price_source=hm.price_source, price_date=hm.price_date)
        else:
            cost.update(hours=hours if hours is not None else wall_s / 3600, gpu=gpu,
                        price_per_hour=price_per_hour, price_source="recipe hardware.price_per_hour",
                        price_date="2023-09")
        atomic_write_json(run.cost_path, cost)

    if verdicts is not None:
        n = len(verdicts)
        examples = _eval_examples(recipe, n)
        per_metric = task_verdicts(recipe.task, verdicts)
        model_name = status.get("fine_tuned_model") or recipe.model.base
        _write_predictions(run.predictions_path, examples, per_metric, prompt_tokens, completion_tokens)
        run.append_event("eval", phase="start", done=0, total=n, which="finetuned", t=finished + 1)
        metrics = {"task": recipe.task, "n": n, "metrics": {k: _prop(v) for k, v in per_metric.items()},
                   "model": model_name, "backend": recipe.backend, "evaluated_at": finished + 60}
        if baseline_verdicts is not None:
            base_metric = task_verdicts(recipe.task, baseline_verdicts)
            _write_predictions(run.path / "predictions_baseline.jsonl", examples, base_metric, prompt_tokens,
                               completion_tokens)
            metrics["baseline"] = {k: _prop(v) for k, v in base_metric.items()}
        atomic_write_json(run.metrics_path, metrics)
        run.append_event("eval", phase="done", done=n, total=n, which="finetuned", t=finished + 60,
                         **{k: v["value"] for k, v in metrics["metrics"].items()})
    if training_usd is not None:
        run.append_event("cost", usd=training_usd, kind=training_kind, what="training", t=finished + 61)
    run.append_event("status", state=state, t=finished + 62)
    return run


def _write_predictions(path: Path, examples, per_metric: dict[str, list], prompt_tokens: int,
                       completion_tokens: int) -> None:
    lines = []
    for i, (inp, ref) in enumerate(examples):
        v = {k: vals[i] for k, vals in per_metric.items()}
        first = next(iter(v.values()))
        pred = ref if first is True else ref + " -- wrong"
        lines.append(json.dumps({"index": i, "input": inp, "raw": pred, "prediction": pred, "reference": ref,
                                 "verdicts": v, "latency_s": 0.4, "prompt_tokens": prompt_tokens + i % 7,
                                 "completion_tokens": completion_tokens + i % 3}))
    atomic_write_text(path, "\n".join(lines) + "\n")


# --- the seed's own runs (DESIGN.md): hosted slightly better, 4-6x more expensive to train -------------------

def seed_sql_pair(root: str | Path) -> tuple[RunDirectory, RunDirectory]:
    """gpt-3.5-turbo vs Code Llama 34B LoRA on the 568 SQL eval examples: $11.99 vs $3.32 (A40, 6.99 h at $0.475).

    Execution match 82.0% (466) vs 79.9% (454): 40 examples right only hosted, 28 only local.
    """
    h, l = paired_outcomes(568, both=426, a_only=40, b_only=28, seed=1)
    hosted = write_run(root, "sql-gpt35", verdicts=h, training_usd=11.99, trained_tokens=3 * 499_652,
                       wall_s=2.1 * 3600, prompt_tokens=160, completion_tokens=28)
    local = write_run(root, "sql-codellama34b-lora", verdicts=l, training_usd=3.32, hours=6.99, wall_s=6.99 * 3600,
                      gpu="A40", price_per_hour=0.475, prompt_tokens=190, completion_tokens=32)
    return hosted, local


def seed_viggo_pair(root: str | Path) -> tuple[RunDirectory, RunDirectory]:
    """gpt-3.5-turbo vs Code Llama 34B LoRA on the 1,083 ViGGO test examples: $26.05 vs $4.27 (A40, 9 h).

    Exact match 78.0% (845) vs 76.5% (829): 55 right only hosted, 39 only local.
    """
    h, l = paired_outcomes(1083, both=790, a_only=55, b_only=39, seed=2)
    hosted = write_run(root, "viggo-gpt35", verdicts=h, training_usd=26.05, trained_tokens=3 * 1_085_690,
                       wall_s=3.0 * 3600, prompt_tokens=120, completion_tokens=25)
    local = write_run(root, "viggo-codellama34b-lora", verdicts=l, training_usd=4.27, hours=9.0, wall_s=9 * 3600,
                      gpu="A40", price_per_hour=0.475, prompt_tokens=140, completion_tokens=30)
    return hosted, local


# --- a migrated OpenAI job (`ftwizard import-openai-job`) and the local LoRA run of its recipe --------------

IMPORTED_RECIPE = """\
# ftwizard run {dir}/recipe.toml
name = "{name}"
description = "imported from OpenAI fine-tuning job ftjob-imp42"
task = "custom"
backend = "{backend}"

[data]
source = "files"
train = "{dir}/train.jsonl"
eval = "{dir}/eval.jsonl"

[prompt]
template = "{{system}}\\n\\n### Input:\\n{{user}}\\n\\n### Response:\\n{{assistant}}"
answer_field = "assistant"
system = "{{system}}"
user = "{{user}}"
assistant = "{{assistant}}"

[model]
base = "Qwen/Qwen2.5-7B-Instruct"

[lora]
target_modules = ["all-linear"]

[train]
max_steps = 300
loss_on = "answer"

[hardware]
gpu = "L4"
price_per_hour = 0.44

[hosted]
model = "gpt-4o-mini-2024-07-18"
suffix = "invoices"
"""


def write_chat_data(folder: str | Path, n_train: int = 40, n_eval: int = 50) -> None:
    """Flattened chat examples (system/user/assistant fields), as the importer writes them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for split, n in (("train", n_train), ("eval", n_eval)):
        lines = []
        for i in range(n):
            amount = rng.randrange(10, 5000)
            vendor = rng.choice(["Acme", "Globex", "Initech", "Umbrella", "Hooli"])
            lines.append(json.dumps({"system": "Extract the vendor and amount as JSON.",
                                     "user": f"Invoice #{i} from {vendor}: total due {amount} EUR.",
                                     "assistant": json.dumps({"vendor": vendor, "amount": amount})}))
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def imported_pair(root: str | Path, *, hosted_right: int, local_right: int, both: int,
                  n: int = 50) -> tuple[RunDirectory, RunDirectory]:
    """An imported gpt-4o-mini job (state succeeded, `imported: true`, cost from trained tokens, no cost.json
    training figure of its own) and a local Qwen2.5-7B LoRA run of the recipe the import wrote."""
    root = Path(root)
    data = root / "imported-data"
    write_chat_data(data, n_eval=n)
    h, l = paired_outcomes(n, both=both, a_only=hosted_right - both, b_only=local_right - both, seed=3)
    hosted = write_run(root, "", recipe_text=IMPORTED_RECIPE.format(dir=data, name="invoices-gpt4omini",
                                                                    backend="hosted"),
                       verdicts=h, imported=True, trained_tokens=412_000, training_usd=None, steps=120,
                       fine_tuned_model="ft:gpt-4o-mini-2024-07-18:acme:invoices:Bx7", prompt_tokens=60,
                       completion_tokens=14)
    local = write_run(root, "", recipe_text=IMPORTED_RECIPE.format(dir=data, name="invoices-qwen7b", backend="local"),
                      verdicts=l, training_usd=0.51, hours=1.16, wall_s=1.16 * 3600, gpu="L4", price_per_hour=0.44,
                      steps=300, prompt_tokens=70, completion_tokens=16)
    return hosted, local
