"""Hosted backend figures against the local fake server (side by side in one run).

  python benchmarks/bench_hosted.py

1. serving: 160 chat completions with 50 ms of server latency each, concurrency 1 vs 8 (speed-up ratio)
2. following: a job with 2,000 metric events paged 100 at a time - events recorded per second
3. the whole `ftwizard run recipes/sql-gpt35.toml` (3,961 + 568 examples, eval off): wall seconds, jobs created
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fake_openai import DEFAULT_KEY, FakeOpenAI  # noqa: E402


def env(fake: FakeOpenAI) -> None:
    os.environ.update(OPENAI_API_KEY=DEFAULT_KEY, OPENAI_BASE_URL=fake.url, FTWIZARD_HOSTED_POLL_SECONDS="0.01",
                      FTWIZARD_HOSTED_RETRY_BASE_SECONDS="0.01")


def bench_serving() -> dict:
    from ftwizard.backends.hosted.providers import provider_config
    from ftwizard.backends.hosted.serving import ServingClient

    def slow(model, messages):
        time.sleep(0.05)
        return "SELECT 1"

    out = {}
    with FakeOpenAI(chat_answer=slow) as fake:
        env(fake)
        items = [(i, [{"role": "user", "content": f"q{i}"}]) for i in range(160)]
        for conc in (1, 8):
            client = ServingClient(config=provider_config("openai"))
            t = time.perf_counter()
            client.complete_many("gpt-4o-mini", items, max_tokens=8, concurrency=conc, on_done=lambda i, c: None)
            out[conc] = time.perf_counter() - t
    return {"sequential_s": round(out[1], 2), "concurrency8_s": round(out[8], 2),
            "speedup": round(out[1] / out[8], 2), "requests_per_s_at_8": round(160 / out[8], 1)}


def bench_follow() -> dict:
    from ftwizard.backends.hosted.job import HostedJob
    from ftwizard.backends.hosted.providers import provider_config
    from ftwizard.recipe import load_recipe
    from ftwizard.runs.directory import RunDirectory

    with FakeOpenAI(steps=2000, steps_per_tick=2000, events_page_size=100) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        env(fake)
        recipe = load_recipe(REPO / "recipes" / "sql-gpt35.toml", ["data.limit_train=20", "data.limit_eval=10"])
        run = RunDirectory.create(tmp, recipe.name, recipe.to_toml())
        cfg = provider_config("openai")
        hj = HostedJob(run, recipe, cfg.make_client(), cfg)
        paths = hj.ensure_files()
        train = hj.ensure_uploaded("train", paths["train"])
        hj.ensure_job(train, None)
        client = cfg.make_client()
        job_id = run.status()["job_id"]
        while client.fine_tuning.jobs.retrieve(job_id).status != "succeeded":
            pass
        t = time.perf_counter()
        n = hj.pull_events(job_id)
        dt = time.perf_counter() - t
        t2 = time.perf_counter()
        again = hj.pull_events(job_id)  # nothing new: one page, stop at the first seen event
        dt2 = time.perf_counter() - t2
    return {"events": n, "seconds": round(dt, 3), "events_per_s": round(n / dt), "pages": -(-n // 100),
            "repoll_new_events": again, "repoll_ms": round(dt2 * 1000, 1)}


def bench_run() -> dict:
    from ftwizard.cli import output
    from ftwizard.cli.main import main

    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp:
        env(fake)
        devnull = open(os.devnull, "w")
        old = sys.stderr
        sys.stderr = devnull
        output.reset()
        try:
            t = time.perf_counter()
            code = main(["run", str(REPO / "recipes" / "sql-gpt35.toml"), "--runs-dir", tmp,
                         "--set", "eval.enabled=false"])
            dt = time.perf_counter() - t
        finally:
            sys.stderr = old
            output.reset()
        return {"exit": code, "wall_s": round(dt, 2), "jobs_created": fake.job_creates}


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    print("serving :", bench_serving())
    print("follow  :", bench_follow())
    print("run     :", bench_run())
