"""The hosted side a local run is weighed against: the provider that trains the same open weights first, then
Azure, OpenAI last while it lives - never a model that takes no jobs today (the seed's gpt-3.5-turbo)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from ftwizard.catalog import default_hosted, hosted_candidates, rank_hosted
from ftwizard.defaults import hosted_side
from ftwizard.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 12, 7)


def ftw(*args, columns: int = 80, env: dict | None = None):
    e = dict(os.environ, NO_COLOR="1", COLUMNS=str(columns), FTWIZARD_AS_OF=DAY.isoformat(), **(env or {}))
    return subprocess.run([sys.executable, "-m", "ftwizard", *map(str, args)], capture_output=True, text=True,
                          env=e, timeout=120)


def test_same_weights_first_then_azure_then_openai_and_closed_last():
    ranked = rank_hosted(hosted_candidates(DAY), "Qwen/Qwen3-4B")
    assert (ranked[0]["provider"], ranked[0]["model"]) == ("together", "Qwen/Qwen3-8B")
    providers = [c["provider"] for c in ranked if c["available"]]
    assert providers.index("azure") > providers.index("tinker") and providers[-1] == "openai"
    assert [c["available"] for c in ranked] == sorted((c["available"] for c in ranked), reverse=True)
    llama = default_hosted("meta-llama/Llama-3.1-8B", DAY)
    assert llama["hub_id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert default_hosted("Qwen/Qwen3-8B", DAY, provider="tinker")["provider"] == "tinker"


def test_a_local_recipe_is_weighed_against_a_hosted_model_that_takes_jobs_today():
    seed = load_recipe(REPO / "recipes" / "sql-codellama34b-lora.toml")  # names gpt-3.5-turbo, shut down 2026-10-23
    r, note = hosted_side(seed, DAY)
    assert r.hosted.model != "gpt-3.5-turbo-0125" and r.hosted.provider in ("together", "tinker")
    assert "shut down" in note
    demo = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")  # no [hosted]: the schema's gpt-4o-mini
    r, note = hosted_side(demo, DAY)
    assert (r.hosted.provider, r.hosted.model) == ("together", "Qwen/Qwen3-8B") and "names no hosted" in note
    together = load_recipe(REPO / "recipes" / "viggo-together.toml")
    assert hosted_side(together, DAY) == (together, "")  # a hosted recipe is what it says


def test_data_report_and_estimate_default_to_the_same_weights_provider(tmp_path):
    from ftwizard.prepare import data_report

    demo = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml").with_updates({"data.limit_train": 50,
                                                                               "data.limit_eval": 10})
    assert data_report(demo)["hosted"]["provider"] == "together"
    p = ftw("estimate", "viggo-cpu-demo", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["hosted"]["provider"] == "together"


def test_tinker_can_be_chosen_in_estimate_and_the_column_names_the_provider():
    p = ftw("estimate", "viggo-cpu-demo", "--hosted-provider", "tinker", columns=120)
    assert p.returncode == 0, p.stderr
    assert "Tinker" in p.stdout and "queue + training (Tinker's)" in p.stdout and "OpenAI's" not in p.stdout
    p = ftw("estimate", "viggo-cpu-demo", "--hosted-provider", "tinker", "--json")
    assert json.loads(p.stdout)["hosted"]["provider"] == "tinker"


def test_closed_candidates_are_hidden_unless_asked_for():
    p = ftw("estimate", "viggo-cpu-demo", columns=120)
    table = p.stdout.split("Hosted candidates")[1].split("--show-closed lists")[0]
    assert "gpt-3.5-turbo-0125" not in table and "more that take no new jobs" in p.stdout
    p = ftw("estimate", "viggo-cpu-demo", "--show-closed", columns=120)
    assert "gpt-3.5-turbo-0125" in p.stdout.split("Hosted candidates")[1] and "shut down" in p.stdout


def test_the_seed_tasks_in_the_wizard_are_weighed_against_a_model_that_trains_today():
    from ftwizard.tui.screens.task import recipe_for_choice
    from ftwizard.tui.state import WizardState

    for choice in ("task:sql", "task:viggo"):
        state = WizardState().with_recipe(recipe_for_choice(choice, {}), choice=choice)
        assert state.recipe.hosted.model != "gpt-3.5-turbo-0125", choice
        assert state.recipe_for("hosted").hosted.provider in ("together", "tinker", "fireworks")


def test_a_cpu_run_without_a_recorded_cost_is_priced_at_the_cpus_rate(tmp_path):
    """A CPU run's verdict has both costs: its hours at the catalog's CPU price (was: 'no training cost recorded
    and none could be estimated' beside a priced serving row)."""
    from ftwizard.pricing import gpu_price
    from ftwizard.verdict import build_verdict
    from tests.fixtures_runs import outcomes, write_run

    assert gpu_price("cpu")["price_per_hour"] > 0 and gpu_price("cpu")["origin"] == "catalog"
    run = write_run(tmp_path, "tickets-cpu-demo", verdicts=outcomes(60, 58), write_cost=False,
                    overrides={"hardware.price_per_hour": None})
    row = build_verdict([run.path], today=DAY).rows[0]
    assert row.training_usd is not None and row.training_usd > 0
    assert not any("none could be estimated" in n for n in row.notes)
