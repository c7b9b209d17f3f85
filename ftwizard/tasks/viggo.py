"""ViGGO: turn a sentence about a video game into its meaning representation `fn(attr[value], ...)`."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Iterable

from ftwizard.tasks.base import MetricSpec, Task

FUNCTIONS = (
    "inform", "request", "give_opinion", "confirm", "verify_attribute", "suggest",
    "request_explanation", "recommend", "request_attribute",
)
ATTRIBUTES = (
    "name", "exp_release_date", "release_year", "developer", "esrb", "rating", "genres", "player_perspective",
    "has_multiplayer", "platforms", "available_on_steam", "has_linux_release", "has_mac_release", "specifier",
)

_S1 = ("Given a target sentence construct the underlying meaning representation of the input sentence as a "
       "single function with attributes and attribute values.")
_S2 = ("This function should describe the target string accurately and the function must be one of the following "
       f"{list(FUNCTIONS)!r}.")
_S3 = f"The attributes must be one of the following: {list(ATTRIBUTES)!r}"

VIGGO_TEMPLATE = (
    f"{_S1}\n{_S2}\n{_S3}\n\n### Target sentence:\n{{target}}\n\n### Meaning representation:\n{{meaning_representation}}\n"
)
VIGGO_SYSTEM = f"{_S1} {_S2} {_S3}"

_CALL = re.compile(r"\b([a-z_]+)\(")


def _balanced_end(text: str, open_idx: int) -> int | None:
    """Index just past the `)` matching text[open_idx] == '(' (brackets hold values and may hold parens)."""
    depth_paren, in_bracket = 0, 0
    for i in range(open_idx, len(text)):
        ch = text[i]
        if ch == "[":
            in_bracket += 1
        elif ch == "]" and in_bracket:
            in_bracket -= 1
        elif in_bracket:
            continue
        elif ch == "(":
            depth_paren += 1
        elif ch == ")":
            depth_paren -= 1
            if depth_paren == 0:
                return i + 1
    return None


def extract_mr(raw: str) -> str:
    """The first `function(...)` form, preferring ViGGO's nine dialogue acts, with whatever follows it on its
    line (up to `###`): text after the representation is part of the answer, so meaning match can refuse it."""
    candidates = list(_CALL.finditer(raw))
    ordered = [m for m in candidates if m.group(1) in FUNCTIONS] + [m for m in candidates if m.group(1) not in FUNCTIONS]
    for m in ordered:
        end = _balanced_end(raw, m.end() - 1)
        if end is not None:
            rest = raw[end:].split("\n", 1)[0].split("###", 1)[0]
            quote = raw[:m.start()].rstrip()[-1:]
            if quote and quote in "`'\"" and rest.lstrip().startswith(quote):  # `inform(...)`: quoted, not followed
                rest = rest.lstrip()[1:]
            return (raw[m.start():end] + rest).strip()
    # An unterminated form (generation cut off): keep what is there.
    if ordered:
        return raw[ordered[0].start():].strip().splitlines()[0]
    return raw.strip().splitlines()[0].strip() if raw.strip() else ""


class ViggoTask(Task):
    name: ClassVar[str] = "viggo"
    title: ClassVar[str] = "ViGGO meaning representations (5,103 train / 1,083 test)"
    answer_field: ClassVar[str] = "meaning_representation"
    default_template: ClassVar[str] = VIGGO_TEMPLATE
    default_system: ClassVar[str] = VIGGO_SYSTEM
    default_user: ClassVar[str] = "{target}"
    bundled: ClassVar[dict[str, str]] = {"train": "viggo/train.csv", "valid": "viggo/valid.csv", "test": "viggo/test.csv"}
    bundled_columns: ClassVar[dict[str, str]] = {"target": "ref", "meaning_representation": "mr"}
    default_train_split: ClassVar[str] = "train"
    default_eval_split: ClassVar[str] = "test"

    def extract_answer(self, raw: str) -> str:
        return extract_mr(raw)

    def metric_specs(self, recipe=None, *, reported=None) -> tuple[MetricSpec, ...]:
        return (
            MetricSpec("meaning_match", "meaning match", decides=True),
            MetricSpec("exact_match", "string exact match (seed)"),
            MetricSpec("function_match", "function match"),
            MetricSpec("attribute_set_match", "attribute-set match"),
            MetricSpec("slot_f1", "slot F1"),
            MetricSpec("slot_precision", "slot precision"),
            MetricSpec("slot_recall", "slot recall"),
        )

    def score(self, prediction: str, reference: str, row: dict[str, Any] | None = None) -> tuple[dict, dict]:
        from ftwizard.evaluation import viggo_metrics

        v = viggo_metrics.score_pair(prediction, reference)
        return {k: v[k] for k in viggo_metrics.METRICS}, {"slot_counts": v["slot_counts"]}

    def aggregate(self, scored: Iterable[dict]) -> dict[str, dict]:
        from ftwizard.evaluation import viggo_metrics

        return viggo_metrics.aggregate([{**s["verdicts"], "slot_counts": s["slot_counts"]} for s in scored])
