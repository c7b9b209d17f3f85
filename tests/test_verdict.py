"""The verdict from run-directory fixtures: the decision rule case by case, with the numbers of issue 13."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from ftwizard.errors import UsageError
from ftwizard.evaluation.stats import clopper_pearson
from ftwizard.verdict import (build_verdict, hosted_availability, loss_still_falling, mcnemar_exact,
                              paired_difference_ci)
from ftwizard.verdict.compare import gain_over_base, paired_counts
from ftwizard.verdict.render import comparison_lines, p_value, table_rows, to_markdown, to_rich
from tests.fixtures_runs import (imported_pair, outcomes, paired_outcomes, seed_sql_pair, seed_viggo_pair,
                                 write_run)

SEED_DAY = date(2023, 10, 1)  # before OpenAI's wind-down: the hosted path is open
TODAY = date(2026, 12, 1)


def _mean_tokens(run, key):
    vals = [json.loads(line)[key] for line in run.predictions_path.read_text().splitlines()]
    return sum(vals) / len(vals)


def _local(tmp_path, verdicts, **kw):
    kw.setdefault("training_usd", 3.32)
    return write_run(tmp_path, "sql-codellama34b-lora", verdicts=verdicts, hours=6.99, gpu="A40",
                     price_per_hour=0.475, **kw)


# --- statistics: the test and its interval agree ---------------------------------------------------------------

def test_mcnemar_exact_matches_the_binomial_by_hand():
    # 1 vs 9 discordant pairs: 2 * (C(10,0) + C(10,1)) / 2^10
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    expected = 2 * sum(math.comb(68, i) for i in range(29)) / 2 ** 68  # 40 vs 28 (the seed SQL fixture)
    assert mcnemar_exact(40, 28) == pytest.approx(expected, rel=1e-9)
    assert mcnemar_exact(2000, 1900) < 0.2 and mcnemar_exact(200, 100) < 1e-7


def test_clopper_pearson_known_values():
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 0.3085), abs=1e-4)
    assert clopper_pearson(7, 8) == pytest.approx((0.4735, 0.9968), abs=1e-4)
    lo, hi = clopper_pearson(50, 100)
    assert lo == pytest.approx(0.3983, abs=1e-4) and hi == pytest.approx(0.6017, abs=1e-4)


def test_seven_against_one_of_a_hundred_is_not_significant_and_its_interval_says_so():
    """The issue's case: p = 0.07 stood beside a Wald interval (+0.6 to +11.4 points) that excluded zero."""
    assert mcnemar_exact(7, 1) == pytest.approx(2 * 9 / 256)
    lo, hi = paired_difference_ci(7, 1, 100)
    assert lo < 0 < hi
    # exact and conditional: the Clopper-Pearson interval of 7/8 mapped to the difference x 8/100
    cp_lo, cp_hi = clopper_pearson(7, 8)
    assert (lo, hi) == pytest.approx((0.08 * (2 * cp_lo - 1), 0.08 * (2 * cp_hi - 1)))


def test_interval_excludes_zero_exactly_when_the_test_is_significant():
    for b in range(0, 26):
        for c in range(0, 26):
            for n in {b + c, b + c + 50, 1000}:
                if n == 0:
                    continue
                lo, hi = paired_difference_ci(b, c, n)
                assert lo <= (b - c) / n <= hi
                assert (mcnemar_exact(b, c) < 0.05) == (lo > 0 or hi < 0), (b, c, n)


def test_seed_interval_is_the_exact_one():
    lo, hi = paired_difference_ci(40, 28, 568)
    assert lo == pytest.approx(-0.0090, abs=5e-4) and hi == pytest.approx(0.0494, abs=5e-4)


def test_verdict_never_says_not_significant_beside_an_interval_excluding_zero(tmp_path):
    h, l = paired_outcomes(100, both=60, a_only=7, b_only=1, seed=4)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99)
    local = _local(tmp_path, l)
    v = build_verdict([hosted.path, local.path], today=SEED_DAY)
    c = v.comparison
    assert (c.hosted_only, c.local_only, c.n_paired) == (7, 1, 100)
    assert c.significant is False and c.diff_ci_low < 0 < c.diff_ci_high
    text = "\n".join(comparison_lines(v))
    assert "not significant" in text and "95% CI -0.4 points to +7.9 points" in text


