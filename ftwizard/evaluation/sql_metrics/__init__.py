"""SQL metrics: exact match (the seed's), normalized match (sqlglot canonical form), execution match (SQLite).

Spider writes string literals in double quotes, so queries are read with sqlglot's MySQL dialect and run in
SQLite after transpiling with quoted identifiers (columns such as `order` or `2007` exist in the contexts); a
double-quoted name of a table or column of the schema is that identifier (`SELECT "Name" FROM singer`).

- `schema`: the CREATE TABLE context, the keys a reader assumes (the rule is in its docstring), quoted names;
- `canonical`: normalized match;
- `databases`: test databases seeded from the gold query and the context only;
- `execution`: running both queries, comparing results (order as far as ORDER BY determines it), and the
  how it is bounded;
- `limits`: every bound on the work for untrusted input, named in the verdicts when reached.
"""

from __future__ import annotations

from ftwizard.evaluation.stats import proportion

from .canonical import canonical_sql, normalized_match
from .execution import ExecResult, clear_caches, execution_match, execution_match_detail
from .limits import MAX_QUERY_CHARS
from .schema import Column, parse_context

__all__ = [
    "METRICS", "MAX_QUERY_CHARS", "Column", "ExecResult", "aggregate", "canonical_sql", "clear_caches",
    "exact_match", "execution_match", "execution_match_detail", "normalized_match", "parse_context", "score_pair",
]

METRICS = ("exact_match", "normalized_match", "execution_match")


def normalize_ws(sql: str) -> str:
    return " ".join((sql or "").split())


def exact_match(prediction: str, gold: str) -> bool:
    """The seed's exact match: equal after collapsing whitespace."""
    return normalize_ws(prediction) == normalize_ws(gold)


def score_pair(prediction: str, reference: str, context: str) -> dict:
    """Per-example verdicts for one prediction; `execution_detail` says why an execution miss missed (a code) and
    `execution_note` in words (the limit reached, the database that differed, SQLite's error)."""
    ex = execution_match_detail(prediction, reference, context)
    return {
        "exact_match": exact_match(prediction, reference),
        "normalized_match": normalized_match(prediction, reference, context),
        "execution_match": ex.match,
        "execution_detail": ex.reason,
        "execution_note": ex.note,
    }


def aggregate(verdicts: list[dict]) -> dict[str, dict]:
    return {name: proportion([bool(v[name]) for v in verdicts]) for name in METRICS}
