"""One retry policy for every transient fault: API calls, uploads, downloads, chat completions and the judge all
go through `ftwizard.retry.with_retries`; what is not a provider error is never dressed up as one."""

from __future__ import annotations

import errno
import http.client

import httpx
import pytest

from ftwizard.retry import HostedError, RetryPolicy, with_retries


def _flaky(*faults):
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        if calls["n"] <= len(faults):
            raise faults[calls["n"] - 1]
        return "done"

    return fn, calls


@pytest.mark.parametrize("fault", [
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    httpx.ReadError("connection reset"),
    http.client.IncompleteRead(b"half"),
    ConnectionResetError(errno.ECONNRESET, "reset"),
])
def test_a_dropped_connection_is_retried_like_an_api_error(fault):
    fn, calls = _flaky(fault, fault)
    assert with_retries(fn, what="downloading", policy=RetryPolicy(base_s=0.001, sleep=lambda s: None)) == "done"
    assert calls["n"] == 3


def test_a_bug_is_not_turned_into_a_provider_error():
    fn, calls = _flaky(KeyError("job_id"))
    with pytest.raises(KeyError):
        with_retries(fn, what="reading the job", policy=RetryPolicy(base_s=0.001, sleep=lambda s: None))
    assert calls["n"] == 1


def test_a_full_disk_is_not_a_provider_error():
    fn, _ = _flaky(OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError) as e:
        with_retries(fn, what="downloading the adapter", policy=RetryPolicy(base_s=0.001, sleep=lambda s: None))
    assert e.value.errno == errno.ENOSPC


def test_a_drop_that_outlasts_the_policy_is_a_network_error():
    fault = httpx.RemoteProtocolError("cut")
    fn, calls = _flaky(*[fault] * 5)
    with pytest.raises(HostedError) as e:
        with_retries(fn, what="downloading", policy=RetryPolicy(base_s=0.001, max_attempts=3, sleep=lambda s: None))
    assert e.value.kind == "network" and calls["n"] == 3


def test_no_other_retry_loop_in_the_provider_code():
    """The loops that used to keep their own counts (upload, create, chat completion, the judge's SDK retries)
    all call with_retries now, defined once in ftwizard/retry.py below both the hosted backends and the judge;
    the Azure management API keeps its own for its token renewal."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "ftwizard"
    loops, homes = [], []
    for path in root.rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(root).as_posix()
        if "def with_retries(" in text or "class RetryPolicy" in text or "def is_transport_error(" in text:
            homes.append(rel)
        if "attempt + 1 >= " in text and rel not in ("retry.py", "backends/hosted/azure_management.py"):
            loops.append(rel)
        if "max_retries=" in text and "max_retries=0" not in text:
            loops.append(f"{rel}: SDK retries")
    assert loops == []
    assert homes == ["retry.py"]
