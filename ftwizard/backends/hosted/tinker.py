"""Thinking Machines Tinker: LoRA on open models through a training loop that runs on this machine.

Tinker has no job API: the client sends `forward_backward` and `optim_step` for every batch, saves state
(`save_state`) and sampler weights, and can export the adapter as a standard PEFT folder. The loop runs in
`python -m ftwizard.workers.tinker RUN_DIR`, started in its own session like a local run
(closing the terminal does not stop it); `resume` starts it again and it continues from the last state
Tinker saved for this run, never from scratch when a state exists.

Light to import: the `tinker` SDK (the optional extra `ftwizard[tinker]`) is loaded only by the worker.
The key comes only from TINKER_API_KEY (the SDK's own variable), the endpoint from TINKER_BASE_URL.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ftwizard.backends.base import HostedProvider, ProviderCapabilities
from ftwizard.backends.hosted.providers import TINKER_BASE_URL_ENV as BASE_URL_ENV
from ftwizard.errors import UsageError
from ftwizard.runs.directory import FINAL_STATES, RunDirectory
from ftwizard.settings import PROVIDER_KEY_ENV

PROVIDER = "tinker"
KEY_ENV = PROVIDER_KEY_ENV[PROVIDER]
EXTRA_HINT = "pip install 'ftwizard[tinker]'"
WORKER_MODULE = "ftwizard.workers.tinker"  # the entry point above evaluation (ftwizard/workers)

# Defaults of the Tinker cookbook's supervised loop (tinker_cookbook/supervised/train.py, 0.6.1) where the
# recipe says 'auto': LoRA rank 32, learning rate 1e-4 (linear decay), a checkpoint every 20 steps.
DEFAULT_RANK = 32
DEFAULT_LR = 1e-4
DEFAULT_BATCH = 128


def sdk_missing() -> str | None:
    """Why the Tinker SDK cannot be used here (None when it can)."""
    if importlib.util.find_spec("tinker") is None:
        return f"hosted.provider = 'tinker' needs the Tinker SDK, which is not installed: {EXTRA_HINT}"
    return None


def catalog_model(recipe):
    from ftwizard.catalog import get_hosted_model

    return get_hosted_model(recipe.hosted.model, provider=PROVIDER)


@dataclass(frozen=True)
class TrainingPlan:
    """How many examples per step and how many steps: the one rule the price and the worker both follow.
    Every example is trained once per epoch (the last step of an epoch takes what is left), so the tokens billed
    are epochs x the data's tokens, as `ftwizard estimate` counts them."""

    examples: int
    batch_size: int
    epochs: int
    steps_per_epoch: int
    rank: int
    learning_rate: float
    save_every: int
    max_length: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch



