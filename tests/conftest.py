"""Shared fixtures: an isolated home, and a tiny model folder built once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama (2 layers, hidden 64) with a BPE tokenizer trained here, saved as a model folder."""
    from tests.tinymodel import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def repo() -> Path:
    return REPO