def test_loss_still_falling():
    assert loss_still_falling([(i, 2.0 - i / 100) for i in range(100)])
    assert not loss_still_falling([(i, 0.5 + math.exp(-i / 5)) for i in range(100)])


# --- availability ----------------------------------------------------------------------------------------

def test_hosted_availability_follows_the_catalog_dates():
    assert hosted_availability(date(2026, 5, 6))["state"] == "open"
    closing = hosted_availability(date(2026, 11, 23))
    assert closing["state"] == "closing" and closing["date"] == "2027-01-06" and closing["days_left"] == 44
    assert "2026-05-07" in closing["detail"] and "2026-07-02" in closing["detail"]
    early = hosted_availability(date(2026, 6, 1))
    assert early["state"] == "closing" and "2026-07-02" not in early["detail"]
    assert hosted_availability(date(2027, 1, 6))["state"] == "closed"
    assert hosted_availability(date(2027, 3, 1), "azure")["state"] == "open"
    # per model: gpt-3.5-turbo no longer serves; gpt-4o-mini serves until 2027-01-14
    gone = hosted_availability(TODAY, "openai", "gpt-3.5-turbo-0125")
    assert gone["state"] == "gone" and gone["date"] == "2026-10-23"
    mini = hosted_availability(TODAY, "openai", "gpt-4o-mini-2024-07-18")
    assert mini["state"] == "closing" and "serve until 2027-01-14 (in 44 days)" in mini["detail"]
    assert hosted_availability(date(2027, 2, 1), "openai", "gpt-4o-mini")["state"] == "gone"


# --- the seed's own numbers: local 2.1 points behind, not shown within 2 points --------------------------------

def test_seed_sql_keeps_hosted_and_names_the_next_local_run(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=10_000, today=SEED_DAY)
    c, r = v.comparison, v.recommendation
    assert v.metric == "execution_match"  # the SQL task's deciding metric
    assert c.hosted_value == pytest.approx(466 / 568) and c.local_value == pytest.approx(454 / 568)
    assert (c.n_paired, c.hosted_only, c.local_only) == (568, 40, 28)
    assert c.p_value == pytest.approx(0.1818, abs=1e-3) and c.significant is False
    assert c.diff_ci_high > 0.02 and c.local_non_inferior is False
    assert (r.choice, r.case) == ("hosted", "not-shown")
    assert r.sentence.startswith("Keep the hosted fine-tune (gpt-3.5-turbo-0125): the local model is not shown to be "
                                 "within the 2-point margin (-2.1 points on execution match, 95% CI -4.9 points to "
                                 "+0.9 points")
    n = r.next_runs[0]
    assert n.what == "answer-only loss" and n.model == "codellama/CodeLlama-34b-hf" and n.quant == "8bit"
    assert n.gpu == "A40" and n.cost_usd > 0 and n.hours > 0
    assert "CodeLlama-34b-hf, 8-bit, A40" in r.sentence and "(command below)" in r.sentence
    assert f"`{n.command}`" in to_markdown(v)  # the exact command, right under the sentence
    # every next local run fits the GPU on record, with the estimator's own figures for its recipe
    from ftwizard.estimate import estimate_recipe

    for nxt in r.next_runs:
        est = estimate_recipe(local.recipe().with_updates(nxt.changes)).local
        assert est.fits and est.gpu == "A40"
        assert (nxt.cost_usd, nxt.hours) == (est.cost_usd, est.hours)
        assert nxt.command.startswith(f"ftwizard run {local.path / 'recipe.toml'} --set ")
    bigger = [x for x in r.next_runs if "model.base" in x.changes]
    assert bigger and bigger[0].changes["model.quant"] in ("8bit", "4bit")
    # at 10k requests the decision used no cost: none is shown as a reason
    assert not any("serving" in x or "training:" in x for x in r.reasons)


