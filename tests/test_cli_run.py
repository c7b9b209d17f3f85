"""`ftwizard run` and `ftwizard --recipe` as a machine uses them: JSON on stdout, FTWIZARD_RUNS_DIR, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fake_openai import DEFAULT_KEY
from tests.test_hosted import fake  # noqa: F401 - the fake OpenAI server fixture

REPO = Path(__file__).resolve().parent.parent
# gpt-3.5-turbo was shut down on 2026-10-23: the seed recipe runs on a model OpenAI still trains.
SMALL = ["--set", "hosted.model=gpt-4o-mini-2024-07-18", "--set", "data.limit_train=30", "--set",
         "data.limit_eval=12", "--set", "eval.enabled=false"]


def ftw(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def env_for(server, tmp_path):
    env = dict(os.environ)
    env.update(OPENAI_API_KEY=DEFAULT_KEY, OPENAI_BASE_URL=server.url, FTWIZARD_HOSTED_POLL_SECONDS="0.02",
               FTWIZARD_HOSTED_RETRY_BASE_SECONDS="0.01", FTWIZARD_RUNS_DIR=str(tmp_path / "envruns"),
               FTWIZARD_AS_OF="2026-12-01",
               PYTHONPATH=str(REPO))
    return env


def test_run_json_reports_the_outcome_on_stdout(fake, tmp_path):  # noqa: F811
    env = env_for(fake, tmp_path)
    p = ftw(["run", "sql-gpt35", *SMALL, "--json"], env, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # stdout holds the JSON only; progress went to stderr
    assert out["exit_code"] == 0 and out["state"] == "succeeded"
    assert out["status"]["fine_tuned_model"].startswith("ft:") and out["cost"]["training_kind"] == "actual"
    # FTWIZARD_RUNS_DIR decides where runs go when --runs-dir is not given.
    assert Path(out["run_dir"]).parent == tmp_path / "envruns"
    assert DEFAULT_KEY not in p.stdout + p.stderr


def test_top_level_recipe_flag_is_the_same_as_run(fake, tmp_path):  # noqa: F811
    env = env_for(fake, tmp_path)
    p = ftw(["--recipe", str(REPO / "recipes" / "sql-gpt35.toml"), *SMALL], env, tmp_path)
    assert p.returncode == 0, p.stderr
    (run_dir,) = (tmp_path / "envruns").iterdir()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    assert fake.job_creates == 1


def test_cancel_json_on_a_finished_run(fake, tmp_path):  # noqa: F811
    env = env_for(fake, tmp_path)
    out = json.loads(ftw(["run", "sql-gpt35", *SMALL, "--json"], env, tmp_path).stdout)
    p = ftw(["cancel", out["run_dir"], "--json"], env, tmp_path)
    assert p.returncode == 0
    assert json.loads(p.stdout) == {"run_dir": out["run_dir"], "cancel_requested": False, "state": "succeeded"}
