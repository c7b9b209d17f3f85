"""A task: where its examples come from, how they become prompts, how answers are read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

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


class Task:
    """Base class. Subclasses set the class attributes and may override `extract_answer`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    answer_field: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ("exact_match",)
    default_template: ClassVar[str] = ""
    default_system: ClassVar[str] = ""
    default_user: ClassVar[str] = ""
    # bundled split name -> (file relative to the package's data/, column renames field <- column)
    bundled: ClassVar[dict[str, str]] = {}
    bundled_columns: ClassVar[dict[str, str]] = {}
    default_train_split: ClassVar[str] = "train"
    default_eval_split: ClassVar[str] = "test"

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
    def extract_answer(self, raw: str) -> str:
        """The answer inside a model's raw output. Default: the first non-empty line."""
        for line in raw.strip().splitlines():
            if line.strip():
                return line.strip()
        return ""

    def reference(self, row: dict[str, str], recipe: "Recipe") -> str:
        return row[recipe.prompt.answer_field or self.answer_field]


def _default_user(template: str, answer: str) -> str:
    """For a custom task without chat templates: the local prompt without the answer."""
    return template.split("{" + answer + "}", 1)[0].rstrip()
