"""ViGGO metrics: meaning match (deciding), the seed's string exact match, function type, attribute set, slot
precision / recall / F1.

A meaning representation reads `function(attr[value], attr[value], ...)`. A slot is one (attribute, value)
pair; a list value (`genres[shooter, role-playing]`) is one slot whose items may come in any order.

`meaning_match`: the prediction is one well-formed representation (closed by its `)`, nothing but whitespace
after it) with the same function and the same set of slots and values as the reference; slot order and
spacing are free, values are compared with whitespace collapsed (case kept). `exact_match` is the seed's
string comparison (whitespace runs collapsed, order and spacing around brackets matter).
Text after the closing parenthesis is not part of the representation: meaning match fails, and for slot
precision it counts as one extra predicted slot that is wrong (so it never earns full slot credit). An empty
or unreadable prediction predicts no slots: precision 0 (not 1) when the reference has any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ftwizard.evaluation.stats import micro_prf, prf_metrics, proportion

METRICS = ("meaning_match", "exact_match", "function_match", "attribute_set_match", "slot_f1")

_FN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_ATTR = re.compile(r"\s*,?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[")


def normalize_ws(text: str) -> str:
    return " ".join((text or "").split())


@dataclass(frozen=True)
class MeaningRepresentation:
    function: str | None
    slots: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    closed: bool = False  # the function's `)` was found right after the last slot
    trailing: str = ""  # non-blank text after that `)`

    @property
    def attributes(self) -> frozenset[str]:
        return frozenset(a for a, _ in self.slots)

    @property
    def well_formed(self) -> bool:
        return self.function is not None and self.closed and not self.trailing


def _canonical_value(value: str) -> str:
    items = [normalize_ws(v) for v in value.split(",")]
    items = [v for v in items if v]
    return ", ".join(sorted(items)) if len(items) > 1 else (items[0] if items else "")


_CLOSE = re.compile(r"\s*,?\s*\)")


def parse_mr(text: str) -> MeaningRepresentation:
    """The function and slots of an MR; what cannot be read is left out (a garbled MR scores low, never raises)."""
    text = text or ""
    m = _FN.match(text)
    if not m:
        return MeaningRepresentation(None, frozenset())
    function = m.group(1)
    pos = m.end()
    slots = set()
    closed = False
    while pos < len(text):
        c = _CLOSE.match(text, pos)
        if c:
            closed, pos = True, c.end()
            break
        a = _ATTR.match(text, pos)
        if not a:
            break
        start = a.end()
        depth, i = 1, start
        while i < len(text) and depth:
            if text[i] == "[":
                depth += 1
            elif text[i] == "]":
                depth -= 1
            i += 1
        if depth:  # unterminated value: the output was cut off
            break
        slots.add((a.group(1), _canonical_value(text[start:i - 1])))
        pos = i
    return MeaningRepresentation(function, frozenset(slots), closed, text[pos:].strip() if closed else "")


def same_meaning(pred: MeaningRepresentation, gold: MeaningRepresentation) -> bool:
    """meaning_match on parsed representations."""
    return pred.well_formed and gold.function is not None and (pred.function, pred.slots) == (gold.function, gold.slots)


def score_pair(prediction: str, reference: str) -> dict:
    """Per-example verdicts; `slot_f1` is this example's F1, `slot_counts` its (tp, predicted, gold)."""
    pred, gold = parse_mr(prediction), parse_mr(reference)
    tp = len(pred.slots & gold.slots)
    np_, ng = len(pred.slots) + (1 if pred.trailing else 0), len(gold.slots)
    _, _, f1 = micro_prf([(tp, np_, ng)])
    return {
        "meaning_match": same_meaning(pred, gold),
        "exact_match": normalize_ws(prediction) == normalize_ws(reference),
        "function_match": pred.function is not None and pred.function == gold.function,
        "attribute_set_match": pred.function is not None and pred.attributes == gold.attributes,
        "slot_f1": round(f1, 6),
        "slot_counts": [tp, np_, ng],
    }


def aggregate(verdicts: list[dict]) -> dict[str, dict]:
    """metrics.json entries over per-example verdicts: proportions with Wilson intervals, slots with bootstrap."""
    out = {name: proportion([bool(v[name]) for v in verdicts])
           for name in ("meaning_match", "exact_match", "function_match", "attribute_set_match")}
    counts = [tuple(v["slot_counts"]) for v in verdicts]
    prf = prf_metrics(counts)
    out["slot_f1"] = prf["slot_f1"]
    out["slot_precision"] = prf["slot_precision"]
    out["slot_recall"] = prf["slot_recall"]
    return out