def test_volume_changes_the_sentence_only_as_far_as_the_numbers_go(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    low = build_verdict([hosted.path, local.path], requests_per_month=10_000, today=SEED_DAY).recommendation
    high = build_verdict([hosted.path, local.path], requests_per_month=5_000_000, today=SEED_DAY)
    r, c = high.recommendation, high.comparison
    assert r.case == low.case == "not-shown"  # a cheaper model that is not shown as good is not recommended
    saved = c.hosted_monthly_usd - c.local_monthly_usd
    assert f"local would save ${saved:,.0f} a month once it is as good" in r.sentence
    assert "would save" not in low.sentence
    assert any(x.startswith("training plus 12 months of serving") for x in r.reasons)


def test_headline_changes_across_the_break_even_volume(tmp_path):
    """Local as good within the margin: below break-even hosted is cheaper, above it local is."""
    h, l = paired_outcomes(568, both=450, a_only=5, b_only=5, seed=8)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99, prompt_tokens=160,
                       completion_tokens=28)
    local = _local(tmp_path, l, prompt_tokens=190, completion_tokens=32)
    low = build_verdict([hosted.path, local.path], requests_per_month=100_000, today=SEED_DAY)
    high = build_verdict([hosted.path, local.path], requests_per_month=5_000_000, today=SEED_DAY)
    be = low.comparison.break_even_requests_per_month
    assert 100_000 < be < 5_000_000
    assert low.comparison.local_non_inferior and high.comparison.local_non_inferior
    assert (low.recommendation.choice, low.recommendation.case) == ("hosted", "hosted-cheaper")
    assert low.recommendation.sentence.startswith("Keep the hosted fine-tune (gpt-3.5-turbo-0125): the local model "
                                                  "is as good within the 2-point margin, but hosted is cheaper at "
                                                  "100,000 requests/month")
    assert f"local becomes cheaper from {be / 1e3:.0f}k requests/month" in low.recommendation.sentence
    assert (high.recommendation.choice, high.recommendation.case) == ("local", "local-as-good")
    assert high.recommendation.sentence.startswith("Move to local LoRA (CodeLlama-34b-hf): it is as good as "
                                                   "gpt-3.5-turbo-0125 within the 2-point margin")
    assert any("within the 2-point margin" in x for x in high.recommendation.reasons)


def test_margin_from_the_flag_or_the_recipe(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)  # upper end of the interval: +4.9 points
    wide = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=SEED_DAY, margin=5)
    assert wide.comparison.local_non_inferior and wide.recommendation.case == "local-as-good"
    assert "within the 5-point margin" in wide.recommendation.sentence
    assert "3.6x cheaper to train" in wide.recommendation.sentence
    tight = write_run(tmp_path, "sql-codellama34b-lora", overrides={"eval.margin": 5.0},
                      verdicts=[json.loads(x)["verdicts"]["execution_match"]
                                for x in local.predictions_path.read_text().splitlines()],
                      training_usd=3.32, gpu="A40", price_per_hour=0.475)
    assert build_verdict([tight.path, hosted.path], requests_per_month=1_000_000,
                         today=SEED_DAY).recommendation.case == "local-as-good"
    with pytest.raises(UsageError, match="--margin"):
        build_verdict([hosted.path, local.path], margin=-1)


def test_seed_viggo_decides_on_meaning_match(tmp_path):
    hosted, local = seed_viggo_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=SEED_DAY)
    c = v.comparison
    assert v.metric == "meaning_match" and v.label("meaning_match") == "meaning match"
    assert (c.n_paired, c.hosted_only, c.local_only) == (1083, 55, 39)
    assert c.p_value == pytest.approx(2 * sum(math.comb(94, i) for i in range(40)) / 2 ** 94, rel=1e-9)
    assert c.training_cost_ratio == pytest.approx(26.05 / 4.27)
    assert v.recommendation.case == "not-shown"
    assert v.metric_names[0] == "meaning_match" and "slot_f1" in v.metric_names


def test_runs_scored_before_the_deciding_metric_existed_say_so(tmp_path):
    hosted, local = seed_viggo_pair(tmp_path)
    for run in (hosted, local):
        data = json.loads(run.metrics_path.read_text())
        del data["metrics"]["meaning_match"]
        run.metrics_path.write_text(json.dumps(data))
    v = build_verdict([hosted.path, local.path], today=SEED_DAY)
    assert v.metric == "exact_match"
    assert any("have no meaning match" in n and "ftwizard eval" in n for n in v.comparison.notes)


# --- clear gaps ------------------------------------------------------------------------------------------

def test_hosted_clearly_better_keeps_it_and_says_what_to_try(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=100, b_only=18, seed=5)  # 84.5% vs 70.1%
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99, trained_tokens=1_498_956)
    local = _local(tmp_path, l, loss_still_falling=True)
    v = build_verdict([local.path, hosted.path], requests_per_month=50_000, today=SEED_DAY)
    c, r = v.comparison, v.recommendation
    assert c.significant and c.better == "hosted" and c.p_value < 1e-10
    assert (r.choice, r.case) == ("hosted", "hosted-better")
    assert r.sentence.startswith("Keep the hosted fine-tune (gpt-3.5-turbo-0125): it is 14.4 points better on "
                                 "execution match; next local run: answer-only loss")
    whats = [n.what for n in r.next_runs]
    assert whats[0] == "answer-only loss" and whats[1] == "more steps"  # the loss was still falling
    more = r.next_runs[1]
    assert more.changes == {"train.max_steps": 800} and "still falling" in more.why
    assert more.cost_usd > r.next_runs[0].cost_usd