def training_plan(recipe, n_examples: int) -> TrainingPlan:
    from ftwizard.plan.hosted import hosted_epochs

    h = recipe.hosted
    batch = h.batch_size if isinstance(h.batch_size, int) else DEFAULT_BATCH
    batch = max(1, min(batch, n_examples))
    epochs = int(hosted_epochs(n_examples, h.epochs)[0])
    lr = h.learning_rate if isinstance(h.learning_rate, float) else DEFAULT_LR
    return TrainingPlan(examples=n_examples, batch_size=batch, epochs=epochs,
                        steps_per_epoch=max(1, -(-n_examples // batch)), rank=h.lora_r or DEFAULT_RANK,
                        learning_rate=float(lr), save_every=recipe.train.save_every or 20,
                        max_length=recipe.train.max_length)


def tokenizer_source(recipe) -> str:
    """Where the worker loads the base model's tokenizer (and chat template) from: `model.base` when it is a
    local folder or names the same open weights, else the catalog's Hugging Face id of the hosted model."""
    base = recipe.model.base
    if Path(base).expanduser().is_dir():
        return str(Path(base).expanduser())
    hub = catalog_model(recipe).hub_id or recipe.hosted.model
    return hub


def prompt_renderer(recipe):
    """(render, stop): `render(templates, row)` is the prompt text Tinker's `/completions` is sent for an eval
    row - the conversation up to the answer on the very tokenizer and chat template the worker trains with (the
    training text starts with exactly this), so what the model is asked at evaluation cannot differ from what it
    learned (how the `/chat/completions` route renders a template, e.g. Qwen3's thinking, is undocumented).
    `stop`: the tokenizer's end-of-sequence text, which ends an answer as it ended every trained turn."""
    from transformers import AutoTokenizer

    from ftwizard.backends.local.data import chat_renderer, ensure_chat_template
    from ftwizard.chatmask import has_reasoning

    src = tokenizer_source(recipe)
    try:
        tok = AutoTokenizer.from_pretrained(src)
    except OSError as e:
        raise UsageError(f"cannot load the tokenizer of {src} (it renders the evaluation prompts for Tinker as "
                         f"training rendered the data): {str(e).splitlines()[0]}; set model.base to a local copy "
                         "of the model") from None
    ensure_chat_template(tok)
    chat = chat_renderer(tok)

    def render(templates, row) -> str:
        return chat(templates.messages(row, with_answer=False), generation_prompt=True,
                    thinking=has_reasoning(templates.messages(row, with_answer=True)))

    return render, (tok.eos_token or None)


def write_training_cost(run: RunDirectory, recipe, trained_tokens: int) -> dict:
    """cost.json with the actual training cost: every token sent through forward_backward, at the catalog's
    Tinker training price (`ftwizard.pricing.hosted_training_cost`)."""
    from ftwizard.pricing import hosted_training_cost

    c = hosted_training_cost(catalog_model(recipe), billed_tokens=trained_tokens)
    return run.update_cost(lambda cost: cost.setdefault("eval_usd", 0.0),
                           training_usd=round(c["usd"], 6), training_kind="actual", trained_tokens=c["billed_tokens"],
                           training_usd_per_1m=c["usd_per_1m"], hosted_model=c["model"], provider=PROVIDER,
                           hours=None, price_per_hour=None, gpu=None, price_source=c["price_source"],
                           price_date=c["price_date"], detail=c["detail"])


class TinkerProvider(HostedProvider):
    name = PROVIDER
    key_env = KEY_ENV
    base_url_env = BASE_URL_ENV
    capabilities = ProviderCapabilities(
        training="client_loop", data_formats=("chat",), methods=("lora",), weights_downloadable=True,
        serving="serverless",
        notes="the training loop runs in ftwizard's worker on this machine; sampling through Tinker's "
              "OpenAI-compatible endpoint (beta), or bring the PEFT adapter home",
    )

    # -- before anything exists ---------------------------------------------------------------------
    def preflight(self, recipe) -> None:
        problems: list[str] = []
        missing = sdk_missing()
        if missing:
            problems.append(missing)
        if not os.environ.get(KEY_ENV):
            problems.append(f"{KEY_ENV} is not set: export your Tinker API key in the environment "
                            "(it is never read from a file or written to the run directory)")
        try:
            m = catalog_model(recipe)
            if "lora" not in m.extra.get("methods", ["lora"]):
                problems.append(f"hosted.model = {recipe.hosted.model!r}: Tinker trains LoRA adapters only")
        except UsageError as e:
            problems += e.problems
            m = None
        if m is not None:
            from ftwizard import settings

            reason = m.training_closed_reason(settings.as_of())
            if reason:
                problems.append(f"hosted.model = {recipe.hosted.model!r} on tinker: {reason}")
            base = recipe.model.base
            if not Path(base).expanduser().is_dir() and base not in (m.id, m.hub_id, *m.aliases):
                problems.append(f"model.base = {base!r} is not the open model Tinker trains ({m.hub_id or m.id}): "
                                f"set model.base = {(m.hub_id or m.id)!r} (its tokenizer renders the chat data, "
                                "and `ftwizard eval RUN_DIR --local` loads it under the adapter)")
        with tempfile.TemporaryDirectory(prefix="ftwizard-preflight-") as tmp:
            try:
                self._check_chat(recipe, Path(tmp))
            except UsageError as e:
                problems += e.problems
        if problems:
            raise UsageError(problems)

    @staticmethod
    def _check_chat(recipe, out_dir: Path) -> int:
        """Render the chat files and check that every example ends with an assistant answer to learn."""
        from ftwizard.chatfile import TINKER, chat_problem
        from ftwizard.datasource import iter_jsonl_objects
        from ftwizard.prepare import render_chat_files

        paths = render_chat_files(recipe, out_dir)
        n = 0
        problems = []
        with open(paths["train"], encoding="utf-8") as f:
            rows = list(iter_jsonl_objects(f))
        for no, ex, problem in rows:
            problem = problem or chat_problem(ex, TINKER)
            if problem:
                problems.append(f"train chat file ({paths['train'].name}): line {no}: {problem}")
                if len(problems) >= 5:
                    break
                continue
            n += 1
        if problems:
            raise UsageError(problems)
        if n == 0:
            raise UsageError("the training split is empty: nothing to train on")
        return n

    def price(self, recipe) -> dict:
        """Tokens through forward_backward (epochs x the chat data's tokens) x Tinker's training price."""
        from ftwizard.estimate import local_tokenizer_file, token_stats
        from ftwizard.plan.hosted import hosted_plan

        m = catalog_model(recipe)
        stats = token_stats(recipe, m, tokenizer_file=local_tokenizer_file(recipe.model.base))
        plan = training_plan(recipe, stats["n_train"])
        hosted = hosted_plan(PROVIDER, m.id, m, examples=stats["n_train"],
                             billed_tokens_per_epoch=stats["hosted"]["billed_tokens_per_epoch"],
                             setting=recipe.hosted.epochs)
        out = hosted.as_dict()
        out.update(steps=plan.total_steps, batch_size=plan.batch_size, tokens_counted_with=m.encoding)
        return out

    # -- the worker -----------------------------------------------------------------------------------
    def _start_worker(self, run: RunDirectory) -> int:
        from ftwizard.backends.hosted import spawn_worker

        run.update_status(provider=PROVIDER)
        return spawn_worker(run, WORKER_MODULE)

    def launch(self, run: RunDirectory, recipe) -> None:
        from ftwizard.prepare import render_chat_files

        run.update_status(backend="hosted", provider=PROVIDER, hosted_model=recipe.hosted.model)
        render_chat_files(recipe, run.data_dir)
        try:
            est = self.price(recipe)
            run.append_event("cost", usd=round(est["usd"], 4), kind="estimated", what="training",
                             detail=est["detail"])
        except UsageError as e:
            run.log(f"no training estimate: {e}", level="warning", source=PROVIDER)
        self._start_worker(run)

    def ended_refusal(self, run: RunDirectory, state: str, why: str, status: dict) -> str | None:
        if state == "failed":
            return None  # no job at Tinker: the loop runs here and continues from Tinker's last saved state
        return f"{run.path} was cancelled{why}; start a new run to train again: `ftwizard run {run.recipe_path}`"

    def resume(self, run: RunDirectory) -> None:
        refusal = self.resume_refusal(run)
        if refusal:
            raise UsageError(refusal)
        status = run.status()
        state = status.get("state")
        if self.is_alive(run):
            if state not in FINAL_STATES:
                return  # its worker is still at work: follow it
            # A worker that has just recorded its failure may still be exiting: let it go before starting anew.
            deadline = time.time() + 15
            while self.is_alive(run) and time.time() < deadline:
                time.sleep(0.1)
            if self.is_alive(run):
                raise UsageError(f"the previous worker of {run.path} (pid {status.get('pid')}) is still exiting; "
                                 "try again in a moment")
        missing = sdk_missing()
        if missing:
            raise UsageError(missing)
        if not os.environ.get(KEY_ENV):
            raise UsageError(f"{KEY_ENV} is not set: export your Tinker API key to resume this run")
        where = (f"Tinker's saved state at step {status.get('tinker_state_step')}" if status.get("tinker_state_path")
                 else "the start (no state saved yet)")
        from ftwizard.runs import liveness

        with liveness.claim(run):  # a worker started in the meantime is refused before anything changes
            # Running from here on, so that a face following the run does not read the old `failed` as its end.
            run.update_status(state="running", error=None, error_kind=None)
            run.append_event("status", state="running", detail=f"resuming from {where}")
            self._start_worker(run)

    def cancel(self, run: RunDirectory) -> None:
        """Stop the loop: the worker saves Tinker's state at the step it is on and marks the run cancelled."""
        run.update_status(cancel_requested=True)
        run.append_event("log", text="cancel requested", source=PROVIDER)
        from ftwizard.runs import liveness

        pid = liveness.same_process(run.status())
        if pid is not None and self.is_alive(run):
            os.kill(pid, signal.SIGTERM)
            return
        if run.status().get("state") not in FINAL_STATES:
            run.update_status(state="cancelled")
            run.append_event("status", state="cancelled", detail="cancelled (no worker was running)")

    def fetch_adapter(self, run: RunDirectory) -> str:
        """Tinker's adapter is exported from the run's final saved state by its worker: a run that failed on
        the way (the export, the download) continues there with `run --resume`, which fetches a missing one."""
        st = run.status()
        if self.resume_refusal(run) is None and st.get("state") == "failed":
            raise UsageError(f"{run.path} failed{' (' + st['error'] + ')' if st.get('error') else ''}; its "
                             f"adapter is exported from Tinker's saved state when the run continues: "
                             f"`ftwizard run --resume {run.path}`")
        if (run.adapter_dir / "adapter_config.json").exists():
            return f"the adapter is already in {run.adapter_dir}"
        raise UsageError(f"{run.path} ({st.get('state', 'pending')}) has no adapter in {run.adapter_dir}: a Tinker "
                         "adapter is exported by the run's worker at its end (hosted.download_adapter = true)")

    def follow_options(self, run: RunDirectory) -> dict:
        return {"resume_hint": f"after a stop, `ftwizard run --resume {run.path}` continues from Tinker's "
                               "last saved state"}

    # -- evaluation ------------------------------------------------------------------------------------
    def generator(self, run: RunDirectory, *, baseline: bool = False, home: bool = False, **engine):
        from ftwizard.backends.hosted.generator import hosted_generator

        return hosted_generator(self, run, baseline=baseline, home=home, **engine)

    def completion_prompts(self, recipe):
        """Tinker is asked through `/completions` with the prompt rendered here exactly as training rendered it."""
        return prompt_renderer(recipe)

    def is_alive(self, run: RunDirectory) -> bool:
        from ftwizard.backends.hosted import worker_alive

        return worker_alive(run)


def lr_at(plan: TrainingPlan, step: int) -> float:
    """Linear decay from the peak to 0 over the run (the cookbook's default schedule)."""
    return plan.learning_rate * max(0.0, 1.0 - step / max(1, plan.total_steps))


def steps_of_epoch(plan: TrainingPlan, epoch: int, seed: int) -> list[list[int]]:
    """The example indices of each step of an epoch: a seeded shuffle, so a resumed worker sees the same batches."""
    import random

    order = list(range(plan.examples))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    b = plan.batch_size
    return [order[i * b:(i + 1) * b] for i in range(plan.steps_per_epoch)]
