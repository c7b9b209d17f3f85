"""Step 1, Task: a bundled task or recipe, your own dataset, or a recipe file; with a preview of real rows."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from ftwizard.errors import UsageError
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import StepScreen

# task -> the bundled recipe it starts from (the seed's LoRA run; the Train step adds the hosted twin)
TASK_RECIPES = {"sql": "sql-codellama34b-lora", "viggo": "viggo-codellama34b-lora"}
PREVIEW_ROWS = 30
CUSTOM_TEMPLATE = "### Input:\n{input}\n\n### Output:\n{output}\n"


def choices() -> list[tuple[str, str]]:
    from ftwizard.bundled import bundled_recipes

    out = [("task:sql", "sql task (text-to-SQL)"), ("task:viggo", "viggo task (ViGGO)")]
    for b in bundled_recipes():
        out.append((f"recipe:{b.name}", f"  {b.name}"))
    out += [("custom", "your own dataset..."), ("file", "open a recipe file...")]
    return out


def recipe_for_choice(choice: str, form: dict) -> "Recipe":  # noqa: F821
    """The recipe a Task-step choice stands for (raises UsageError naming what is wrong)."""
    from ftwizard.bundled import find_bundled
    from ftwizard.recipe import load_recipe, validate_dict

    if choice.startswith("task:"):
        return load_recipe(find_bundled(TASK_RECIPES[choice[5:]]))
    if choice.startswith("recipe:"):
        path = find_bundled(choice[7:])
        if path is None:
            raise UsageError(f"no bundled recipe named {choice[7:]}")
        return load_recipe(path)
    if choice == "file":
        path = form.get("path", "").strip()
        if not path:
            raise UsageError("type the path of a recipe file (TOML), then press Enter")
        if not Path(path).expanduser().is_file():
            raise UsageError(f"recipe file not found: {path}")
        return load_recipe(Path(path).expanduser())
    # custom
    problems = []
    if not form.get("train", "").strip():
        problems.append("training file: give the path of a JSONL or CSV file")
    columns: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in form.get("columns", "").split(","))):
        if "=" not in part:
            problems.append(f"field mapping {part!r}: write field=column, e.g. input=question")
            continue
        k, v = (s.strip() for s in part.split("=", 1))
        columns[k] = v
    if problems:
        raise UsageError(problems)
    train = form["train"].strip()
    return validate_dict({
        "name": form.get("name", "").strip() or Path(train).stem.replace(" ", "-") or "custom",
        "task": "custom",
        "data": {"source": "files", "train": train, "eval": form.get("eval", "").strip() or train,
                 "columns": columns},
        "prompt": {"template": form.get("template", ""), "answer_field": form.get("answer", "").strip()},
    }, source="custom dataset")


def preview_rows(recipe) -> tuple[list[str], list[dict[str, str]], str]:
    """The first rows of the training split as the task reads them, and where they came from."""
    from ftwizard.tasks import get_task

    limit = min(recipe.data.limit_train or PREVIEW_ROWS, PREVIEW_ROWS)
    r = recipe.with_updates({"data.limit_train": limit})
    task = get_task(r.task)
    split = task.load_split(r, "train", check_templates=False)
    columns = list(split.rows[0].keys()) if split.rows else []
    problem = ""
    try:
        templates = task.templates(r)
        templates.check_fields(columns, source=split.source)
        from ftwizard.prompts import template_fields

        used = [f for f in dict.fromkeys(template_fields(templates.template)) if f in columns]
        # the fields the templates use first; a source column renamed into one of them is not shown twice
        rest = [c for c in columns if c not in used
                and not any(all(row.get(c) == row.get(u) for row in split.rows[:5]) for u in used)]
        columns = used + rest
    except UsageError as e:
        problem = str(e)
    return columns, split.rows, (split.source, problem)  # type: ignore[return-value]


class TaskScreen(StepScreen):
    INDEX = 0

    def body(self) -> ComposeResult:
        with Horizontal(id="task-main"):
            yield OptionList(*[Option(label, id=cid) for cid, label in choices()], id="choices")
            with Vertical(id="task-right"):
                yield Static("", id="choice-info")
                with Vertical(id="file-form", classes="form"):
                    yield Label("Recipe file (TOML); Enter opens it")
                    yield Input(self.state.recipe_path, placeholder="recipes/my-run.toml", id="recipe-path", compact=True)
                with Vertical(id="custom-form", classes="form"):
                    with Horizontal(classes="row c"):
                        yield Label("train", classes="key")
                        yield Input(placeholder="data/train.jsonl (JSONL or CSV)", id="custom-train", compact=True)
                    with Horizontal(classes="row c"):
                        yield Label("eval", classes="key")
                        yield Input(placeholder="data/eval.jsonl (blank: the training file)", id="custom-eval", compact=True)
                    with Horizontal(classes="row c"):
                        yield Label("fields", classes="key")
                        yield Input(placeholder="input=question, output=answer (field=column; blank: as named)",
                                    id="custom-columns", compact=True)
                    with Horizontal(classes="row c"):
                        yield Label("answer", classes="key")
                        yield Input("output", placeholder="the field the model learns to produce", id="custom-answer", compact=True)
                    yield TextArea(CUSTOM_TEMPLATE, id="custom-template", soft_wrap=True, tab_behavior="focus")
                with Horizontal(classes="row c", id="name-row"):
                    yield Label("name", classes="key")
                    yield Input(self.state.recipe.name if self.state.recipe else "", id="recipe-name",
                                placeholder="names the run directories", restrict=r"[A-Za-z0-9._-]*", compact=True)
                yield DataTable(id="preview", zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        options = self.query_one("#choices", OptionList)
        ids = [cid for cid, _ in choices()]
        index = ids.index(self.state.choice) if self.state.choice in ids else ids.index("recipe:viggo-cpu-demo") \
            if "recipe:viggo-cpu-demo" in ids else 0
        options.highlighted = index
        options.focus()
        if self.state.choice == "custom" and self.state.recipe is not None:
            r = self.state.recipe
            self.query_one("#custom-train", Input).value = r.data.train
            self.query_one("#custom-eval", Input).value = r.data.eval
            self.query_one("#custom-columns", Input).value = ", ".join(f"{k}={v}" for k, v in r.data.columns.items())
            self.query_one("#custom-answer", Input).value = r.prompt.answer_field
            self.query_one("#custom-template", TextArea).text = r.prompt.template
        self.call_after_refresh(self._first_show)  # the first frame first; the rows load after it

    def _first_show(self) -> None:
        self._ready = True
        self._show_choice()

    # -- choice -----------------------------------------------------------------------------------
    @property
    def choice(self) -> str:
        options = self.query_one("#choices", OptionList)
        if options.highlighted is None:
            return ""
        return options.get_option_at_index(options.highlighted).id or ""

    _ready = False

    @on(OptionList.OptionHighlighted, "#choices")
    def _highlighted(self) -> None:
        if self._ready:
            self._show_choice()

    @on(OptionList.OptionSelected, "#choices")
    def _selected(self) -> None:
        c = self.choice
        if c == "file":
            self.query_one("#recipe-path", Input).focus()
        elif c == "custom":
            self.query_one("#custom-train", Input).focus()
        else:
            self.action_next()

    def _show_choice(self) -> None:
        c = self.choice
        self.query_one("#file-form").display = c == "file"
        self.query_one("#custom-form").display = c == "custom"
        info = self.query_one("#choice-info", Static)
        info.update(self._describe(c))
        if c not in ("file", "custom") or c == self.state.choice:
            self._refresh_preview()
        else:
            self.query_one("#preview", DataTable).clear(columns=True)

    def _describe(self, c: str) -> str:
        from ftwizard.bundled import bundled_recipes

        if c.startswith("task:"):
            from ftwizard.tasks import get_task

            t = get_task(c[5:])
            return f"{t.title}\nstarts from the seed's recipe {TASK_RECIPES[c[5:]]}; the next steps change it"
        if c.startswith("recipe:"):
            for b in bundled_recipes():
                if b.name == c[7:]:
                    return f"{b.summary}\n{b.task} task, {b.backend} backend  ({b.command})"
        if c == "custom":
            return "Your JSONL/CSV: map template fields to columns; the answer field comes last in the template"
        return "A recipe file: every step is prefilled from it"

    def _form(self) -> dict:
        return {
            "path": self.query_one("#recipe-path", Input).value,
            "train": self.query_one("#custom-train", Input).value,
            "eval": self.query_one("#custom-eval", Input).value,
            "columns": self.query_one("#custom-columns", Input).value,
            "answer": self.query_one("#custom-answer", Input).value,
            "template": self.query_one("#custom-template", TextArea).text,
            "name": self.query_one("#recipe-name", Input).value,
        }

    # -- preview ------------------------------------------------------------------------------------
    @on(Input.Submitted, "#recipe-path")
    def _path_submitted(self) -> None:
        self._refresh_preview()

    @on(Input.Changed, "#custom-train, #custom-eval, #custom-columns, #custom-answer")
    def _custom_changed(self) -> None:
        if self.choice == "custom":
            self._refresh_preview()

    @on(TextArea.Changed, "#custom-template")
    def _template_changed(self) -> None:
        if self.choice == "custom":
            self._refresh_preview()

    def _refresh_preview(self) -> None:
        self._load_preview(self.choice, self._form())

    @work(thread=True, exclusive=True, group="task-preview", exit_on_error=False)
    def _load_preview(self, choice: str, form: dict) -> None:
        import time

        time.sleep(0.05)  # let a burst of keystrokes settle (exclusive: older loads are cancelled)
        from textual.worker import get_current_worker

        if get_current_worker().is_cancelled:
            return
        try:
            recipe = self._recipe_from(choice, form)
            columns, rows, (source, problem) = preview_rows(recipe)
        except UsageError as e:
            self.app.call_from_thread(self._preview_failed, choice, str(e))
            return
        except Exception as e:  # noqa: BLE001 - a data file that cannot be read: say so, keep going
            self.app.call_from_thread(self._preview_failed, choice, f"{type(e).__name__}: {e}")
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._preview_loaded, choice, recipe, columns, rows, source, problem)

    def _recipe_from(self, choice: str, form: dict):
        if choice == self.state.choice and self.state.recipe is not None and choice != "custom" and \
                (choice != "file" or form["path"] == self.state.recipe_path):
            return self.state.recipe  # keep what later steps changed
        return recipe_for_choice(choice, form)

    def _preview_failed(self, choice: str, message: str) -> None:
        if choice != self.choice:
            return
        self.query_one("#preview", DataTable).clear(columns=True)
        self.show_problems(message)

    def _preview_loaded(self, choice, recipe, columns, rows, source, problem) -> None:
        if choice != self.choice:
            return
        name_input = self.query_one("#recipe-name", Input)
        if choice != "custom" and (not name_input.value or name_input.value != recipe.name and
                                   not name_input.has_focus):
            name_input.value = recipe.name
        table = self.query_one("#preview", DataTable)
        table.clear(columns=True)
        for c in columns:
            table.add_column(c, key=c)
        width = max(16, (self.app.size.width - 34) // max(1, len(columns)) - 2)  # the list takes 30 + borders
        for row in rows:
            table.add_row(*[_cell(row.get(c, ""), width) for c in columns])
        table.border_title = f"first {len(rows)} rows of {source}"
        self.show_problems(problem)

    # -- result ---------------------------------------------------------------------------------------
    def build_state(self) -> WizardState | None:
        c, form = self.choice, self._form()
        try:
            recipe = self._recipe_from(c, form)
            name = form["name"].strip()
            if name and name != recipe.name:
                recipe = recipe.with_updates({"name": name})
            if c == "custom":
                from ftwizard.tasks import get_task

                get_task("custom").load_split(recipe.with_updates({"data.limit_train": 1}), "train")
        except UsageError as e:
            self.show_problems(str(e))
            return None
        except Exception as e:  # noqa: BLE001 - e.g. pydantic errors from with_updates
            self.show_problems(f"{type(e).__name__}: {e}")
            return None
        self.show_problems("")
        if c == self.state.choice and self.state.recipe is not None and c != "custom":
            return self.state.model_copy(update={"recipe": recipe})
        return self.state.with_recipe(recipe, choice=c, recipe_path=form["path"] if c == "file" else "")


def _cell(value: str, width: int = 60) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= width else value[: width - 1] + "…"
