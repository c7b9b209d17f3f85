"""Confidence intervals for evaluation metrics: Wilson score for proportions, bootstrap for F1-like ratios."""

from __future__ import annotations

import math
import random
from typing import Callable, Sequence, TypeVar

Z95 = 1.959963984540054

T = TypeVar("T")


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (well behaved near 0 and 1 and for small n)."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    # Exact ends: no successes -> the lower bound is 0; all successes -> the upper bound is 1.
    if successes == 0:
        lo = 0.0
    if successes == n:
        hi = 1.0
    return (lo, hi)


def proportion(verdicts: Sequence[bool]) -> dict:
    """{n, value, ci_low, ci_high} for a list of per-example yes/no verdicts."""
    n = len(verdicts)
    k = sum(1 for v in verdicts if v)
    lo, hi = wilson_interval(k, n)
    return {"n": n, "value": (k / n) if n else 0.0, "ci_low": lo, "ci_high": hi}


def bootstrap_interval(items: Sequence[T], statistic: Callable[[Sequence[T]], float], *, resamples: int = 1000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over examples resampled with replacement."""
    n = len(items)
    if n == 0:
        return (0.0, 1.0)
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        sample = [items[rng.randrange(n)] for _ in range(n)]
        values.append(statistic(sample))
    values.sort()
    alpha = (1 - level) / 2
    lo_i = max(0, int(math.floor(alpha * resamples)))
    hi_i = min(resamples - 1, int(math.ceil((1 - alpha) * resamples)) - 1)
    return (values[lo_i], values[hi_i])


def micro_prf(counts: Sequence[tuple[int, int, int]]) -> tuple[float, float, float]:
    """Micro precision, recall, F1 from per-example (true positives, predicted, gold) counts."""
    tp = sum(c[0] for c in counts)
    pred = sum(c[1] for c in counts)
    gold = sum(c[2] for c in counts)
    # Nothing predicted and nothing to find: perfect. Nothing predicted where something was to be found:
    # precision 0 (an empty answer earns no credit); nothing to find: nothing missed (recall 1).
    p = tp / pred if pred else (1.0 if not gold else 0.0)
    r = tp / gold if gold else 1.0
    f = 2 * p * r / (p + r) if (p + r) else 0.0
    return p, r, f


def prf_metrics(counts: Sequence[tuple[int, int, int]], *, resamples: int = 1000, seed: int = 0,
                level: float = 0.95, prefix: str = "slot") -> dict[str, dict]:
    """{prefix}_precision / _recall / _f1 entries, each with a percentile-bootstrap interval over examples."""
    n = len(counts)
    point = micro_prf(counts)
    names = (f"{prefix}_precision", f"{prefix}_recall", f"{prefix}_f1")
    if n == 0:
        return {name: {"n": 0, "value": 0.0, "ci_low": 0.0, "ci_high": 1.0} for name in names}
    rng = random.Random(seed)
    draws: list[list[float]] = [[], [], []]
    for _ in range(resamples):
        tp = pred = gold = 0
        for _ in range(n):
            c = counts[rng.randrange(n)]
            tp += c[0]
            pred += c[1]
            gold += c[2]
        for k, v in enumerate(micro_prf([(tp, pred, gold)])):
            draws[k].append(v)
    alpha = (1 - level) / 2
    lo_i = max(0, int(math.floor(alpha * resamples)))
    hi_i = min(resamples - 1, int(math.ceil((1 - alpha) * resamples)) - 1)
    out = {}
    for k, name in enumerate(names):
        vals = sorted(draws[k])
        out[name] = {"n": n, "value": point[k], "ci_low": min(vals[lo_i], point[k]), "ci_high": max(vals[hi_i], point[k])}
    return out


# ---------------------------------------------------------------------------------------------------------
# Paired comparison of two models on the same examples (the verdict's test)

def _log_binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
            + (n - k) * math.log1p(-p))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in logs (exact enough for thousands of trials)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    logs = [_log_binom_pmf(i, n, p) for i in range(k + 1)]
    top = max(logs)
    if top == -math.inf:
        return 0.0
    return min(1.0, math.exp(top) * sum(math.exp(x - top) for x in logs))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs (b one way, c the other) against Binomial(b+c, 1/2),
    the smaller tail doubled."""
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * binom_cdf(min(b, c), n, 0.5))


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a binomial proportion: the p with P(X >= k) = alpha/2 and
    P(X <= k) = alpha/2, found by bisection on the binomial tails."""
    if n <= 0:
        return (0.0, 1.0)

    def bisect(tail_above_target) -> float:  # the p where a tail monotone in p crosses alpha / 2
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = (lo + hi) / 2
            if tail_above_target(mid):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    # lower: P(X >= k | p) = 1 - cdf(k - 1) grows with p; below the bound it is still under alpha / 2
    lower = 0.0 if k == 0 else bisect(lambda p: 1.0 - binom_cdf(k - 1, n, p) < alpha / 2)
    # upper: P(X <= k | p) falls with p; below the bound it is still over alpha / 2
    upper = 1.0 if k == n else bisect(lambda p: binom_cdf(k, n, p) > alpha / 2)
    return (lower, upper)


def paired_difference_ci(b: int, c: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Interval for the difference of two paired proportions ((b - c) / n), exact and conditional on the
    b + c discordant pairs: the Clopper-Pearson interval for b / (b + c), mapped to the difference as
    (b + c) / n x (2 pi - 1).

    It excludes zero exactly when `mcnemar_exact(b, c) < alpha` (both rest on the same binomial tails), so the
    verdict never shows "not significant" beside an interval that excludes zero. Conditioning on the number
    of discordant pairs leaves out its own sampling error (the interval is a little narrow when discordant
    pairs are few and n is small); docs/estimates.md has the derivation.
    """
    if n <= 0:
        return (-1.0, 1.0)
    d = b + c
    if d == 0:
        return (0.0, 0.0)
    lo, hi = clopper_pearson(b, d, alpha)
    share = d / n
    return (share * (2 * lo - 1), share * (2 * hi - 1))
