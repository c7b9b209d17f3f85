"""The wizard's doors into the engine: GPU detection, estimates, data reports, the backends (preflight, launch,
cancel), the verdict and its report. Each is one call into the module that owns it.

Nothing here imports torch: runs are launched detached (their own process) and followed through the run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ftwizard.runs.directory import RunDirectory

# -- hardware and estimates ---------------------------------------------------------------------


def detect_hardware() -> dict[str, Any]:
    """{'gpus': [{'name', 'vram_total_gb', 'vram_free_gb', ...}]}; never torch in the wizard's process."""
    from ftwizard.hardware import detect_gpus

    return {"gpus": list(detect_gpus(allow_torch=False))}


def gpu_names() -> list[str]:
    from ftwizard.catalog import gpu_names

    return gpu_names()


def candidate_models(recipe) -> list:
    """Open models to compare (`ftwizard.localmodels.ModelSource`): the recipe's own, then every model that can
    train here (installed packages, model folders, the HF cache, hub ids when the hub answers)."""
    from ftwizard.localmodels import ModelSource, available_models

    m = recipe.model
    own = ModelSource(base=m.base, where="recipe", gguf_file=m.gguf_file, catalog_id=m.catalog_id)
    key = (m.catalog_id or m.base).lower()
    return [own] + [s for s in available_models() if (s.catalog_id or s.base).lower() != key]


def card_for(gpus: list[dict]) -> str | None:
    """The catalog card a recipe that names none is estimated on, for the GPUs found (the CPU when none)."""
    from ftwizard.usecases.own_data import card_for

    return card_for(gpus)


def own_data_inputs(form: dict[str, str]):
    """The own-data form as `usecases.own_data.OwnData` (a UsageError lists the fields that cannot be read)."""
    from ftwizard.usecases.own_data import own_data_from_form

    return own_data_from_form(form)


def own_data_recipe(form: dict[str, str], gpu: str):
    """The recipe proposed for the own-data form on `gpu` (`usecases.own_data.propose`, as `ftwizard recipes
    --from-data` proposes it)."""
    from ftwizard.usecases.own_data import propose

    return propose(own_data_inputs(form), gpu)


def own_data_on_card(recipe, data, gpu: str):
    """`recipe` with what `gpu` decides in the own-data proposal (model, quantization, learning rate, labels)."""
    from ftwizard.usecases.own_data import follow_card

    return follow_card(recipe, data, gpu)


def estimate(recipe, **knobs: Any):
    """`estimate.estimate_recipe`: an `Estimate` (its `local` a `LocalEstimate` the Hardware step caches)."""
    from ftwizard.estimate import estimate_recipe

    return estimate_recipe(recipe, **{k: v for k, v in knobs.items() if v is not None})


def reprice_local(local, recipe, price_per_hour: float | None):
    """A cached `LocalEstimate` at the price now asked (the same hours; no new estimate)."""
    from ftwizard.plan.price import Price
    from ftwizard.pricing import gpu_price

    return local.repriced(Price.from_dict(gpu_price(local.gpu, flag=price_per_hour, recipe=recipe)))

def hosted_counts(recipe, provider: str, model: str) -> dict[str, Any]:
    """What a hosted candidate bills per epoch of the recipe's data, counted in its own encoding (the estimate's
    token statistics, cached on disk): the part of its cost that knobs do not change."""
    from ftwizard.catalog import get_hosted_model
    from ftwizard.estimate import local_tokenizer_file, token_stats

    hm = get_hosted_model(model, provider)
    stats = token_stats(recipe, hm, tokenizer_file=local_tokenizer_file(recipe.model.base))
    return {"provider": provider, "model": model, "examples": stats["n_train"],
            "billed_tokens_per_epoch": stats["hosted"]["billed_tokens_per_epoch"]}


def hosted_cost(counts: dict[str, Any], recipe, epochs: float | None) -> dict[str, Any]:
    """A hosted candidate's figures at the epochs now asked: the plan of its billed tokens per epoch
    (`ftwizard.plan.hosted`, the rule the estimate and the jobs use)."""
    from ftwizard.catalog import get_hosted_model
    from ftwizard.plan.hosted import hosted_plan

    plan = hosted_plan(counts["provider"], counts["model"], get_hosted_model(counts["model"], counts["provider"]),
                       examples=counts["examples"], billed_tokens_per_epoch=counts["billed_tokens_per_epoch"],
                       setting=recipe.hosted.epochs, override=epochs)
    return {**counts, **plan.as_dict(), "cost_usd": None if plan.usd is None else round(plan.usd, 2)}


def data_report(recipe) -> dict[str, Any]:
    from ftwizard.prepare import data_report

    return data_report(recipe)


# -- runs -----------------------------------------------------------------------------------------

class Launcher(Protocol):
    """What the Train step calls (the tests give it a fake trainer)."""

    def preflight(self, recipe) -> None: ...
    def launch(self, recipe, runs_dir: Path) -> RunDirectory: ...
    def cancel(self, run: RunDirectory) -> None: ...


class BackendLauncher:
    """Launches through the real backends (`ftwizard.backends.backend_for`): the worker is its own process; the
    wizard only follows the run directory."""

    def preflight(self, recipe) -> None:
        from ftwizard.backends import backend_for

        backend_for(recipe).preflight(recipe)

    def launch(self, recipe, runs_dir: Path) -> RunDirectory:
        """The Train step ran `preflight` before it asked; this creates the run directory and starts the worker."""
        from ftwizard.usecases.start_run import launch_run

        return launch_run(recipe, runs_dir)

    def cancel(self, run: RunDirectory) -> None:
        from ftwizard.backends import backend_for_run

        backend_for_run(run).cancel(run)


def failure_of(run: RunDirectory, progress, *, gone: bool = False):
    """The failure a followed run is in, from the one table (`ftwizard.runs.failures`), with its next action."""
    from ftwizard.usecases.failures import failure_of

    return failure_of(run, progress, gone=gone)


def worker_gone(run: RunDirectory, status: dict) -> bool:
    from ftwizard.usecases.failures import worker_gone

    return worker_gone(run, status)


def check_run(recipe, launcher: Launcher) -> list[str]:
    """`ftwizard run`'s checks through the wizard's launcher: its preflight (UsageError when it refuses), then
    the warnings to show before launch."""
    from ftwizard.usecases.start_run import check_run

    return list(check_run(recipe, preflight=launcher.preflight).warnings)


# -- verdict and report ------------------------------------------------------------------------------

def build_verdict(run_dirs: list[Path], *, requests_per_month: int, private_data: bool, today=None):
    from ftwizard.verdict import build_verdict

    return build_verdict([Path(p) for p in run_dirs], requests_per_month=requests_per_month,
                         private_data=private_data, today=today)


def verdict_rich(verdict):
    """The verdict as the wizard's last screen shows it (the rich face of `ftwizard compare`)."""
    from ftwizard.verdict.render import to_rich

    return to_rich(verdict)


def export_report(verdict, out_dir: Path) -> Path:
    """Writes report.md and its pictures into `out_dir`; returns report.md's path."""
    from ftwizard.report import write_report

    return Path(write_report(verdict, out_dir / "report.md")["report"])