def test_local_significantly_better(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=10, b_only=60, seed=6)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99, trained_tokens=1_498_956)
    local = _local(tmp_path, l)
    r = build_verdict([hosted.path, local.path], today=SEED_DAY).recommendation
    assert (r.choice, r.case) == ("local", "local-better")
    assert r.sentence.startswith("Use the local LoRA model (CodeLlama-34b-hf): it is 8.8 points better on execution "
                                 "match (p = ")


def test_hosted_at_100_percent_against_the_cpu_demo_at_0_never_moves_to_local(tmp_path):
    """The issue's first contradiction: it said "Move to local LoRA (SmolLM2-135M-Instruct)"."""
    hosted = write_run(tmp_path, "viggo-gpt35", overrides={"hosted.model": "gpt-4o-mini-2024-07-18"},
                       verdicts=[True] * 24, training_usd=3.1)
    demo = write_run(tmp_path, "viggo-cpu-demo", verdicts=[False] * 24, baseline_verdicts=[False] * 24,
                     training_usd=0.002, price_per_hour=0.05)
    for day in (SEED_DAY, TODAY):
        r = build_verdict([hosted.path, demo.path], requests_per_month=100_000, today=day).recommendation
        assert (r.choice, r.case) == ("hosted", "hosted-better")
        assert not r.sentence.startswith(("Move to local", "Use the local"))
        assert "100.0 points better on meaning match" in r.sentence
        n = r.next_runs[0]
        assert "model.base" in n.changes and n.gpu == "A40" and n.cost_usd is not None
    today = build_verdict([hosted.path, demo.path], today=TODAY).recommendation
    assert "closes to new jobs on 2027-01-06" in today.sentence and "serves until 2027-01-14" in today.sentence
    # after the shutdown nothing hosted serves, and the demo is not usable: train, do not switch
    gone = build_verdict([hosted.path, demo.path], today=date(2027, 2, 1)).recommendation
    assert (gone.choice, gone.case) == ("next-run", "hosted-gone")
    assert gone.sentence.startswith("Train a better local model: the hosted model gpt-4o-mini-2024-07-18 was shut "
                                    "down on 2027-01-14, and the local model is not usable yet (0.0% meaning match)")
    # private data: says it is not usable and what to run, never "use the local model"
    private = build_verdict([hosted.path, demo.path], today=TODAY, private_data=True).recommendation
    assert (private.choice, private.case) == ("next-run", "private-data")
    assert "not usable yet" in private.sentence and "100.0 points behind hosted" in private.sentence
    assert "next local run:" in private.sentence


def test_private_data_with_a_local_model_far_worse_says_how_much_and_what_next(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=100, b_only=18, seed=5)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99)
    local = _local(tmp_path, l)
    v = build_verdict([hosted.path, local.path], private_data=True, today=SEED_DAY)
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "private-data")
    assert not r.sentence.startswith("Use the local")
    assert r.sentence.startswith("Keep the data on your machines with the local LoRA model (CodeLlama-34b-hf), "
                                 "knowing it is 14.4 points behind on execution match (95% CI +11.")
    assert "to close the gap, next local run: answer-only loss" in r.sentence
    assert "the data must stay on your machines, which rules out hosted fine-tuning" in r.reasons
    assert v.to_dict()["private_data"] is True


def test_private_data_and_local_as_good(tmp_path):
    h, l = paired_outcomes(568, both=450, a_only=5, b_only=5, seed=8)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, training_usd=11.99)
    local = _local(tmp_path, l)
    r = build_verdict([hosted.path, local.path], private_data=True, requests_per_month=100_000,
                      today=SEED_DAY).recommendation
    assert (r.choice, r.case) == ("local", "private-data")
    assert r.sentence.startswith("Use the local LoRA model (CodeLlama-34b-hf): it is as good as gpt-3.5-turbo-0125 "
                                 "within the 2-point margin")
    assert not any("serving" in x for x in r.reasons)  # privacy decided, not cost


