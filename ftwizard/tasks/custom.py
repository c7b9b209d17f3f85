"""A user's own task: JSONL/CSV (or a hub dataset) plus templates naming its fields.

Its metric is the recipe's `eval.metric` (exact | choice | json | judge; `auto` picks json, choice or exact from
the references, see `custom_metrics.detect_metric`). The metrics themselves are classes in
`evaluation/custom_metrics.py` (METRICS); this task picks one and hands it the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from ftwizard import datasource
from ftwizard.errors import UsageError
from ftwizard.tasks.base import DATA_DIR, MetricSpec, Task

if TYPE_CHECKING:
    from ftwizard.evaluation.custom_metrics import CustomMetric


def _metrics():
    """custom_metrics.METRICS (imported when first needed: that module builds on tasks.base)."""
    from ftwizard.evaluation.custom_metrics import METRICS

    return METRICS


class CustomTask(Task):
    name: ClassVar[str] = "custom"
    title: ClassVar[str] = "your own data: a JSONL or CSV file and templates naming its fields"
    answer_field: ClassVar[str] = ""
    stop_markers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, recipe=None, *, metric: str | None = None, judge_model: str | None = None,
                 judge_rubric: str | None = None) -> None:
        super().__init__(recipe, metric=metric)
        self.options = {"judge_model": judge_model, "judge_rubric": judge_rubric}
        self.detected: tuple[str, str] | None = None  # (metric, why) when eval.metric = auto
        self._scorers: dict[str, "CustomMetric"] = {}

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
            for metric, cls in _metrics().items():
                if next(m.name for m in cls.specs if m.decides) in names and metric != "exact":
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
        if _metrics()[self.metric_name()].keeps_lines:
            self.single_line_answers = False  # e.g. a one-line JSON reference may come back pretty-printed

    def metric_specs(self, recipe=None, *, reported: Iterable[str] | None = None) -> tuple[MetricSpec, ...]:
        return _metrics()[self.metric_name(recipe, reported=reported)].specs

    def metric_label(self, name: str) -> str:
        return next((m.label for cls in _metrics().values() for m in cls.specs if m.name == name),
                    name.replace("_", " "))

    def scorer(self) -> "CustomMetric":
        """The metric object scoring this task's answers (one per metric, kept: the judge holds its client)."""
        name = self.metric_name()
        if name not in self._scorers:
            opts = {k: v for k, v in self.options.items() if v is not None}
            self._scorers[name] = _metrics()[name](self.recipe, **opts)
        return self._scorers[name]

    # -- scoring: the chosen metric does the work ---------------------------------------------
    def score(self, prediction: str, reference: str, row: dict[str, Any] | None = None) -> tuple[dict, dict]:
        return self.scorer().score(prediction, reference, row)

    def check_reference(self, reference: str) -> None:
        self.scorer().check_reference(reference)

    def score_many(self, examples: list[dict]) -> list[tuple[dict, dict]]:
        return self.scorer().score_many(examples)

    def aggregate(self, scored: Iterable[dict]) -> dict[str, dict]:
        return self.scorer().aggregate(list(scored))

    def breakdown(self, scored: Iterable[dict]) -> dict | None:
        out = self.scorer().breakdown(list(scored))
        if self.detected:
            chosen = f"eval.metric = auto -> {self.detected[0]}: {self.detected[1]}"
            out = {**(out or {"kind": self.metric_name()}), "chosen": chosen}
        return out

    def _records(self, recipe, split_name: str):
        """`data.source = 'bundled'`: a file shipped in ftwizard/data (the tickets demo), from any folder."""
        if recipe.data.source != "bundled":
            return super()._records(recipe, split_name)
        path = (DATA_DIR / split_name).resolve()
        if DATA_DIR.resolve() not in path.parents or not path.is_file():
            raise UsageError(f"data.source = 'bundled': ftwizard/data has no file `{split_name}`")
        return datasource.read_records(path), f"bundled:{split_name}"
