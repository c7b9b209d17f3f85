"""Step 3, Prompt: the templates with a live preview of a rendered example (local text and hosted messages),
token counts, and the data report's problems (over-length examples, chat format errors)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from pydantic import ValidationError
from rich.markup import escape
from textual.widgets import Input, Label, Static, TextArea
from textual.worker import Worker, WorkerState

from ftwizard.errors import UsageError
from ftwizard.fmt import usd
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import StepScreen


def chat_rendering(recipe):
    """A function giving a chat row's local training text as the chosen model renders it - its own chat template
    read from its files (`ftwizard.chatmask.renderer_from_files`: the Jinja renderer `apply_chat_template` uses,
    and the masking rule training uses) - as (text, learned character spans, problem, where the template came
    from); None when the model's files are not on this machine yet (a hub id downloads at launch)."""
    from ftwizard.chatmask import renderer_from_files
    from ftwizard.prompts import conversation

    render = renderer_from_files(recipe)
    if render is None:
        return None
    turns = getattr(recipe.train, "train_on_turns", "all")

    def rendering(row: dict):
        plan = render.plan(conversation(row), train_on_turns=turns)
        return plan.text, plan.spans, plan.problem, render.source

    return rendering


def _highlighted(text: str, spans) -> str:
    """`text` as markup with the learned spans in reverse video."""
    out, at = [], 0
    for a, b in spans:
        out += [escape(text[at:a]), "[reverse]", escape(text[a:b]), "[/reverse]"]
        at = b
    out.append(escape(text[at:]))
    return "".join(out)


def render_preview(templates, row: dict, counter=None, local_lengths=None, chat=None) -> str:
    """Rich markup for one example: the local text (what is learned highlighted) and the hosted messages, with
    tokens. `chat` (from `chat_rendering`) renders chat rows on the model's own template."""
    prompt = templates.render_prompt(row)
    answer = templates.render_answer(row)
    msgs = templates.messages(row)
    local_n = hosted_n = None
    if counter is not None:
        hosted_n = counter.count_messages(msgs)
    if local_lengths is not None:
        local_n = local_lengths(row, prompt + answer, templates.template)
    tokens = f"  ({local_n} tokens)" if local_n is not None else ""
    if chat is not None:
        text, spans, problem, where = chat(row)
        out = [f"[b]local training text[/b]{tokens}  [dim]the model's chat template ({escape(where)}); "
               "learned text highlighted[/dim]"]
        out.append(_highlighted(text.rstrip("\n"), spans))
        if problem:
            out.append(f"[$warning]nothing of this example is learned: {escape(problem)}[/]")
    else:
        out = [f"[b]local training text[/b]{tokens}"]
        if templates.is_chat:
            out[0] += "  [dim]ftwizard's generic chat layout: the model's own template shows once its files are here[/dim]"
        out.append(escape(prompt) + "[reverse]" + escape(answer.rstrip("\n")) + "[/reverse]")
    out.append("")
    out.append("[b]hosted chat messages[/b]" + (f"  ({hosted_n} tokens billed per epoch)" if hosted_n is not None else ""))
    for m in msgs:
        out.append(f"[b]{m['role']}:[/b] {escape(m['content'])}")
    return "\n".join(out)


def summarize_report(report: dict) -> str:
    lines = []
    tr = report["splits"].get("train", {})
    if tr:
        h = tr["hosted"]["tokens_per_example"]
        lo = tr["local"]["tokens_per_example"]
        lines.append(f"train {tr['examples']:,} examples; eval {report['splits'].get('eval', {}).get('examples', 0):,}")
        lines.append(f"local tokens/example: mean {lo['mean']:.0f}, p95 {lo['p95']}, max {lo['max']} "
                     f"(max_length {tr['local']['max_length']})")
        lines.append(f"hosted tokens/example: mean {h['mean']:.0f}, max {h['max']}")
        sched = report["local"].get("schedule")
        if sched:
            lines.append(f"local run: {sched['steps']:,} steps ({sched['epochs']:g} epochs of "
                         f"{sched['examples_per_step']} examples a step), warm-up {sched['warmup_steps']}")
        hosted = report["hosted"]
        cost = hosted.get("cost_usd")
        lines.append(f"hosted {hosted['model']}: {hosted['billed_tokens']:,} tokens billed x "
                     f"{hosted['epochs']} epochs" + (f" = {usd(cost)}" if cost is not None else ""))
        if not report["local"].get("exact", True):
            lines.append("[dim]local token counts are estimates (the model's tokenizer is not on disk)[/dim]")
    problems = report.get("problems") or []
    if problems:
        lines.append(f"[b]{len(problems)} problem(s):[/b]")
        lines += [f"[$warning]- {escape(p)}[/]" for p in problems]
    else:
        lines.append("[$success]no problems found in the data[/]")
    return "\n".join(lines)


