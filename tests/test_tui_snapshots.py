"""Snapshots of each static wizard step at 80x24 and 120x40 (pytest-textual-snapshot).

Regenerate after an intended change: pytest tests/test_tui_snapshots.py --snapshot-update
Everything time-dependent is pinned: no GPU detection (a fixed 'none found'), a fixed theme, runs in fixed
folders, the data report and estimates awaited before the picture is taken."""

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
    await pilot.pause(0.3)


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def task_ready(app) -> bool:
    return (type(app.screen).__name__ == "TaskScreen" and app.screen.query_one("#preview").row_count > 0
            and app.screen.query_one("#recipe-name").value != "")


def hardware_ready(app) -> bool:
    return (type(app.screen).__name__ == "HardwareScreen" and app.screen.query_one("#local-table").row_count > 0
            and app.screen.query_one("#hosted-table").row_count > 0)


def prompt_ready(app) -> bool:
    return (type(app.screen).__name__ == "PromptScreen" and "hosted chat" in _text(app, "#prompt-preview")
            and "computing" not in _text(app, "#report"))


def train_ready(app) -> bool:
    return (type(app.screen).__name__ == "TrainScreen" and "est." in _text(app, "#est-hosted")
            and _text(app, "#est-local") != "")


@pytest.fixture
def finished_runs(tmp_path):
    """Two finished runs (local and hosted) in fixed folders, written by the fake trainer."""
    from ftwizard.rundir import RunDirectory
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
        paths.append(str(run.path))
    return paths


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_task_step(snap_compare, size, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []}, theme="textual-dark")
    assert snap_compare(app, terminal_size=size, run_before=lambda p: settle(p, task_ready))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_hardware_step(snap_compare, size, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(state=demo_state(), start_step=1, runs_dir=tmp_path / "runs", hardware={"gpus": []},
                   theme="textual-dark")
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
