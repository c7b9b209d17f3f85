"""SQL metrics: exact match (the seed's), normalized match (sqlglot canonical form), execution match (SQLite).

Spider writes string literals in double quotes, so queries are read with sqlglot's MySQL dialect and run in
SQLite after transpiling with quoted identifiers (columns such as `order` or `2007` exist in the contexts).

Execution match builds the CREATE TABLE context in several small in-memory SQLite databases filled with random
rows whose values include the constants both queries mention (so WHERE clauses hit), NULLs and duplicates,
runs both queries on each (read-only, with a time limit) and compares results as multisets, in order when the
gold query has ORDER BY, tolerating a different column order (as the Spider test-suite evaluation does). A pair
matches only when every database agrees. A query that does not parse, fails or runs too long is a miss.
"""

from __future__ import annotations

import itertools
import random
import re
import sqlite3
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ftwizard.evaluation.stats import proportion

METRICS = ("exact_match", "normalized_match", "execution_match")

# ----------------------------------------------------------------------------------------------
# (a) exact match, as the seed defines it


def normalize_ws(sql: str) -> str:
    return " ".join((sql or "").split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_ws(prediction) == normalize_ws(gold)


# ----------------------------------------------------------------------------------------------
# The schema in a sql-create-context `context`

_CREATE = re.compile(r"CREATE\s+TABLE\s+([`\"\[]?[\w.]+[`\"\]]?)\s*\((.*?)\)\s*(?:;|$)", re.I | re.S)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # INTEGER, REAL or TEXT (SQLite affinity)


@lru_cache(maxsize=4096)
def parse_context(context: str) -> dict[str, tuple[Column, ...]]:
    """{table name (lower case): columns} from `CREATE TABLE t (a VARCHAR, b INTEGER); CREATE TABLE ...`.

    A table created twice (sql-create-context does that) gets the union of its columns.
    """
    tables: dict[str, list[Column]] = {}
    for m in _CREATE.finditer(context or ""):
        table = m.group(1).strip("`\"[]").lower()
        cols = tables.setdefault(table, [])
        seen = {c.name.lower() for c in cols}
        for part in m.group(2).split(","):
            bits = part.strip().split()
            if not bits:
                continue
            name = bits[0].strip("`\"[]")
            if name.lower() in seen:  # SQLite names are case-insensitive: `Id` and `id` are one column
                continue
            seen.add(name.lower())
            decl = " ".join(bits[1:]).upper()
            if "INT" in decl:
                affinity = "INTEGER"
            elif any(k in decl for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
                affinity = "REAL"
            else:
                affinity = "TEXT"
            cols.append(Column(name, affinity))
    return {t: tuple(c) for t, c in tables.items() if c}


# ----------------------------------------------------------------------------------------------
# (b) normalized match: both queries in one canonical form


def _parse(sql: str):
    """A fresh tree for `sql` (callers may change it), or None when it does not parse."""
    tree = _parse_shared(sql)
    return None if tree is None else tree.copy()


@lru_cache(maxsize=4096)
def _parse_shared(sql: str):
    """The parsed tree, shared between callers: never change it (copy first)."""
    import sqlglot

    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        return None
    try:
        trees = sqlglot.parse(text, read="mysql")
    except Exception:  # noqa: BLE001 - sqlglot raises several error types; any is "does not parse"
        return None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        return None
    return trees[0]


def _scope_tables(select) -> list:
    from sqlglot import exp

    sources = []
    frm = select.args.get("from_") or select.args.get("from")
    if frm is not None:
        sources.append(frm.this)
    for j in select.args.get("joins") or []:
        sources.append(j.this)
    return [s for s in sources if isinstance(s, exp.Table)], len(sources)


def _own_columns(select):
    from sqlglot import exp

    for col in select.find_all(exp.Column):
        if col.find_ancestor(exp.Select) is select:
            yield col


def _canonical_tree(tree, schema: dict[str, tuple[Column, ...]] | None):
    from sqlglot import exp

    for ident in tree.find_all(exp.Identifier):
        ident.set("this", ident.this.lower())
        ident.set("quoted", False)

    selects = list(tree.find_all(exp.Select))
    for select in reversed(selects):  # inner scopes first
        tables, n_sources = _scope_tables(select)
        names = [t.name for t in tables]
        mapping: dict[str, str] = {}
        seen: Counter = Counter()
        for t in tables:
            seen[t.name] += 1
            alias = t.alias
            new = t.name if names.count(t.name) == 1 else f"{t.name}_{seen[t.name]}"
            if alias:
                mapping[alias] = new
            if new == t.name:
                t.set("alias", None)
            else:
                t.set("alias", exp.TableAlias(this=exp.to_identifier(new)))
        # Which tables each column name belongs to in this scope (from the schema), to drop needless qualifiers.
        owners: dict[str, set[str]] = {}
        if schema:
            for t in tables:
                for c in schema.get(t.name, ()):
                    owners.setdefault(c.name.lower(), set()).add(t.name)
        single = n_sources == 1 and len(tables) == 1 and names.count(names[0]) == 1 if tables else False
        for col in _own_columns(select):
            q = col.table
            if not q:
                continue
            q = mapping.get(q, q)
            if (single and q == names[0]) or (names.count(q) == 1 and owners.get(col.name) == {q}
                                              and n_sources == len(tables)):
                col.set("table", None)
            else:
                col.set("table", exp.to_identifier(q))
        _canonical_joins(select)

    try:
        from sqlglot.optimizer.simplify import simplify

        tree = simplify(tree)
    except Exception:  # noqa: BLE001 - canonicalizing is best effort; the unsimplified tree is still comparable
        pass
    return tree.transform(_sort_commutative)


def _canonical_joins(select) -> None:
    """Inner joins commute: sorted tables, every ON condition moved into WHERE (skipped for SELECT *)."""
    from sqlglot import exp

    joins = select.args.get("joins") or []
    frm = select.args.get("from_") or select.args.get("from")
    if not joins or frm is None or not isinstance(frm.this, exp.Table):
        return
    if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
           for e in select.expressions):
        return
    conditions = []
    for j in joins:
        if j.args.get("side") or (j.args.get("kind") or "").upper() not in ("", "INNER", "CROSS") \
                or j.args.get("using") or not isinstance(j.this, exp.Table):
            return
        if j.args.get("on") is not None:
            conditions.append(j.args["on"])
    tables = sorted([frm.this] + [j.this for j in joins], key=lambda t: t.sql())
    where = select.args.get("where")
    if where is not None:
        conditions.append(where.this)
    select.set("from_" if "from_" in select.args else "from", exp.From(this=tables[0].copy()))
    select.set("joins", [exp.Join(this=t.copy()) for t in tables[1:]])
    if conditions:
        select.set("where", exp.Where(this=exp.and_(*[c.copy() for c in conditions])))


def _sort_commutative(node):
    from sqlglot import exp

    if isinstance(node, exp.Paren) and not isinstance(node.this, (exp.Binary, exp.Not, exp.Select, exp.Union)):
        return node.this
    if isinstance(node, exp.Connector):
        ops = [o.unnest() for o in node.flatten()]
        ops = sorted(ops, key=lambda o: o.sql())
        return exp.and_(*ops) if isinstance(node, exp.And) else exp.or_(*ops)
    if isinstance(node, (exp.EQ, exp.NEQ)):
        left, right = node.this, node.expression
        if left.sql() > right.sql():
            return node.__class__(this=right, expression=left)
    if isinstance(node, exp.Ordered) and not node.args.get("desc"):
        node.set("desc", False)
    if isinstance(node, exp.Join) and (node.args.get("kind") or "").upper() == "INNER":
        node.set("kind", None)
    return node


def canonical_sql(sql: str, context: str | None = None) -> str | None:
    """A canonical text for a query (None when it does not parse): equal texts mean equivalent queries."""
    tree = _parse(sql)
    if tree is None:
        return None
    schema = parse_context(context) if context else None
    try:
        tree = _canonical_tree(tree, schema)
        return tree.sql(dialect="sqlite", normalize_functions="upper")
    except Exception:  # noqa: BLE001 - a tree sqlglot cannot write back counts as unparseable
        return None


def normalized_match(prediction: str, gold: str, context: str | None = None) -> bool:
    p = canonical_sql(prediction, context)
    return p is not None and p == canonical_sql(gold, context)


# ----------------------------------------------------------------------------------------------
# (c) execution match

@dataclass(frozen=True)
class ExecResult:
    match: bool
    reason: str  # match | mismatch | pred_error | pred_timeout | gold_error | no_schema | empty


@dataclass
class _Query:
    text: str  # what SQLite runs
    tree: Any  # sqlglot tree, or None when sqlglot could not read it
    ordered: bool


@lru_cache(maxsize=1)
def _sqlite_backticks():
    """SQLite with `backtick` identifiers: a double-quoted name that is no column would become a string in SQLite."""
    from sqlglot.dialects.sqlite import SQLite

    class SQLiteBackticks(SQLite):
        class Tokenizer(SQLite.Tokenizer):
            IDENTIFIERS = ["`"]

    return SQLiteBackticks


@lru_cache(maxsize=4096)
def _prepare_query(sql: str) -> _Query | None:
    """What SQLite runs for `sql` (cached: shared by every database and by both passes; read-only)."""
    tree = _parse_shared(sql)
    if tree is None:
        text = (sql or "").strip().rstrip(";").strip()
        return _Query(text, None, bool(re.search(r"\border\s+by\b", text, re.I))) if text else None
    try:
        text = tree.sql(dialect=_sqlite_backticks(), identify=True)
    except Exception:  # noqa: BLE001
        text = (sql or "").strip().rstrip(";")
    return _Query(text, tree, tree.args.get("order") is not None)


def _complete_schema(schema: dict[str, tuple[Column, ...]], tree) -> dict[str, tuple[Column, ...]]:
    """Add the tables and columns the gold query uses but the context lacks (a few sql-create-context rows)."""
    from sqlglot import exp

    if tree is None:
        return schema
    tables = {t: list(cols) for t, cols in schema.items()}
    for select in tree.find_all(exp.Select):
        sources, _ = _scope_tables(select)
        names: dict[str, str] = {}
        for t in sources:
            name = t.name.lower()
            tables.setdefault(name, [])
            names[name] = name
            if t.alias:
                names[t.alias.lower()] = name
        if not sources:
            continue
        output_aliases = {e.alias.lower() for e in select.expressions if e.alias}
        for col in _own_columns(select):
            cname = col.name
            if not cname or isinstance(col.this, exp.Star):
                continue
            if col.table:
                owner = names.get(col.table.lower())
            else:
                if cname.lower() in output_aliases or any(
                        cname.lower() == c.name.lower() for t in set(names.values()) for c in tables[t]):
                    continue
                owner = sources[0].name.lower()
            if owner is not None and all(c.name.lower() != cname.lower() for c in tables[owner]):
                tables[owner].append(Column(cname, "TEXT"))
    return {t: tuple(cols) if cols else (Column("id", "INTEGER"),) for t, cols in tables.items()}


def _like_example(pattern: str, rng: random.Random) -> str:
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(rng.choice(("", "x", "ab")))
        elif ch == "_":
            out.append("q")
        else:
            out.append(ch)
    return "".join(out)


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _constants(queries: list[_Query], rng: random.Random) -> tuple[dict[str, tuple[list, list]], list]:
    """Values the queries mention, by the column they are compared with ((exact values, near ones)), and all."""
    from sqlglot import exp

    by_column: dict[str, tuple[list, list]] = {}
    everything: list = []
    for q in queries:
        if q.tree is None:
            continue
        for lit in q.tree.find_all(exp.Literal):
            values: list = []
            parent = lit.parent
            if isinstance(parent, exp.Neg):
                lit_value = "-" + lit.this
                parent = parent.parent
            else:
                lit_value = lit.this
            near: list = []
            if lit.is_string:
                if isinstance(parent, (exp.Like, exp.ILike)):
                    values = [_like_example(lit_value, rng) for _ in range(3)]
                else:
                    values = [lit_value]
                    num = _number(lit_value)
                    if num is not None:
                        near = [num]
            else:
                num = _number(lit_value)
                if num is None:
                    continue
                values, near = [num], [num - 1, num + 1]
            everything.extend(values + near)
            if isinstance(parent, (exp.Limit, exp.Offset)):
                continue
            cols = []
            node = parent
            # `col op literal`, `col IN (...)`, `col BETWEEN a AND b`, `col LIKE ...`
            for _ in range(2):
                if node is None:
                    break
                if isinstance(node, (exp.Binary, exp.In, exp.Between)):
                    cols = [c for c in node.find_all(exp.Column) if c.find_ancestor(exp.Select) is lit.find_ancestor(exp.Select)]
                    if cols:
                        break
                node = node.parent
            for c in cols[:2]:
                exact, close = by_column.setdefault(c.name.lower(), ([], []))
                exact.extend(values)
                close.extend(near)
    return by_column, everything


_WORDS = ("a", "b", "c", "x y", "A", "1", "2", "10")


def _fill(conn: sqlite3.Connection, schema: dict[str, tuple[Column, ...]], by_column: dict[str, tuple[list, list]],
          everything: list, rng: random.Random, rows: int) -> None:
    numbers = [v for v in everything if isinstance(v, (int, float))]
    strings = [v for v in everything if isinstance(v, str)]
    for table, cols in schema.items():
        data = []
        for _ in range(rows):
            row = []
            # A third of the rows take the exact constants in every column the queries compare, so that
            # conjunctions (`a = 1 AND b = 'x'`) hit; the others mix them with near values and random ones.
            hit = rng.random() < 0.35
            for c in cols:
                r = rng.random()
                exact, near = by_column.get(c.name.lower(), ((), ()))
                mentioned = list(exact) + list(near)
                if hit and exact and r > 0.05:
                    v = rng.choice(exact)
                elif r < 0.1:
                    v = None
                elif mentioned and r < 0.6:
                    v = rng.choice(mentioned)
                elif c.type in ("INTEGER", "REAL"):
                    v = rng.choice(numbers) if numbers and r < 0.7 else rng.randint(0, 5)
                    if c.type == "REAL" and rng.random() < 0.3:
                        v = v + 0.5
                else:
                    v = rng.choice(strings) if strings and r < 0.7 else rng.choice(_WORDS)
                row.append(v)
            data.append(row)
            if rng.random() < 0.2:  # whole duplicate rows: DISTINCT must matter
                data.append(list(row))
        rng.shuffle(data)
        cols_sql = ", ".join(f'"{c.name}" {c.type}' for c in cols)
        conn.execute(f'CREATE TABLE "{table}" ({cols_sql})')
        if data:
            marks = ", ".join("?" for _ in cols)
            conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', data)


_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _read_only(action, *_args) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


class _Timeout(Exception):
    pass


def _run(conn: sqlite3.Connection, text: str, timeout_s: float, max_rows: int = 100_000):
    deadline = time.perf_counter() + timeout_s
    conn.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, 2000)
    try:
        cur = conn.execute(text)
        rows = cur.fetchmany(max_rows + 1)
    except sqlite3.OperationalError as e:
        if "interrupted" in str(e):
            raise _Timeout() from None
        raise
    finally:
        conn.set_progress_handler(None, 0)
    if len(rows) > max_rows:
        raise sqlite3.OperationalError("too many rows")
    return rows


