"""Metrics for a user's own task, one class each in METRICS: exact, choice (classification), json (structured
extraction), judge (an LLM grades; its client and cache are in `evaluation/judge.py`). Which one a recipe uses
is `eval.metric`; `detect_metric` picks one from the references. Adding a metric is one class here (and its
name in the recipe's `eval.metric` choices).

- exact: the prediction equals the reference after collapsing whitespace and ignoring case.
- choice: accuracy (Wilson interval), macro-F1 over the labels of the references (percentile bootstrap,
  1,000 resamples, seed 0), per-class precision / recall and a confusion table. A prediction outside the label
  set is wrong (a miss for its gold class, a false positive for no class) and is counted and shown.
- json: valid-JSON rate, whole-object match, and field-level precision / recall / F1 (micro over leaf fields,
  bootstrap interval). A prediction is valid only when it is exactly one JSON value (an enclosing ```json fence
  allowed); text after the value makes it invalid and not a match, but the fields of the value it starts with
  are still scored: validity measures the format, the fields measure the content.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any, ClassVar, Sequence

from ftwizard.evaluation.stats import prf_metrics, proportion
from ftwizard.evaluation.jsontext import MAX_JSON_CHARS, MAX_JSON_DEPTH, MAX_NUMBER_DIGITS, parse_json  # noqa: F401
from ftwizard.evaluation.metric import MetricSpec

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
OUT_OF_SET = "(outside the label set)"


def normalize(text: str) -> str:
    """Whitespace collapsed, case folded: the form `exact` and `choice` compare."""
    return " ".join((text or "").split()).casefold()


def exact_match(prediction: str, reference: str) -> bool:
    return normalize(prediction) == normalize(reference)


# ---------------------------------------------------------------------------------------------------------
# Which metric fits the data


def detect_metric(references: Sequence[str]) -> tuple[str, str]:
    """(metric, why) for `eval.metric = "auto"`: json when every reference is a JSON object or array; choice
    when the references come from a small closed set (at most 20 distinct short one-line labels, each seen
    twice on average); else exact. The judge is never chosen for you: it costs money."""
    refs = [r.strip() for r in references]
    if not refs:
        return "exact", "no references"
    if all(r[:1] in "{[" and parse_json(r)[1] is None for r in refs):
        return "json", "every reference is a JSON object or array"
    labels = {normalize(r) for r in refs}
    short = all("\n" not in r and len(r) <= 40 for r in refs)
    if short and 2 <= len(labels) <= 20 and len(labels) * 2 <= len(refs):
        return "choice", f"the {len(refs)} references take {len(labels)} distinct values"
    if sum(len(r) for r in refs) / len(refs) > 80:
        return "exact", ("open-ended answers, long for exact match (a right answer worded otherwise counts as "
                         'wrong): eval.metric = "judge" grades their meaning')
    return "exact", "open-ended answers"


def label_set(train_refs: Sequence[str], eval_refs: Sequence[str]) -> tuple[dict, list[str]]:
    """A classification data set's labels ({"train": {label: n}, "eval": {label: n}}, normalized as `choice`
    compares them) and what is wrong with them: eval labels the training data never shows (the model cannot
    learn to say them), training labels too rare to learn (one example), one label only."""
    train = Counter(normalize(r) for r in train_refs)
    ev = Counter(normalize(r) for r in eval_refs)
    problems = []
    unseen = sorted(lab for lab in ev if lab not in train)
    if unseen:
        n = sum(ev[lab] for lab in unseen)
        problems.append(f"{n} eval example{'s' if n != 1 else ''} carry label{'s' if len(unseen) != 1 else ''} "
                        f"the training data never shows ({', '.join(unseen[:8])}{', ...' if len(unseen) > 8 else ''}): "
                        "the model cannot learn to answer them")
    rare = sorted(lab for lab, n in train.items() if n == 1)
    if rare and len(train) > 1:
        problems.append(f"{len(rare)} label{'s' if len(rare) != 1 else ''} appear{'s' if len(rare) == 1 else ''} "
                        f"once in the training data ({', '.join(rare[:8])}{', ...' if len(rare) > 8 else ''}): "
                        "too few examples to learn")
    if len(train) == 1:
        problems.append(f"every training example has the same label ({next(iter(train))}): nothing to tell apart")
    return {"train": dict(train.most_common()), "eval": dict(ev.most_common())}, problems


# ---------------------------------------------------------------------------------------------------------
# choice


def choice_scores(prediction: str, reference: str) -> tuple[dict, dict]:
    return ({"accuracy": exact_match(prediction, reference)},
            {"predicted_label": normalize(prediction), "gold_label": normalize(reference)})


def _label_set(scored: Sequence[dict]) -> tuple[list[str], dict[str, str]]:
    """Labels (normalised) in order of frequency, and how each was first written in the references."""
    shown: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for s in scored:
        key = s["gold_label"]
        counts[key] += 1
        shown.setdefault(key, " ".join(str(s["reference"]).split()))
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))], shown


def per_class(pairs: Sequence[tuple[int, int]], n_labels: int,
              weights: Sequence[int] | None = None) -> list[tuple[int, int, int]]:
    """(tp, predicted, support) per label index from (gold, predicted) index pairs, each counted `weights[i]`
    times (default once); predicted = -1 is a prediction outside the label set."""
    tp = [0] * n_labels
    pred = [0] * n_labels
    sup = [0] * n_labels
    for i, (g, p) in enumerate(pairs):
        w = 1 if weights is None else weights[i]
        sup[g] += w
        if p >= 0:
            pred[p] += w
            if p == g:
                tp[g] += w
    return list(zip(tp, pred, sup))


def _prf(tp: int, pred: int, sup: int) -> tuple[float, float, float]:
    p = tp / pred if pred else 0.0  # a class never predicted has precision 0 (scikit-learn's zero_division=0)
    r = tp / sup if sup else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def macro_f1(pairs: Sequence[tuple[int, int]], n_labels: int, weights: Sequence[int] | None = None) -> float:
    """Mean F1 over the labels present among the gold answers of `pairs`."""
    rows = [c for c in per_class(pairs, n_labels, weights) if c[2]]
    return sum(_prf(*c)[2] for c in rows) / len(rows) if rows else 0.0


def choice_aggregate(scored: Sequence[dict]) -> dict[str, dict]:
    labels, _ = _label_set(scored)
    index = {k: i for i, k in enumerate(labels)}
    pairs = [(index[s["gold_label"]], index.get(s["predicted_label"], -1)) for s in scored]
    n = len(pairs)
    point = macro_f1(pairs, len(labels))
    if n:
        # resample (gold, predicted) pair types, counted: the same statistic, a fraction of the work
        width = len(labels) + 1
        codes = [g * width + p + 1 for g, p in pairs]
        rng = random.Random(BOOTSTRAP_SEED)
        draws = []
        for _ in range(BOOTSTRAP_RESAMPLES):
            counts = Counter(rng.choices(codes, k=n))
            draws.append(macro_f1([(c // width, c % width - 1) for c in counts], len(labels),
                                  weights=list(counts.values())))
        draws.sort()
        lo = min(draws[int(0.025 * BOOTSTRAP_RESAMPLES)], point)
        hi = max(draws[int(0.975 * BOOTSTRAP_RESAMPLES) - 1], point)
    else:
        lo, hi = 0.0, 1.0
    return {
        "accuracy": proportion([bool(s["verdicts"]["accuracy"]) for s in scored]),
        "macro_f1": {"n": n, "value": point, "ci_low": lo, "ci_high": hi},
        "out_of_set": proportion([p < 0 for _, p in pairs]),
    }


def choice_breakdown(scored: Sequence[dict]) -> dict:
    """Per-class precision / recall / F1, the confusion table (rows: gold, columns: predicted, then one column
    for predictions outside the label set) and the most common of those predictions."""
    labels, shown = _label_set(scored)
    index = {k: i for i, k in enumerate(labels)}
    pairs = [(index[s["gold_label"]], index.get(s["predicted_label"], -1)) for s in scored]
    classes = []
    for k, (tp, pred, sup) in zip(labels, per_class(pairs, len(labels))):
        p, r, f = _prf(tp, pred, sup)
        classes.append({"label": shown[k], "support": sup, "predicted": pred, "precision": p, "recall": r, "f1": f})
    confusion = [[0] * (len(labels) + 1) for _ in labels]
    for g, p in pairs:
        confusion[g][p if p >= 0 else len(labels)] += 1
    outside = Counter(s["prediction"].strip() for s in scored if s["predicted_label"] not in index)
    return {
        "kind": "choice",
        "labels": [shown[k] for k in labels],
        "per_class": classes,
        "confusion": {"rows": [shown[k] for k in labels], "columns": [shown[k] for k in labels] + [OUT_OF_SET],
                      "counts": confusion},
        "out_of_set": {"count": sum(outside.values()), "most_common": outside.most_common(5)},
        "notes": [f"macro-F1 interval: percentile bootstrap over examples, {BOOTSTRAP_RESAMPLES} resamples, "
                  f"seed {BOOTSTRAP_SEED}; accuracy: Wilson score interval",
                  "predictions outside the label set count as wrong"],
    }


# ---------------------------------------------------------------------------------------------------------
# json


def _leaf(value: Any) -> Any:
    if isinstance(value, str):
        return ("s", " ".join(value.split()).casefold())
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", float(value))
    return ("j", json.dumps(value, sort_keys=True))  # a list: one field, compared whole and in order


def fields(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf fields of a JSON value by path (`a.b`); objects nest, a list is one field compared whole (order
    matters); strings compare with whitespace collapsed and case ignored, numbers by value."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(fields(v, f"{prefix}.{k}" if prefix else str(k)))
        if not value:
            out[prefix] = ("o", "{}")
        return out
    return {prefix: _leaf(value)}


def json_reference(reference: str) -> Any:
    """The reference's JSON value; UsageError when it is not exactly one."""
    gold, gold_problem, _ = parse_json(reference)
    if gold_problem is not None:
        from ftwizard.errors import UsageError

        raise UsageError(f"eval.metric = \"json\": the reference is not one JSON value ({gold_problem}): "
                         f"{reference[:80]!r}")
    return gold


