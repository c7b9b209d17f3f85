"""Execution match: run gold and prediction on the same test databases (SQLite, in memory) and compare results.

Results are compared as multisets, in order only as far as the gold's ORDER BY determines it: rows whose ORDER BY
keys are equal (ties) form a run compared as a multiset; under LIMIT / OFFSET, a run the window cuts may be
any rows of the whole run (`ORDER BY age LIMIT 1` with two youngest accepts either). Without ORDER BY the
whole result is one multiset. A different column order is tolerated (as the Spider test-suite evaluation does).
A pair matches only when every database agrees.

Bounded work on untrusted input (each limit named in the verdict's note; the values are in `limits.py`):
- a query longer than `MAX_QUERY_CHARS` is not parsed or run (`pred_too_long`);
- each query runs at most `QUERY_INSTRUCTION_LIMIT` SQLite instructions (progress handler), a prediction at most
  `PAIR_INSTRUCTION_LIMIT` over all databases (`pred_timeout`): counted work, so a score never depends on load;
- at most `MAX_RESULT_ROWS` rows are read back (`pred_too_many_rows`), no value over `MAX_VALUE_BYTES`,
  no call of `UNBOUNDED_FUNCTIONS` (`pred_error`);
- a context longer than `MAX_CONTEXT_CHARS` is not read (`no_schema`); at most `MAX_TABLES` of its tables are built
  (the gold's first).
The databases are read-only (an authorizer allows SELECT and reading only) and in memory: nothing is written.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from .canonical import parse_shared
from .databases import Database, complete_schema, iter_databases, read_facts
from .limits import (
    MAX_CONTEXT_CHARS,
    MAX_QUERY_CHARS,
    MAX_RESULT_ROWS,
    MAX_TABLES,
    MAX_VALUE_BYTES,
    PAIR_INSTRUCTION_LIMIT,
    PROGRESS_EVERY,
    QUERY_INSTRUCTION_LIMIT,
    QUERY_WALL_LIMIT_S,
    UNBOUNDED_FUNCTIONS,
)
from .schema import parse_context, resolve_double_quotes, schema_names

DEFAULT_DATABASES = 4


@dataclass(frozen=True)
class ExecResult:
    match: bool
    # match | mismatch | pred_error | pred_timeout | pred_too_long | pred_too_many_rows | empty | gold_error |
    # gold_too_long | no_schema
    reason: str
    note: str = ""  # for people: which database differed, the error, or the limit that was reached


@dataclass(frozen=True)
class _Query:
    text: str  # what SQLite runs
    tree: Any  # sqlglot tree (shared: never change it), or None when sqlglot could not read it


@dataclass(frozen=True)
class _OrderPlan:
    keyed_text: str | None  # the query without LIMIT / OFFSET and with its ORDER BY keys as extra columns
    key_index: tuple[int, ...]  # where each ORDER BY key is in the keyed result
    extra: int  # how many columns the keyed query adds
    limit: int | None
    offset: int


@lru_cache(maxsize=1)
def _sqlite_backticks():
    """SQLite with `backtick` identifiers: a double-quoted name that is no column would become a string in SQLite."""
    from sqlglot.dialects.sqlite import SQLite

    class SQLiteBackticks(SQLite):
        class Tokenizer(SQLite.Tokenizer):
            IDENTIFIERS = ["`"]

    return SQLiteBackticks


def _to_sqlite(tree, fallback: str) -> str:
    try:
        return tree.sql(dialect=_sqlite_backticks(), identify=True)
    except Exception:  # noqa: BLE001 - sqlglot cannot write some trees back; SQLite may still read the text
        return fallback


@lru_cache(maxsize=4096)
def _prepare(sql: str, names: frozenset[str]) -> _Query | None:
    """What SQLite runs for `sql`, double-quoted `names` read as identifiers (cached: gold and prediction share)."""
    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        return None
    text = resolve_double_quotes(text, names)
    tree = parse_shared(text)
    if tree is None:
        return _Query(text, None)
    return _Query(_to_sqlite(tree, text), tree)


def _int_literal(node) -> int | None:
    from sqlglot import exp

    if node is None:
        return 0
    e = node.args.get("expression") or node.this
    if isinstance(e, exp.Literal) and not e.is_string:
        try:
            return int(str(e.this))
        except ValueError:
            return None
    return None


def _order_plan(tree) -> _OrderPlan | None:
    """How to read the ORDER BY keys of a gold query's rows (None without a top-level ORDER BY)."""
    from sqlglot import exp

    order = tree.args.get("order")
    if order is None or not isinstance(tree, exp.Query):
        return None
    strict = _OrderPlan(None, (), 0, None, 0)
    limit = _int_literal(tree.args.get("limit")) if tree.args.get("limit") is not None else None
    offset = _int_literal(tree.args.get("offset"))
    if (tree.args.get("limit") is not None and limit is None) or offset is None:
        return strict
    outputs = tree.selects
    if any(isinstance(o, exp.Star) or (isinstance(o, exp.Column) and isinstance(o.this, exp.Star)) for o in outputs):
        return strict
    key_index: list[int] = []
    extra: list = []
    for ordered in order.expressions:
        e = ordered.this
        idx = None
        if isinstance(e, exp.Literal) and not e.is_string and str(e.this).isdigit():
            idx = int(str(e.this)) - 1
        else:
            for i, out in enumerate(outputs):
                if (out.alias and isinstance(e, exp.Column) and not e.table and e.name.lower() == out.alias.lower()) \
                        or out.unalias().sql().lower() == e.sql().lower():
                    idx = i
                    break
        if idx is None or not 0 <= idx < len(outputs):
            if not isinstance(tree, exp.Select) or tree.args.get("distinct"):
                return strict
            extra.append(e)
            idx = len(outputs) + len(extra) - 1
        key_index.append(idx)
    keyed = tree.copy()
    keyed.set("limit", None)
    keyed.set("offset", None)
    for i, e in enumerate(extra):
        keyed.append("expressions", exp.alias_(e.copy(), f"ftwizard_order_key_{i}"))
    keyed_text = _to_sqlite(keyed, "")
    if not keyed_text:  # sqlglot could not write it: compare in strict order
        return strict
    return _OrderPlan(keyed_text, tuple(key_index), len(extra), limit, offset)


