"""The run directory contract: atomic status, append-only events, incremental tailing."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

from ftwizard.errors import UsageError
from ftwizard.runs.directory import EventTail, RunDirectory, find_runs


def _writer(path: str, n: int, tag: int) -> None:
    run = RunDirectory(path)
    for i in range(n):
        run.append_event("log", text=f"{tag}-{i} " + "x" * 200)


def test_create_layout_and_status(tmp_path):
    run = RunDirectory.create(tmp_path / "runs", "demo", 'name = "demo"\ntask = "sql"\n')
    assert run.path.parent == tmp_path / "runs" and run.name.startswith("demo-") and run.name.endswith("Z")
    assert run.recipe_path.read_text().startswith('name = "demo"')
    assert run.state == "pending"
    s = run.update_status(state="running", pid=123)
    assert s["pid"] == 123 and "started_at" in s
    s = run.update_status(state="succeeded")
    assert s["finished_at"] >= s["started_at"] and s["pid"] == 123
    with pytest.raises(ValueError):
        run.update_status(state="exploded")
    # Two runs of the same recipe in the same second get distinct folders.
    other = RunDirectory.create(tmp_path / "runs", "demo", 'name = "demo"\ntask = "sql"\n')
    assert other.path != run.path
    assert [r.path for r in find_runs(tmp_path / "runs")] == sorted([run.path, other.path])
    assert not list(run.path.glob(".status.json.*")), "no temporary files left behind"


def test_events_append_and_tail(tmp_path):
    run = RunDirectory.create(tmp_path, "e", "x")
    tail = EventTail(run)
    assert tail.poll() == []
    run.append_event("metric", step=1, loss=2.5)
    run.log("hello")
    got = tail.poll()
    assert [e["type"] for e in got] == ["metric", "log"] and got[0]["loss"] == 2.5 and "t" in got[0]
    # A half-written line is not returned until it is complete.
    with open(run.events_path, "a") as f:
        f.write('{"t": 1, "type": "log", "te')
    assert tail.poll() == []
    with open(run.events_path, "a") as f:
        f.write('xt": "late"}\n')
    assert tail.poll()[0]["text"] == "late"
    with pytest.raises(ValueError):
        run.append_event("bogus")


def test_concurrent_appends_never_tear_lines(tmp_path):
    run = RunDirectory.create(tmp_path, "c", "x")
    procs = [mp.Process(target=_writer, args=(str(run.path), 300, k)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = run.events_path.read_text().splitlines()
    assert len(lines) == 900
    assert all(json.loads(line)["type"] == "log" for line in lines)


def test_open_rejects_non_run_dirs(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        RunDirectory.open(tmp_path / "missing")
    with pytest.raises(UsageError, match="not a run directory"):
        RunDirectory.open(tmp_path)


def test_cost_and_metrics_writers_lose_nothing_under_concurrency(tmp_path):
    """cost.json and metrics.json are written by the worker, the evaluator and a hosted job from different
    processes: each read-modify-write goes through the run's one lock, so no writer's fields are lost."""
    import multiprocessing as mp

    from ftwizard.runs.directory import RunDirectory

    run = RunDirectory.create(tmp_path / "runs", "race", 'name = "race"\n')
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(run.path), k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    cost, metrics = run.cost_path, run.metrics_path
    import json

    c, m = json.loads(cost.read_text()), json.loads(metrics.read_text())
    assert sorted(k for k in c if k.startswith("w")) == sorted(f"w{k}_{i}" for k in range(4) for i in range(25))
    assert sorted(k for k in m if k.startswith("w")) == sorted(f"w{k}_{i}" for k in range(4) for i in range(25))


def _write_many(path: str, k: int) -> None:
    from ftwizard.runs.directory import RunDirectory

    run = RunDirectory(path)
    for i in range(25):
        run.update_cost(**{f"w{k}_{i}": i})
        run.update_metrics(lambda cur, k=k, i=i: cur.__setitem__(f"w{k}_{i}", i))
