"""The wizard's doors into the engine. Each piece may not have landed in this version: then the call raises
`NotAvailable` with one line the screen shows, instead of the wizard crashing.

Nothing here imports torch: runs are launched detached (their own process) and followed through the run directory.
"""

from __future__ import annotations

import importlib
import os
import signal
from pathlib import Path
from typing import Any, Protocol

from ftwizard.errors import UsageError
from ftwizard.rundir import RunDirectory


class NotAvailable(Exception):
    """An engine piece this version does not have yet (the screen shows the message)."""


def _module(name: str, what: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (e.name == name or name.startswith(e.name + ".") or e.name.startswith(name)):
            raise NotAvailable(f"{what} is not available in this version yet") from None
        raise


def _attr(module: str, attr: str, what: str):
    mod = _module(module, what)
    fn = getattr(mod, attr, None)
    if fn is None:
        raise NotAvailable(f"{what} is not available in this version yet")
    return fn


# -- hardware and estimates ---------------------------------------------------------------------

def detect_hardware() -> dict[str, Any]:
    """{'gpus': [{'name', 'vram_total_gb', 'vram_free_gb'}], 'source': ...} from ftwizard.hardware."""
    mod = _module("ftwizard.hardware", "GPU detection")
    if hasattr(mod, "detect_gpus"):
        return {"gpus": list(mod.detect_gpus(allow_torch=False))}  # never torch in the wizard's process
    detect = getattr(mod, "detect", None)
    if detect is None:
        raise NotAvailable("GPU detection is not available in this version yet")
    info = detect()
    if hasattr(info, "to_dict"):
        info = info.to_dict()
    elif hasattr(info, "model_dump"):
        info = info.model_dump()
    elif not isinstance(info, dict):
        info = dict(getattr(info, "__dict__", {}))
    return info


def gpu_names() -> list[str]:
    """The catalog's GPU names (for suggestions); [] when the catalog has none yet."""
    try:
        cat = importlib.import_module("ftwizard.catalog")
    except ModuleNotFoundError:
        return []
    for fn_name in ("gpu_names", "gpus", "list_gpus"):
        fn = getattr(cat, fn_name, None)
        if fn is not None:
            try:
                items = fn()
            except Exception:  # noqa: BLE001 - suggestions are a nicety
                return []
            return [i if isinstance(i, str) else getattr(i, "name", str(i)) for i in items]
    return []


def gpu_price(name: str) -> float | None:
    try:
        get_gpu = getattr(importlib.import_module("ftwizard.catalog"), "get_gpu")
        gpu = get_gpu(name)
    except Exception:  # noqa: BLE001 - unknown GPU or no catalog yet: the user types a price
        return None
    for key in ("price_per_hour", "usd_per_hour", "price"):
        v = getattr(gpu, key, None) if not isinstance(gpu, dict) else gpu.get(key)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def candidate_models(recipe) -> list[str]:
    """Open models to compare: the recipe's own first, then the catalog's."""
    own = recipe.model.catalog_id or recipe.model.base
    out = [own]
    try:
        cat = importlib.import_module("ftwizard.catalog")
        for fn_name in ("open_models", "list_open_models"):
            fn = getattr(cat, fn_name, None)
            if fn is not None:
                for m in fn():
                    mid = m if isinstance(m, str) else getattr(m, "id", None) or getattr(m, "name", None)
                    if mid and mid not in out:
                        out.append(mid)
                break
    except Exception:  # noqa: BLE001
        pass
    return out


def estimate(recipe, **knobs: Any) -> dict[str, Any]:
    fn = _attr("ftwizard.estimate", "estimate_recipe", "the estimator")
    return fn(recipe, **{k: v for k, v in knobs.items() if v is not None})


def data_report(recipe) -> dict[str, Any]:
    fn = _attr("ftwizard.prepare", "data_report", "the data report")
    return fn(recipe)


# -- runs -----------------------------------------------------------------------------------------

class Launcher(Protocol):
    def preflight(self, recipe) -> None: ...
    def launch(self, recipe, runs_dir: Path) -> RunDirectory: ...
    def cancel(self, run: RunDirectory) -> None: ...


class BackendLauncher:
    """Launches through the real backends, always detached: the wizard only follows the run directory."""

    def preflight(self, recipe) -> None:
        self._backend(recipe.backend).preflight(recipe)

    def launch(self, recipe, runs_dir: Path) -> RunDirectory:
        backend = self._backend(recipe.backend)
        backend.preflight(recipe)
        run = RunDirectory.create(runs_dir, recipe.name, recipe.to_toml())
        code = backend.start(run, recipe, detach=True)
        if code not in (0, None):
            raise UsageError(f"{recipe.backend} run did not start (exit {code}); see {run.events_path}")
        return run

    def cancel(self, run: RunDirectory) -> None:
        backend_name = run.status().get("backend")
        if not backend_name:
            try:
                backend_name = run.recipe().backend
            except UsageError:
                backend_name = "local"
        try:
            backend = self._backend(backend_name)
        except NotAvailable:
            backend = None
        if backend is not None and hasattr(backend, "cancel"):
            backend.cancel(run)
            return
        terminate_worker(run)

    @staticmethod
    def _backend(name: str):
        from ftwizard.backends import get_backend

        try:
            return get_backend(name)
        except UsageError as e:
            if "not available" in str(e):
                raise NotAvailable(f"the `{name}` backend is not available in this version yet") from None
            raise


def terminate_worker(run: RunDirectory) -> bool:
    """SIGTERM the worker recorded in status.json (its process group when known). True if signalled."""
    st = run.status()
    pgid, pid = st.get("pgid"), st.get("pid")
    try:
        if pgid:
            os.killpg(int(pgid), signal.SIGTERM)
            return True
        if pid:
            os.kill(int(pid), signal.SIGTERM)
            return True
    except (ProcessLookupError, PermissionError):
        return False
    return False


# -- verdict and report ------------------------------------------------------------------------------

def build_verdict(run_dirs: list[Path], *, requests_per_month: int, private_data: bool, today=None):
    fn = _attr("ftwizard.verdict", "build_verdict", "the verdict")
    extra = {"today": today} if today is not None else {}
    return fn([Path(p) for p in run_dirs], requests_per_month=requests_per_month, private_data=private_data, **extra)


def export_report(verdict, run_dirs: list[Path], out_dir: Path) -> Path:
    """Writes the report with ftwizard.report; returns the main file's path."""
    mod = _module("ftwizard.report", "report export")
    for fn_name in ("write_report", "export_report", "export"):
        fn = getattr(mod, fn_name, None)
        if fn is not None:
            break
    else:
        raise NotAvailable("report export is not available in this version yet")
    result = fn(verdict, out_dir / "report.md")
    if isinstance(result, dict):
        result = result.get("report")
    return Path(result) if result else out_dir
