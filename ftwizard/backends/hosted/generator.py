"""The hosted generator: a run's answers from its provider - chat completions with bounded concurrency through
the serving client, or completions of a prompt rendered here where the provider says so
(`HostedProvider.completion_prompts`: Tinker). Each answer is priced as the fine-tune it serves, at its
provider's catalog prices; a model the catalog does not list is unpriced (None), never $0."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ftwizard.backends.base import Answer, Generator
from ftwizard.errors import RunFailed, UsageError
from ftwizard.fmt import usd
from ftwizard.runs.directory import RunDirectory

if TYPE_CHECKING:
    from ftwizard.backends.base import HostedProvider


def _refuse_shut_down(model_name: str, provider: str) -> None:
    """A fine-tune serves until its base model's shutdown date (the catalog's, judged on settings.as_of())."""
    from ftwizard import settings
    from ftwizard.catalog import get_hosted_model

    try:
        m = get_hosted_model(model_name, provider)
    except UsageError:
        return  # not in the catalog (a Together output name, a Tinker path): nothing announced
    today = settings.as_of()
    if m.shut_down(today):
        raise UsageError(f"{model_name} cannot be evaluated on {provider}: {m.id} and every fine-tune built on it "
                         f"were shut down on {m.shutdown_date}; the predictions already on record are kept")


def _prices(model_name: str, provider: str | None = None):
    from ftwizard.catalog import get_hosted_model

    try:
        m = get_hosted_model(model_name, provider)
    except UsageError:
        return None
    return m


def _usd(price, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars for one answer; None when unpriced (a model the catalog does not list, or one served only on hourly
    hardware: a dedicated endpoint, a deployment) - never $0, which would read as free."""
    from ftwizard.pricing import hosted_token_cost

    if price is None:
        return None
    return hosted_token_cost(price, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def estimate_hosted_cost(recipe, model_name: str, messages: list[list[dict]], references: list[str]) -> dict:
    """What evaluating these examples will cost: prompt tokens counted offline, answers as long as the references."""
    from ftwizard.tokens import TokenCounter, encoding_name_for_model

    counter = TokenCounter(encoding_name_for_model(model_name))
    prompt_tokens = sum(counter.count_messages(m) for m in messages)
    completion_tokens = sum(counter.count(r) + 1 for r in references)
    price = _prices(model_name, recipe.hosted.provider)
    return {"model": model_name, "examples": len(messages), "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "usd": _round(_usd(price, prompt_tokens, completion_tokens), 6),
            "price_source": getattr(price, "price_source", "unknown model: not priced"),
            "price_date": getattr(price, "price_date", "")}


def _messages_text(messages: list[dict]) -> str:
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)


def hosted_generator(provider: "HostedProvider", run: RunDirectory, *, baseline: bool = False, home: bool = False,
                     **engine) -> Generator:
    """`Backend.generator` of every hosted provider: the provider's own serving, or (`home`) the downloaded
    adapter on this machine."""
    if home:
        from ftwizard.backends.local.generator import LocalGenerator

        return LocalGenerator(run, baseline=baseline, home=True, **engine)
    return HostedGenerator(provider, run, baseline=baseline, **engine)


class HostedGenerator(Generator):
    served = "hosted"
    bills_answers = True

    def __init__(self, provider: "HostedProvider", run: RunDirectory, *, baseline: bool = False, client=None,
                 confirm_cost: Callable[[dict], bool] | None = None, **_unused):
        self.provider, self.run, self.recipe = provider, run, run.recipe()
        self.baseline, self.client, self.confirm_cost = baseline, client, confirm_cost
        self._name: str | None = None

    def model_name(self) -> str:
        if self._name is None:
            self._name = self._model_name()
        return self._name

    def _model_name(self) -> str:
        """The `model` a chat request names: the base model, or the fine-tune - where it serves only on a
        deployment, the deployment's name (`serving_model`, recorded after training or by
        `ftwizard eval --deployment`; Fireworks: `<model>#<deployment>` while ftwizard's deployment exists)."""
        run, recipe = self.run, self.recipe
        st = run.status()
        _refuse_shut_down(recipe.hosted.model if self.baseline else (st.get("fine_tuned_model") or recipe.hosted.model),
                          recipe.hosted.provider)
        if self.baseline:
            return recipe.hosted.model
        if self.provider.capabilities.serving == "deployment" and st.get("serving_model"):
            return st["serving_model"]
        refusal = self.provider.unserved_refusal(run, st)
        if refusal:
            raise UsageError(refusal)
        name = st.get("fine_tuned_model")
        if not name:
            raise RunFailed(f"{run.path}: status.json names no fine_tuned_model yet (the hosted job has not "
                            "succeeded); evaluate the base model with --baseline, or wait for the job")
        return name

    def generate(self, task, templates, rows: list[dict], pending: list[int], references: dict[int, str],
                 on_answers: Callable[[list[Answer]], None]) -> None:
        run, recipe, baseline = self.run, self.recipe, self.baseline
        model_name = self.model_name()
        messages = {i: templates.messages(rows[i], with_answer=False) for i in pending}
        if baseline:
            est = estimate_hosted_cost(recipe, model_name, list(messages.values()), [references[i] for i in pending])
            run.append_event("cost", usd=est["usd"], kind="estimated", what="evaluation",
                             detail=f"baseline {model_name}: {est['examples']} requests, ~{est['prompt_tokens']:,} "
                                    f"prompt + ~{est['completion_tokens']:,} completion tokens")
            if self.confirm_cost is not None and not self.confirm_cost(est):
                raise RunFailed(f"baseline evaluation of {model_name} not started (estimated "
                                f"{usd(est['usd'], unpriced='unpriced')}): declined")
        prompts: dict[int, str] = {}
        stop = None
        rendered = self.provider.completion_prompts(recipe)
        if rendered is not None:  # asked through `/completions` with the prompt rendered here, as training did
            render, stop = rendered
            prompts = {i: render(templates, rows[i]) for i in pending}
        client = self.client
        if client is None:
            from ftwizard.backends.hosted.serving import ServingClient

            client = ServingClient(recipe, stop=stop)
        # Priced as the fine-tune it serves (a deployment name is not a model), at its provider's prices. A
        # fine-tune the catalog does not name (a `tinker://` sampler path, a Together output name) serves at its
        # base model's prices.
        price = (_prices(model_name if baseline else (run.status().get("fine_tuned_model") or model_name),
                         recipe.hosted.provider) or _prices(recipe.hosted.model, recipe.hosted.provider))
        failures: list[str] = []

        def on_done(index: int, completion) -> None:
            if isinstance(completion, BaseException) or getattr(completion, "error", None):
                failures.append(str(completion if isinstance(completion, BaseException) else completion.error))
                return
            pt, ct = int(completion.prompt_tokens or 0), int(completion.completion_tokens or 0)
            shown = prompts[index] if index in prompts else _messages_text(messages[index])
            on_answers([Answer(index, shown, completion.text or "", latency_s=float(completion.latency_s or 0.0),
                               prompt_tokens=pt, completion_tokens=ct,
                               extra={"model": model_name, "usd": _round(_usd(price, pt, ct), 10)})])

        items = [(i, prompts.get(i) or messages[i]) for i in pending]
        client.complete_many(model_name, items, max_tokens=recipe.eval.max_new_tokens,
                             concurrency=recipe.eval.concurrency, on_done=on_done)
        if failures:
            run.append_event("error", message=f"{len(failures)} evaluation requests failed; first: {failures[0]}",
                             kind="api")