def json_scores(prediction: str, reference: str) -> tuple[dict, dict]:
    gold = json_reference(reference)
    value, problem, trailing = parse_json(prediction)
    gold_fields = fields(gold)
    pred_fields = fields(value) if (problem is None or trailing) else {}
    tp = sum(1 for k, v in pred_fields.items() if gold_fields.get(k, object()) == v)
    valid = problem is None
    verdicts = {"json_match": valid and pred_fields == gold_fields, "json_valid": valid}
    details = {"field_counts": [tp, len(pred_fields), len(gold_fields)]}
    if problem:
        details["json_problem"] = problem
    return verdicts, details


def json_aggregate(scored: Sequence[dict]) -> dict[str, dict]:
    out = {name: proportion([bool(s["verdicts"][name]) for s in scored]) for name in ("json_match", "json_valid")}
    out.update(prf_metrics([tuple(s["field_counts"]) for s in scored], prefix="field"))
    return out


def json_breakdown(scored: Sequence[dict]) -> dict:
    problems = Counter(s.get("json_problem", "").split(" (")[0] for s in scored if s.get("json_problem"))
    return {"kind": "json", "invalid": dict(problems.most_common()),
            "notes": ["a prediction is valid when it is exactly one JSON value (a ```json fence allowed); "
                      "trailing text makes it invalid, its fields are still scored",
                      "field precision / recall / F1: micro over leaf fields, percentile bootstrap interval"]}


