"""The serving client (evaluation's way to the hosted model) against the fake server."""

from __future__ import annotations

import threading
import time

import pytest

from ftwizard.backends.hosted.providers import RetryPolicy, provider_config
from ftwizard.backends.hosted.serving import Completion, ServingClient, ServingError
from tests.test_hosted import fake  # noqa: F401 - the fixture


def _items(n: int) -> list[tuple[int, list[dict]]]:
    return [(i, [{"role": "user", "content": f"question {i}"}]) for i in range(n)]


def test_complete_many_bounds_concurrency_and_retries(fake):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def answer(model, messages):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.03)
        with lock:
            in_flight[0] -= 1
        return "answer to " + messages[-1]["content"]

    fake.chat_answer = answer
    fake.fail("chat", 429, 500, 502, "lost")
    client = ServingClient(config=provider_config("openai"))
    done: dict[int, Completion] = {}
    client.complete_many("gpt-4o-mini", _items(24), max_tokens=16, concurrency=3,
                         on_done=lambda i, c: done.__setitem__(i, c))
    assert sorted(done) == list(range(24))
    assert all(c.ok and c.text == f"answer to question {i}" for i, c in done.items())
    assert peak[0] <= 3 and peak[0] >= 2
    assert fake.calls["chat"] == 24 + 4  # four retried requests
    assert sum(c.attempts for c in done.values()) == 28
    assert client.usage.requests == 24 and client.usage.prompt_tokens == sum(c.prompt_tokens for c in done.values())
    assert client.cost_usd("gpt-4o-mini") == pytest.approx(
        (client.usage.prompt_tokens * 0.30 + client.usage.completion_tokens * 1.20) / 1e6)
    assert all(c.latency_s > 0 for c in done.values())


def test_an_item_that_keeps_failing_is_reported_not_raised(fake):
    fake.fail("chat", 500, 500, 500)
    client = ServingClient(config=provider_config("openai"), policy=RetryPolicy(base_s=0.01, max_attempts=3))
    done: dict[int, Completion] = {}
    client.complete_many("gpt-4o-mini", _items(4), max_tokens=8, concurrency=1,
                         on_done=lambda i, c: done.__setitem__(i, c))
    assert not done[0].ok and "500" in done[0].error and done[0].attempts == 3
    assert all(done[i].ok for i in (1, 2, 3))
    with pytest.raises(ServingError):
        fake.fail("chat", 500, 500, 500)
        client.complete("gpt-4o-mini", [{"role": "user", "content": "x"}])


def test_a_fatal_error_stops_the_batch(fake):
    client = ServingClient(config=provider_config("openai"))
    with pytest.raises(ServingError, match="not available to this key"):
        client.complete_many("ft:gpt-4o-mini-2024-07-18:org:x:nope", _items(10), max_tokens=8, concurrency=2,
                             on_done=lambda i, c: None)
    assert fake.calls["chat"] <= 3


def test_azure_serving_uses_the_deployment(fake, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", fake.api_key)
    fake.chat_answer = lambda model, messages: f"from {model}"
    fake.deployments["my-deployment"] = {"model": "ft:gpt-4o-mini-2024-07-18:org::abc", "state": "Succeeded"}
    client = ServingClient(config=provider_config("azure"))
    c = client.complete("my-deployment", [{"role": "user", "content": "hi"}], max_tokens=8)
    assert c.text == "from ft:gpt-4o-mini-2024-07-18:org::abc"  # the deployment serves the fine-tune
    assert ("POST", "/deployments/my-deployment/chat/completions") in fake.requests
