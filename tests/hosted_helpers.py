"""What every hosted provider's tests do the same way: the environment that points the real SDK at a fake
server, a run directory as `ftwizard run` makes it, the worker run in this process, a detached run held at
`running`, and the check that no key leaked. Each test module passes its own recipe, overrides and key."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from ftwizard.cli import output
from ftwizard.cli.main import main
from ftwizard.runs.directory import RunDirectory


def hosted_env(monkeypatch, *, as_of: str = "2026-12-01", poll_s: str = "0.02", **provider_env: str) -> None:
    """The provider's variables (key, base URL) plus fast polling and retries, a 5 s request timeout and a
    fixed today; the CLI's output settings reset (a test before may have set --json / NO_COLOR)."""
    for k, v in provider_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("FTWIZARD_HOSTED_POLL_SECONDS", poll_s)
    monkeypatch.setenv("FTWIZARD_HOSTED_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("FTWIZARD_HOSTED_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("FTWIZARD_AS_OF", as_of)
    output.reset()


def make_run(tmp_path: Path, overrides: list[str], recipe_path: Path) -> RunDirectory:
    """A run directory as `ftwizard run` makes it (preflight included), without launching the worker."""
    from ftwizard.backends import backend_for
    from ftwizard.recipe import load_recipe

    recipe = load_recipe(recipe_path, overrides)
    backend_for(recipe).preflight(recipe)
    run = RunDirectory.create(tmp_path / "runs", recipe.name, recipe.to_toml())
    run.update_status(backend="hosted")
    return run


def work(run: RunDirectory) -> int:
    """The worker, in this process (the same code `python -m ftwizard.workers.hosted` runs)."""
    from ftwizard.workers import hosted

    old = signal.getsignal(signal.SIGTERM)
    try:
        return hosted.main([str(run.path)])
    finally:
        signal.signal(signal.SIGTERM, old)


def lose_the_create_answer(fake, monkeypatch, mode: str) -> None:
    """The next job create is done at the provider but its answer never reaches the client: "lost" (the
    connection drops), "slow" (past a 0.5 s client timeout) or "error-after" (a 500 after the work)."""
    monkeypatch.setenv("FTWIZARD_HOSTED_TIMEOUT_SECONDS", "0.5")
    fake.slow_s = 1.5
    fake.fail("jobs.create", mode)


def start_held_run(fake, tmp_path: Path, recipe_path: Path, overrides: list[str]) -> RunDirectory:
    """`ftwizard run --detach` with the fake holding the job in `running`; returns once the job runs."""
    fake.hold_running = True
    assert main(["run", str(recipe_path), "--detach", "--runs-dir", str(tmp_path / "runs")]
                + sum((["--set", s] for s in overrides), [])) == 0
    (run_path,) = (tmp_path / "runs").iterdir()
    run = RunDirectory(run_path)
    deadline = time.time() + 30
    while run.status().get("job_status") != "running":
        assert time.time() < deadline, run.status()
        time.sleep(0.05)
    return run


def metric_steps(run: RunDirectory) -> list[int]:
    return [e["step"] for e in run.events(("metric",))]


def assert_no_secret(run: RunDirectory, *texts: str, key: str) -> None:
    for p in run.path.rglob("*"):
        if p.is_file():
            assert key.encode() not in p.read_bytes(), f"API key found in {p}"
    for t in texts:
        assert key not in t
