"""Shared fixtures: an isolated home, and a tiny model folder built once per session."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A suite started in the background by a non-interactive shell (`cmd &`, nohup, some CI runners) inherits SIGINT
# ignored, and Python then raises no KeyboardInterrupt for it: the tests of Ctrl-C would wait forever (seen
# 2026-12-07 when .ci/run was started with `&`). Give this process the terminal's behaviour.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Token statistics and BPE caches in a fresh folder: results never depend on what earlier runs cached."""
    old = os.environ.get("FTWIZARD_CACHE_DIR")
    os.environ["FTWIZARD_CACHE_DIR"] = str(tmp_path_factory.mktemp("ftwizard-cache"))
    yield
    if old is None:
        os.environ.pop("FTWIZARD_CACHE_DIR", None)
    else:
        os.environ["FTWIZARD_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _signal_handlers_left_as_found():
    """A test that runs a worker in this process must leave Ctrl-C and SIGTERM as it found them (the workers' stop
    handlers are the process's; `DetachedWorker.lifecycle` puts back what it found)."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    after = {s: signal.getsignal(s) for s in before}
    for s, h in before.items():
        signal.signal(s, h)
    leaked = [signal.Signals(s).name for s in before if after[s] is not before[s]]
    assert not leaked, f"the test left its own handler for {', '.join(leaked)}"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama (2 layers, hidden 64) with a BPE tokenizer trained here, saved as a model folder."""
    from tests.tinymodel import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def repo() -> Path:
    return REPO
