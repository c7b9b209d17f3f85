"""Step 2, Hardware: the GPUs found, the price per hour of the GPU chosen, and what each candidate model and
quantization needs and costs, next to every hosted provider's candidates. Every knob recomputes the tables."""

from __future__ import annotations

from datetime import date

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from ftwizard.catalog import closing_cell
from ftwizard.errors import UsageError
from ftwizard.fmt import rate, usd
from ftwizard.tui import engine
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import StepScreen

QUANTS = ("none", "8bit", "4bit")


def describe_gpus(info: dict | None) -> str:
    gpus = (info or {}).get("gpus") or []
    if not gpus:
        return "GPUs found: none (CPU only): estimates below are for the GPU you name"
    parts = []
    for g in gpus:
        name = g.get("name", "?")
        total, free = g.get("vram_total_gb"), g.get("vram_free_gb")
        if total:
            parts.append(f"{name} {free:.1f}/{total:.1f} GiB free" if free is not None else f"{name} {total:.1f} GiB")
        else:
            parts.append(name)
    return "GPUs found: " + "; ".join(parts)


def _num(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _local_order(row: dict):
    """Fits first, then the newest model, the largest, the lightest quantization; rows that cannot be sized last."""
    from ftwizard.catalog import get_open_model
    from ftwizard.localmodels import _negated_month

    try:
        om = get_open_model(row["model"], allow_hub=False)
        released, params = om.released, om.params
    except UsageError:
        released, params = "", 0
    return ("error" in row, row.get("fits") is not True, _negated_month(released), -params, QUANTS.index(row["quant"]))


def short(model_id: str) -> str:
    """`meta-llama/Llama-3.1-8B` -> `Llama-3.1-8B`: the tables are narrow at 80 columns (the detail line and the
    recipe keep the full id)."""
    return model_id.rstrip("/").split("/")[-1]


def describe_candidate(c: dict) -> str:
    """The line under the hosted table for the highlighted candidate: availability first, then the weights and
    serving, then the price with its source and date (the table has no room for the source)."""
    serving = {"serverless": "serves per token", "dedicated": "serves on a dedicated endpoint",
               "deployment": "serves through a deployment"}.get(c["serving"], c["serving"])
    if c.get("hosting_usd_per_hour"):
        serving += f" ({rate(c['hosting_usd_per_hour'], 'h')})"
    when = []
    if c.get("training_available_until"):
        when.append(f"jobs until {c['training_available_until']} ({c['training_days_left']} days)")
    if c.get("shutdown_date"):
        when.append(f"shutdown {c['shutdown_date']} ({c['shutdown_days_left']} days)")
    state = f"CLOSED: {c['unavailable_reason']}" if not c["available"] else "; ".join(when) or "no closing date"
    weights = "weights download" if c["weights_downloadable"] else "weights stay with the provider"
    return (f"{c['provider']} {c['model']}: {state}; {weights}; {serving}; "
            f"{rate(c['training_usd_per_1m'], '1M')} training tokens, {c['price_date']}: {c['price_source']}")


class HardwareScreen(StepScreen):
    INDEX = 1
    BINDINGS = [("ctrl+r", "recompute", "Recompute"), ("ctrl+t", "toggle_closed", "Closed too")]

    def __init__(self, state: WizardState):
        super().__init__(state)
        self._price_gpu = state.gpu  # the GPU whose price the $/h box holds
        self._model_picked = False  # the user chose a local row: the model no longer follows the card
        self._last = (None, [], [])
        self._show_closed = False  # hosted models that take no new jobs: listed only when asked for (ctrl+t)
        self._local_cache: dict[tuple, dict | str] = {}  # a local row's estimate (or why none), by what it needs
        self._hosted_cache: dict[tuple, dict | str] = {}  # a hosted row's billed tokens per epoch, by its data

    def body(self) -> ComposeResult:
        r = self.state.recipe
        yield Static("GPUs: looking...", id="gpus")
        with Horizontal(classes="knobs"):
            yield Label("GPU", classes="k")
            yield Input(self.state.gpu, id="gpu", compact=True,
                        suggester=SuggestFromList(engine.gpu_names(), case_sensitive=False))
            yield Label("$/h", classes="k")
            price = self.state.price_per_hour or self._catalog_price(self.state.gpu, None)
            yield Input("" if price is None else f"{price:g}", id="price", type="number", compact=True)
            yield Label("epochs", classes="k")
            yield Input("" if self.state.epochs is None else f"{self.state.epochs:g}", id="epochs", type="number",
                        placeholder="recipe", compact=True)
            yield Label("rank", classes="k")
            yield Input(str(r.lora.r) if r else "8", id="rank", type="integer", compact=True)
            yield Label("quant", classes="k")
            yield Select([(q, q) for q in QUANTS], value=r.model.quant if r else "none", allow_blank=False,
                         id="quant", compact=True)
        yield Static("", id="chosen")
        with Vertical(id="hw-tables"):
            yield DataTable(id="local-table", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="hosted-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="hosted-detail")
        yield Static("", id="hw-summary")

    def on_mount(self) -> None:
        local = self.query_one("#local-table", DataTable)
        local.add_columns("open model (LoRA)", "quant", "VRAM GiB", "fits", "hours", "cost")
        local.border_title = "local: model x quantization (Enter picks)"
        hosted = self.query_one("#hosted-table", DataTable)
        # under 100 columns the price date and rate are left to the line below the table (it has both, with the
        # source): no column scrolls off to the right
        self._narrow = self.app.size.width < 100
        hosted.add_columns("provider", "hosted model", "cost", "weights", "closes in",
                           *(() if self._narrow else ("priced", "$/1M")))
        hosted.border_title = "hosted that take jobs today (Enter picks; ctrl+t: closed too)"
        self._show_chosen()
        if self.app.hardware_override is not None:
            self._detected(self.app.hardware_override)
        else:
            self._detect()
        self.action_recompute()

    @property
    def today(self) -> date:
        from ftwizard import settings

        return self.app.today or settings.as_of()

    def action_toggle_closed(self) -> None:
        self._show_closed = not self._show_closed
        self.query_one("#hosted-table", DataTable).border_title = (
            "hosted, every provider, closed too (Enter picks)" if self._show_closed
            else "hosted that take jobs today (Enter picks; ctrl+t: closed too)")
        self.action_recompute()

    # -- knobs -------------------------------------------------------------------------------------------
    @staticmethod
    def _catalog_price(gpu: str, typed: float | None, typed_for: str | None = None) -> float | None:
        """The price of `gpu` (ftwizard.pricing): a price typed for another card never carries over."""
        from ftwizard.pricing import gpu_price

        try:
            return gpu_price(gpu, recipe_price=typed, recipe_gpu=typed_for)["price_per_hour"]
        except UsageError:  # not a catalog GPU (yet: the user is typing)
            return None

    def knobs(self) -> tuple[dict, list[str]]:
        problems = []
        gpu = self.query_one("#gpu", Input).value.strip() or self.state.gpu
        raw_price = self.query_one("#price", Input).value.strip()
        price = None
        if raw_price:
            try:
                price = float(raw_price)
                if price <= 0:
                    raise ValueError
            except ValueError:
                problems.append("$/h: a price per GPU-hour above 0, e.g. 0.475 (blank: the catalog's)")
                price = None
        raw_epochs = self.query_one("#epochs", Input).value.strip()
        epochs = None
        if raw_epochs:
            try:
                epochs = float(raw_epochs)
                if epochs <= 0:
                    raise ValueError
            except ValueError:
                problems.append("epochs: a number above 0, or blank for the recipe's own")
                epochs = None
        try:
            rank = int(self.query_one("#rank", Input).value)
            if not 1 <= rank <= 1024:
                raise ValueError
        except ValueError:
            problems.append("rank: a whole number from 1 to 1024")
            rank = self.state.recipe.lora.r if self.state.recipe else 8
        quant = self.query_one("#quant", Select).value
        return {"gpu": gpu, "price_per_hour": price, "epochs": epochs, "rank": rank, "quant": quant}, problems

    @on(Input.Changed, "#gpu")
    def _gpu_changed(self) -> None:
        """Another card: the $/h box takes that card's price (a price typed for the old card does not follow)."""
        from ftwizard.catalog import get_gpu

        gpu = self.query_one("#gpu", Input).value.strip()
        try:
            name = get_gpu(gpu).name
        except UsageError:
            return self.action_recompute()
        self._refit_own_data_model(name)
        if name != self._price_gpu:
            box = self.query_one("#price", Input)
            try:
                typed = float(box.value)
            except ValueError:
                typed = None
            price = self._catalog_price(name, typed, self._price_gpu)
            self._price_gpu = name
            new = "" if price is None else f"{price:g}"
            if box.value != new:
                box.value = new  # recomputes through _knob_changed
                return
        self.action_recompute()

    def _refit_own_data_model(self, gpu: str) -> None:
        """Own data: what the card decides in the proposal (model, quantization, and the learning rate and label
        tokens for that model) follows the card, as `usecases.own_data` proposes it, until the user picks a row."""
        r = self.state.recipe
        if self.state.choice != "custom" or self._model_picked or self.state.own_data is None:
            return
        try:
            fit = engine.own_data_on_card(r, self.state.own_data, gpu)
        except UsageError as e:
            self.show_problems(str(e))
            return
        if fit == r:
            return
        self.state = self.state.model_copy(update={"recipe": fit})
        with self.query_one("#quant", Select).prevent(Select.Changed):
            self.query_one("#quant", Select).value = fit.model.quant
        self._show_chosen()

    @on(Input.Changed, "#price, #epochs, #rank")
    @on(Select.Changed, "#quant")
    def _knob_changed(self) -> None:
        self.action_recompute()

    def action_recompute(self) -> None:
        knobs, problems = self.knobs()
        self.show_problems("\n".join(problems))
        try:
            recipe = self._recipe_with(knobs)
        except UsageError as e:
            self.show_problems(str(e))
            return
        for table in self.query(DataTable):
            table.loading = True  # until the worker answers: never an empty table that looks final
        self._estimate(recipe, knobs)

    def _recipe_with(self, knobs: dict):
        from ftwizard.catalog import get_gpu

        r = self.state.recipe
        upd = {"lora.r": knobs["rank"], "model.quant": knobs["quant"], "hardware.price_per_hour": knobs["price_per_hour"]}
        if knobs["gpu"]:
            upd["hardware.gpu"] = get_gpu(knobs["gpu"]).name  # names the card, so its price is never another's
        if knobs["epochs"] is not None:
            upd.update({"train.max_steps": 0, "train.epochs": knobs["epochs"], "hosted.epochs": max(1, round(knobs["epochs"]))})
        return r.with_updates(upd)

    # -- workers -----------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="hw-detect", exit_on_error=False)
    def _detect(self) -> None:
        info = engine.detect_hardware()
        self.app.call_from_thread(self._detected, info)

    def _detected(self, info: dict) -> None:
        """Show the GPUs found; a recipe that names no card (`auto`) is estimated on the one found (the CPU when
        there is none)."""
        self.query_one("#gpus", Static).update(describe_gpus(info))
        if self.state.recipe.hardware.gpu not in ("", "auto"):
            return
        found = engine.card_for(info.get("gpus") or [])  # no GPU here: the CPU, where the run trains
        box = self.query_one("#gpu", Input)
        if found is not None and box.value.strip() == self.state.gpu:  # not typed over yet
            box.value = found  # re-prices and refits through _gpu_changed

    @work(thread=True, exclusive=True, group="estimate", exit_on_error=False)
    def _estimate(self, recipe, knobs: dict) -> None:
        """Every local row (model x quantization) and every hosted candidate, priced. A knob change costs at most
        one estimate per row: a local row is re-estimated only when what it depends on changed (not the price:
        `LocalEstimate.repriced` prices its hours again); a hosted row is the hosted plan of its billed tokens per epoch at the
        epochs asked for, counted again only when its data changed - each candidate as itself."""
        import time

        from textual.worker import get_current_worker

        from ftwizard.catalog import hosted_candidates, rank_hosted

        time.sleep(0.1)  # typing a price: only the last value is computed
        worker = get_current_worker()
        if worker.is_cancelled:
            return
        local_rows = []
        base = recipe.model_dump_json(exclude={"hosted": True, "hardware": {"price_per_hour"}})
        for src in engine.candidate_models(recipe):
            for quant in QUANTS:
                if worker.is_cancelled:
                    return
                key = (src.size_id, quant, knobs["gpu"], knobs["epochs"], knobs["rank"], base)
                if key not in self._local_cache:
                    try:
                        est = engine.estimate(recipe, model=src.size_id, gpu=knobs["gpu"],
                                              price_per_hour=knobs["price_per_hour"], quant=quant,
                                              epochs=knobs["epochs"], rank=knobs["rank"],
                                              runs_dir=str(self.app.runs_dir))
                        self._local_cache[key] = est.local
                    except UsageError as e:
                        self._local_cache[key] = str(e).splitlines()[0]
                cached = self._local_cache[key]
                if isinstance(cached, str):
                    # a quantization this card cannot train is left out (never a row claiming it); a model the
                    # estimator cannot size says so once
                    if quant == "none":
                        local_rows.append({"source": src, "model": src.size_id, "quant": quant, "error": cached})
                    continue
                loc = engine.reprice_local(cached, recipe, knobs["price_per_hour"])
                local_rows.append({"source": src, "model": src.size_id, "quant": quant, "vram_gb": loc.vram_gb,
                                   "fits": loc.fits, "hours": loc.hours, "cost_usd": loc.cost_usd,
                                   "cost_range_usd": loc.cost_range_usd, "gpu_vram_gb": loc.fit.device_gb})
        local_rows.sort(key=_local_order)
        hosted_rows = [c for c in rank_hosted(hosted_candidates(self.today), recipe.model.catalog_id or recipe.model.base)
                       if c["available"] or self._show_closed]
        data = recipe.model_dump_json(include={"task", "data", "prompt"})
        for c in hosted_rows:  # the estimator counts each provider's candidate on the same data
            if worker.is_cancelled:
                return
            key = (c["provider"], c["model"], data)
            if key not in self._hosted_cache:
                try:
                    self._hosted_cache[key] = engine.hosted_counts(recipe, c["provider"], c["model"])
                except UsageError as e:
                    self._hosted_cache[key] = str(e).splitlines()[0]
            cached = self._hosted_cache[key]
            if isinstance(cached, str):
                c["cost"] = {"cost_usd": None, "error": cached}
            else:
                c["cost"] = engine.hosted_cost(cached, recipe, knobs["epochs"])
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_estimates, recipe, local_rows, hosted_rows)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            for table in self.query(DataTable):
                table.loading = False
            error = event.worker.error
            what = "GPU detection" if event.worker.group == "hw-detect" else "the estimate"
            self.show_problems(f"{what} failed: {error if isinstance(error, UsageError) else repr(error)}")

    def _show_estimates(self, recipe, local_rows, hosted_rows) -> None:
        self._last = (recipe, local_rows, hosted_rows)
        for table in self.query(DataTable):
            table.loading = False
        local = self.query_one("#local-table", DataTable)
        local.clear()
        for row in local_rows:
            name = row["source"].label
            if "error" in row:
                local.add_row(name, row["quant"], "-", "?", "-", row["error"])
                continue
            fits = {True: "yes", False: "NO"}.get(row["fits"], "?")
            local.add_row(name, row["quant"], _num(row["vram_gb"]), fits, _num(row["hours"]),
                          usd(row["cost_usd"]))
        hosted = self.query_one("#hosted-table", DataTable)
        hosted.clear()
        for c in hosted_rows:
            cost = c["cost"]
            hosted.add_row(c["provider"], short(c["model"])[:24], usd(cost["cost_usd"]) if c["available"] else "-",
                           "yes" if c["weights_downloadable"] else "no", closing_cell(c),
                           *(() if self._narrow else (c["price_date"], f"{c['training_usd_per_1m']:g}")))
        self._show_detail()
        self.query_one("#hw-summary", Static).update(self._summary(recipe, local_rows, hosted_rows))

    def _summary(self, recipe, local_rows, hosted_rows) -> str:
        own = next((r for r in local_rows if r.get("quant") == recipe.model.quant and "error" not in r
                    and r["source"].where == "recipe"), None)
        hosted = next((c for c in hosted_rows if c["provider"] == recipe.hosted.provider
                       and (c["model"] == recipe.hosted.model or recipe.hosted.model in c["aliases"])), None)
        parts = []
        if own and own.get("cost_usd") is not None:
            rng = own.get("cost_range_usd")  # the held-out spread of the speed model (docs/estimates.md)
            # a spread within a cent, or one that reads as one amount, says nothing
            shown = rng and rng[1] >= 0.01 and usd(rng[0]) != usd(rng[1])
            parts.append(f"local {usd(own['cost_usd'])}" + (f" ({usd(rng[0])}-{usd(rng[1])})" if shown else ""))
        if hosted:
            parts.append(f"hosted {usd(hosted['cost']['cost_usd'])} ({hosted['provider']} {short(hosted['model'])})")
        if own and hosted and (own.get("cost_usd") or 0) >= 0.01 and hosted["cost"]["cost_usd"] is not None:
            parts.append(f"= {hosted['cost']['cost_usd'] / own['cost_usd']:.1f}x")
        return "  vs  ".join(parts[:2]) + (f"  {parts[2]}" if len(parts) > 2 else "")

    @on(DataTable.RowHighlighted, "#hosted-table")
    def _show_detail(self) -> None:
        rows = self._last[2]
        row = self.query_one("#hosted-table", DataTable).cursor_row
        self.query_one("#hosted-detail", Static).update(describe_candidate(rows[row]) if 0 <= row < len(rows) else "")

    def _show_chosen(self) -> None:
        r = self.state.recipe
        # a recipe that offloads activations is estimated so (less VRAM, the copies' time): the rows say why
        offload = "; activations offloaded to host memory" if r.train.activation_offloading else ""
        self.query_one("#chosen", Static).update(f"model {short(r.model.catalog_id or r.model.base)} ({r.model.quant}); "
                                                 f"hosted {r.hosted.provider} {short(r.hosted.model)}{offload}")

    # -- picking rows ----------------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#local-table")
    def _pick_local(self, event: DataTable.RowSelected) -> None:
        rows = self._last[1]
        if event.cursor_row >= len(rows) or "error" in rows[event.cursor_row]:
            return
        row = rows[event.cursor_row]
        r = self.state.recipe
        upd = {"model.quant": row["quant"]}
        if row["source"].where != "recipe":
            upd.update(row["source"].recipe_updates())
        self.state = self.state.model_copy(update={"recipe": r.with_updates(upd)})
        self._model_picked = True
        self.query_one("#quant", Select).value = row["quant"]
        self._show_chosen()
        self.notify(f"local model: {row['model']} ({row['quant']})")

    @on(DataTable.RowSelected, "#hosted-table")
    def _pick_hosted(self, event: DataTable.RowSelected) -> None:
        rows = self._last[2]
        if event.cursor_row >= len(rows):
            return
        c = rows[event.cursor_row]
        if not c["available"]:
            self.notify(c["unavailable_reason"], severity="warning")
            return
        recipe = self.state.recipe.with_updates({"hosted.provider": c["provider"], "hosted.model": c["model"]})
        self.state = self.state.model_copy(update={"recipe": recipe})
        self._show_chosen()
        self.action_recompute()
        self.notify(f"hosted model: {c['provider']} {c['model']}")

    # -- result ------------------------------------------------------------------------------------------------
    def build_state(self) -> WizardState | None:
        knobs, problems = self.knobs()
        if problems:
            self.show_problems("\n".join(problems))
            return None
        try:
            recipe = self._recipe_with(knobs)
        except UsageError as e:
            self.show_problems(str(e))
            return None
        return self.state.model_copy(update={"recipe": recipe, "gpu": recipe.hardware.gpu,
                                             "price_per_hour": knobs["price_per_hour"], "epochs": knobs["epochs"]})
