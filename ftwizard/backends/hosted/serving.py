"""Chat completions against a (fine-tuned) hosted model, for evaluation: bounded concurrency, retries, usage.

    client = ServingClient(recipe)
    c = client.complete(model, messages, max_tokens=256)            # Completion(text, prompt_tokens, ...)
    c = client.complete(model, "rendered prompt text")              # a text prompt: `/completions`
    client.complete_many(model, [(i, messages), ...], max_tokens=256, concurrency=8, on_done=callback)
    client.usage  /  client.cost_usd(model)                          # tokens and dollars spent so far

Transient errors (429, 5xx, timeouts, dropped connections) are retried with backoff and jitter. An item that
still fails is reported to `on_done` as a Completion with `error` set; an error that would fail every item
(a rejected key, an unknown model, a refusal) raises `ServingError` and stops the batch.
With Azure OpenAI, `model` is the deployment name; with Together AI, the job's output model name (served
through Together's OpenAI-compatible `/v1/chat/completions`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

from ftwizard.backends.hosted.providers import (
    HostedError,
    ProviderConfig,
    RetryPolicy,
    config_for_recipe,
    with_retries,
)


class ServingError(HostedError):
    """A serving failure that no retry can fix (key, model, permission), or an item's last error."""


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Usage:
    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, c: Completion) -> None:
        with self.lock:
            self.requests += 1
            self.failed += 0 if c.ok else 1
            self.prompt_tokens += c.prompt_tokens
            self.completion_tokens += c.completion_tokens


def serving_cost_usd(model: str, prompt_tokens: int, completion_tokens: int,
                     provider: str | None = None) -> float | None:
    """Dollars for these tokens at the catalog's fine-tuned serving prices (None when the model is unknown)."""
    from ftwizard.errors import UsageError
    from ftwizard.pricing import hosted_token_cost

    try:
        usd = hosted_token_cost(model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                provider=provider)
    except UsageError:
        return None
    return None if usd is None else round(usd, 10)  # None: served on hourly hardware, not per token


class ServingClient:
    def __init__(self, recipe=None, *, config: ProviderConfig | None = None, policy: RetryPolicy | None = None,
                 timeout: float | None = None, temperature: float = 0.0, stop: str | None = None):
        if config is None:
            if recipe is None:
                raise ValueError("ServingClient needs a recipe or a ProviderConfig")
            config = config_for_recipe(recipe)
        self.config = config
        self.policy = policy or RetryPolicy()
        self.temperature = temperature
        self.stop = stop  # for text prompts (`/completions`): where an answer ends
        self._client = config.make_chat_client(timeout=timeout)
        self.usage = Usage()

    def cost_usd(self, model: str) -> float | None:
        """Serving dollars spent by this client so far (catalog prices of the model's base)."""
        return serving_cost_usd(model, self.usage.prompt_tokens, self.usage.completion_tokens, self.config.provider)

    def _once(self, model: str, messages: list[dict] | str, max_tokens: int) -> Completion:
        t0 = time.perf_counter()
        if isinstance(messages, str):  # a prompt rendered here (Tinker: the training template's exact text)
            r = self._client.completions.create(model=model, prompt=messages, max_tokens=max_tokens,
                                                temperature=self.temperature, **({"stop": [self.stop]}
                                                                                 if self.stop else {}))
            text = (r.choices[0].text or "") if r.choices else ""
        else:
            r = self._client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens,
                                                     temperature=self.temperature)
            text = (r.choices[0].message.content or "") if r.choices else ""
        dt = time.perf_counter() - t0
        u = r.usage
        return Completion(text=text, prompt_tokens=getattr(u, "prompt_tokens", 0) or 0,
                          completion_tokens=getattr(u, "completion_tokens", 0) or 0, latency_s=round(dt, 4))

    def complete(self, model: str, messages: list[dict], *, max_tokens: int = 256) -> Completion:
        """One completion, retried on transient errors. Raises ServingError when it cannot be had."""
        c = self._complete(model, messages, max_tokens)
        if c.error is not None:
            raise ServingError(c.error, kind="api")
        return c

    def _complete(self, model: str, messages: list[dict], max_tokens: int) -> Completion:
        """One completion through the one retry policy (`with_retries`); a refusal that no other request would
        pass (a key, a permission, a missing model, a quota) is a ServingError; any other error that outlasts
        the retries is this example's error, recorded on its Completion."""
        what = f"chat completion with {model}"
        attempts = 0

        def once() -> Completion:
            nonlocal attempts
            attempts += 1
            return self._once(model, messages, max_tokens)

        try:
            c = with_retries(once, what=what, policy=self.policy, cfg=self.config)
        except HostedError as e:
            if e.status_code in (401, 403, 404) or e.kind == "quota":
                raise ServingError(e.message, kind=e.kind, advice=e.advice, status_code=e.status_code,
                                   code=e.code) from None
            c = Completion(text="", error=e.message)
        c.attempts = attempts
        self.usage.add(c)
        return c

    def complete_many(self, model: str, items: list[tuple[int, list[dict]]], *, max_tokens: int = 256,
                      concurrency: int = 8, on_done: Callable[[int, Completion], None]) -> None:
        """Complete every item with at most `concurrency` requests in flight; `on_done(index, completion)`
        is called (from this thread, in completion order) for each. Raises ServingError on a fatal error."""
        concurrency = max(1, int(concurrency))
        pending = iter(items)
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ftwizard-serve") as pool:
            running: dict = {}

            def submit_next() -> bool:
                try:
                    idx, messages = next(pending)
                except StopIteration:
                    return False
                running[pool.submit(self._complete, model, messages, max_tokens)] = idx
                return True

            for _ in range(concurrency):
                if not submit_next():
                    break
            try:
                while running:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for fut in done:
                        idx = running.pop(fut)
                        on_done(idx, fut.result())  # a ServingError propagates from here
                        submit_next()
            except BaseException:
                for fut in running:
                    fut.cancel()
                raise