def _norm_value(v):
    if isinstance(v, float):
        r = round(v, 6)
        return int(r) if r == int(r) and abs(r) < 1e15 else r
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def _same_result(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    gold = [tuple(_norm_value(v) for v in row) for row in gold]
    pred = [tuple(_norm_value(v) for v in row) for row in pred]
    if len(gold) != len(pred):
        return False
    if not gold:
        return True
    width = len(gold[0])
    if len(pred[0]) != width:
        return False

    def equal(p_rows):
        return p_rows == gold if ordered else Counter(p_rows) == Counter(gold)

    if equal(pred):
        return True
    if width == 1 or width > 6:
        return False
    for perm in itertools.permutations(range(width)):
        if perm == tuple(range(width)):
            continue
        if equal([tuple(row[i] for i in perm) for row in pred]):
            return True
    return False


def execution_match_detail(prediction: str, gold: str, context: str, *, databases: int = 4, timeout_s: float = 1.0,
                           seed: int = 0) -> ExecResult:
    """Run gold and prediction on `databases` random databases built from `context`; see the module's docstring."""
    schema = parse_context(context)
    if not schema:
        return ExecResult(False, "no_schema")
    p = _prepare_query(prediction)
    if p is None:
        return ExecResult(False, "empty")
    g = _prepare_query(gold)
    if g is None:
        return ExecResult(False, "gold_error")
    schema = _complete_schema(schema, g.tree)
    rng = random.Random(zlib.crc32(f"{seed}\x00{gold}\x00{prediction}\x00{context}".encode()))
    by_column, everything = _constants([g, p], rng)
    # Small databases make empty and single-row edge cases likely; the big one makes groups large enough for
    # HAVING count(*) > n and gives INTERSECT / EXCEPT rows on both sides.
    sizes = [3, 8, 15, 40, 25, 12][:databases] + [10] * max(0, databases - 6)
    for size in sizes:
        conn = sqlite3.connect(":memory:")
        try:
            try:
                _fill(conn, schema, by_column, everything, rng, size)
            except sqlite3.Error:
                return ExecResult(False, "no_schema")
            conn.set_authorizer(_read_only)
            try:
                gold_rows = _run(conn, g.text, timeout_s)
            except (sqlite3.Error, _Timeout, ValueError, OverflowError):
                return ExecResult(False, "gold_error")
            try:
                pred_rows = _run(conn, p.text, timeout_s)
            except _Timeout:
                return ExecResult(False, "pred_timeout")
            except (sqlite3.Error, ValueError, OverflowError):
                return ExecResult(False, "pred_error")
            if not _same_result(gold_rows, pred_rows, g.ordered):
                return ExecResult(False, "mismatch")
        finally:
            conn.close()
    return ExecResult(True, "match")


def execution_match(prediction: str, gold: str, context: str, **kw) -> bool:
    return execution_match_detail(prediction, gold, context, **kw).match


# ----------------------------------------------------------------------------------------------
# All three, per example and over a set

def score_pair(prediction: str, reference: str, context: str) -> dict:
    """Per-example verdicts for one prediction; `execution_detail` says why an execution miss missed."""
    ex = execution_match_detail(prediction, reference, context)
    return {
        "exact_match": exact_match(prediction, reference),
        "normalized_match": normalized_match(prediction, reference, context),
        "execution_match": ex.match,
        "execution_detail": ex.reason,
    }


def aggregate(verdicts: list[dict]) -> dict[str, dict]:
    return {name: proportion([bool(v[name]) for v in verdicts]) for name in METRICS}
