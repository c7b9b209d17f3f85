"""Typed run events and their one fold: the real writers' lines read back unchanged, damaged lines skipped, and
`ftwizard run`'s follower and the wizard's Train step showing the same figures from one `Progress`."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from ftwizard.recipe import load_recipe
from ftwizard.runs import events as E
from ftwizard.runs.directory import RunDirectory

REPO = Path(__file__).resolve().parent.parent


def _run(tmp_path, name="r", backend="local") -> RunDirectory:
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml").with_updates({"name": name, "backend": backend})
    return RunDirectory.create(tmp_path / "runs", name, recipe.to_toml())


def write_local_stream(run: RunDirectory, *, steps: int = 6, fail: bool = True) -> None:
    """The local worker's own writers write a run that trains `steps` steps (an eval loss at step 4) and then runs
    out of memory: `RunReporter` and the Trainer callback `RunCallback`, driven with transformers' real
    TrainerState, inside the local `Worker`'s lifecycle (`runs.worker.DetachedWorker`), which records the
    out-of-memory with the memory probe's advice (`Worker.explain`). `fail=False`: the run is left training."""
    import signal

    from transformers import TrainerControl, TrainerState

    from ftwizard.backends.local.callbacks import RunCallback
    from ftwizard.backends.local.reporter import RunReporter
    from ftwizard.backends.local.worker import Worker
    from ftwizard.runs.worker import StopFlag

    def train(rep) -> None:
        collator = SimpleNamespace(tokens_seen=0)
        cb = RunCallback(rep, StopFlag(), max_steps=steps * 2, collator=collator, peak_mem_gib=lambda: 3.25,
                         mfu=lambda tps: None, device_mem=True)
        args, state, control = SimpleNamespace(world_size=1, device="cpu"), TrainerState(), TrainerControl()
        cb.on_train_begin(args, state, control)
        for step in range(1, steps + 1):
            cb.on_step_begin(args, state, control)
            time.sleep(0.01)
            collator.tokens_seen += 512
            state.global_step, state.epoch = step, step / 4
            cb.on_step_end(args, state, control)
            cb.on_log(args, state, control, logs={"loss": 2.0 / step, "learning_rate": 1e-4, "grad_norm": 0.5})
            if step == 4:
                cb.on_log(args, state, control, logs={"eval_loss": 0.75})
        rep.event("cost", usd=0.0125, kind="so_far", what="training")

    if not fail:
        rep = RunReporter(run, main=True, price=(0.5, "flag", "2026-12-01"))
        rep.status(state="running", worker_pid=0)
        rep.event("status", state="running")
        train(rep)
        return
    worker = Worker(run)

    def body():
        worker.rep.log("loading the model")
        train(worker.rep)
        raise MemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    worker.body = body
    handlers = {s: signal.getsignal(s) for s in worker.stop_signals}
    try:
        assert worker.lifecycle() == 1
    finally:  # the lifecycle installs the worker's stop handlers: this test process keeps its own
        for s, h in handlers.items():
            signal.signal(s, h)
    run.update_status(pid=None)  # this test process is no worker: nothing for the faces to call gone


# -- reading -------------------------------------------------------------------------------------------------------

def test_every_line_the_writers_wrote_reads_back_unchanged(tmp_path):
    """The typed events are a view of the contract on disk, never a second shape: as_dict() is the line."""
    run = _run(tmp_path)
    write_local_stream(run)
    lines = run.events_path.read_bytes().splitlines()
    kinds = set()
    for raw in lines:
        ev = E.parse(raw)
        assert ev is not None, raw
        assert ev.as_dict() == json.loads(raw)
        kinds.add(ev.type)
    assert kinds == {"status", "log", "metric", "cost", "error"}
    metric = next(e for e in map(E.parse, lines) if isinstance(e, E.Metric) and e.loss is not None)
    assert metric.extra.get("grad_norm") == 0.5  # a field the type does not name is kept, not dropped
    err = [e for e in map(E.parse, lines) if isinstance(e, E.Error)][0]
    assert err.kind == "oom" and any("micro-batch" in a for a in err.advice)


@pytest.mark.parametrize("line", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"a"', b'{"type": "hologram"}',
                                  b'{"t": 1}', b"[" * 100000, b"1" * 5000])
