"""A task: where its examples come from, how they become prompts, how answers are read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal

from ftwizard import datasource
from ftwizard.errors import UsageError
from ftwizard.prompts import PromptTemplates

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

Which = Literal["train", "eval"]


@dataclass
class Split:
    """The examples of one split, with where they came from."""

    which: Which
    name: str
    source: str
    rows: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class MetricSpec:
    """One metric a task reports: its key in metrics.json, its label for people, its direction, and whether it
    is the metric the verdict decides on (exactly one per task and recipe)."""

    name: str
    label: str
    higher_is_better: bool = True
    decides: bool = False


class Task:
    """Base class: data, prompts, answer extraction and metrics of one task.

    The metric side is one declaration per task: `metric_specs` (what is reported, labels, which decides),
    `extract_answer` (raw model output -> answer), `score` (one example -> verdicts, details) and `aggregate`
    (scored examples -> metrics.json's `metrics`, each {n, value, ci_low, ci_high} with a 95% interval).
    A task is built for a recipe (`get_task(name, recipe)`) when its metrics depend on it (custom tasks).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    answer_field: ClassVar[str] = ""
    default_template: ClassVar[str] = ""
    default_system: ClassVar[str] = ""
    default_user: ClassVar[str] = ""
    # bundled split name -> (file relative to the package's data/, column renames field <- column)
    bundled: ClassVar[dict[str, str]] = {}
    bundled_columns: ClassVar[dict[str, str]] = {}
    default_train_split: ClassVar[str] = "train"
    default_eval_split: ClassVar[str] = "test"
    # Generation stops at these (and at end of sequence); the answer is cut at the first of them.
    stop_markers: ClassVar[tuple[str, ...]] = ("###",)

    def __init__(self, recipe: "Recipe | None" = None, *, metric: str | None = None) -> None:
        self.recipe = recipe
        self.metric_override = metric
        self.single_line_answers = False  # set by use_references: answers end at their first line

    # -- prompts ------------------------------------------------------------------------
    def templates(self, recipe: "Recipe") -> PromptTemplates:
        p = recipe.prompt
        answer = p.answer_field or self.answer_field
        if not answer:
            raise UsageError("prompt.answer_field is required for this task (the field the model must produce)")
        template = p.template or self.default_template
        if not template:
            raise UsageError("prompt.template is required for this task (the local training text with `{field}`s)")
        return PromptTemplates(
            template=template,
            answer_field=answer,
            system=self.default_system if p.system is None else p.system,
            user=(self.default_user or _default_user(template, answer)) if p.user is None else p.user,
            assistant=("{" + answer + "}") if p.assistant is None else p.assistant,
        )

    # -- data -----------------------------------------------------------------------------
    def load_split(self, recipe: "Recipe", which: Which, *, check_templates: bool = True) -> Split:
        d = recipe.data
        split_name = d.train if which == "train" else d.eval
        limit = d.limit_train if which == "train" else d.limit_eval
        if d.source == "bundled":
            if split_name not in self.bundled:
                from ftwizard.errors import did_you_mean

                raise UsageError(
                    f"data.{which} = {split_name!r}: task `{self.name}` has no bundled split of that name"
                    f"{did_you_mean(split_name, self.bundled)}; bundled splits: {', '.join(self.bundled)}"
                )
            path = DATA_DIR / self.bundled[split_name]
            rows = datasource.read_file(path)
            rows = datasource.rename_columns(rows, self.bundled_columns, source=str(path))
            source = f"bundled:{self.bundled[split_name]}"
        elif d.source == "files":
            path = Path(split_name).expanduser()
            rows = datasource.read_file(path)
            source = str(path)
        else:
            rows = datasource.read_hf(d.hf_id, split_name, d.hf_config)
            source = f"hf:{d.hf_id}:{split_name}"
        rows = datasource.rename_columns(rows, dict(d.columns), source=source)
        if limit:
            rows = rows[:limit]
        if not rows:
            raise UsageError(f"data.{which}: {source} holds no examples")
        if check_templates:
            self.templates(recipe).check_fields(list(rows[0].keys()), source=source)
        return Split(which=which, name=split_name, source=source, rows=rows)

    # -- outputs --------------------------------------------------------------------------
    def stop_strings(self, recipe: "Recipe | None" = None) -> tuple[str, ...]:
        """Where generation stops besides end of sequence: the task's markers, and for a text template that
        opens with literal text (`Ticket: {text}...`) that text on a new line (the next example beginning)."""
        recipe = recipe or self.recipe
        stops = list(self.stop_markers)
        template = recipe.prompt.template if recipe is not None else ""
        if template:
            opening = template.split("{", 1)[0].strip().splitlines()
            if opening and len(opening[0].strip()) >= 3:
                stops.append("\n" + opening[0].strip())
        return tuple(dict.fromkeys(stops))

    def use_references(self, references: Iterable[str]) -> None:
        """Learn the shape of the answers from the references before scoring (custom tasks also choose their
        metric from them when the recipe leaves it to `auto`)."""
        refs = list(references)
        self.single_line_answers = bool(refs) and all("\n" not in r.strip() for r in refs)

    def extract_answer(self, raw: str) -> str:
        """The answer inside a model's raw output: everything up to the first stop string (end of sequence
        already ended it), surrounding whitespace removed, several lines kept. When every reference is one
        line (`use_references`), the first non-empty line."""
        text = cut_at_stops(raw, self.stop_strings())
        if self.single_line_answers:
            for line in text.strip().splitlines():
                if line.strip():
                    return line.strip()
            return ""
        return text.strip()

    def reference(self, row: dict[str, str], recipe: "Recipe") -> str:
        return row[recipe.prompt.answer_field or self.answer_field]

    # -- metrics --------------------------------------------------------------------------
    def metric_specs(self, recipe: "Recipe | None" = None) -> tuple[MetricSpec, ...]:
        """Every metric this task reports, in display order; exactly one has `decides=True`."""
        return (MetricSpec("exact_match", "exact match", decides=True),)

    def primary_metric(self, recipe: "Recipe | None" = None) -> str:
        """The metric the verdict decides on."""
        specs = self.metric_specs(recipe)
        return next((m.name for m in specs if m.decides), specs[0].name)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The names of `metric_specs()`, in order."""
        return tuple(m.name for m in self.metric_specs())

    def score(self, prediction: str, reference: str, row: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """(verdicts, details) for one example. Verdicts are bools or numbers, one per per-example metric;
        details say why (for people, and what `aggregate` needs). `row` is the example's data row, with
        `input` = the prompt the model was given when known."""
        from ftwizard.evaluation.custom_metrics import exact_match

        return {"exact_match": exact_match(prediction, reference)}, {}

    def aggregate(self, scored: Iterable[dict]) -> dict[str, dict]:
        """metrics.json's `metrics` from scored records (each: `verdicts`, `reference`, `prediction` and the
        details `score` returned): {name: {n, value, ci_low, ci_high}} with 95% intervals."""
        from ftwizard.evaluation.stats import proportion

        return {"exact_match": proportion([bool(s["verdicts"]["exact_match"]) for s in scored])}

    def breakdown(self, scored: Iterable[dict]) -> dict | None:
        """What a single number hides (confusion table, per-class figures, judge cost): for the report, JSON
        and metrics.json's `breakdown`; None when the task has nothing more to say."""
        return None


def cut_at_stops(text: str, stops: Iterable[str]) -> str:
    """`text` up to the earliest of `stops` (a stop at position 0 counts: the answer is then empty)."""
    cut = len(text)
    for stop in stops:
        if stop:
            i = text.find(stop)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


def _default_user(template: str, answer: str) -> str:
    """For a custom task without chat templates: the local prompt without the answer."""
    return template.split("{" + answer + "}", 1)[0].rstrip()
