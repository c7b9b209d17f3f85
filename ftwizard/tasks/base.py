"""A task: where its examples come from, how they become prompts, how answers are read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal

from ftwizard import datasource
from ftwizard.errors import UsageError
from ftwizard.evaluation.metric import MetricSpec  # noqa: F401 - tasks declare their metrics with it
from ftwizard.prompts import ChatTemplates, PromptTemplates, strip_reasoning  # noqa: F401 - tasks read answers with it

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
    lines: list[int] = field(default_factory=list)  # each row's line (JSONL / CSV) in `source`, when known

    def __len__(self) -> int:
        return len(self.rows)


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
    def data_format(self, recipe: "Recipe") -> str:
        """The recipe's data format (datasource.FORMATS): `data.format`, or detected from the training data."""
        d = recipe.data
        if d.format != "auto":
            return d.format
        if d.source == "bundled" and self.bundled:
            return "fields"
        records, _source = self._records(recipe, d.train)
        return datasource.detect_format(records, has_template=bool(recipe.prompt.template))

    def templates(self, recipe: "Recipe") -> "PromptTemplates | ChatTemplates":
        p = recipe.prompt
        fmt = self.data_format(recipe)
        if fmt in ("chat", "alpaca"):
            return ChatTemplates()  # the data's own messages; no [prompt] section needed
        if fmt == "prompt_completion" and not p.template:
            return PromptTemplates(template="{prompt}{completion}", answer_field="completion",
                                   system=p.system or "", user="{prompt}" if p.user is None else p.user,
                                   assistant="{completion}" if p.assistant is None else p.assistant)
        answer = p.answer_field or self.answer_field
        if not answer:
            raise UsageError("prompt.answer_field is required for this task (the field the model must produce); "
                             "or give chat data ({\"messages\": [...]} per line), which needs no [prompt] section")
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
    def _records(self, recipe: "Recipe", split_name: str) -> "tuple[datasource.Records, str]":
        """The raw records of one split (a bundled name, a file, or a hub split) and where they came from."""
        d = recipe.data
        if d.source == "bundled":
            if split_name not in self.bundled:
                from ftwizard.errors import did_you_mean

                which = "train" if split_name == d.train else "eval"
                raise UsageError(
                    f"data.{which} = {split_name!r}: task `{self.name}` has no bundled split of that name"
                    f"{did_you_mean(split_name, self.bundled)}; bundled splits: {', '.join(self.bundled)}"
                )
            return datasource.read_records(DATA_DIR / self.bundled[split_name]), f"bundled:{self.bundled[split_name]}"
        if d.source == "files":
            path = Path(split_name).expanduser()
            if split_name == d.eval and split_name != d.train and not path.exists():
                raise UsageError(f"data.eval = {split_name!r}: data file not found: {path}; name your eval file, or "
                                 "set data.eval = '' to hold out a seeded 10% of the training file")
            return datasource.read_records(path), str(path)
        return datasource.read_hf_records(d.hf_id, split_name, d.hf_config), f"hf:{d.hf_id}:{split_name}"

    def load_split(self, recipe: "Recipe", which: Which, *, check_templates: bool = True) -> Split:
        d = recipe.data
        # data.eval = "": a seeded share of the training data is held out (ftwizard.defaults).
        holdout = not d.eval.strip()
        split_name = d.train if (which == "train" or holdout) else d.eval
        limit = d.limit_train if which == "train" else d.limit_eval
        records, source = self._records(recipe, split_name)
        if holdout:
            from ftwizard.defaults import holdout_indices

            train_idx, eval_idx = holdout_indices(len(records), seed=recipe.train.seed)
            if which == "eval" and not eval_idx:
                raise UsageError(f"data.eval = '': {source} holds {len(records)} examples, too few to hold out an "
                                 "eval split; name an eval file in data.eval")
            keep = train_idx if which == "train" else eval_idx
            records = datasource.Records([records[i] for i in keep], lines=[records.line_of(i) for i in keep],
                                         source=records.source)
            if which == "eval":
                source = f"{source} (held out: {len(eval_idx)} of {len(train_idx) + len(eval_idx)}, seed {recipe.train.seed})"
        if not records:
            raise UsageError(f"data.{which}: {source} holds no examples")
        fmt = self.data_format(recipe)
        if fmt == "chat":
            rows: list = datasource.chat_rows(records)
        elif fmt == "alpaca":
            rows = datasource.alpaca_rows(records)
        else:
            rows = datasource.field_rows(records)
            if d.source == "bundled":
                rows = datasource.rename_columns(rows, self.bundled_columns, source=records.source)
            rows = datasource.rename_columns(rows, dict(d.columns), source=source)
            if check_templates:
                templates = self.templates(recipe)
                templates.check_fields(list(rows[0].keys()), source=source)
                datasource.check_fields_present(records, rows, templates.fields)
        line_of = getattr(records, "line_of", None)
        lines = [line_of(i) for i in range(len(rows))] if line_of and len(rows) == len(records) else []
        if limit:
            rows, lines = rows[:limit], lines[:limit]
        return Split(which=which, name=split_name, source=source, rows=rows, lines=lines)

    # -- outputs --------------------------------------------------------------------------
    def stop_strings(self, recipe: "Recipe | None" = None) -> tuple[str, ...]:
        """Where generation stops besides end of sequence: the task's markers, and for a text template that
        opens with literal text (`Ticket: {text}...`) that text on a new line (the next example beginning)."""
        recipe = recipe or self.recipe
        stops = list(self.stop_markers)
        template = recipe.prompt.template if recipe is not None else ""
        if template:
            opening = template.split("{", 1)[0].strip().splitlines()
            if opening and len(opening[0].strip()) >= 2:
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
        return self.templates(recipe).answer(row)

    # -- metrics --------------------------------------------------------------------------
    def metric_specs(self, recipe: "Recipe | None" = None, *,
                     reported: Iterable[str] | None = None) -> tuple[MetricSpec, ...]:
        """Every metric this task reports, in display order; exactly one has `decides=True`. `reported`: the
        metric names a run's metrics.json holds, when known (a custom task with `eval.metric = auto` recognises
        its metric from them instead of reading the eval data again)."""
        return (MetricSpec("exact_match", "exact match", decides=True),)

    def primary_metric(self, recipe: "Recipe | None" = None, *, reported: Iterable[str] | None = None) -> str:
        """The metric the verdict decides on."""
        specs = self.metric_specs(recipe, reported=reported)
        return next((m.name for m in specs if m.decides), specs[0].name)

    def metric_label(self, name: str) -> str:
        """The label of any metric this task can report (whatever the recipe), else the name in words."""
        return next((m.label for m in self.metric_specs() if m.name == name), name.replace("_", " "))

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

    def check_reference(self, reference: str) -> None:
        """Raise UsageError when a reference cannot be scored by this task's metric (e.g. not JSON for json)."""

    def score_many(self, examples: list[dict]) -> list[tuple[dict, dict]]:
        """`score` for each `{prediction, reference, ...}` example, in order (a task whose scoring waits on a
        service, the judge, runs several at once)."""
        return [self.score(ex["prediction"], ex["reference"], ex) for ex in examples]

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