def test_a_damaged_or_unknown_line_is_no_event(line):
    assert E.parse(line) is None


def test_fields_of_the_wrong_type_are_absent_not_a_crash():
    ev = E.from_dict({"t": "soon", "type": "metric", "step": "7", "loss": True, "eta_s": [1], "cost_usd": None})
    assert isinstance(ev, E.Metric) and ev.t is None and ev.step is None and ev.loss is None and ev.eta_s is None
    p = E.fold(E.Progress(), ev)
    assert p.step == 0 and p.summary(0.0) == "pending"
    err = E.from_dict({"type": "error", "message": None, "advice": "not a list"})
    assert err.message == "error" and err.advice == ()


def test_the_tail_skips_and_counts_damaged_lines(tmp_path):
    run = _run(tmp_path)
    run.append_event("metric", step=1, max_steps=4, loss=1.0)
    with open(run.events_path, "ab") as f:
        f.write(b'{"t": 1, "type": "metric", "step": \n\xff\n{"type": "nope"}\n')
    run.append_event("metric", step=2, max_steps=4, loss=0.5)
    tail = E.Tail(run)
    evs = tail.poll()
    assert [e.step for e in evs] == [1, 2] and tail.skipped == 3
    assert E.fold_all(evs).step == 2


def test_the_follower_says_how_many_lines_it_skipped(tmp_path):
    from ftwizard.follow import follow

    run = _run(tmp_path)
    run.append_event("metric", step=1, max_steps=2, loss=1.0)
    with open(run.events_path, "ab") as f:
        f.write(b'{"t": 1, "type": "metric", "step\n')
    run.append_event("metric", step=2, max_steps=2, loss=0.5)
    run.update_status(state="succeeded")
    out = io.StringIO()
    assert follow(run, console=Console(file=out, width=300), interval=0.05, timeout=5) == 0
    assert "1 damaged line(s)" in out.getvalue() and "training: 2/2" in out.getvalue()


# -- the fold ------------------------------------------------------------------------------------------------------

def test_the_fold_of_the_real_writers_stream(tmp_path):
    run = _run(tmp_path)
    write_local_stream(run)
    p = E.fold_all(E.read(run), run.status())
    assert (p.state, p.step, p.max_steps, p.epoch) == ("failed", 6, 12, 1.5)
    assert p.advice and p.advice[0].startswith("halve the micro-batch")
    assert p.loss == pytest.approx(2.0 / 6) and p.eval_loss == 0.75 and p.gpu_mem_gb == 3.25
    assert p.tokens_per_s and p.tokens_per_s > 0 and p.cost_usd == 0.0125
    assert p.error_kind == "oom" and p.error.startswith("out of memory")
    assert len(p.train_points) == 6 and p.eval_points == ((4.0, 0.75),)
    assert p.phase == "failed" and p.eta(time.time()) is None  # no ETA for a run that ended


def test_the_eta_counts_down_from_when_it_was_reported_and_only_while_training():
    p = E.fold_all(E.typed([{"t": 100.0, "type": "status", "state": "running"},
                            {"t": 100.0, "type": "metric", "step": 5, "max_steps": 10, "eta_s": 60.0}]))
    assert p.eta(100.0) == 60.0 and p.eta(130.0) == 30.0 and p.eta(1000.0) == 0.0
    assert p.figures(130.0)["eta"] == "ETA 0:30"
    # a hosted provider's finish time is the ETA itself
    q = E.fold(p, E.from_dict({"t": 200.0, "type": "metric", "step": 6, "estimated_finish": 500.0, "eta_s": 1}))
    assert q.eta(250.0) == 250.0
    # evaluating after training: the training ETA is not shown
    r = E.fold(q, E.from_dict({"t": 300.0, "type": "eval", "phase": "start", "done": 0, "total": 40}))
    assert r.phase == "evaluating" and r.eta(300.0) is None and r.figures(300.0)["eval"] == "eval 0/40"


def test_many_points_are_thinned_keeping_both_ends():
    p = E.Progress()
    for step in range(1, 2001):
        p = E.fold(p, E.from_dict({"t": float(step), "type": "metric", "step": step, "loss": 1.0 / step}))
    assert len(p.train_points) <= E.MAX_POINTS
    assert p.train_points[0] == (1.0, 1.0) and p.train_points[-1] == (2000.0, 1.0 / 2000)