# ---------------------------------------------------------------------------------------------------------
# The metrics a custom task can be scored with: what each reports, scores, aggregates and explains


class CustomMetric:
    """One way of scoring a custom task. `specs`: what it reports (one decides); `keeps_lines`: answers may span
    lines even when every reference is one line (JSON comes back pretty-printed)."""

    name: ClassVar[str] = ""
    specs: ClassVar[tuple[MetricSpec, ...]] = ()
    keeps_lines: ClassVar[bool] = False

    def __init__(self, recipe=None, **options) -> None:  # options a metric does not take are not its business
        self.recipe = recipe

    def check_reference(self, reference: str) -> None:
        """Raise UsageError when a reference cannot be scored this way."""

    def score(self, prediction: str, reference: str, row: dict | None = None) -> tuple[dict, dict]:
        raise NotImplementedError

    def score_many(self, examples: list[dict]) -> list[tuple[dict, dict]]:
        return [self.score(ex["prediction"], ex["reference"], ex) for ex in examples]

    def aggregate(self, scored: Sequence[dict]) -> dict[str, dict]:
        return {m.name: proportion([bool(s["verdicts"][m.name]) for s in scored]) for m in self.specs}

    def breakdown(self, scored: Sequence[dict]) -> dict | None:
        return None


class Exact(CustomMetric):
    name = "exact"
    specs = (MetricSpec("exact_match", "exact match (whitespace and case normalised)", decides=True),)

    def score(self, prediction, reference, row=None):
        return {"exact_match": exact_match(prediction, reference)}, {}


