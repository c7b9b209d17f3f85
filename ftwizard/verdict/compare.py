"""The best hosted run against the best local run: the deciding metric, the paired test and its interval,
training costs, and serving at the user's volume (dollars from ftwizard.pricing through the estimator)."""

from __future__ import annotations

from typing import Any

from ftwizard.errors import UsageError
from ftwizard.evaluation.stats import Z95, mcnemar_exact, paired_difference_ci
from ftwizard.verdict.model import ALPHA, Comparison, RunRow

DEFAULT_TOKENS = (500.0, 50.0)  # prompt / completion tokens per request when no predictions recorded them


def task_metrics(task: str, rows: list[RunRow]) -> tuple[list[str], str, dict[str, str], list[str]]:
    """(metric names to show, the deciding metric, labels, notes), from the task (`Task.metric_specs`)."""
    from ftwizard.tasks import get_task

    recipe = rows[0].recipe if rows else None
    t = get_task(task)
    present = [m for r in rows for m in r.metrics]
    # the metrics the runs reported tell a custom `auto` task its metric, without reading data that may have moved
    specs = t.metric_specs(recipe, reported=present or None)
    labels = {s.name: s.label for s in specs}
    names = [s.name for s in specs if s.name in present and not s.name.endswith(("_precision", "_recall"))]
    names += [m for m in dict.fromkeys(present) if m not in names and m not in labels]
    primary = t.primary_metric(recipe, reported=present or None)
    notes: list[str] = []
    evaluated = [r for r in rows if r.metrics]
    lacking = [r for r in evaluated if primary not in r.metrics]
    if lacking:
        # runs scored before the task's deciding metric existed: decide on the first metric all of them have,
        # and say how to re-score
        shared = [s.name for s in specs if all(s.name in r.metrics for r in evaluated)]
        shared += [m for m in dict.fromkeys(present) if all(m in r.metrics for r in evaluated)]
        fallback = shared[0] if shared else primary
        notes.append(f"{', '.join(r.name for r in lacking)} have no {labels.get(primary, primary)} (scored before "
                     f"it existed): deciding on {labels.get(fallback, fallback.replace('_', ' '))}; re-score with "
                     + "; ".join(f"ftwizard eval {r.run_dir}" for r in lacking))
        primary = fallback
    if primary in names:
        names.remove(primary)
    return [primary] + names if (primary in present) else names, primary, labels, notes


def best(rows: list[RunRow], metric: str) -> RunRow | None:
    if not rows:
        return None
    scored = [r for r in rows if metric in r.metrics]
    if scored:
        return max(scored, key=lambda r: (r.metrics[metric].value, -(r.training_usd or 0)))
    return rows[0]


def as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    return None


def paired_counts(a: dict[int, dict], b: dict[int, dict], metric: str) -> tuple[int, int, int]:
    """(n paired, right only in a, right only in b) over the examples both scored with a yes/no `metric`."""
    n = only_a = only_b = 0
    for i in set(a) & set(b):
        x, y = as_bool(a[i].get(metric)), as_bool(b[i].get(metric))
        if x is None or y is None:
            continue
        n += 1
        only_a += x and not y
        only_b += y and not x
    return n, only_a, only_b


def gain_over_base(row: RunRow, metric: str) -> dict | None:
    """The fine-tune against its own base model on the same examples: {difference, ci_low, ci_high, p_value, n,
    tuned_only, base_only, significant} from the paired test (exact McNemar on the discordant pairs: right only
    when tuned vs right only untuned) when per-example baseline verdicts exist, else from the two aggregate
    figures (p_value and the discordant counts None)."""
    m, base = row.metrics.get(metric), row.baseline.get(metric)
    if m is None or base is None:
        return None
    n, up, down = paired_counts(row.verdicts, row.baseline_verdicts, metric)
    if n:
        lo, hi = paired_difference_ci(up, down, n)
        p = mcnemar_exact(up, down)
        return {"difference": (up - down) / n, "ci_low": lo, "ci_high": hi, "p_value": p, "n": n,
                "tuned_only": up, "base_only": down, "significant": p < ALPHA, "test": "exact McNemar test"}
    return {"difference": m.value - base.value, "ci_low": None, "ci_high": None, "p_value": None, "n": m.n,
            "tuned_only": None, "base_only": None, "significant": m.ci_low > base.ci_high,
            "test": "95% intervals (no per-example baseline verdicts to pair)"}


def tokens_for_serving(*rows: RunRow | None) -> tuple[float, float, str]:
    """Mean prompt / completion tokens per request: from the hosted run's billed usage first, then others."""
    for r in rows:
        if r is not None and r.prompt_tokens is not None and r.completion_tokens is not None:
            return r.prompt_tokens, r.completion_tokens, f"tokens per request from {r.name}'s predictions"
    p, c = DEFAULT_TOKENS
    return p, c, f"no token counts in predictions: assumed {p:.0f} prompt + {c:.0f} completion tokens per request"