def test_private_data_from_the_recipe(tmp_path):
    local = write_run(tmp_path, "sql-codellama34b-lora", overrides={"private_data": True},
                      verdicts=outcomes(100, 70), training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([local.path], today=SEED_DAY)
    assert v.private_data and v.recommendation.case == "private-data"
    assert v.recommendation.next_runs == []  # usable, nothing hosted to suggest


def test_neither_is_usable_yet(tmp_path):
    h, l = paired_outcomes(200, both=2, a_only=2, b_only=1, seed=9)
    base = outcomes(200, 3, seed=10)
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=h, baseline_verdicts=base, training_usd=11.99)
    local = _local(tmp_path, l, baseline_verdicts=base)
    r = build_verdict([hosted.path, local.path], today=SEED_DAY).recommendation
    assert (r.choice, r.case) == ("next-run", "neither-usable")
    assert r.sentence.startswith("Neither model is usable yet: neither is clearly above its base model on "
                                 "execution match")
    assert r.next_runs and "next local run:" in r.sentence


# --- the hosted path closing, closed or gone ----------------------------------------------------------------

def test_hosted_closing_and_local_as_good_moves_to_local_with_the_date(tmp_path):
    h, l = paired_outcomes(568, both=450, a_only=5, b_only=5, seed=8)
    hosted = write_run(tmp_path, "sql-gpt35", overrides={"hosted.model": "gpt-4o-mini-2024-07-18"}, verdicts=h,
                       training_usd=4.5)
    local = _local(tmp_path, l)
    v = build_verdict([hosted.path, local.path], requests_per_month=10_000, today=date(2026, 11, 23))
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "hosted-closing")
    assert r.sentence.startswith("Move to local LoRA (CodeLlama-34b-hf): it is as good as gpt-4o-mini-2024-07-18 "
                                 "within the 2-point margin")
    assert "OpenAI fine-tuning of gpt-4o-mini-2024-07-18 closes to new jobs on 2027-01-06 (in 44 days)" in r.sentence
    assert r.reasons[0].startswith("OpenAI fine-tuning closes to new jobs for everyone on 2027-01-06")
    assert v.row(hosted.name).availability == "new jobs close 2027-01-06"


def test_hosted_gone_and_local_usable_is_the_best_available(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)  # gpt-3.5-turbo: shut down 2026-10-23
    v = build_verdict([hosted.path, local.path], today=TODAY)
    r = v.recommendation
    assert (r.choice, r.case) == ("local", "hosted-gone")
    assert r.sentence.startswith("Use the local LoRA model (CodeLlama-34b-hf) as the best available: the hosted "
                                 "model gpt-3.5-turbo-0125 was shut down on 2026-10-23; the local model is 2.1 points "
                                 "behind on execution match")
    assert "next local run:" in r.sentence
    assert v.row(hosted.name).availability == "shut down 2026-10-23"


def test_hosted_closed_and_clearly_better_keeps_serving_while_closing_the_gap(tmp_path):
    h, l = paired_outcomes(568, both=380, a_only=100, b_only=18, seed=5)
    hosted = write_run(tmp_path, "sql-gpt35", overrides={"hosted.model": "gpt-4o-mini-2024-07-18"}, verdicts=h,
                       training_usd=4.5)
    local = _local(tmp_path, l)
    v = build_verdict([hosted.path, local.path], today=date(2027, 1, 10))
    r = v.recommendation
    assert (r.choice, r.case) == ("hosted", "hosted-better")
    assert "is 14.4 points better" in r.sentence and "serves until 2027-01-14, so close the gap locally now" in r.sentence
    assert v.row(hosted.name).availability.startswith("new jobs closed")


