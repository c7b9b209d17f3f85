"""A user's own task: JSONL/CSV (or a hub dataset) plus templates naming its fields.

Its metric is the recipe's `eval.metric` (exact | choice | json | judge; `auto` picks json, choice or exact from
the references, see `custom_metrics.detect_metric`). The metrics themselves are in
`evaluation/custom_metrics.py` and `evaluation/judge.py`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

from ftwizard import datasource
from ftwizard.errors import UsageError
from ftwizard.tasks.base import DATA_DIR, MetricSpec, Task

SPECS: dict[str, tuple[MetricSpec, ...]] = {
    "exact": (MetricSpec("exact_match", "exact match (whitespace and case normalised)", decides=True),),
    "choice": (
        MetricSpec("accuracy", "accuracy", decides=True),
        MetricSpec("macro_f1", "macro-F1 (bootstrap interval, seed 0)"),
        MetricSpec("out_of_set", "answers outside the label set", higher_is_better=False),
    ),
    "json": (
        MetricSpec("json_match", "JSON match (every field)", decides=True),
        MetricSpec("json_valid", "valid JSON"),
        MetricSpec("field_f1", "field F1"),
        MetricSpec("field_precision", "field precision"),
        MetricSpec("field_recall", "field recall"),
    ),
    "judge": (
        MetricSpec("judge_pass", "judge: pass", decides=True),
        MetricSpec("exact_match", "exact match (whitespace and case normalised)"),
    ),
}


class CustomTask(Task):
    name: ClassVar[str] = "custom"
    title: ClassVar[str] = "your own data: a JSONL or CSV file and templates naming its fields"
    answer_field: ClassVar[str] = ""
    stop_markers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, recipe=None, *, metric: str | None = None, judge_model: str | None = None,
                 judge_rubric: str | None = None) -> None:
        super().__init__(recipe, metric=metric)
        self.judge_model = judge_model
        self.judge_rubric = judge_rubric
        self.detected: tuple[str, str] | None = None  # (metric, why) when eval.metric = auto
        self._judge = None

    # -- which metric ---------------------------------------------------------------------
    def metric_name(self, recipe=None, *, reported: Iterable[str] | None = None) -> str:
        """exact | choice | json | judge: --metric, else the recipe's eval.metric, else detected from the
        references (`use_references`), else recognised from the metric names a run reported (`reported`, e.g.
        metrics.json's keys: no data to read), else detected from the recipe's eval split, else exact."""
        recipe = recipe or self.recipe
        if self.metric_override and self.metric_override != "auto":
            return self.metric_override
        if recipe is not None and recipe.eval.metric != "auto":
            return recipe.eval.metric
        if self.detected is None and reported is not None:
            names = set(reported)
            for metric, specs in SPECS.items():
                if next(m.name for m in specs if m.decides) in names and metric != "exact":
                    return metric
            if "exact_match" in names:
                return "exact"
        if self.detected is None and recipe is not None:
            rows = self.load_split(recipe, "eval", check_templates=False).rows
            if recipe.eval.limit:
                rows = rows[:recipe.eval.limit]
            self._detect([self.reference(r, recipe) for r in rows])
        return self.detected[0] if self.detected else "exact"

    def _detect(self, references: list[str]) -> None:
        from ftwizard.evaluation.custom_metrics import detect_metric

        self.detected = detect_metric(references)

    def use_references(self, references: Iterable[str]) -> None:
        refs = list(references)
        super().use_references(refs)
        if (self.metric_override in (None, "auto")) and (self.recipe is None or self.recipe.eval.metric == "auto"):
            self._detect(refs)
        if self.metric_name() == "json":
            self.single_line_answers = False  # a one-line JSON reference may come back pretty-printed

    def metric_specs(self, recipe=None, *, reported: Iterable[str] | None = None) -> tuple[MetricSpec, ...]:
        return SPECS[self.metric_name(recipe, reported=reported)]

    def metric_label(self, name: str) -> str:
        return next((m.label for specs in SPECS.values() for m in specs if m.name == name), name.replace("_", " "))

    # -- scoring --------------------------------------------------------------------------
    def judge(self):
        if self._judge is None:
            from ftwizard.evaluation.judge import DEFAULT_RUBRIC, Judge

            ev = self.recipe.eval if self.recipe is not None else None
            self._judge = Judge(model=self.judge_model or (ev.judge_model if ev else ""),
                                rubric=self.judge_rubric or (ev.judge_rubric if ev else "") or DEFAULT_RUBRIC)
        return self._judge

    def score(self, prediction: str, reference: str, row: dict[str, Any] | None = None) -> tuple[dict, dict]:
        from ftwizard.evaluation import custom_metrics as cm

        metric = self.metric_name()
        if metric == "choice":
            return cm.choice_scores(prediction, reference)
        if metric == "json":
            return cm.json_scores(prediction, reference)
        if metric == "judge":
            g = self.judge().grade(str((row or {}).get("input", "")), prediction, reference)
            return ({"judge_pass": g["pass"] is True, "exact_match": cm.exact_match(prediction, reference)},
                    {"judge_reason": g["reason"], "judge_cached": g["cached"], "judge_usd": g["usd"],
                     "judge_tokens": [g["prompt_tokens"], g["completion_tokens"]],
                     **({"judge_unreadable": True} if g["pass"] is None else {})})
        return super().score(prediction, reference, row)

    def check_reference(self, reference: str) -> None:
        if self.metric_name() == "json":
            from ftwizard.evaluation.custom_metrics import json_reference

            json_reference(reference)

    def score_many(self, examples: list[dict]) -> list[tuple[dict, dict]]:
        if self.metric_name() != "judge" or len(examples) < 2:
            return super().score_many(examples)
        from concurrent.futures import ThreadPoolExecutor

        self.judge()  # built once, before the threads share it
        workers = min(len(examples), self.recipe.eval.concurrency if self.recipe is not None else 8)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda ex: self.score(ex["prediction"], ex["reference"], ex), examples))

    def aggregate(self, scored: Iterable[dict]) -> dict[str, dict]:
        from ftwizard.evaluation import custom_metrics as cm
        from ftwizard.evaluation.stats import proportion

        scored = list(scored)
        metric = self.metric_name()
        if metric == "choice":
            return cm.choice_aggregate(scored)
        if metric == "json":
            return cm.json_aggregate(scored)
        if metric == "judge":
            return {name: proportion([bool(s["verdicts"][name]) for s in scored])
                    for name in ("judge_pass", "exact_match")}
        return super().aggregate(scored)

    def breakdown(self, scored: Iterable[dict]) -> dict | None:
        from ftwizard.evaluation import custom_metrics as cm

        scored = list(scored)
        metric = self.metric_name()
        out: dict | None = None
        if metric == "choice":
            out = cm.choice_breakdown(scored)
        elif metric == "json":
            out = cm.json_breakdown(scored)
        elif metric == "judge":
            from ftwizard.evaluation.judge import judge_breakdown

            j = self.judge()
            out = judge_breakdown(scored, model=j.model, rubric=j.rubric)
        if self.detected and out is not None:
            out["chosen"] = f"eval.metric = auto -> {self.detected[0]}: {self.detected[1]}"
        elif self.detected:
            out = {"kind": metric, "chosen": f"eval.metric = auto -> {self.detected[0]}: {self.detected[1]}"}
        return out

    def _records(self, recipe, split_name: str):
        """`data.source = 'bundled'`: a file shipped in ftwizard/data (the tickets demo), from any folder."""
        if recipe.data.source != "bundled":
            return super()._records(recipe, split_name)
        path = (DATA_DIR / split_name).resolve()
        if DATA_DIR.resolve() not in path.parents or not path.is_file():
            raise UsageError(f"data.source = 'bundled': ftwizard/data has no file `{split_name}`")
        return datasource.read_records(path), f"bundled:{split_name}"
