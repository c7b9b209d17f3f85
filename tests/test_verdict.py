"""The verdict from run-directory fixtures: every recommendation case, with its numbers asserted."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from ftwizard.errors import UsageError
from ftwizard.verdict import (build_verdict, hosted_availability, loss_still_falling, mcnemar_exact,
                              paired_difference_ci)
from tests.fixtures_runs import (imported_pair, outcomes, paired_outcomes, seed_sql_pair, seed_viggo_pair,
                                 write_run)

SEED_DAY = date(2023, 10, 1)  # before OpenAI's wind-down: the hosted path is open


def _mean_tokens(run, key):
    vals = [json.loads(line)[key] for line in run.predictions_path.read_text().splitlines()]
    return sum(vals) / len(vals)


# --- statistics --------------------------------------------------------------------------------------------

def test_mcnemar_exact_matches_the_binomial_by_hand():
    # 1 vs 9 discordant pairs: 2 * (C(10,0) + C(10,1)) / 2^10
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # 40 vs 28 (the seed SQL fixture): sum_{i<=28} C(68,i) / 2^68, doubled
    expected = 2 * sum(math.comb(68, i) for i in range(29)) / 2 ** 68
    assert mcnemar_exact(40, 28) == pytest.approx(expected, rel=1e-9)
    assert mcnemar_exact(2000, 1900) < 0.2 and mcnemar_exact(200, 100) < 1e-7


def test_paired_difference_interval():
    lo, hi = paired_difference_ci(40, 28, 568)
    assert lo < (40 - 28) / 568 < hi
    assert lo == pytest.approx(-0.0073, abs=5e-4) and hi == pytest.approx(0.0495, abs=5e-4)


def test_loss_still_falling():
    assert loss_still_falling([(i, 2.0 - i / 100) for i in range(100)])
    assert not loss_still_falling([(i, 0.5 + math.exp(-i / 5)) for i in range(100)])


# --- availability ----------------------------------------------------------------------------------------

def test_hosted_availability_follows_the_wind_down_dates():
    assert hosted_availability(date(2026, 5, 6))["state"] == "open"
    closing = hosted_availability(date(2026, 11, 23))
    assert closing["state"] == "closing" and closing["date"] == "2027-01-06" and closing["days_left"] == 44
    assert "2026-05-07" in closing["detail"] and "2026-07-02" in closing["detail"]
    early = hosted_availability(date(2026, 6, 1))
    assert early["state"] == "closing" and "2026-07-02" not in early["detail"]
    assert hosted_availability(date(2027, 1, 6))["state"] == "closed"
    assert hosted_availability(date(2027, 3, 1), "azure")["state"] == "open"


# --- the seed's own situation: hosted slightly better, 4-6x more expensive to train --------------------------

def test_seed_sql_local_as_good_within_the_interval_and_cheaper(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=SEED_DAY)
    c = v.comparison
    assert v.metric == "execution_match"
    assert c.hosted_value == pytest.approx(466 / 568) and c.local_value == pytest.approx(454 / 568)
    assert c.difference == pytest.approx(12 / 568)
    assert (c.n_paired, c.hosted_only, c.local_only) == (568, 40, 28)
    assert c.p_value == pytest.approx(0.1818, abs=1e-3) and c.significant is False
    assert c.training_cost_ratio == pytest.approx(11.99 / 3.32)
    assert (c.hosted_training_usd, c.local_training_usd) == (11.99, 3.32)
    # hosted serving: the run's own mean billed tokens at gpt-3.5-turbo's fine-tuned prices ($3 / $6 per 1M)
    p, t = _mean_tokens(hosted, "prompt_tokens"), _mean_tokens(hosted, "completion_tokens")
    assert c.hosted_usd_per_1k == pytest.approx((p * 3.0 + t * 6.0) / 1000, abs=1e-4)
    assert c.hosted_monthly_usd == pytest.approx(c.hosted_usd_per_1k * 1000)
    assert c.local_monthly_usd < c.hosted_monthly_usd  # at a million requests a month the A40 wins
    assert c.break_even_requests_per_month < 1_000_000

    r = v.recommendation
    assert (r.choice, r.case) == ("local", "local-as-good")
    assert r.sentence.startswith("Use the local LoRA model (CodeLlama-34b-hf): it is as good as gpt-3.5-turbo-0125")
    assert "-2.1 points on execution match, not significant" in r.sentence
    assert "3.6x cheaper to train" in r.sentence
    saved = c.hosted_monthly_usd - c.local_monthly_usd
    assert f"${saved:,.0f} a month cheaper to serve at 1,000,000 requests" in r.sentence
    assert any("p = 0.18 on 568 shared examples" in x for x in r.reasons)
    assert any("training: $11.99 hosted vs $3.32 local (3.6x)" == x for x in r.reasons)

    rows = {x.backend: x for x in v.rows}
    assert rows["hosted"].training_kind == "actual" and rows["local"].training_kind == "actual"
    assert rows["local"].wall_s == pytest.approx(6.99 * 3600)
    assert rows["hosted"].availability == "open"


def test_seed_sql_at_low_volume_hosted_is_cheaper_and_says_from_when_local_pays(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=10_000, today=SEED_DAY)
    c, r = v.comparison, v.recommendation
    assert c.local_monthly_usd > c.hosted_monthly_usd  # a GPU kept up for 10k requests costs more than the API
    assert (r.choice, r.case) == ("hosted", "hosted-cheaper")
    h_total = 11.99 + 12 * c.hosted_monthly_usd
    l_total = 3.32 + 12 * c.local_monthly_usd
    assert c.total_usd("hosted") == pytest.approx(h_total) and c.total_usd("local") == pytest.approx(l_total)
    assert f"(${h_total:,.0f} vs ${l_total:,.0f} for training and 12 months of serving)" in r.sentence \
        or f"(${h_total:,.2f} vs ${l_total:,.0f} for training and 12 months of serving)" in r.sentence
    assert "local becomes cheaper from" in r.sentence


def test_seed_viggo_six_times_cheaper_to_train(tmp_path):
    hosted, local = seed_viggo_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=SEED_DAY)
    c = v.comparison
    assert v.metric == "exact_match"
    assert (c.n_paired, c.hosted_only, c.local_only) == (1083, 55, 39)
    assert c.difference == pytest.approx(16 / 1083)
    assert c.p_value == pytest.approx(2 * sum(math.comb(94, i) for i in range(40)) / 2 ** 94, rel=1e-9)
    assert c.training_cost_ratio == pytest.approx(26.05 / 4.27)
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "local-as-good")
    assert "6.1x cheaper to train" in r.sentence and "-1.5 points on exact match" in r.sentence
    assert set(v.metric_names) == {"exact_match", "function_match", "attribute_set_match", "slot_f1"}


# --- hosted clearly better -------------------------------------------------------------------------------

def test_hosted_clearly_better_says_by_how_much_at_what_premium_and_what_to_try(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=100, b_only=18, seed=5)  # 84.5% vs 70.1%
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99, trained_tokens=1_498_956)
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=l, training_usd=3.32, hours=6.99, gpu="A40",
                      price_per_hour=0.475, loss_still_falling=True)
    v = build_verdict([local.path, hosted.path], requests_per_month=50_000, today=SEED_DAY)
    c, r = v.comparison, v.recommendation
    assert c.significant and c.better == "hosted" and c.p_value < 1e-10
    assert c.difference == pytest.approx(82 / 568)
    assert (r.choice, r.case) == ("hosted", "hosted-better")
    assert r.sentence.startswith("Use the hosted fine-tune (gpt-3.5-turbo-0125): it is 14.4 points better on "
                                 "execution match, at a premium of 3.6x the training cost")
    assert "to close the gap locally, try answer-only loss, more steps, a bigger model" in r.sentence
    whats = [n.what for n in r.next_runs]
    assert whats[0] == "answer-only loss" and whats[1] == "more steps" and whats[2].startswith("a bigger model")
    more = r.next_runs[1]
    assert more.changes == {"train.max_steps": 800} and "still falling" in more.why
    assert more.command == f"ftwizard run {local.path / 'recipe.toml'} --set train.max_steps=800"
    assert r.next_runs[0].changes == {"train.loss_on": "answer"}
    assert r.next_runs[2].changes == {"model.base": "meta-llama/Llama-2-70b-hf"}
    # each next run carries the estimate engine's figures for the changed recipe
    from ftwizard.estimate import estimate_recipe

    base = local.recipe()
    for n in r.next_runs:
        expected = estimate_recipe(base.with_updates(n.changes))["local"]
        assert n.cost_usd == expected["cost_usd"] and n.hours == expected["hours"]
    assert r.next_runs[1].cost_usd > r.next_runs[0].cost_usd  # twice the steps costs more


def test_local_significantly_better(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=10, b_only=60, seed=6)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99, trained_tokens=1_498_956)
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=l, training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([hosted.path, local.path], today=SEED_DAY)
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "local-better")
    assert r.sentence.startswith("Use the local LoRA model (CodeLlama-34b-hf): it is 8.8 points better on execution "
                                 "match, 3.6x cheaper to train")


# --- private data -------------------------------------------------------------------------------------------

def test_private_data_means_local_even_when_hosted_is_better(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=100, b_only=18, seed=5)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99)
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=l, training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([hosted.path, local.path], private_data=True, today=SEED_DAY)
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "private-data")
    assert r.sentence == ("Use the local LoRA model (CodeLlama-34b-hf): the data must stay on your machines, which "
                          "rules out hosted fine-tuning; the hosted run was 14.4 points better, which is the price "
                          "of privacy.")
    whats = [n.what for n in r.next_runs]  # the loss was flat: more capacity before more steps
    assert whats == ["answer-only loss", "a bigger model (meta-llama/Llama-2-70b-hf)", "more steps"]
    assert v.to_dict()["private_data"] is True


def test_private_data_from_the_recipe(tmp_path):
    local = write_run(tmp_path, "sql-codellama34b-lora", overrides={"private_data": True},
                      verdicts=outcomes(100, 70), training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([local.path], today=SEED_DAY)
    assert v.private_data and v.recommendation.case == "private-data"
    assert v.recommendation.next_runs == []  # nothing hosted to suggest, nothing to close


# --- the hosted path closing or closed -----------------------------------------------------------------------

def test_hosted_closing_means_local_with_the_date(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=date(2026, 11, 23))
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "hosted-closing")
    assert r.sentence.startswith("Move to local LoRA (CodeLlama-34b-hf): OpenAI fine-tuning closes to new jobs on "
                                 "2027-01-06 (in 44 days); the local model is as good within the interval, 3.6x "
                                 "cheaper to train")
    assert r.reasons[0].startswith("OpenAI fine-tuning closes to new jobs for everyone on 2027-01-06")
    assert v.row(hosted.name).availability == "new jobs close 2027-01-06"


def test_hosted_closed_and_clearly_better_keeps_serving_while_closing_the_gap(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=100, b_only=18, seed=5)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99)
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=l, training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([hosted.path, local.path], today=date(2027, 2, 1))
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "hosted-closed")
    assert "OpenAI fine-tuning closed to new jobs on 2027-01-06" in r.sentence
    assert "is 14.4 points better and keeps serving until its base model retires" in r.sentence
    assert r.next_runs and r.next_runs[0].what == "answer-only loss"
    assert v.row(hosted.name).availability == "new jobs closed 2027-01-06"


def test_azure_is_not_part_of_the_wind_down(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    # the same hosted run, through Azure OpenAI
    from ftwizard.fsutil import atomic_write_json

    st = hosted.status()
    st["provider"] = "azure"
    atomic_write_json(hosted.status_path, st)
    v = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=date(2027, 2, 1))
    assert v.recommendation.case == "local-as-good"
    assert v.row(hosted.name).availability == "open (Azure)"


# --- one run so far -----------------------------------------------------------------------------------------

def test_single_local_run_shows_the_gain_over_base_and_the_next_run(tmp_path):
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=outcomes(568, 440, seed=1),
                      baseline_verdicts=outcomes(568, 96, seed=2), training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([local.path], today=SEED_DAY)
    r = v.recommendation
    assert (r.choice, r.case) == ("next-run", "single-run")
    assert r.sentence.startswith(f"{local.name} (CodeLlama-34b-hf) reached 77.5% execution match (95% CI 73.9%-80.7%), "
                                 "+60.6 points over the base model (16.9%); next, run the hosted fine-tune "
                                 "(gpt-3.5-turbo-0125) (estimated $11.99)")
    nxt = r.next_runs[0]
    assert nxt.backend == "hosted" and nxt.changes == {"backend": "hosted"}
    assert nxt.command == f"ftwizard run {local.path / 'recipe.toml'} --set backend=hosted"
    assert v.comparison is None
    assert "(base 16.9%)" in v.to_markdown()


def test_single_hosted_run_suggests_the_local_run_with_its_estimate(tmp_path):
    hosted = write_run(tmp_path, "viggo-gpt35", verdicts=outcomes(1083, 845), training_usd=26.05,
                       trained_tokens=3 * 1_085_690)
    v = build_verdict([hosted.path], today=SEED_DAY)
    r = v.recommendation
    assert r.case == "single-run" and r.next_runs[0].backend == "local"
    assert r.next_runs[0].command.endswith("--set backend=local")
    assert "next, run the local LoRA run (CodeLlama-34b-hf)" in r.sentence


def test_single_run_next_run_carries_an_estimate(tmp_path):
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=outcomes(100, 70), training_usd=3.32, gpu="A40",
                      price_per_hour=0.475)
    r = build_verdict([local.path], today=SEED_DAY).recommendation
    nxt = r.next_runs[0]
    assert nxt.cost_usd is not None and nxt.cost_usd > 0
    assert f"(estimated ${nxt.cost_usd:,.2f})" in r.sentence or f"(estimated ${nxt.cost_usd:.3f})" in r.sentence


# --- costs: actual where run, estimated where not -----------------------------------------------------------

def test_hosted_cost_from_trained_tokens_when_no_cost_file(tmp_path):
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=outcomes(50, 40), training_usd=None,
                       trained_tokens=1_498_956)
    row = build_verdict([hosted.path], today=SEED_DAY).rows[0]
    assert row.training_kind == "actual"
    assert row.training_usd == pytest.approx(1_498_956 * 8.0 / 1e6)  # $11.99


def test_missing_training_cost_is_estimated_and_marked(tmp_path):
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=outcomes(50, 40), training_usd=None)
    v = build_verdict([local.path], today=SEED_DAY)
    row = v.rows[0]
    assert row.training_kind == "estimated" and row.training_usd > 0
    assert "(est.)" in v.table_rows()[1][0][v.table_rows()[0].index("training cost")]


# --- runs as `ftwizard import-openai-job` leaves them ---------------------------------------------------------

def test_imported_openai_job_against_the_local_run_of_its_recipe(tmp_path):
    hosted, local = imported_pair(tmp_path, hosted_right=45, local_right=43, both=41)
    v = build_verdict([hosted.path, local.path], requests_per_month=100_000, today=date(2026, 3, 1))
    row = v.row(hosted.name)
    assert row.imported and row.backend == "hosted" and row.model.startswith("ft:gpt-4o-mini")
    assert row.training_usd == pytest.approx(412_000 * 3.0 / 1e6) and row.training_kind == "actual"
    assert v.table_rows()[1][0][1] == "hosted (imported)"
    c = v.comparison
    assert (c.hosted_only, c.local_only) == (4, 2) and not c.significant
    assert v.metric == "exact_match" and v.task == "custom"
    assert any("cannot be ruled out: evaluate on more examples" in x for x in v.recommendation.reasons)


# --- not evaluated, bad input ---------------------------------------------------------------------------------

def test_runs_not_evaluated_ask_for_evaluation(tmp_path):
    hosted = write_run(tmp_path, "sql-gpt35", training_usd=11.99)
    local = write_run(tmp_path, "sql-codellama34b-lora", training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([hosted.path, local.path], today=SEED_DAY)
    r = v.recommendation
    assert (r.choice, r.case) == ("evaluate", "not-evaluated")
    assert f"ftwizard eval {hosted.path}" in r.sentence
    assert v.comparison.training_cost_ratio == pytest.approx(11.99 / 3.32)  # costs still compared


def test_different_eval_examples_are_not_paired(tmp_path):
    hosted = write_run(tmp_path, "viggo-gpt35", verdicts=outcomes(200, 160), training_usd=26.05)
    local = write_run(tmp_path, "viggo-codellama34b-lora", overrides={"data.eval": "valid"},
                      verdicts=outcomes(200, 150), training_usd=4.27, gpu="A40", price_per_hour=0.475)
    c = build_verdict([hosted.path, local.path], today=SEED_DAY).comparison
    assert c.p_value is None and c.test.startswith("95% intervals")
    assert any("different examples" in n for n in c.notes)


def test_bad_input_reports_every_problem(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as e:
        build_verdict([tmp_path / "nope", tmp_path / "empty"])
    assert len(e.value.problems) == 2
    assert "run directory not found" in e.value.problems[0] and "has no recipe.toml" in e.value.problems[1]

    sql = write_run(tmp_path, "sql-gpt35", verdicts=outcomes(20, 10))
    viggo = write_run(tmp_path, "viggo-gpt35", verdicts=outcomes(20, 10))
    with pytest.raises(UsageError, match="different tasks"):
        build_verdict([sql.path, viggo.path])
    with pytest.raises(UsageError, match="given twice"):
        build_verdict([sql.path, sql.path])


def test_faces_show_the_same_verdict(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=SEED_DAY)
    d = json.loads(json.dumps(v.to_dict()))
    assert d["recommendation"]["sentence"] == v.recommendation.sentence
    assert d["comparison"]["p_value"] == pytest.approx(v.comparison.p_value)
    assert [r["backend"] for r in d["runs"]] == ["hosted", "local"]
    assert d["runs"][0]["metrics"]["execution_match"]["n"] == 568
    md = v.to_markdown()
    assert v.recommendation.sentence in md and "| run | backend | model |" in md
    assert "82.0% [78.7-85.0]" in md

    from rich.console import Console

    for width in (80, 250):  # a narrow terminal turns the table; a wide one has a row per run
        console = Console(width=width, record=True)
        console.print(v.to_rich())
        text = console.export_text()
        assert "82.0%" in text and "CodeLlama-34b-hf" in text and "recommendation" in text
        assert max(len(line) for line in text.splitlines()) <= width


def test_hosted_only_while_closing_names_the_local_run_to_make(tmp_path):
    hosted = write_run(tmp_path, "viggo-gpt35", verdicts=outcomes(1083, 845), training_usd=26.05)
    r = build_verdict([hosted.path], today=date(2026, 11, 23)).recommendation
    assert (r.choice, r.case) == ("local", "hosted-closing")
    n = r.next_runs[0]
    assert n.backend == "local" and n.cost_usd > 0 and n.hours > 0
    assert r.sentence == ("Move to local LoRA (an open model): OpenAI fine-tuning closes to new jobs on 2027-01-06 "
                          f"(in 44 days); next, run the local LoRA run (CodeLlama-34b-hf) (estimated "
                          f"${n.cost_usd:,.2f}) on the same data and compare.")


def test_several_runs_of_one_side_name_the_best(tmp_path):
    a = write_run(tmp_path, "viggo-codellama34b-lora", verdicts=outcomes(1083, 800), training_usd=4.27, gpu="A40",
                  price_per_hour=0.475)
    b = write_run(tmp_path, "viggo-codellama34b-lora", overrides={"name": "viggo-llama7b",
                                                                 "model.base": "meta-llama/Llama-2-7b-hf"},
                  verdicts=outcomes(1083, 700), training_usd=1.1, gpu="A40", price_per_hour=0.475)
    v = build_verdict([b.path, a.path], today=SEED_DAY)
    assert v.recommendation.case == "single-run" and v.recommendation.sentence.startswith(a.name)
    assert f"best of 2 local runs: {a.name}; the others: {b.name} 64.6%" in v.recommendation.reasons


def test_single_run_with_no_gain_on_the_deciding_metric_names_where_it_gained(tmp_path):
    """The CPU demo's case: 0% exact match before and after, but slot F1 from 0% to 36%."""
    run = write_run(tmp_path, "viggo-cpu-demo", verdicts=[False] * 24, baseline_verdicts=[False] * 24,
                    training_usd=0.002, price_per_hour=0.05)
    data = json.loads(run.metrics_path.read_text())
    data["metrics"]["slot_f1"] = {"n": 24, "value": 0.364, "ci_low": 0.259, "ci_high": 0.451}
    data["baseline"]["slot_f1"] = {"n": 24, "value": 0.0, "ci_low": 0.0, "ci_high": 0.1}
    run.metrics_path.write_text(json.dumps(data))
    v = build_verdict([run.path], today=SEED_DAY)
    s = v.recommendation.sentence
    assert "reached 0.0% exact match" in s and "+0.0 points over the base model (0.0%)" in s
    assert "its clearest gain is in slot F1: 36.4%, +36.4 points over the base model (0.0%)" in s
