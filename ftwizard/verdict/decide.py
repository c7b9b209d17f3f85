"""The recommendation: one sentence that follows the evidence, the reasons it used, and the next runs.

The rule (README "The verdict"; every case is pinned by tests/test_verdict.py):
1. Both sides evaluated and neither clearly above its base model -> "neither is usable yet", and the next run.
2. Local significantly better (exact McNemar, 5%) -> the local model.
3. Local non-inferior: the 95% interval's upper end of (hosted - local) is below the margin (recipe
   `eval.margin` / `--margin`, default 2 points) -> the local model, unless hosted is cheaper over training plus
   a year of serving at the user's volume while hosted stays open and the data may leave (then hosted, with the
   volume from which local is cheaper). Privacy and a closing hosted path only strengthen "local" here.
4. Local not shown non-inferior: keep the better model and name the next local run concretely. Exceptions: the
   hosted model no longer serves (shut down) and the local one is usable -> local, as the best available, saying
   how far behind it is; private data -> the local model only with how much worse it is and what to run next.
5. One side only -> what it showed, and the run on the other side (or the next local run) with its estimate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftwizard.verdict.compare import gain_over_base
from ftwizard.verdict.model import HORIZON_MONTHS, Comparison, NextRun, Recommendation, RunRow
from ftwizard.verdict.nextrun import local_next_runs, other_side_run
from ftwizard.verdict.runs import next_step
from ftwizard.verdict.render import be_phrase, hours, p_value, pct, points, ratio, usd

if TYPE_CHECKING:
    from ftwizard.verdict.model import Verdict


def usable(row: RunRow | None, metric: str, margin: float) -> bool:
    """Clearly better than nothing: a significant gain of at least the margin over its base model (paired on the
    same examples when the baseline's per-example verdicts exist); without a baseline, above the margin at all."""
    if row is None or metric not in row.metrics:
        return False
    g = gain_over_base(row, metric)
    if g is not None:
        return bool(g["significant"]) and g["difference"] >= margin
    return row.metrics[metric].value >= margin


def showed(v: "Verdict", row: RunRow, metric: str) -> str:
    m = row.metrics.get(metric)
    label = v.label(metric)
    if m is None:
        return f"{row.name} is not evaluated yet"
    s = f"{row.name} ({row.short_model}) reached {pct(m.value)} {label} (95% CI {pct(m.ci_low)}-{pct(m.ci_high)})"
    base = row.baseline.get(metric)
    if base is not None:
        s += f", {points(m.value - base.value)} over the base model ({pct(base.value)}"
        g = gain_over_base(row, metric)
        if g is not None and g["p_value"] is not None:
            s += f"; p = {p_value(g['p_value'])}, {g['tuned_only']} vs {g['base_only']} discordant"
        s += ")"
        if m.value - base.value < 0.005:
            # The deciding metric shows nothing (a small model rarely gets a whole answer exactly right): say where
            # fine-tuning did move the needle, if anywhere, in the task's own order of metrics.
            gains = {k: row.metrics[k].value - b.value for k, b in row.baseline.items()
                     if k != metric and k in row.metrics and row.metrics[k].value - b.value >= 0.005}
            if gains:
                order = [k for k in v.metric_names if k in gains]
                k = order[0] if order else max(gains, key=gains.get)
                s += (f"; its clearest gain is in {v.label(k)}: {pct(row.metrics[k].value)}, "
                      f"{points(gains[k])} over the base model ({pct(row.baseline[k].value)})")
    return s


def gap_reason(v: "Verdict", c: Comparison) -> str:
    s = (f"{v.label(c.metric)}: {c.hosted_run} {pct(c.hosted_value)} vs {c.local_run} {pct(c.local_value)} "
         f"({points(c.difference)}")
    if c.diff_ci_low is not None:
        s += f", 95% CI {points(c.diff_ci_low)} to {points(c.diff_ci_high)}"
    s += ")"
    if c.p_value is not None:
        s += f"; {c.test} p = {p_value(c.p_value)} on {c.n_paired} shared examples"
    s += " - significant" if c.significant else " - not a significant difference"
    return s


def margin_reason(c: Comparison) -> str:
    m = f"{100 * c.margin:g}-point margin"
    if c.local_non_inferior:
        return (f"the local model is within the {m}: hosted is at most {points(c.diff_ci_high)[1:]} better "
                "(upper end of the 95% interval)")
    return (f"the local model is not shown to be within the {m}: hosted may be up to "
            f"{points(c.diff_ci_high)[1:]} better (upper end of the 95% interval)")


def cost_reasons(c: Comparison) -> list[str]:
    out = []
    if c.training_cost_ratio is not None:
        out.append(f"training: {usd(c.hosted_training_usd)} hosted vs {usd(c.local_training_usd)} local "
                   f"({ratio(c.training_cost_ratio)})")
    if c.hosted_monthly_usd is not None and c.local_monthly_usd is not None:
        out.append(f"serving at {c.requests_per_month:,} requests/month: {usd(c.hosted_monthly_usd)} hosted vs "
                   f"{usd(c.local_monthly_usd)} local a month ({usd(c.hosted_usd_per_1k)} vs "
                   f"{usd(c.local_usd_per_1k)} per 1,000 requests)")
        h_total, l_total = c.total_usd("hosted"), c.total_usd("local")
        out.append(f"training plus {HORIZON_MONTHS} months of serving: {usd(h_total)} hosted vs {usd(l_total)} local")
    if c.break_even_requests_per_month is not None:
        out.append(f"local serving is cheaper from {be_phrase(c.break_even_requests_per_month)}")
    return out


def _cheaper_phrase(c: Comparison) -> tuple[bool | None, str]:
    """Is local cheaper over HORIZON_MONTHS (training + serving at the volume), and a phrase saying how."""
    parts = []
    if c.training_cost_ratio is not None and abs(c.training_cost_ratio - 1) < 0.005:
        parts.append("the same training bill")  # e.g. a hosted adapter brought home: trained once
    elif c.training_cost_ratio is not None and c.training_cost_ratio > 0:
        parts.append(f"{ratio(c.training_cost_ratio)} cheaper to train" if c.training_cost_ratio >= 1
                     else f"{ratio(1 / c.training_cost_ratio)} dearer to train")
    if c.hosted_monthly_usd is not None and c.local_monthly_usd is not None:
        diff = c.hosted_monthly_usd - c.local_monthly_usd
        if diff >= 0:
            parts.append(f"{usd(diff)} a month cheaper to serve at {c.requests_per_month:,} requests")
        else:
            parts.append(f"though {usd(-diff)} a month dearer to serve at {c.requests_per_month:,} requests")
    phrase = parts[0] if parts else ""
    if len(parts) > 1:
        contrast = parts[0].endswith("dearer to train") != parts[1].startswith("though")
        phrase += " " + (parts[1] if parts[1].startswith("though") else ("but " if contrast else "and ") + parts[1])
    h_total, l_total = c.total_usd("hosted"), c.total_usd("local")
    if h_total is None or l_total is None:
        return None, phrase
    return l_total <= h_total, phrase


def _next_phrase(n: NextRun | None) -> str:
    """'next local run: answer-only loss (CodeLlama-34b-hf, 8-bit, A40; estimated $2.84, 6.0 h) (command below)':
    the exact command is the first of `next_runs`, shown right under the sentence by every face."""
    if n is None:
        return ""
    inside = [x for x in (n.on() if n.what.split(" ")[0] not in (n.model or "").split("/")[-1] else "",) if x]
    if n.cost_usd is not None:
        inside.append(f"estimated {usd(n.cost_usd)}" + (f", {hours(n.hours)}" if n.hours else ""))
    return f"next local run: {n.what}" + (f" ({'; '.join(inside)})" if inside else "") + " (command below)"


def _when(avail: dict) -> str:
    state = avail["state"]
    if state == "gone":
        return f"was shut down on {avail['date']}"
    if state == "closed":
        return f"closed to new jobs on {avail['date']}" if avail.get("date") else "is closed to new jobs"
    return f"closes to new jobs on {avail['date']}" + (f" (in {avail['days_left']} days)" if "days_left" in avail else "")


def recommend(v: "Verdict", best_h: RunRow | None, best_l: RunRow | None) -> Recommendation:
    metric, c, margin = v.metric, v.comparison, v.margin
    avail = v.hosted_availability
    state = avail["state"]
    provider = best_h.provider if best_h else avail.get("provider", "openai")
    from ftwizard.catalog import provider_name

    hosted_name = provider_name(provider)

    evaluated = [r for r in (best_h, best_l) if r is not None and r.metrics.get(metric)]
    if not evaluated:
        steps = "; ".join(next_step(r) for r in v.rows if not r.metrics)
        return Recommendation("evaluate", "not-evaluated",
                              f"No {v.label(metric)} on record yet: {steps}.")
    reasons = [showed(v, r, metric) for r in evaluated]
    for side, b in (("hosted", best_h), ("local", best_l)):
        scored = [r for r in v.rows if r.backend == side and metric in r.metrics and r is not b]
        if b is not None and scored:
            reasons.append(f"best of {len(scored) + 1} {side} runs: {b.name}; the others: " + ", ".join(
                f"{r.name} {pct(r.metrics[metric].value)}" for r in scored))
    if c is not None and len(evaluated) == 1:
        missing = best_l if not best_l.metrics.get(metric) else best_h
        return Recommendation("evaluate", "not-evaluated",
                              f"Evaluate {missing.name} before deciding: {next_step(missing)}.", reasons)
    if c is None:
        return _single(v, evaluated[0], reasons, hosted_name)

    # -- both sides evaluated ---------------------------------------------------------------------------
    reasons.append(gap_reason(v, c))
    label = v.label(metric)
    h_ok, l_ok = usable(best_h, metric, margin), usable(best_l, metric, margin)
    if not h_ok and not l_ok:
        nexts = local_next_runs(best_l)
        s = (f"Neither model is usable yet: neither is clearly above its base model on {label} (by the "
             f"{100 * margin:g}-point margin)")
        s += ("; " + _next_phrase(nexts[0])) if nexts else ""
        return Recommendation("next-run", "neither-usable", s + ".", reasons, nexts)

    if c.better == "local":
        s = f"Use the local LoRA model ({best_l.short_model}): it is {points(-c.difference)[1:]} better on {label}"
        return Recommendation("local", "local-better", s + f" (p = {p_value(c.p_value)})." if c.p_value is not None
                              else s + ".", reasons)

    if c.local_non_inferior:
        reasons.append(margin_reason(c))
        within = f"it is as good as {best_h.short_model} within the {100 * margin:g}-point margin ({points(-c.difference)} on {label})"
        if v.private_data:
            reasons.append("the data must stay on your machines, which rules out hosted fine-tuning")
            return Recommendation("local", "private-data",
                                  f"Use the local LoRA model ({best_l.short_model}): {within}, and the data must "
                                  "stay on your machines.", reasons)
        if state in ("closing", "closed", "gone"):
            reasons.insert(0, avail["detail"])
            return Recommendation("local", "hosted-gone" if state == "gone" else f"hosted-{state}",
                                  f"Move to local LoRA ({best_l.short_model}): {within}, and {hosted_name} "
                                  f"fine-tuning of {best_h.short_model} {_when(avail)}.", reasons)
        cheaper, how = _cheaper_phrase(c)
        reasons += cost_reasons(c)
        if cheaper is not False:
            s = f"Move to local LoRA ({best_l.short_model}): {within}" + (f", {how}" if how else "")
            return Recommendation("local", "local-as-good", s + ".", reasons)
        s = (f"Keep the hosted fine-tune ({best_h.short_model}): the local model is as good within the "
             f"{100 * margin:g}-point margin, but hosted is cheaper at {v.requests_per_month:,} requests/month "
             f"({usd(c.total_usd('hosted'))} vs {usd(c.total_usd('local'))} for training and {HORIZON_MONTHS} "
             "months of serving)")
        if c.break_even_requests_per_month is not None:
            s += f"; local becomes cheaper from {be_phrase(c.break_even_requests_per_month)}"
        return Recommendation("hosted", "hosted-cheaper", s + ".", reasons)

    # -- local not shown to be as good ------------------------------------------------------------------
    reasons.append(margin_reason(c))
    behind = f"{points(c.difference)[1:]} behind on {label}" if c.difference > 0 else \
        f"{points(-c.difference)[1:]} ahead on {label} but not shown within the margin"
    nexts = local_next_runs(best_l)
    nxt = _next_phrase(nexts[0] if nexts else None)
    if state == "gone":
        reasons.insert(0, avail["detail"])
        if l_ok:
            s = (f"Use the local LoRA model ({best_l.short_model}) as the best available: the hosted model "
                 f"{best_h.short_model} {_when(avail)}; the local model is {behind} (95% CI "
                 f"{points(c.diff_ci_low)} to {points(c.diff_ci_high)})")
            return Recommendation("local", "hosted-gone", s + (f"; {nxt}" if nxt else "") + ".", reasons, nexts)
        s = (f"Train a better local model: the hosted model {best_h.short_model} {_when(avail)}, and the local model "
             f"is not usable yet ({pct(c.local_value)} {label})")
        return Recommendation("next-run", "hosted-gone", s + (f"; {nxt}" if nxt else "") + ".", reasons, nexts)
    if v.private_data:
        reasons.append("the data must stay on your machines, which rules out hosted fine-tuning")
        if l_ok:
            s = (f"Keep the data on your machines with the local LoRA model ({best_l.short_model}), knowing it is "
                 f"{behind} (95% CI {points(c.diff_ci_low)} to {points(c.diff_ci_high)})")
            return Recommendation("local", "private-data", s + (f"; to close the gap, {nxt}" if nxt else "") + ".",
                                  reasons, nexts)
        s = (f"Train a better local model before using it: the data must stay on your machines, and the local "
             f"model is not usable yet ({pct(c.local_value)} {label}, {points(c.difference)[1:]} behind hosted)")
        return Recommendation("next-run", "private-data", s + (f"; {nxt}" if nxt else "") + ".", reasons, nexts)

    if c.better == "hosted":
        s = f"Keep the hosted fine-tune ({best_h.short_model}): it is {points(c.difference)[1:]} better on {label}"
        case = "hosted-better"
    else:
        s = (f"Keep the hosted fine-tune ({best_h.short_model}): the local model is not shown to be within the "
             f"{100 * margin:g}-point margin ({points(-c.difference)} on {label}, 95% CI {points(-c.diff_ci_high)} "
             f"to {points(-c.diff_ci_low)}; evaluate on more examples to narrow it)")
        case = "not-shown"
    if state in ("closing", "closed"):
        reasons.insert(0, avail["detail"])
        shut = avail.get("shutdown_date")
        s += (f"; {hosted_name} fine-tuning {_when(avail)}"
              + (f" and the model serves until {shut}" if shut else "") + ", so close the gap locally now")
    if c.hosted_monthly_usd is not None and c.local_monthly_usd is not None \
            and c.local_monthly_usd < c.hosted_monthly_usd:
        s += (f"; at {v.requests_per_month:,} requests/month local would save "
              f"{usd(c.hosted_monthly_usd - c.local_monthly_usd)} a month once it is as good")
        reasons += cost_reasons(c)
    s += f"; {nxt}" if nxt else ""
    return Recommendation("hosted", case, s + ".", reasons, nexts)


def _single(v: "Verdict", row: RunRow, reasons: list[str], hosted_name: str) -> Recommendation:
    """Runs of one side only: what the best one showed, and the next run to make."""
    metric, avail = v.metric, v.hosted_availability
    state = avail["state"]
    hosted_open = state == "open" and not v.private_data
    ok = usable(row, metric, v.margin)
    sentence = showed(v, row, metric)
    if not ok:
        sentence += f" - not clearly above its base model yet (by the {100 * v.margin:g}-point margin)"
    if row.backend == "hosted" and state != "open":
        reasons.insert(0, avail["detail"])
        n = other_side_run(row, hosted_open=False)
        keep = "" if state == "gone" else f"; keep {row.short_model} while it serves and compare on the same examples"
        s = (f"Run the local LoRA next ({row.recipe.model.base.split('/')[-1]}"
             + (f", estimated {usd(n.cost_usd)}" if n and n.cost_usd is not None else "") + f"): {hosted_name} "
             f"fine-tuning of {row.short_model} {_when(avail)}{keep}")
        case = "hosted-gone" if state == "gone" else f"hosted-{state}"
        return Recommendation("next-run", case, s + ".", reasons, [n] if n else [])
    if v.private_data and row.backend == "local":
        reasons.append("the data must stay on your machines, which rules out hosted fine-tuning")
        nexts = [] if ok else local_next_runs(row)
        s = (f"Use the local LoRA model ({row.short_model}): the data must stay on your machines, which rules out "
             "hosted fine-tuning") if ok else sentence + "; the data must stay on your machines: " + \
            (_next_phrase(nexts[0]) if nexts else "train a better local model")
        return Recommendation("local" if ok else "next-run", "private-data", s + ".", reasons, nexts)
    n = other_side_run(row, hosted_open=hosted_open)
    nexts = [n] if n else local_next_runs(row)
    if n is not None:
        sentence += f"; next, run {n.what}"
        if n.cost_usd is not None:
            sentence += f" (estimated {usd(n.cost_usd)})"
        sentence += " to compare on the same examples"
    elif nexts:
        sentence += "; " + _next_phrase(nexts[0])
    return Recommendation("next-run", "single-run", sentence + ".", reasons, nexts)