# -- both faces, one fold ------------------------------------------------------------------------------------------

def _cli_face(run, monkeypatch) -> str:
    """`ftwizard run`'s follower on a run, stderr a file: every progress line it prints (PLAIN_EVERY_S 0)."""
    import ftwizard.follow as fol

    monkeypatch.setattr(fol, "PLAIN_EVERY_S", 0.0)
    out = io.StringIO()
    fol.follow(run, console=Console(file=out, force_terminal=False, width=300), interval=0.05, timeout=0.5)
    return out.getvalue()


async def _wizard_face(run) -> str:
    """The wizard's Train step following the run (`ftwizard attach`): its row's summary."""
    from textual.widgets import Static

    from ftwizard.cli.attach import attach_state
    from ftwizard.tui.app import make_app
    from ftwizard.tui.widgets.run_view import RunRow

    app = make_app(state=attach_state([str(run.path)]), start_step=3, attach_only=True, runs_dir=run.path.parent)
    async with app.run_test(size=(240, 40)) as pilot:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            view = app.screen.query("#runs")
            if view and str(run.path) in view.first().progress:
                break
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        row = app.screen.query(RunRow).first()
        return str(row.query_one(".run-summary", Static).render())


async def test_the_cli_and_the_wizard_show_the_same_figures(tmp_path, monkeypatch):
    run = _run(tmp_path)
    write_local_stream(run)
    p = E.fold_all(E.read(run), run.status())
    figs = p.figures(time.time())
    cli = _cli_face(run, monkeypatch)
    wizard = await _wizard_face(run)
    assert wizard.startswith(p.summary(time.time()))  # the row shows the fold's summary as it is
    progress_lines = [x for x in cli.splitlines() if x.startswith("training:")]
    last = progress_lines[-1]
    for key in ("epoch", "loss", "eval_loss", "tokens_per_s", "cost", "mem"):
        assert figs[key] in last and figs[key] in wizard, (key, figs[key], last, wizard)
    assert "step 6/12" in wizard and last.startswith("training: 6/12")


async def test_no_face_computes_the_eta_of_its_own(tmp_path, monkeypatch):
    """Both faces' ETA is `Progress.eta`: replaced by a figure no stream could give, both show that figure."""
    run = _run(tmp_path)
    write_local_stream(run, fail=False)
    monkeypatch.setattr(E.Progress, "eta", lambda self, now: 4321.0)
    cli = _cli_face(run, monkeypatch)
    wizard = await _wizard_face(run)
    assert "ETA 1:12:01" in [x for x in cli.splitlines() if x.startswith("training:")][-1]
    assert "ETA 1:12:01" in wizard


def test_status_json_is_the_authority_on_state_and_fills_what_events_lack():
    """A hosted job before its first metric: status.json's job status, total steps and the provider's finish time
    (recorded at `updated_at`) are the phase, the step total and the ETA; a worker killed hard wrote no status
    event, and status.json's state still wins."""
    p = E.fold_all(E.typed([{"t": 10.0, "type": "status", "state": "running", "detail": "validating_files"}]),
                   {"state": "running", "backend": "hosted", "job_status": "validating_files", "total_steps": 30,
                    "estimated_finish": 700.0, "updated_at": 100.0})
    assert p.phase == "queued" and p.max_steps == 30 and p.eta(100.0) is None  # no ETA before training
    assert p.figures(100.0)["state"] == "queued (validating_files)"
    p = E.fold(p, E.from_dict({"t": 200.0, "type": "metric", "step": 3, "loss": 1.5}))
    p = E.fold_status(p, {"state": "running", "job_status": "running", "updated_at": 200.0})
    assert p.phase == "training" and p.eta(400.0) == 300.0 and p.figures(400.0)["state"] == "training"
    dead = E.fold_status(p, {"state": "failed", "error": "killed", "error_kind": "crash"})
    assert dead.finished and dead.phase == "failed" and (dead.error, dead.error_kind) == ("killed", "crash")
    assert "so far" not in dead.summary(400.0)  # a finished run's dollars are its bill