# ----------------------------------------------------------------------------------------------
# Running

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _read_only(action, _arg1, arg2, *_rest) -> int:
    """Reading only, and no function whose work inside one call has no bound (the progress handler cannot stop
    it: `printf('%.*c', 100000000, 'x')` takes a second)."""
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in UNBOUNDED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


class _Timeout(Exception):
    pass


class _TooManyRows(Exception):
    pass


def _connect(db: Database) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)  # used under the suite's lock
    for name, cols, types, rows in db.tables:
        cols_sql = ", ".join(f'"{c.name}" {t}' for c, t in zip(cols, types))
        conn.execute(f'CREATE TABLE "{name}" ({cols_sql})')
        if rows:
            conn.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" for _ in cols)})', rows)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.set_authorizer(_read_only)
    return conn


class _Budget:
    """SQLite instructions a query may still run (counted by the progress handler every `PROGRESS_EVERY`)."""

    def __init__(self, instructions: int):
        self.left = instructions

    def __call__(self) -> int:
        self.left -= PROGRESS_EVERY
        return 1 if self.left < 0 or time.perf_counter() > self.wall_end else 0

    wall_end = float("inf")


def _run(conn: sqlite3.Connection, text: str, budget: _Budget) -> list[tuple]:
    budget.wall_end = time.perf_counter() + QUERY_WALL_LIMIT_S
    conn.set_progress_handler(budget, PROGRESS_EVERY)
    try:
        cur = conn.execute(text)
        rows = cur.fetchmany(MAX_RESULT_ROWS + 1)
    except sqlite3.OperationalError as e:
        if "interrupted" in str(e):
            raise _Timeout() from None
        raise
    finally:
        conn.set_progress_handler(None, 0)
    if len(rows) > MAX_RESULT_ROWS:
        raise _TooManyRows()
    return [tuple(_norm_value(v) for v in row) for row in rows]


def _norm_value(v):
    if isinstance(v, float):
        r = round(v, 6)
        return int(r) if r == int(r) and abs(r) < 1e15 else r
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


# ----------------------------------------------------------------------------------------------
# The gold's result, as far as its order is determined

@dataclass(frozen=True)
class _Expected:
    rows: tuple[tuple, ...]  # the gold's result
    width: int
    segments: tuple[tuple[int, Counter], ...]  # (rows in the result, every row of the tie run) in order
    exact: bool  # no run is cut by LIMIT: each segment is exactly its run


