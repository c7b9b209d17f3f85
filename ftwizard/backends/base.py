"""The one backend interface: what the CLI and the TUI call, and what every backend implements.

A backend launches a run's worker in its own session and then only the run directory speaks: backends never
print (the faces follow `status.json` / `events.jsonl`). This module is light: no torch, no provider SDK.

Two kinds of backend implement `Backend`:
- `local` (transformers + peft, `ftwizard.backends.local`),
- `hosted`, one instance per provider (`openai`, `azure`, `together`, `tinker`), each a `HostedProvider`
  that declares its `ProviderCapabilities` and prices its own jobs from the catalog.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe
    from ftwizard.runs.directory import RunDirectory


@dataclass(frozen=True)
class Answer:
    """One generated answer, as a generator hands it to evaluation (which extracts, scores and writes it)."""

    index: int                 # the example's index in the eval split
    prompt: str                # what the model was asked, as predictions.jsonl shows it
    raw: str                   # the model's text
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # written with the record (a hosted answer: model, usd)


class Generator(ABC):
    """What evaluation calls to produce a run's answers (`Backend.generator`): local generation (transformers or
    vLLM), a provider's chat completions, Tinker's completions. Evaluation asks it, never which backend it is.

    `served`: where the answers come from (metrics.json's `served`: "local" on this machine, "hosted" by a
    provider); `bills_answers`: each answer carries its price (`extra["usd"]`, None when unpriced) and the run's
    cost.json sums them; `home`: the answers are a hosted run's downloaded adapter evaluated on this machine
    (metrics.json's `local` section)."""

    served: ClassVar[str] = "local"
    bills_answers: ClassVar[bool] = False
    home: bool = False

    @abstractmethod
    def model_name(self) -> str:
        """The model the answers come from, as metrics.json names it; raises UsageError / RunFailed when it
        cannot be asked (a shut-down base model, a fine-tune not served yet)."""

    @abstractmethod
    def generate(self, task, templates, rows: list[dict], pending: list[int], references: dict[int, str],
                 on_answers: Callable[[list[Answer]], None]) -> None:
        """Answer the `pending` examples of `rows`, handing each batch (or answer) to `on_answers` as it comes, so
        a killed evaluation keeps what was answered."""


class Backend(ABC):
    """A way to train: checked before anything exists, launched into its own process, resumed, cancelled."""

    name: ClassVar[str] = ""

    @abstractmethod
    def preflight(self, recipe: "Recipe") -> None:
        """Every check that can fail before a run directory exists (a missing key, 8-bit without CUDA, a model
        that is closed for training, bad data); raises UsageError with all problems at once."""

    @abstractmethod
    def launch(self, run: "RunDirectory", recipe: "Recipe") -> None:
        """Start the run's worker in a new session (it survives the terminal) and record it in status.json."""

    @abstractmethod
    def resume(self, run: "RunDirectory") -> None:
        """Continue a run from its directory alone (local: last complete checkpoint; hosted: the recorded job,
        never a second one). Raises UsageError for a run that cannot resume (finished, failed, cancelled:
        the message says what to do instead)."""

    def resume_refusal(self, run: "RunDirectory", status: dict | None = None) -> str | None:
        """Why `run` cannot be resumed (None when it can): the one rule `run --resume` applies, here because
        what a failed or cancelled run can still do depends on the backend (`ended_refusal`). A succeeded run
        is done whatever trained it; a run still pending or running (or killed mid-flight) resumes. `status`:
        the status about to be written (a worker recording its failure asks before it writes it), else the
        run's own. Every message that offers `run --resume` asks this first."""
        st = run.status() if status is None else status
        state = st.get("state", "pending")
        if state == "succeeded":
            return (f"{run.path} has already succeeded; nothing to resume. Evaluate it again with "
                    f"`ftwizard eval {run.path}`, or start a new run with `ftwizard run {run.recipe_path}`")
        if state not in ("failed", "cancelled"):
            return None
        return self.ended_refusal(run, state, f" ({st['error']})" if st.get("error") else "", st)

    def ended_refusal(self, run: "RunDirectory", state: str, why: str, status: dict) -> str | None:
        """`resume_refusal` for a run that failed or was cancelled (`why`: its error in parentheses, or '')."""
        return (f"{run.path} {state}{why}; it cannot continue. Start a new run: `ftwizard run {run.recipe_path}`")

    @abstractmethod
    def cancel(self, run: "RunDirectory") -> None:
        """Stop the run (local: the trainer saves a checkpoint first; hosted: the provider's job is cancelled)."""

    @abstractmethod
    def is_alive(self, run: "RunDirectory") -> bool:
        """Whether the run's worker process is still running."""

    def preflight_notes(self, recipe: "Recipe") -> list[str]:
        """What the user should know before launch and cannot be refused (e.g. how a hosted fine-tune will be
        evaluated, and what that bills); `run` says each line after preflight passed."""
        return []

    def follow_options(self, run: "RunDirectory") -> dict:
        """Extra keyword arguments for `ftwizard.follow.follow` (`ask`: the Ctrl-C question, `resume_hint`)."""
        return {}

    @abstractmethod
    def generator(self, run: "RunDirectory", *, baseline: bool = False, home: bool = False,
                  **engine: Any) -> Generator:
        """What evaluates this run's model (`baseline`: its base model instead). `home`: a hosted run's adapter,
        downloaded, evaluated on this machine (a local run is evaluated here anyway). `engine`: what the caller
        already holds - `model` / `tokenizer` (a loaded local model), `client` (a serving client),
        `confirm_cost(estimate)` (asked before a paid baseline); a generator takes what it uses."""

    def fetch_adapter(self, run: "RunDirectory") -> str:
        """Bring the run's trained adapter into RUN_DIR/adapter again (`ftwizard fetch-adapter`); returns what
        was done, in a sentence. Raises UsageError where there is nothing to fetch."""
        from ftwizard.errors import UsageError

        raise UsageError(f"{run.path}: a {self.name} run's adapter is written on this machine by its own worker "
                         f"({run.adapter_dir}); there is nothing to download")


TrainingStyle = Literal["job", "client_loop"]
Serving = Literal["serverless", "dedicated", "deployment", "none"]


@dataclass(frozen=True)
class ProviderCapabilities:
    """What a hosted provider offers, in the user's terms (shown by `estimate`, the wizard and the verdict)."""

    training: TrainingStyle          # job: the provider runs a job we follow; client_loop: our worker drives steps
    data_formats: tuple[str, ...]    # e.g. ("chat",) or ("chat", "prompt_completion", "text")
    methods: tuple[str, ...]         # e.g. ("lora",) or ("sft", "dpo") or ("lora", "full")
    weights_downloadable: bool       # the adapter (or merged weights) can be brought home
    serving: Serving                 # how a fine-tune serves: serverless per token, a dedicated endpoint, a deployment
    notes: str = ""
    wind_down: bool = False          # new jobs close on the catalog's wind-down dates (OpenAI's self-serve)
    open_note: str = ""              # said beside "open for new jobs" (what sets this service apart)
    open_cell: str = "open"          # the verdict table's availability cell while the service takes jobs


class HostedProvider(Backend):
    """A hosted fine-tuning service behind the common interface.

    Keys and endpoints come only from the environment, under the SDK's own variable names
    (`key_env`, `base_url_env`); they are never written to the run directory, a log line or an error.
    """

    key_env: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""
    capabilities: ClassVar[ProviderCapabilities]

    def fetch_adapter(self, run: "RunDirectory") -> str:
        from ftwizard.errors import UsageError

        if not self.capabilities.weights_downloadable:
            raise UsageError(f"{run.path}: {self.name} does not let the trained weights be downloaded; the "
                             "fine-tuned model is served by the provider only")
        return super().fetch_adapter(run)

    def completion_prompts(self, recipe: "Recipe"):
        """None: evaluation asks the fine-tune through chat completions (the provider renders the messages). Else
        (render, stop): `render(templates, row)` is the prompt text sent to `/completions`, rendered here exactly
        as training rendered it, and `stop` the text that ends an answer."""
        return None

    def unserved_refusal(self, run: "RunDirectory", status: dict) -> str | None:
        """Why the run's fine-tune cannot be asked with no deployment recorded (where the user must make one);
        None when the fine-tuned model's own name serves it."""
        return None

    @abstractmethod
    def price(self, recipe: "Recipe") -> dict:
        """The training cost estimate for this recipe from the catalog (one computation, in
        `ftwizard.pricing`): at least `usd`, `billed_tokens`, `epochs`, `price_source`, `price_date`."""