def test_azure_is_not_part_of_the_wind_down(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    from ftwizard.fsutil import atomic_write_json

    st = hosted.status()
    st["provider"] = "azure"
    atomic_write_json(hosted.status_path, st)
    v = build_verdict([hosted.path, local.path], requests_per_month=1_000_000, today=date(2027, 2, 1))
    assert v.row(hosted.name).availability == "open (Azure)"
    assert v.recommendation.case == "not-shown"


# --- one side only --------------------------------------------------------------------------------------------

def test_single_local_run_shows_the_gain_over_base_and_the_next_run(tmp_path):
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=outcomes(568, 440, seed=1),
                      baseline_verdicts=outcomes(568, 96, seed=2), training_usd=3.32, gpu="A40", price_per_hour=0.475)
    v = build_verdict([local.path], today=SEED_DAY)
    r = v.recommendation
    assert (r.choice, r.case) == ("next-run", "single-run")
    g = gain_over_base(v.row(local.name), "execution_match")
    assert (g["n"], g["tuned_only"], g["base_only"]) == paired_counts(
        v.row(local.name).verdicts, v.row(local.name).baseline_verdicts, "execution_match")
    assert g["p_value"] == mcnemar_exact(g["tuned_only"], g["base_only"]) < 1e-6
    assert r.sentence.startswith(f"{local.name} (CodeLlama-34b-hf) reached 77.5% execution match (95% CI 73.9%-80.7%), "
                                 f"+60.6 points over the base model (16.9%; p = {p_value(g['p_value'])}, "
                                 f"{g['tuned_only']} vs {g['base_only']} discordant); next, run the hosted fine-tune "
                                 "(gpt-3.5-turbo-0125) (estimated $11.99)")
    # every face shows the paired test of the gain: the JSON, the markdown report, the terminal
    assert v.to_dict()["runs"][0]["gain_over_base"]["tuned_only"] == g["tuned_only"]
    line = f"exact McNemar test p = {p_value(g['p_value'])} on {g['n']} paired examples ({g['tuned_only']} right " \
           f"only tuned vs {g['base_only']} right only untuned)"
    assert line in to_markdown(v)
    from rich.console import Console

    console = Console(width=80, record=True, color_system=None)
    console.print(to_rich(v))
    assert "right only tuned vs" in console.export_text().replace("\n", " ")
    nxt = r.next_runs[0]
    assert nxt.backend == "hosted" and nxt.changes == {"backend": "hosted"}
    assert nxt.command == f"ftwizard run {local.path / 'recipe.toml'} --set backend=hosted"
    assert v.comparison is None and "(base 16.9%)" in to_markdown(v)


def test_single_hosted_run_suggests_the_local_run_with_its_estimate(tmp_path):
    hosted = write_run(tmp_path, "viggo-gpt35", verdicts=outcomes(1083, 845), training_usd=26.05,
                       trained_tokens=3 * 1_085_690)
    r = build_verdict([hosted.path], today=SEED_DAY).recommendation
    assert r.case == "single-run" and r.next_runs[0].backend == "local"
    # the recipe's 16-bit Code Llama 34B does not fit the A40: the proposal is the lightest quantization that does
    assert r.next_runs[0].command.endswith("--set backend=local --set model.quant=8bit")
    assert r.next_runs[0].cost_usd > 0 and r.next_runs[0].quant == "8bit"
    assert "next, run the local LoRA run (CodeLlama-34b-hf)" in r.sentence


def test_single_hosted_run_while_closing_names_the_local_run_to_make(tmp_path):
    hosted = write_run(tmp_path, "viggo-gpt35", overrides={"hosted.model": "gpt-4o-mini-2024-07-18"},
                       verdicts=outcomes(1083, 845), training_usd=3.1)
    r = build_verdict([hosted.path], today=date(2026, 11, 23)).recommendation
    assert (r.choice, r.case) == ("next-run", "hosted-closing")
    n = r.next_runs[0]
    assert n.backend == "local" and n.cost_usd > 0 and n.hours > 0
    assert r.sentence == (f"Run the local LoRA next (CodeLlama-34b-hf, estimated ${n.cost_usd:,.2f}): OpenAI "
                          "fine-tuning of gpt-4o-mini-2024-07-18 closes to new jobs on 2027-01-06 (in 44 days); keep "
                          "gpt-4o-mini-2024-07-18 while it serves and compare on the same examples.")


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
    """The CPU demo's case: 0% meaning match before and after, but slot F1 from 0% to 36%."""
    run = write_run(tmp_path, "viggo-cpu-demo", verdicts=[False] * 24, baseline_verdicts=[False] * 24,
                    training_usd=0.002, price_per_hour=0.05)
    data = json.loads(run.metrics_path.read_text())
    data["metrics"]["slot_f1"] = {"n": 24, "value": 0.364, "ci_low": 0.259, "ci_high": 0.451}
    data["baseline"]["slot_f1"] = {"n": 24, "value": 0.0, "ci_low": 0.0, "ci_high": 0.1}
    run.metrics_path.write_text(json.dumps(data))
    s = build_verdict([run.path], today=SEED_DAY).recommendation.sentence
    assert "reached 0.0% meaning match" in s and "+0.0 points over the base model (0.0%; p = 1, 0 vs 0 discordant)" in s
    assert "its clearest gain is in slot F1: 36.4%, +36.4 points over the base model (0.0%)" in s
    assert "not clearly above its base model yet" in s