def _expected(conn: sqlite3.Connection, q: _Query, plan: _OrderPlan | None, instructions: int) -> _Expected:
    if plan is None or plan.keyed_text is None:
        rows = _run(conn, q.text, _Budget(instructions))
        width = len(rows[0]) if rows else 0
        segs = ((len(rows), Counter(rows)),) if plan is None else tuple((1, Counter([r])) for r in rows)
        return _Expected(tuple(rows), width, segs, True)
    full = _run(conn, plan.keyed_text, _Budget(instructions))
    width = (len(full[0]) - plan.extra) if full else 0
    start = plan.offset
    end = len(full) if plan.limit is None else min(len(full), start + plan.limit)
    segments = []
    exact = True
    i = 0
    while i < len(full):
        key = tuple(full[i][k] for k in plan.key_index)
        j = i + 1
        while j < len(full) and tuple(full[j][k] for k in plan.key_index) == key:
            j += 1
        lo, hi = max(i, start), min(j, end)
        if lo < hi:
            segments.append((hi - lo, Counter(r[:width] for r in full[i:j])))
            exact = exact and (hi - lo == j - i)
        i = j
    return _Expected(tuple(r[:width] for r in full[start:end]), width, tuple(segments), exact)


def _fits(segments, rows: list[tuple]) -> bool:
    pos = 0
    for count, run in segments:
        part = Counter(rows[pos:pos + count])
        pos += count
        if count == sum(run.values()):
            if part != run:
                return False
        elif any(part[k] > run[k] for k in part):
            return False
    return True


def _same_result(expected: _Expected, pred: list[tuple]) -> bool:
    if len(pred) != len(expected.rows):
        return False
    if not pred:
        return True
    width = expected.width
    if len(pred[0]) != width:
        return False
    if _fits(expected.segments, pred):
        return True
    if width == 1 or width > 6:
        return False
    if expected.exact:  # column multisets must agree: try only the column orders that keep them
        gold_cols = [Counter(r[j] for r in expected.rows) for j in range(width)]
        pred_cols = [Counter(r[i] for r in pred) for i in range(width)]
        options = [[i for i in range(width) if pred_cols[i] == gold_cols[j]] for j in range(width)]
        perms = (p for p in itertools.product(*options) if len(set(p)) == width)
    else:
        perms = itertools.permutations(range(width))
    for perm in perms:
        if perm == tuple(range(width)):
            continue
        if _fits(expected.segments, [tuple(row[i] for i in perm) for row in pred]):
            return True
    return False


# ----------------------------------------------------------------------------------------------
# The whole comparison

class _Suite:
    """A gold query's test databases, loaded, with the gold's result on each; built one by one as predictions
    need them and kept (cached per gold), used under a lock (one prediction at a time)."""

    def __init__(self, names: frozenset[str], failure: ExecResult | None = None, gold: _Query | None = None,
                 plan: _OrderPlan | None = None, databases: Iterator[Database] | None = None, instructions: int = 0):
        self.names, self.failure = names, failure
        self._gold, self._plan, self._pending, self._instructions = gold, plan, databases, instructions
        self.built: list[tuple[Database, sqlite3.Connection, _Expected]] = []
        self.tables_cut = False  # the context had more than MAX_TABLES tables
        self.lock = threading.Lock()

    def database(self, i: int) -> tuple[Database, sqlite3.Connection, _Expected] | None:
        """The i-th database (None past the last); sets `failure` when the gold cannot run on it."""
        while len(self.built) <= i and self.failure is None and self._pending is not None:
            db = next(self._pending, None)
            if db is None:
                self._pending = None
                break
            try:
                conn = _connect(db)
            except sqlite3.Error as e:
                self.failure = ExecResult(False, "no_schema", f"the context's tables cannot be built: {e}")
                break
            try:
                self.built.append((db, conn, _expected(conn, self._gold, self._plan, self._instructions)))
            except (sqlite3.Error, _Timeout, _TooManyRows, ValueError, OverflowError) as e:
                self.failure = ExecResult(False, "gold_error", f"the reference query fails: {e!r}")
        return self.built[i] if i < len(self.built) else None


def _bounded(schema: dict, tree) -> dict:
    """At most `MAX_TABLES` tables: the ones the gold query reads first, then the context's in its order."""
    if len(schema) <= MAX_TABLES or tree is None:
        return schema
    from sqlglot import exp

    used = [t.name.lower() for t in tree.find_all(exp.Table)]
    order = list(dict.fromkeys([t for t in used if t in schema] + list(schema)))[:MAX_TABLES]
    return {t: schema[t] for t in order}