def serving_pair(h: RunRow | None, l: RunRow | None, recipe, requests_per_month: int) -> tuple[dict | None, str]:
    """Serving of a hosted model against an open model at the volume (`ftwizard.estimate.serving_estimate`, whose
    dollars come from `ftwizard.pricing.serving_cost`), with tokens per request from the predictions.

    Returns (figures or None, why none / how). A CPU run records no GPU: local serving is priced on the
    catalog's reference card (A40), and the note says so.
    """
    from ftwizard.estimate import serving_estimate

    p, c, _ = tokens_for_serving(h, l)
    ratio = 1.0
    if h is not None and l is not None and None not in (h.prompt_tokens, h.completion_tokens, l.prompt_tokens,
                                                         l.completion_tokens):
        ratio = (l.prompt_tokens + l.completion_tokens) / max(1e-9, h.prompt_tokens + h.completion_tokens)
    gpu = l.gpu if l else None
    price = l.price_per_hour if l else None
    note = ""
    if not gpu or gpu == "cpu":
        gpu, price = "A40", None
        note = "no GPU recorded: local serving priced on an A40 at the catalog's price"
    try:
        out = serving_estimate(hosted_model=h.base_model if h else recipe.hosted.model,
                               provider=h.provider if h else recipe.hosted.provider,
                               open_model=l.base_model if l else (recipe.model.catalog_id or recipe.model.base),
                               gpu=gpu, price_per_hour=price, quant=(l.quant if l else recipe.model.quant) or "none",
                               prompt_tokens=p, completion_tokens=c, requests_per_month=requests_per_month,
                               local_token_ratio=ratio)
    except UsageError as e:
        return None, f"serving not priced: {e}"
    if out.get("note"):
        note = "; ".join(x for x in (note, out["note"]) if x)
    return out, note


def price_serving(rows: list[RunRow], best_h: RunRow | None, best_l: RunRow | None, requests_per_month: int) -> None:
    """Each row's serving cost per 1,000 requests at the volume (the month's bill over the month's requests)."""
    for r in rows:
        h = r if r.backend == "hosted" else best_h
        l = r if r.backend != "hosted" else best_l
        s, note = serving_pair(h, l, r.recipe, requests_per_month)
        if s:
            r.serving_usd_per_1k = s.get("hosted_usd_per_1k" if r.backend == "hosted" else "local_usd_per_1k")
        if note and r.backend != "hosted":
            r.notes.append(note)


def compare(h: RunRow, l: RunRow, metric: str, requests_per_month: int, margin: float) -> Comparison:
    hm, lm = h.metrics.get(metric), l.metrics.get(metric)
    c = Comparison(metric=metric, hosted_run=h.name, local_run=l.name, margin=margin,
                   hosted_value=hm.value if hm else None, local_value=lm.value if lm else None,
                   difference=(hm.value - lm.value) if hm and lm else None, requests_per_month=requests_per_month)
    if hm and lm:
        shared = set(h.verdicts) & set(l.verdicts)
        mismatched = [i for i in shared if h.references.get(i) is not None and l.references.get(i) is not None
                      and h.references[i] != l.references[i]]
        n, b, cc = paired_counts(h.verdicts, l.verdicts, metric)
        if mismatched:
            c.notes.append(f"the two runs were evaluated on different examples ({len(mismatched)} indices with "
                           "different references): no paired test; intervals compared instead")
        elif n:
            c.n_paired, c.hosted_only, c.local_only = n, b, cc
            c.difference = (b - cc) / n  # on the shared examples: the same difference the test and interval judge
            c.p_value = mcnemar_exact(b, cc)
            c.test = "exact McNemar test"
            c.significant = c.p_value < ALPHA
            c.diff_ci_low, c.diff_ci_high = paired_difference_ci(b, cc, n)
            if n < min(hm.n, lm.n):
                c.notes.append(f"paired test on the {n} examples both runs evaluated")
        if c.p_value is None:
            # no per-example verdicts: the two 95% intervals (unpaired, normal approximation) decide
            se = ((((hm.ci_high - hm.ci_low) / (2 * Z95)) ** 2 + ((lm.ci_high - lm.ci_low) / (2 * Z95)) ** 2)
                  ** 0.5)
            c.test = "unpaired 95% interval (no per-example verdicts to pair)"
            c.diff_ci_low, c.diff_ci_high = c.difference - Z95 * se, c.difference + Z95 * se
            c.significant = c.diff_ci_low > 0 or c.diff_ci_high < 0
    if h.training_usd is not None and l.training_usd is not None:
        c.hosted_training_usd, c.local_training_usd = h.training_usd, l.training_usd
        if l.training_usd > 0:
            c.training_cost_ratio = h.training_usd / l.training_usd
    _, _, src = tokens_for_serving(h, l)
    s, note = serving_pair(h, l, l.recipe, requests_per_month)
    if note:
        c.notes.append(note)
    if s:
        c.hosted_usd_per_1k, c.local_usd_per_1k = s.get("hosted_usd_per_1k"), s.get("local_usd_per_1k")
        c.local_marginal_usd_per_1k = s.get("local_marginal_usd_per_1k")
        c.hosted_monthly_usd, c.local_monthly_usd = s.get("hosted_monthly_usd"), s.get("local_monthly_usd")
        c.break_even_requests_per_month = s.get("break_even_requests_per_month")
        c.local_tokens_per_s = s.get("local_tokens_per_s")
        c.serving_source = "; ".join(x for x in (s.get("assumptions", ""), src, s.get("price_source", "")) if x)
        if c.hosted_usd_per_1k is not None and c.local_usd_per_1k:
            c.serving_cost_ratio = c.hosted_usd_per_1k / c.local_usd_per_1k
    return c
