"""Defaults a user would choose for their own data: run name, held-out eval split, steps, warm-up, model fit,
and the warnings to show before launch when the settings cannot learn.

The engine of the wizard's own-data screen, `prepare` and the local preflight: one place for each default, so
every face proposes the same recipe. Light (no torch); the model fit calls the estimator (`ftwizard.estimate`).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ftwizard.plan.schedule import DEFAULT_WARMUP_RATIO, LocalSchedule, local_schedule, steps_for

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

# A held-out eval split when the recipe names none (data.eval = ""): a seeded 10%, at most 1,000 examples.
HOLDOUT_FRACTION = 0.10
HOLDOUT_MAX = 1000
HOLDOUT_MIN_TRAIN = 10  # fewer training rows than this: nothing is held out (and `prepare` says so)
# Custom data trains by epochs (train.max_steps = 0); warm-up as a share of the run.
DEFAULT_EPOCHS = 3.0
# LoRA learning rates people use: 1e-5 .. 1e-3 (QLoRA 2e-4, the seed 3e-4, tiny CPU demos 1e-3).
LR_USUAL = (1e-5, 2e-3)
LR_FAR_FACTOR = 10.0  # "far outside" = more than this factor beyond the usual range
# Own-data batches: examples per optimizer step between these, sized so a run makes at least MIN_STEPS steps.
MIN_BATCH, MAX_BATCH, MIN_STEPS, DEFAULT_MICRO_BATCH = 8, 128, 40, 8
FEW_STEPS = 10  # fewer optimizer steps than this: warned before launch
# Own data trains like the bundled tickets demo, the own-data run measured to learn here (recipes/
# tickets-cpu-demo.toml, README: SmolLM2-135M-Instruct, 240 tickets, one epoch, 96.7% held-out accuracy against
# 0% untuned): LoRA rank 16 (alpha 32) on every linear layer at lr 1e-3. The schema's generic defaults (rank 8 on
# the attention projections at 3e-4) are the seed tasks', far weaker for a small data set.
OWN_DATA_LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": ["all-linear"]}
OWN_DATA_LR = 1e-3
# Models past this size take QLoRA's rate for 7B-13B models (Dettmers et al. 2023, 2e-4): 1e-3 was measured on
# 135M parameters only, and larger models are known to diverge at rates that suit small ones.
OWN_DATA_LR_LARGE, LARGE_MODEL_PARAMS = 2e-4, 3e9
# A classification answer set (`evaluation.custom_metrics.detect_metric` says "choice"): generation stops after
# the longest label's tokens plus this margin (a leading space or newline, closing punctuation, the estimate's
# error when the model's tokenizer is not on this machine), instead of 256 new tokens per answer.
LABEL_TOKEN_MARGIN = 8


def run_name_from_data(path: str | Path) -> str:
    """A run name from the data file: `support_tickets.train.jsonl` -> `support_tickets`."""
    stem = Path(str(path)).name
    for suffix in (".jsonl", ".ndjson", ".json", ".csv", ".tsv"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = re.sub(r"[._-](train|training|data)$", "", stem, flags=re.IGNORECASE) or stem
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    if not name or not name[0].isalnum():
        name = "my-data" + (f"-{name}" if name else "")
    return name[:80]


def holdout_size(n_rows: int, *, fraction: float = HOLDOUT_FRACTION, max_eval: int = HOLDOUT_MAX) -> int:
    """How many rows a held-out eval split takes from `n_rows` (0 when too few to spare any)."""
    if n_rows < HOLDOUT_MIN_TRAIN:
        return 0
    return max(1, min(max_eval, int(round(n_rows * fraction))))


def holdout_indices(n_rows: int, *, seed: int, fraction: float = HOLDOUT_FRACTION,
                    max_eval: int = HOLDOUT_MAX) -> tuple[list[int], list[int]]:
    """(train indices, eval indices): a seeded random sample held out, both in the file's order, disjoint."""
    k = holdout_size(n_rows, fraction=fraction, max_eval=max_eval)
    held = set(random.Random(seed).sample(range(n_rows), k)) if k else set()
    return [i for i in range(n_rows) if i not in held], sorted(held)


def holdout_split(rows: Sequence[Any], *, seed: int, fraction: float = HOLDOUT_FRACTION,
                  max_eval: int = HOLDOUT_MAX) -> tuple[list[Any], list[Any]]:
    """(train rows, eval rows) of one file: the eval rows are never training rows."""
    tr, ev = holdout_indices(len(rows), seed=seed, fraction=fraction, max_eval=max_eval)
    return [rows[i] for i in tr], [rows[i] for i in ev]