class PromptScreen(StepScreen):
    INDEX = 2
    BINDINGS = [
        Binding("ctrl+down", "example(1)", "Next example", priority=True),
        Binding("ctrl+up", "example(-1)", "Prev example", priority=True),
    ]

    def __init__(self, state: WizardState):
        super().__init__(state)
        self.rows: list[dict] = []
        self.index = 0
        self.chat = False  # chat rows carry their messages: no template to edit
        self._counter = None
        self._local_lengths = None
        self._chat = None  # chat rows: the chosen model's own rendering (chat_rendering), loaded in a worker

    def body(self) -> ComposeResult:
        from ftwizard.tasks import get_task

        r = self.state.recipe
        try:
            t = get_task(r.task).templates(r)
            template, answer, system, user = t.template, t.answer_field, t.system, t.user
            self.chat = bool(getattr(t, "is_chat", False))
        except UsageError:
            template, answer = r.prompt.template, r.prompt.answer_field
            system, user = r.prompt.system or "", r.prompt.user or ""
        with Horizontal(id="prompt-main"):
            with Vertical(id="prompt-edit", classes="-chat" if self.chat else ""):
                yield Static("Chat data: each example's own messages are the prompt, and its last assistant turn "
                             "is the answer; local training renders them with the model's chat template. "
                             "Nothing to edit here: look through the examples on the right.", id="chat-note")
                yield Label("local template (the answer field comes last)", id="template-label")
                yield TextArea(template, id="template", soft_wrap=True, tab_behavior="focus")
                with Horizontal(classes="row c edit"):
                    yield Label("answer", classes="key")
                    yield Input(answer, id="answer", compact=True)
                with Horizontal(classes="row c edit"):
                    yield Label("system", classes="key")
                    yield Input(system, id="system", placeholder="hosted system message (blank: none)", compact=True)
                with Horizontal(classes="row c edit"):
                    yield Label("user", classes="key")
                    yield Input(user, id="user", compact=True)
                with Horizontal(classes="row c"):
                    yield Label("example", classes="key")
                    yield Input("1", id="example", type="integer", compact=True)
            with Vertical(id="prompt-right"):
                with VerticalScroll(id="preview-scroll"):
                    yield Static("loading examples...", id="prompt-preview")
                with VerticalScroll(id="report-scroll"):
                    yield Static("data report: computing...", id="report")

    def on_mount(self) -> None:
        self.query_one("#preview-scroll").border_title = "preview"
        self.query_one("#report-scroll").border_title = "data report"
        self._load_rows(self.state.recipe)
        self._run_report(self.state.recipe)

    # -- templates ------------------------------------------------------------------------------------------
    def _recipe_from_inputs(self):
        from ftwizard.tasks import get_task

        r = self.state.recipe
        task = get_task(r.task)
        if self.chat:
            return r, task.templates(r)
        template = self.query_one("#template", TextArea).text
        answer = self.query_one("#answer", Input).value.strip()
        system = self.query_one("#system", Input).value
        user = self.query_one("#user", Input).value
        upd = {
            "prompt.template": "" if template == task.default_template and r.prompt.template == "" else template,
            "prompt.answer_field": "" if answer == task.answer_field and not r.prompt.answer_field else answer,
            "prompt.system": None if r.prompt.system is None and system == task.default_system else system,
            "prompt.user": None if r.prompt.user is None and user == (task.default_user or task.templates(r).user)
            else user,
        }
        recipe = r.with_updates(upd)
        templates = task.templates(recipe)
        return recipe, templates

    @on(TextArea.Changed, "#template")
    @on(Input.Changed, "#answer, #system, #user")
    def _edited(self) -> None:
        self._show_example()
        try:
            recipe, _ = self._recipe_from_inputs()
        except UsageError:
            return
        self._run_report(recipe)

    @on(Input.Changed, "#example")
    def _example_typed(self, event: Input.Changed) -> None:
        try:
            self.index = max(0, min(len(self.rows) - 1, int(event.value) - 1))
        except ValueError:
            return
        self._show_example()

    def action_example(self, delta: int) -> None:
        if not self.rows:
            return
        self.index = (self.index + delta) % len(self.rows)
        self.query_one("#example", Input).value = str(self.index + 1)

    def _show_example(self) -> None:
        preview = self.query_one("#prompt-preview", Static)
        if not self.rows:
            return
        try:
            _recipe, templates = self._recipe_from_inputs()
            row = self.rows[self.index]
            templates.check_fields(list(row.keys()), source="the data")
            text = render_preview(templates, row, self._counter, self._local_lengths, self._chat)
        except (UsageError, ValidationError) as e:
            preview.update(f"[$error]{escape(str(e))}[/]")
            return
        self.query_one("#preview-scroll").border_title = f"preview: example {self.index + 1} of {len(self.rows):,}"
        preview.update(text)

    # -- workers ------------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="prompt-rows", exit_on_error=False)
    def _load_rows(self, recipe) -> None:
        from ftwizard.prepare import LocalLengths
        from ftwizard.tasks import get_task
        from ftwizard.tokens import TokenCounter, hosted_encoding

        try:
            # The training split the run will train on (data.limit_train and the held-out share applied): the
            # preview counts and browses the examples the data report counts, not a sample of its own.
            split = get_task(recipe.task).load_split(recipe, "train", check_templates=False)
        except UsageError as e:
            self.app.call_from_thread(self.query_one("#prompt-preview", Static).update,
                                      f"cannot load examples: {escape(str(e))}")
            return
        counter = TokenCounter(hosted_encoding(recipe.hosted.model, recipe.hosted.provider))
        ll = LocalLengths(recipe)

        def local(row, text, template):
            return ll.lengths([row], [text], template)[0]

        chat = None
        if split.rows and "messages" in split.rows[0]:
            chat = chat_rendering(recipe)  # the model's template from its files (Jinja only, no torch)
        self.app.call_from_thread(self._rows_loaded, split.rows, counter, local, chat)

    def _rows_loaded(self, rows, counter, local, chat=None) -> None:
        self.rows, self._counter, self._local_lengths, self._chat = rows, counter, local, chat
        self.index = min(self.index, len(rows) - 1)
        self._show_example()

    @work(thread=True, exclusive=True, group="prompt-report", exit_on_error=False)
    def _run_report(self, recipe) -> None:
        import time

        from textual.worker import get_current_worker

        from ftwizard.tui import reports

        time.sleep(0.3)  # typing: report on the template once it settles
        if get_current_worker().is_cancelled:
            return
        try:
            text = summarize_report(reports.data_report(recipe))
        except UsageError as e:
            text = f"[$error]{escape(str(e))}[/]"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one("#report", Static).update, text)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            target = "#report" if event.worker.group == "prompt-report" else "#prompt-preview"
            self.query_one(target, Static).update(
                f"[$error]{escape(f'{event.worker.group} failed: {event.worker.error!r}')}[/]")

    # -- result -----------------------------------------------------------------------------------------------------
    def build_state(self) -> WizardState | None:
        try:
            recipe, templates = self._recipe_from_inputs()
            if self.rows:
                templates.check_fields(list(self.rows[0].keys()), source="the data")
        except (UsageError, ValidationError) as e:
            self.show_problems(str(e))
            return None
        self.show_problems("")
        return self.state.model_copy(update={"recipe": recipe})
