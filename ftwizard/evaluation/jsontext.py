"""The JSON value a model's answer starts with (a fenced ```json block unwrapped), read within bounds: the json
metric and the judge's reply parser both call `parse_json`."""

from __future__ import annotations

import json
import math
from typing import Any


def _unfence(text: str) -> str:
    t = text.strip()
    if t.startswith("```") and t.endswith("```") and t.count("```") == 2:
        t = t[3:-3]
        first, _, rest = t.partition("\n")
        t = rest if first.strip().lower() in ("json", "") else t
    return t.strip()


# Bounds on reading a model's JSON (untrusted: degenerate repetition is what a small fine-tune emits). Beyond
# them a prediction is not JSON we score, with the reason; Python's own limits would raise instead (a 400-digit
# number overflows a float, deep nesting exhausts the recursion limit, more than 4,300 digits is a ValueError).
MAX_JSON_CHARS = 200_000     # characters of one answer read as JSON
MAX_JSON_DEPTH = 64          # nested objects and lists
MAX_NUMBER_DIGITS = 100      # digits of one number (a float holds about 17 significant ones)


class _Unreadable(ValueError):
    pass


def _bounded_number(text: str) -> int | float:
    if sum(c.isdigit() for c in text) > MAX_NUMBER_DIGITS:
        raise _Unreadable(f"a number with more than {MAX_NUMBER_DIGITS} digits")
    value = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Unreadable(f"a number too large for a float ({text[:20]}...)")
    return value


def _refuse_constant(name: str):
    raise _Unreadable(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_int=_bounded_number, parse_float=_bounded_number, parse_constant=_refuse_constant)


def _depth(text: str) -> int:
    """The deepest nesting of objects and lists (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        elif c in "]}":
            depth -= 1
    return deepest


def parse_json(text: str) -> tuple[Any, str | None, bool]:
    """(value, problem, trailing): the JSON value the text starts with; problem is None when the text is
    exactly that value, "trailing text after the JSON value" when more follows (value still returned), or why
    it is not JSON (value None) - including an answer beyond the bounds above, which is never an exception."""
    t = _unfence(text)
    if not t:
        return None, "empty", False
    if len(t) > MAX_JSON_CHARS:
        return None, f"too long to read as JSON ({len(t):,} characters; at most {MAX_JSON_CHARS:,})", False
    if _depth(t) > MAX_JSON_DEPTH:
        return None, f"nested deeper than {MAX_JSON_DEPTH} levels", False
    try:
        value, end = _DECODER.raw_decode(t)
    except json.JSONDecodeError as e:
        return None, f"not valid JSON ({e.msg} at character {e.pos})", False
    except _Unreadable as e:
        return None, f"not readable JSON ({e})", False
    if t[end:].strip():
        return value, "trailing text after the JSON value", True
    return value, None, False