# --- costs: actual where run, estimated where not; one serving computation ---------------------------------

def test_serving_per_1k_and_per_month_come_from_one_bill(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    v = build_verdict([hosted.path, local.path], requests_per_month=100_000, today=SEED_DAY)
    c = v.comparison
    p, t = _mean_tokens(hosted, "prompt_tokens"), _mean_tokens(hosted, "completion_tokens")
    assert c.hosted_usd_per_1k == pytest.approx((p * 3.0 + t * 6.0) / 1000, abs=1e-4)
    assert c.hosted_monthly_usd == pytest.approx(c.hosted_usd_per_1k * 100, abs=0.01)
    assert c.local_monthly_usd == pytest.approx(730 * 0.475)
    assert c.local_usd_per_1k == pytest.approx(1000 * c.local_monthly_usd / 100_000, rel=1e-3)
    assert c.local_marginal_usd_per_1k < c.local_usd_per_1k
    assert v.row(local.name).serving_usd_per_1k == c.local_usd_per_1k


def test_hosted_cost_from_trained_tokens_when_no_cost_file(tmp_path):
    hosted = write_run(tmp_path, "sql-gpt35", verdicts=outcomes(50, 40), training_usd=None,
                       trained_tokens=1_498_956)
    row = build_verdict([hosted.path], today=SEED_DAY).rows[0]
    assert row.training_kind == "actual"
    assert row.training_usd == pytest.approx(1_498_956 * 8.0 / 1e6)  # $11.99


def test_missing_training_cost_is_estimated_with_its_range(tmp_path):
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=outcomes(50, 40), training_usd=None)
    v = build_verdict([local.path], today=SEED_DAY)
    row = v.rows[0]
    assert row.training_kind == "estimated" and row.training_usd > 0
    lo, hi = row.training_usd_range
    assert lo < row.training_usd < hi
    cell = table_rows(v)[1][0][table_rows(v)[0].index("training cost")]
    assert "(est. $" in cell


def test_gpu_price_follows_the_gpu_on_record(tmp_path):
    """No price recorded: the catalog's price of the card the run used, not the recipe's price for another."""
    local = write_run(tmp_path, "sql-codellama34b-lora", verdicts=outcomes(50, 40), training_usd=3.0, gpu="H100",
                      write_cost=False)
    row = build_verdict([local.path], today=SEED_DAY).rows[0]
    assert row.price_per_hour == 3.29 and "Lambda" in row.price_source


# --- runs as `ftwizard import-openai-job` leaves them ---------------------------------------------------------

def test_imported_openai_job_against_the_local_run_of_its_recipe(tmp_path):
    hosted, local = imported_pair(tmp_path, hosted_right=45, local_right=43, both=41)
    v = build_verdict([hosted.path, local.path], requests_per_month=100_000, today=date(2026, 3, 1))
    row = v.row(hosted.name)
    assert row.imported and row.backend == "hosted" and row.model.startswith("ft:gpt-4o-mini")
    assert row.training_usd == pytest.approx(412_000 * 3.0 / 1e6) and row.training_kind == "actual"
    assert table_rows(v)[1][0][1] == "hosted (imported)"
    c = v.comparison
    assert (c.hosted_only, c.local_only) == (4, 2) and not c.significant
    assert v.task == "custom"
    assert v.recommendation.case == "not-shown" and "evaluate on more examples" in v.recommendation.sentence


# --- not evaluated, bad input, faces ----------------------------------------------------------------------------

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
    assert c.p_value is None and c.test.startswith("unpaired 95% interval")
    assert any("different examples" in n for n in c.notes)
    assert c.significant == (c.diff_ci_low > 0 or c.diff_ci_high < 0)  # the interval and the call agree


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
    assert d["comparison"]["margin"] == 0.02 and d["comparison"]["local_non_inferior"] is False
    assert [r["backend"] for r in d["runs"]] == ["hosted", "local"]
    assert d["runs"][0]["metrics"]["execution_match"]["n"] == 568
    assert d["recommendation"]["next_runs"][0]["model"] == "codellama/CodeLlama-34b-hf"
    md = to_markdown(v)
    assert v.recommendation.sentence in md and "| run | backend | model |" in md
    assert "82.0% [78.7-85.0]" in md and "margin 2 points" in md

    from rich.console import Console

    for width in (80, 250):  # a narrow terminal turns the table; a wide one has a row per run
        console = Console(width=width, record=True)
        console.print(to_rich(v))
        text = console.export_text()
        assert "82.0%" in text and "CodeLlama-34b-hf" in text and "recommendation" in text
        assert max(len(line) for line in text.splitlines()) <= width


