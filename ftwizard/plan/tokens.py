"""Token statistics of a run's data: exact (the model's own tokenizer counted them) or estimated (counted in
ESTIMATE_ENCODING and scaled by the model family's documented ratio), always with the encoding that counted."""

from __future__ import annotations

from dataclasses import dataclass

# The encoding an estimated local length is counted in: the per-family ratios are measured against it, whatever
# the hosted model bills in (gpt-4o-mini bills in o200k_base; its counts would be scaled by the wrong ratio).
ESTIMATE_ENCODING = "cl100k_base"


@dataclass(frozen=True)
class TokenStats:
    exact: bool
    encoding: str          # the tokenizer that counted: a tokenizer.json path, or a tiktoken encoding name
    ratio: float | None    # estimated only: tokens of the model per ESTIMATE_ENCODING token
    source: str            # one sentence for reports

    @classmethod
    def exact_from(cls, tokenizer_path: str) -> "TokenStats":
        return cls(True, tokenizer_path, None, f"the model's tokenizer ({tokenizer_path})")

    @classmethod
    def estimated(cls, family: str, ratio: float, why: str) -> "TokenStats":
        return cls(False, ESTIMATE_ENCODING, ratio,
                   f"estimate: {ESTIMATE_ENCODING} tokens x {ratio} ({family} tokenizers) + BOS/EOS ({why})")