def batch_for(n_train: int, *, epochs: float = DEFAULT_EPOCHS, micro_batch_size: int = DEFAULT_MICRO_BATCH
              ) -> tuple[int, int]:
    """(micro_batch_size, grad_accum) for own data: the largest power-of-two batch, from 8 up to the seed's 128
    examples per step, that still gives the run at least MIN_STEPS optimizer steps. A few hundred rows at 128 per
    step would train for a handful of steps (108 rows x 3 epochs = 3 steps) and barely move the adapter."""
    passes = max(1, int(n_train * epochs))
    target = max(MIN_BATCH, min(MAX_BATCH, passes // MIN_STEPS))
    batch = 1 << (target.bit_length() - 1)  # a power of two, <= target
    micro = min(micro_batch_size, batch)
    return micro, max(1, batch // micro)


def learning_warnings(recipe: "Recipe", *, n_train: int, answer_cut_fraction: float | None = None,
                      world: int = 1) -> list[str]:
    """Settings that cannot learn, each as one sentence with the key to change (warnings, never errors)."""
    t = recipe.train
    out: list[str] = []
    per_step = max(1, t.micro_batch_size * t.grad_accum * max(1, world))
    if t.warmup_steps > 0 and t.max_steps > 0 and t.warmup_steps >= t.max_steps:
        out.append(f"train.warmup_steps = {t.warmup_steps} is not shorter than train.max_steps = {t.max_steps}: "
                   "the learning rate never reaches its peak; use train.warmup_ratio (e.g. 0.05) instead")
    elif t.warmup_steps > 0 and t.max_steps == 0:
        steps = steps_for(n_train, epochs=t.epochs, micro_batch_size=t.micro_batch_size, grad_accum=t.grad_accum,
                          world=world)
        if t.warmup_steps >= steps:
            out.append(f"train.warmup_steps = {t.warmup_steps} is not shorter than the run ({steps} steps from "
                       f"{t.epochs:g} epochs of {n_train:,} examples); use train.warmup_ratio instead")
    run_steps = t.max_steps or steps_for(n_train, epochs=t.epochs, micro_batch_size=t.micro_batch_size,
                                         grad_accum=t.grad_accum, world=world)
    if n_train and run_steps < FEW_STEPS:
        out.append(f"the run makes only {run_steps} optimizer step(s) ({per_step} examples per step over "
                   f"{n_train:,} examples): too few to learn; lower train.grad_accum or train.micro_batch_size")
    lo, hi = LR_USUAL
    if t.lr < lo / LR_FAR_FACTOR or t.lr > hi * LR_FAR_FACTOR:
        out.append(f"train.lr = {t.lr:g} is far outside the usual LoRA range ({lo:g} to {hi:g}): "
                   + ("the adapter will barely move" if t.lr < lo else "training will likely diverge"))
    if t.max_steps > 0 and n_train:
        passes = t.max_steps * per_step / n_train
        if passes > 30:
            out.append(f"train.max_steps = {t.max_steps} makes {passes:.0f} passes over {n_train:,} examples: it will "
                       f"memorize them; set train.max_steps = 0 and train.epochs (e.g. {DEFAULT_EPOCHS:g})")
    if answer_cut_fraction is not None and answer_cut_fraction > 0.5:
        out.append(f"train.max_length = {t.max_length} cuts the answer off {answer_cut_fraction:.0%} of training "
                   "examples: raise train.max_length")
    return out


def own_data_lr(model: str | None) -> float:
    """The own-data learning rate for `model` (OWN_DATA_LR; OWN_DATA_LR_LARGE past LARGE_MODEL_PARAMS, by the
    catalog's parameter count; a model the catalog does not know gets OWN_DATA_LR)."""
    if not model:
        return OWN_DATA_LR
    from ftwizard.catalog import get_open_model
    from ftwizard.errors import UsageError

    try:
        params = get_open_model(model, allow_hub=False).params
    except UsageError:
        return OWN_DATA_LR
    return OWN_DATA_LR_LARGE if params > LARGE_MODEL_PARAMS else OWN_DATA_LR


def own_data_recipe(train_path: str | Path, *, eval_path: str | Path | None = None, model: str | None = None,
                    gguf_file: str = "", data_format: str = "auto", n_rows: int | None = None,
                    **train: Any) -> dict[str, Any]:
    """The recipe (a dict for `validate_dict`) the own-data path proposes for a data file: named after it, the
    format detected, an eval split held out unless one is given, epochs instead of fixed steps, warm-up by ratio,
    a batch sized to the data (`batch_for`), the LoRA and learning rate that learned on the tickets demo
    (OWN_DATA_LORA, `own_data_lr`), the untuned model scored beside the fine-tuned one (eval.baseline), and for a
    classification answer set the choice metric with short generations (`own_data_eval`). `n_rows` is the
    file's row count (read from it when not given)."""
    if n_rows is None:
        from ftwizard.datasource import read_records

        n_rows = len(read_records(Path(train_path).expanduser()))
    n_train = n_rows if eval_path else n_rows - holdout_size(n_rows)
    micro, accum = batch_for(n_train, epochs=float(train.get("epochs", DEFAULT_EPOCHS)))
    train = {"micro_batch_size": micro, "grad_accum": accum, "lr": own_data_lr(model), **train}
    d: dict[str, Any] = {
        "name": run_name_from_data(train_path),
        "task": "custom",
        "backend": "local",
        "data": {"source": "files", "format": data_format, "train": str(train_path),
                 "eval": str(eval_path) if eval_path else ""},
        "lora": dict(OWN_DATA_LORA),
        "train": {"max_steps": 0, "epochs": DEFAULT_EPOCHS, "warmup_steps": 0,
                  "warmup_ratio": DEFAULT_WARMUP_RATIO, **train},
        "eval": {"baseline": True},
    }
    if model:
        d["model"] = {"base": model}
        if gguf_file:
            d["model"]["gguf_file"] = gguf_file
    d["eval"].update(own_data_eval(d))
    return d


def hosted_side(recipe: "Recipe", as_of=None) -> tuple["Recipe", str]:
    """The hosted fine-tune a local recipe is weighed against (estimates, the data report, the wizard): the
    recipe's own `[hosted]` when it names one that takes jobs on `as_of` (default `settings.as_of()`), else
    `catalog.default_hosted` for its open model - the provider that trains the same open weights first, OpenAI
    last. A recipe without a `[hosted]` section, or one naming a model since closed (the seed's gpt-3.5-turbo),
    gets the default, with a note saying so. A hosted recipe is what it says (its preflight judges it)."""
    from ftwizard.catalog import default_hosted, get_hosted_model
    from ftwizard.errors import UsageError
    from ftwizard.recipe import HostedSection

    if recipe.backend != "local":
        return recipe, ""
    if as_of is None:
        from ftwizard import settings

        as_of = settings.as_of()
    why = ""
    if recipe.hosted == HostedSection():
        why = "the recipe names no hosted fine-tune"
    else:
        try:
            closed = get_hosted_model(recipe.hosted.model, recipe.hosted.provider).training_closed_reason(as_of)
        except UsageError:
            closed = None  # a model the catalog does not know: the recipe's choice, priced as unknown
        if closed is None:
            return recipe, ""
        why = closed
    c = default_hosted(recipe.model.catalog_id or recipe.model.base, as_of)
    if c is None:
        return recipe, ""
    note = f"{why}: weighed against {c['provider']} {c['model']} (set [hosted] provider and model for another)"
    return recipe.with_updates({"hosted.provider": c["provider"], "hosted.model": c["model"]}), note


def own_data_eval(d: dict[str, Any]) -> dict[str, Any]:
    """Evaluation settings read from the training answers of an own-data recipe dict: a classification answer
    set (`detect_metric` says choice, and no answer carries a reasoning block) gets eval.metric = "choice" and
    eval.max_new_tokens = the longest label's tokens + LABEL_TOKEN_MARGIN (the model's tokenizer when it is on
    this machine, else the estimate `prepare` uses); anything else keeps the schema's defaults. {} when the answers
    cannot be read yet (field rows before their template is chosen)."""
    from ftwizard.errors import UsageError
    from ftwizard.evaluation.custom_metrics import detect_metric
    from ftwizard.recipe import validate_dict
    from ftwizard.tasks import get_task

    try:
        recipe = validate_dict(d)
        task = get_task("custom")
        templates = task.templates(recipe)
        rows = task.load_split(recipe, "train", check_templates=False).rows
        refs = [templates.answer(r) for r in rows]
    except (UsageError, KeyError):
        return {}
    if templates.is_chat:
        from ftwizard.chatmask import has_reasoning

        if any(has_reasoning(r["messages"]) for r in rows):
            return {}  # the model writes its reasoning first: no short generations
    if detect_metric(refs)[0] != "choice":
        return {}
    labels = sorted({r.strip() for r in refs})
    return {"metric": "choice", "max_new_tokens": max(label_token_counts(recipe, labels)) + LABEL_TOKEN_MARGIN}


def label_token_counts(recipe: "Recipe", labels: list[str]) -> list[int]:
    """Tokens of each label on the recipe's model (exact with its tokenizer.json here, else estimated: the one
    local-length rule of `prepare`)."""
    from ftwizard.prepare import LocalLengths

    return LocalLengths(recipe).lengths([{} for _ in labels], labels, None)


def preflight_warnings(recipe: "Recipe") -> list[str]:
    """`learning_warnings` for a local recipe before launch (the training split's size read from the data;
    the answer-cut share needs the tokenizer, so `prepare` and the worker report that one), after the chat rows
    the model's template cannot train (`ftwizard.chatmask.unlearnable_rows`: which rows, and why)."""
    if recipe.backend != "local":
        return []
    from ftwizard.tasks import get_task

    n_train = len(get_task(recipe.task).load_split(recipe, "train"))
    from ftwizard.chatmask import unlearnable_rows

    checked = unlearnable_rows(recipe)  # chat rows the model's template cannot train (all of them: a refusal)
    dropped = checked[2] if checked and 0 < checked[1] < checked[0] else []
    return dropped + learning_warnings(recipe, n_train=n_train - (checked[1] if dropped else 0),
                                       world=recipe.hardware.nproc)


# The schedule's one home is `ftwizard.plan.schedule`; these names stay for callers that knew them here.
Schedule = LocalSchedule
train_schedule = local_schedule
