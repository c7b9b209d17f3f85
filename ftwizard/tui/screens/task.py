"""Step 1, Task: a bundled task or recipe, your own dataset, or a recipe file; with a preview of real rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from ftwizard.errors import UsageError
from ftwizard.tui import engine
from ftwizard.tui.state import DEFAULT_GPU, WizardState
from ftwizard.tui.steps import StepScreen

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

# task -> the bundled recipe it starts from (the seed's LoRA run; the Train step adds the hosted twin)
TASK_RECIPES = {"sql": "sql-codellama34b-lora", "viggo": "viggo-codellama34b-lora"}
PREVIEW_ROWS = 30


def choices() -> list[tuple[str, str]]:
    from ftwizard.bundled import bundled_recipes

    out = [("task:sql", "sql task (text-to-SQL)"), ("task:viggo", "viggo task (ViGGO)")]
    for b in bundled_recipes():
        out.append((f"recipe:{b.name}", f"  {b.name}"))
    out += [("custom", "your own dataset..."), ("file", "open a recipe file...")]
    return out


def recipe_for_choice(choice: str, form: dict, gpu: str = DEFAULT_GPU) -> Recipe:
    """The recipe a Task-step choice stands for (raises UsageError naming what is wrong). Your own data gets
    the recipe `usecases.own_data.propose` makes for it on `gpu` (as `ftwizard recipes --from-data` does)."""
    from ftwizard.bundled import find_bundled
    from ftwizard.recipe import load_recipe

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
        return load_recipe(Path(path).expanduser())
    return engine.own_data_recipe(form, gpu)


def chat_preview(rows: list[dict]) -> tuple[list[str], list[dict[str, str]]]:
    """Chat examples as one column per role (a conversation's turns of that role joined), in the order met."""
    roles: list[str] = []
    table = []
    for row in rows:
        by_role: dict[str, list[str]] = {}
        for m in row["messages"]:
            role = str(m.get("role", "?"))
            by_role.setdefault(role, []).append(str(m.get("content") or ""))
            if role not in roles:
                roles.append(role)
        table.append({role: " / ".join(turns) for role, turns in by_role.items()})
    return roles, table


def preview_rows(recipe) -> tuple[list[str], list[dict[str, str]], str]:
    """The first rows of the training split as the task reads them, and where they came from."""
    from ftwizard.tasks import get_task

    limit = min(recipe.data.limit_train or PREVIEW_ROWS, PREVIEW_ROWS)
    r = recipe.with_updates({"data.limit_train": limit})
    task = get_task(r.task)
    split = task.load_split(r, "train", check_templates=False)
    if split.rows and "messages" in split.rows[0]:
        return chat_preview(split.rows) + ((split.source, ""),)  # type: ignore[return-value]
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
                    with Horizontal(classes="row t"):
                        yield Label("train", classes="key")
                        yield Input(placeholder="data/train.jsonl: chat, prompt/completion or any columns; or CSV",
                                    id="custom-train", compact=True)
                    with Horizontal(classes="row t"):
                        yield Label("eval", classes="key")
                        yield Input(placeholder="blank: 10% of the training file held out", id="custom-eval",
                                    compact=True)
                    with Horizontal(classes="row t"):
                        yield Label("fields", classes="key")
                        yield Input(placeholder="column data only: field=column, e.g. text=body (blank: as named)",
                                    id="custom-columns", compact=True)
                    with Horizontal(classes="row t"):
                        yield Label("answer", classes="key")
                        yield Input(placeholder="column data only: the field the model produces", id="custom-answer",
                                    compact=True)
                    yield TextArea("", id="custom-template", soft_wrap=True, tab_behavior="focus",
                                   placeholder="column data only: the training text, e.g.\n"
                                               "Ticket: {text}\nCategory:\n{label}")
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
    _name_typed = False  # the user typed a run name: it wins over the one from the recipe or the data file

    @on(Input.Changed, "#recipe-name")
    def _name_changed(self, event: Input.Changed) -> None:
        if event.input.has_focus:
            self._name_typed = bool(event.value.strip())

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
        form = self._form()
        typed = (c == "file" and form["path"].strip()) or (c == "custom" and form["train"].strip())
        if c not in ("file", "custom") or c == self.state.choice or typed:
            self._refresh_preview()  # a file already named (typed before, or while this event waited) shows again
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
            return ("Your JSONL/CSV: chat ({\"messages\": [...]}), prompt/completion and instruction/output need "
                    "nothing more; for other columns write a template (the answer field last)")
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
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._preview_loaded, choice, recipe, columns, rows, source, problem)

    def _recipe_from(self, choice: str, form: dict):
        if choice == self.state.choice and self.state.recipe is not None and choice != "custom" and \
                (choice != "file" or form["path"] == self.state.recipe_path):
            return self.state.recipe  # keep what later steps changed
        if choice == "custom":
            form = self._own_form(form)
        return recipe_for_choice(choice, form, self.state.gpu)

    def _own_form(self, form: dict) -> dict:
        # named after the data file, not after the recipe highlighted before, unless a name was typed
        return form if self._name_typed else {**form, "name": ""}

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # a bug, not bad input: shown with its type, the wizard goes on
            self._preview_failed(self.choice, f"the preview failed: {event.worker.error!r}")

    def _preview_failed(self, choice: str, message: str) -> None:
        if choice != self.choice:
            return
        self.query_one("#preview", DataTable).clear(columns=True)
        self.show_problems(message)

    def _preview_loaded(self, choice, recipe, columns, rows, source, problem) -> None:
        if choice != self.choice:
            return
        name_input = self.query_one("#recipe-name", Input)
        if not self._name_typed and name_input.value != recipe.name:
            with name_input.prevent(Input.Changed):
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
        from pydantic import ValidationError  # not at import: the first frame does not wait for pydantic

        c, form = self.choice, self._form()
        try:
            recipe = self._recipe_from(c, form)
            name = form["name"].strip()
            if name and name != recipe.name:
                recipe = recipe.with_updates({"name": name})
            if c == "custom":
                from ftwizard.tasks import get_task

                get_task("custom").load_split(recipe.with_updates({"data.limit_train": 1}), "train")
        except (UsageError, ValidationError) as e:
            self.show_problems(str(e))
            return None
        self.show_problems("")
        if c == self.state.choice and self.state.recipe is not None and c != "custom":
            return self.state.model_copy(update={"recipe": recipe})
        own = engine.own_data_inputs(self._own_form(form)) if c == "custom" else None
        return self.state.with_recipe(recipe, choice=c, recipe_path=form["path"] if c == "file" else "", own_data=own)


def _cell(value: str, width: int = 60) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= width else value[: width - 1] + "…"
