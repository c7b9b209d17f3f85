"""Step 2, Hardware: the GPUs found, the price per hour, and what each candidate model and quantization needs
and costs, next to the hosted alternatives. Every knob recomputes the tables at once."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Label, Select, Static

from ftwizard.tui import engine
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import StepScreen

QUANTS = ("none", "8bit", "4bit")


def describe_gpus(info: dict | None, error: str = "") -> str:
    if error:
        return f"GPUs: {error}"
    gpus = (info or {}).get("gpus") or []
    if not gpus:
        return "GPUs found: none (CPU only): estimates below are for the GPU you name"
    parts = []
    for g in gpus:
        name = g.get("name", "?")
        total, free = g.get("vram_total_gb") or g.get("memory_total_gb"), g.get("vram_free_gb") or g.get("memory_free_gb")
        if total:
            parts.append(f"{name} {free:.1f}/{total:.1f} GB free" if free is not None else f"{name} {total:.1f} GB")
        else:
            parts.append(name)
    return "GPUs found: " + "; ".join(parts)


def _money(v) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "<$0.01"
    if 0 < v < 0.1:
        return f"${v:.3f}"
    return f"${v:,.2f}" if v < 1000 else f"${v:,.0f}"


def _num(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


class HardwareScreen(StepScreen):
    INDEX = 1
    BINDINGS = [("ctrl+r", "recompute", "Recompute")]

    def body(self) -> ComposeResult:
        r = self.state.recipe
        yield Static("GPUs: looking...", id="gpus")
        with Horizontal(classes="knobs"):
            yield Label("GPU", classes="k")
            yield Input(self.state.gpu, id="gpu", compact=True,
                        suggester=SuggestFromList(engine.gpu_names(), case_sensitive=False))
            yield Label("$/h", classes="k")
            yield Input(f"{self.state.price_per_hour:g}", id="price", type="number", compact=True)
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
        yield Static("", id="hw-summary")

    def on_mount(self) -> None:
        local = self.query_one("#local-table", DataTable)
        local.add_columns("open model (LoRA)", "quant", "VRAM GB", "fits", "hours", "cost")
        local.border_title = "local: model x quantization (Enter picks)"
        hosted = self.query_one("#hosted-table", DataTable)
        hosted.add_columns("hosted fine-tune", "tokens billed", "epochs", "cost", "price of")
        hosted.border_title = "hosted alternatives (Enter picks)"
        self._show_chosen()
        if self.app.hardware_override is not None:
            self.query_one("#gpus", Static).update(describe_gpus(self.app.hardware_override))
        else:
            self._detect()
        self.action_recompute()

    # -- knobs -------------------------------------------------------------------------------------------
    def knobs(self) -> tuple[dict, list[str]]:
        problems = []
        gpu = self.query_one("#gpu", Input).value.strip() or self.state.gpu
        try:
            price = float(self.query_one("#price", Input).value)
            if price <= 0:
                raise ValueError
        except ValueError:
            problems.append("$/h: a price per GPU-hour above 0, e.g. 0.475")
            price = self.state.price_per_hour
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

    @on(Input.Changed, "#gpu, #price, #epochs, #rank")
    @on(Select.Changed, "#quant")
    def _knob_changed(self) -> None:
        self.action_recompute()

    def action_recompute(self) -> None:
        knobs, problems = self.knobs()
        self.show_problems("\n".join(problems))
        for table in self.query(DataTable):
            table.loading = True  # until the worker answers: never an empty table that looks final
        self._estimate(self._recipe_with(knobs), knobs)

    def _recipe_with(self, knobs: dict):
        r = self.state.recipe
        upd = {"lora.r": knobs["rank"], "model.quant": knobs["quant"], "hardware.price_per_hour": knobs["price_per_hour"]}
        if knobs["gpu"]:
            upd["hardware.gpu"] = knobs["gpu"]
        if knobs["epochs"] is not None:
            upd.update({"train.max_steps": 0, "train.epochs": knobs["epochs"], "hosted.epochs": max(1, round(knobs["epochs"]))})
        return r.with_updates(upd)

    # -- workers -----------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="hw-detect", exit_on_error=False)
    def _detect(self) -> None:
        try:
            text = describe_gpus(engine.detect_hardware())
        except engine.NotAvailable as e:
            text = describe_gpus(None, str(e))
        except Exception as e:  # noqa: BLE001 - detection must never stop the wizard
            text = describe_gpus(None, f"detection failed ({type(e).__name__}: {e})")
        self.app.call_from_thread(self.query_one("#gpus", Static).update, text)

    @work(thread=True, exclusive=True, group="estimate", exit_on_error=False)
    def _estimate(self, recipe, knobs: dict) -> None:
        import time

        from textual.worker import get_current_worker

        time.sleep(0.1)  # typing a price: only the last value is computed
        worker = get_current_worker()
        if worker.is_cancelled:
            return
        local_rows, local_note = [], ""
        seen_errors: set[str] = set()
        for model in engine.candidate_models(recipe):
            for quant in QUANTS:
                if worker.is_cancelled:
                    return
                try:
                    est = engine.estimate(recipe, model=model, gpu=knobs["gpu"], price_per_hour=knobs["price_per_hour"],
                                          quant=quant, epochs=knobs["epochs"], rank=knobs["rank"],
                                          runs_dir=str(self.app.runs_dir))
                except engine.NotAvailable as e:
                    local_note = str(e)
                    break
                except Exception as e:  # noqa: BLE001 - one model the estimator cannot price: say so in its row
                    msg = str(e).splitlines()[0]
                    if msg not in seen_errors:  # e.g. "8bit needs a CUDA GPU": once, not once per model
                        seen_errors.add(msg)
                        local_rows.append({"model": model, "quant": quant, "error": msg})
                    continue
                loc = est.get("local", {})
                local_rows.append({"model": model, "quant": quant, "vram_gb": loc.get("vram_gb"),
                                   "fits": loc.get("fits"), "hours": loc.get("hours"), "cost_usd": loc.get("cost_usd"),
                                   "gpu_vram_gb": loc.get("gpu_vram_gb")})
            if local_note:
                break
        hosted_rows, hosted_note = [], ""
        try:
            from ftwizard.tui.reports import hosted_alternatives

            epochs = max(1, round(knobs["epochs"])) if knobs["epochs"] else None
            hosted_rows = hosted_alternatives(recipe, epochs)
        except engine.NotAvailable as e:
            hosted_note = str(e)
        except Exception as e:  # noqa: BLE001 - e.g. a data file that cannot be read
            hosted_note = f"cannot price the hosted runs: {e}"
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_estimates, recipe, local_rows, local_note, hosted_rows, hosted_note)

    def _show_estimates(self, recipe, local_rows, local_note, hosted_rows, hosted_note) -> None:
        self._last = (recipe, local_rows, hosted_rows)
        for table in self.query(DataTable):
            table.loading = False
        local = self.query_one("#local-table", DataTable)
        local.clear()
        if local_note:
            local.add_row(local_note, "", "", "", "", "")
        for row in local_rows:
            if "error" in row:
                local.add_row(row["model"], row["quant"], "-", "?", "-", row["error"])
                continue
            fits = {True: "yes", False: "NO"}.get(row["fits"], "?")
            local.add_row(row["model"], row["quant"], _num(row["vram_gb"]), fits, _num(row["hours"]),
                          _money(row["cost_usd"]))
        hosted = self.query_one("#hosted-table", DataTable)
        hosted.clear()
        if hosted_note:
            hosted.add_row(hosted_note, "", "", "", "")
        for row in hosted_rows:
            hosted.add_row(row["model"], f"{row['billed_tokens']:,}", str(row["epochs"]), _money(row["cost_usd"]),
                           row["price_date"])
        self.query_one("#hw-summary", Static).update(self._summary(recipe, local_rows, hosted_rows))

    def _summary(self, recipe, local_rows, hosted_rows) -> str:
        own = next((r for r in local_rows if r.get("quant") == recipe.model.quant and "error" not in r
                    and r["model"] == (recipe.model.catalog_id or recipe.model.base)), None)
        hosted = next((r for r in hosted_rows if r["model"] == recipe.hosted.model), None)
        if hosted is None and hosted_rows:
            from ftwizard.catalog import get_hosted_model

            try:
                hid = get_hosted_model(recipe.hosted.model).id
                hosted = next((r for r in hosted_rows if r["model"] == hid), None)
            except Exception:  # noqa: BLE001
                hosted = None
        parts = []
        if own and own.get("cost_usd") is not None:
            parts.append(f"local {_money(own['cost_usd'])} ({own['model'].split('/')[-1]} {own['quant']})")
        if hosted:
            parts.append(f"hosted {_money(hosted['cost_usd'])} ({hosted['model']})")
        if own and hosted and own.get("cost_usd"):
            parts.append(f"= {hosted['cost_usd'] / own['cost_usd']:.1f}x")
        return "  vs  ".join(parts[:2]) + (f"  {parts[2]}" if len(parts) > 2 else "")

    def _show_chosen(self) -> None:
        r = self.state.recipe
        self.query_one("#chosen", Static).update(f"model {r.model.catalog_id or r.model.base}; hosted {r.hosted.model}")

    # -- picking rows ----------------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#local-table")
    def _pick_local(self, event: DataTable.RowSelected) -> None:
        rows = getattr(self, "_last", (None, [], []))[1]
        if event.cursor_row >= len(rows) or "model" not in rows[event.cursor_row]:
            return
        row = rows[event.cursor_row]
        r = self.state.recipe
        upd = {"model.quant": row["quant"]}
        if row["model"] != (r.model.catalog_id or r.model.base):
            upd.update({"model.base": row["model"], "model.catalog_id": row["model"], "model.gguf_file": ""})
        self.state = self.state.model_copy(update={"recipe": r.with_updates(upd)})
        self.query_one("#quant", Select).value = row["quant"]
        self._show_chosen()
        self.notify(f"local model: {row['model']} ({row['quant']})")

    @on(DataTable.RowSelected, "#hosted-table")
    def _pick_hosted(self, event: DataTable.RowSelected) -> None:
        rows = getattr(self, "_last", (None, [], []))[2]
        if event.cursor_row >= len(rows):
            return
        model = rows[event.cursor_row]["model"]
        self.state = self.state.model_copy(update={"recipe": self.state.recipe.with_updates({"hosted.model": model})})
        self._show_chosen()
        self.action_recompute()
        self.notify(f"hosted model: {model}")

    # -- result ------------------------------------------------------------------------------------------------
    def build_state(self) -> WizardState | None:
        knobs, problems = self.knobs()
        if problems:
            self.show_problems("\n".join(problems))
            return None
        try:
            recipe = self._recipe_with(knobs)
        except Exception as e:  # noqa: BLE001
            self.show_problems(str(e))
            return None
        return self.state.model_copy(update={"recipe": recipe, "gpu": knobs["gpu"],
                                             "price_per_hour": knobs["price_per_hour"], "epochs": knobs["epochs"]})
