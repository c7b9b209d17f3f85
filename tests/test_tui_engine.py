"""The wizard's Hardware step through its one service module (tui/engine.py): a knob change re-prices with at
most one estimate per row, and the figures are the estimator's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftwizard.recipe import load_recipe
from ftwizard.tui.app import make_app
from ftwizard.tui.state import WizardState
from tests.test_tui import wait_for

REPO = Path(__file__).resolve().parent.parent


async def test_a_knob_change_costs_at_most_one_estimate_per_row(tmp_path, monkeypatch):
    from textual.widgets import Input

    from ftwizard.estimate import estimate_recipe
    from ftwizard.tui import engine

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR", raising=False)
    calls: list[dict] = []
    real = engine.estimate

    def counting(recipe, **knobs):
        calls.append(knobs)
        return real(recipe, **knobs)

    monkeypatch.setattr(engine, "estimate", counting)
    recipe = load_recipe(REPO / "recipes" / "sql-codellama34b-lora.toml", ["data.limit_train=50", "data.limit_eval=10"])
    app = make_app(state=WizardState().with_recipe(recipe, choice="task:sql"), start_step=1,
                   runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen._last[0] is not None, what="first estimates")
        await pilot.pause(0.5)  # the step's first passes (mount, the card's price) settle

        def own_row():
            return next(r for r in screen._last[1] if r["model"] == "codellama/CodeLlama-34b-hf" and r["quant"] == "8bit")

        before, first = len(calls), screen._last
        screen.query_one("#price", Input).value = "1.5"  # the price alone: no estimate at all
        await wait_for(pilot, lambda: screen._last is not first and own_row()["cost_usd"] is not None
                       and screen._last[0].hardware.price_per_hour == 1.5, what="re-priced rows")
        assert len(calls) == before
        direct = estimate_recipe(screen._last[0], model="codellama/CodeLlama-34b-hf", quant="8bit", price_per_hour=1.5,
                                 runs_dir=str(tmp_path / "runs")).local
        assert own_row()["cost_usd"] == direct.cost_usd and own_row()["hours"] == direct.hours

        before, first = len(calls), screen._last
        hosted_before = {(c["provider"], c["model"]): c["cost"].get("cost_usd") for c in first[2]}
        screen.query_one("#epochs", Input).value = "6"  # local rows re-estimated once each; hosted re-planned
        await wait_for(pilot, lambda: screen._last is not first and screen._last[0].train.epochs == 6,
                       what="estimates at 6 epochs")
        assert 0 < len(calls) - before <= len(screen._last[1])
        assert all(k.get("epochs") == 6 for k in calls[before:])
        oa = next(c for c in screen._last[2] if c["provider"] == "openai" and c["available"])
        full = estimate_recipe(screen._last[0].with_updates({"hosted.provider": oa["provider"],
                                                              "hosted.model": oa["model"]}),
                               epochs=6, runs_dir=str(tmp_path / "runs")).to_json()["hosted"]
        assert full["model"] == oa["model"]  # each candidate priced as itself
        assert oa["cost"]["cost_usd"] == full["cost_usd"] != hosted_before[(oa["provider"], oa["model"])]
        assert oa["cost"]["billed_tokens"] == full["billed_tokens"]