def test_hosted_open_weights_on_a_dedicated_endpoint(tmp_path):
    """Together serves a fine-tune on a dedicated endpoint billed by the hour: local is cheaper from the first
    request, and the training prices come from Together's catalog entry."""
    h, l = paired_outcomes(1083, both=800, a_only=6, b_only=6, seed=3)
    hosted = write_run(tmp_path, "viggo-together", verdicts=h, training_usd=None, trained_tokens=3_000_000,
                       provider="together")
    local = write_run(tmp_path, "viggo-codellama34b-lora", verdicts=l, training_usd=4.27, gpu="A40",
                      price_per_hour=0.475)
    v = build_verdict([hosted.path, local.path], today=TODAY, requests_per_month=10_000)
    c, r = v.comparison, v.recommendation
    row = v.row(hosted.name)
    assert row.provider == "together" and row.training_usd == pytest.approx(3_000_000 * 0.48 / 1e6)
    assert c.hosted_monthly_usd == pytest.approx(730 * 3.99, abs=0.01) and c.break_even_requests_per_month == 0
    assert (r.choice, r.case) == ("local", "local-as-good")
    assert "local serving is cheaper from the first request" in "\n".join(comparison_lines(v))
    assert row.availability == "open"


def test_a_hosted_adapter_brought_home_is_weighed_as_the_same_weights_on_your_gpu(tmp_path):
    """`ftwizard eval RUN --local` on a Together run: compare shows the same weights served hosted (a dedicated
    endpoint by the hour) and on the user's GPU, with per-1k costs and the break-even, training paid once."""
    import json

    from tests.fixtures_runs import _write_predictions, task_verdicts, _eval_examples, _prop

    h, home = paired_outcomes(1083, both=800, a_only=3, b_only=4, seed=5)
    hosted = write_run(tmp_path, "viggo-together", verdicts=h, training_usd=1.57, trained_tokens=3_272_487,
                       provider="together")
    recipe = hosted.recipe()
    per_metric = task_verdicts("viggo", home)
    _write_predictions(hosted.path / "predictions_local.jsonl", _eval_examples(recipe, len(home)), per_metric,
                       180, 30)
    metrics = json.loads(hosted.metrics_path.read_text())
    metrics["local"] = {"task": "viggo", "n": len(home), "metrics": {k: _prop(v) for k, v in per_metric.items()},
                        "which": "local", "served": "local", "predictions": "predictions_local.jsonl",
                        "provider": "together", "adapter": str(hosted.adapter_dir)}
    hosted.metrics_path.write_text(json.dumps(metrics))

    v = build_verdict([hosted.path], today=TODAY, requests_per_month=100_000)
    names = [r.name for r in v.rows]
    assert names == [hosted.name, f"{hosted.name}@home"]
    twin = v.rows[1]
    assert twin.backend == "local" and twin.base_model == recipe.model.base
    assert twin.training_usd == v.rows[0].training_usd == pytest.approx(1.57), "training is paid once"
    assert any("same weights" in n for n in twin.notes)
    c = v.comparison
    assert c is not None and c.hosted_run == hosted.name and c.local_run == twin.name
    assert abs(c.difference) < 0.01  # identical weights: the paired difference is noise
    assert c.hosted_monthly_usd == pytest.approx(730 * 3.99, abs=0.01)  # Together's dedicated endpoint
    assert c.local_monthly_usd is not None and c.local_monthly_usd < c.hosted_monthly_usd
    assert v.recommendation.choice == "local"
    assert "the same training bill" in v.recommendation.sentence and "cheaper to train" not in v.recommendation.sentence
    # a hosted run never evaluated at home has no twin
    plain = write_run(tmp_path, "viggo-together", name="plain", verdicts=h, training_usd=1.57, provider="together")
    assert [r.name for r in build_verdict([plain.path], today=TODAY).rows] == [plain.name]