class Choice(CustomMetric):
    name = "choice"
    specs = (
        MetricSpec("accuracy", "accuracy", decides=True),
        MetricSpec("macro_f1", "macro-F1 (bootstrap interval, seed 0)"),
        MetricSpec("out_of_set", "answers outside the label set", higher_is_better=False),
    )

    def score(self, prediction, reference, row=None):
        return choice_scores(prediction, reference)

    def aggregate(self, scored):
        return choice_aggregate(scored)

    def breakdown(self, scored):
        return choice_breakdown(scored)


class Json(CustomMetric):
    name = "json"
    keeps_lines = True
    specs = (
        MetricSpec("json_match", "JSON match (every field)", decides=True),
        MetricSpec("json_valid", "valid JSON"),
        MetricSpec("field_f1", "field F1"),
        MetricSpec("field_precision", "field precision"),
        MetricSpec("field_recall", "field recall"),
    )

    def check_reference(self, reference):
        json_reference(reference)

    def score(self, prediction, reference, row=None):
        return json_scores(prediction, reference)

    def aggregate(self, scored):
        return json_aggregate(scored)

    def breakdown(self, scored):
        return json_breakdown(scored)


class JudgeMetric(CustomMetric):
    """The LLM judge: `eval.judge_model` / `eval.judge_rubric` (or the options judge_model / judge_rubric),
    several calls at once (`eval.concurrency`, else 8)."""

    name = "judge"
    specs = (
        MetricSpec("judge_pass", "judge: pass", decides=True),
        MetricSpec("exact_match", "exact match (whitespace and case normalised)"),
    )

    def __init__(self, recipe=None, *, judge_model: str | None = None, judge_rubric: str | None = None,
                 **options) -> None:
        super().__init__(recipe)
        self.judge_model = judge_model
        self.judge_rubric = judge_rubric
        self._judge = None

    def judge(self):
        if self._judge is None:
            from ftwizard.evaluation.judge import DEFAULT_RUBRIC, Judge

            ev = self.recipe.eval if self.recipe is not None else None
            self._judge = Judge(model=self.judge_model or (ev.judge_model if ev else ""),
                                rubric=self.judge_rubric or (ev.judge_rubric if ev else "") or DEFAULT_RUBRIC)
        return self._judge

    def score(self, prediction, reference, row=None):
        g = self.judge().grade(str((row or {}).get("input", "")), prediction, reference)
        return ({"judge_pass": g["pass"] is True, "exact_match": exact_match(prediction, reference)},
                {"judge_reason": g["reason"], "judge_cached": g["cached"], "judge_usd": g["usd"],
                 "judge_tokens": [g["prompt_tokens"], g["completion_tokens"]],
                 **({"judge_unreadable": True} if g["pass"] is None else {})})

    def score_many(self, examples):
        if len(examples) < 2:
            return super().score_many(examples)
        from concurrent.futures import ThreadPoolExecutor

        self.judge()  # built once, before the threads share it
        workers = min(len(examples), self.recipe.eval.concurrency if self.recipe is not None else 8)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda ex: self.score(ex["prediction"], ex["reference"], ex), examples))

    def breakdown(self, scored):
        from ftwizard.evaluation.judge import judge_breakdown

        j = self.judge()
        return judge_breakdown(list(scored), model=j.model, rubric=j.rubric)


METRICS: dict[str, type[CustomMetric]] = {m.name: m for m in (Exact, Choice, Json, JudgeMetric)}
CUSTOM_METRICS = tuple(METRICS)