@lru_cache(maxsize=32)
def _gold_suite(gold: str, context: str, databases: int, seed: int, instructions: int) -> _Suite:
    """The test databases for a gold query and its context (cached: several predictions share one gold)."""
    schema = parse_context(context)
    if not schema:
        return _Suite(frozenset(), ExecResult(False, "no_schema", "the context holds no CREATE TABLE"))
    names = schema_names(schema)
    g = _prepare(gold, names)
    if g is None:
        return _Suite(names, ExecResult(False, "gold_error", "the reference query is empty"))
    full_schema = complete_schema(schema, g.tree)
    wider = schema_names(full_schema)
    if wider != names:  # the gold uses names the context lacks (a few sql-create-context rows)
        names = wider
        g = _prepare(gold, names)
    bounded = _bounded(full_schema, g.tree)
    facts = read_facts(g.tree, bounded)
    plan = _order_plan(g.tree) if g.tree is not None else None
    rng = random.Random(zlib.crc32(f"{seed}\x00{' '.join(gold.split())}\x00{context}".encode()))
    suite = _Suite(names, None, g, plan, iter_databases(facts, rng, databases), instructions)
    suite.tables_cut = len(bounded) < len(full_schema)
    return suite


def execution_match_detail(prediction: str, gold: str, context: str, *, databases: int = DEFAULT_DATABASES,
                           instructions: int = QUERY_INSTRUCTION_LIMIT, seed: int = 0) -> ExecResult:
    """Run gold and prediction on `databases` test databases built from the gold and `context` (see the module's
    docstring and `databases.py`); the prediction's text never changes which databases are built."""
    if len(context or "") > MAX_CONTEXT_CHARS:
        return ExecResult(False, "no_schema", f"the context is over the {MAX_CONTEXT_CHARS:,}-character limit")
    if len(gold or "") > MAX_QUERY_CHARS:
        return ExecResult(False, "gold_too_long", f"the reference is over the {MAX_QUERY_CHARS:,}-character limit "
                                                  "on a query")
    if len(prediction or "") > MAX_QUERY_CHARS:
        return ExecResult(False, "pred_too_long", f"the prediction is {len(prediction):,} characters, over the "
                                                  f"{MAX_QUERY_CHARS:,}-character limit on a query (not run)")
    suite = _gold_suite(gold, context, databases, seed, instructions)
    if suite.failure is not None:
        return suite.failure
    p = _prepare(prediction, suite.names)
    if p is None:
        return ExecResult(False, "empty", "the prediction is empty")
    pair = _Budget(PAIR_INSTRUCTION_LIMIT)
    with suite.lock:
        for i in range(databases):
            built = suite.database(i)
            if built is None:
                if suite.failure is not None:
                    return suite.failure
                break
            db, conn, expected = built
            query = _Budget(given := min(instructions, max(pair.left, 0)))
            try:
                rows = _run(conn, p.text, query)
            except _Timeout:
                which = (f"the limit of {instructions:,} SQLite instructions per query" if given == instructions else
                         f"the limit of {PAIR_INSTRUCTION_LIMIT:,} SQLite instructions per prediction")
                return ExecResult(False, "pred_timeout", f"the prediction ran past {which} (SQLite progress handler)")
            except _TooManyRows:
                return ExecResult(False, "pred_too_many_rows",
                                  f"the prediction returned more than {MAX_RESULT_ROWS:,} rows (the limit read back)")
            except (sqlite3.Error, ValueError, OverflowError) as e:
                limit = (f" (the limit is {MAX_VALUE_BYTES:,} bytes per value)" if "too big" in str(e) else
                         f" (not run: {', '.join(sorted(UNBOUNDED_FUNCTIONS))} have no bound on their work)"
                         if "not authorized to use function" in str(e) else
                         f" (the context has more than {MAX_TABLES} tables; those the gold reads come first)"
                         if "no such table" in str(e) and suite.tables_cut else "")
                return ExecResult(False, "pred_error", f"SQLite: {e}{limit}")
            finally:
                pair.left -= given - query.left
            if not _same_result(expected, rows):
                return ExecResult(False, "mismatch", f"results differ on the {db.variant} database")
    return ExecResult(True, "match", f"same results on {len(suite.built)} databases")


def execution_match(prediction: str, gold: str, context: str, **kw) -> bool:
    return execution_match_detail(prediction, gold, context, **kw).match


def clear_caches() -> None:
    """Forget parsed queries, schemas and test databases (benchmarks time each pass from scratch)."""
    _gold_suite.cache_clear()
    _prepare.cache_clear()
    parse_shared.cache_clear()
    parse_context.cache_clear()
