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
