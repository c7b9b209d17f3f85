"""Normalized match: both queries in one canonical form (sqlglot), equal texts mean equivalent queries.

Identifiers lower case and unquoted, table aliases replaced by table names, needless qualifiers dropped, inner
joins as a sorted table list with their conditions in WHERE, AND / OR operands and `=` / `!=` sides sorted, then
sqlglot's `simplify` (skipped on trees of more than `MAX_SIMPLIFY_NODES` nodes: its cost grows faster than the
query, and no real query comes near the limit).
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from .limits import MAX_QUERY_CHARS, MAX_SIMPLIFY_NODES
from .schema import Column, parse_context, resolve_double_quotes, schema_names


def parse(sql: str):
    """A fresh tree for `sql` (callers may change it), or None when it does not parse."""
    tree = parse_shared(sql)
    return None if tree is None else tree.copy()


@lru_cache(maxsize=4096)
def parse_shared(sql: str):
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


def scope_tables(select) -> tuple[list, int]:
    """(the tables in a SELECT's FROM and JOINs, the number of sources including subqueries)."""
    from sqlglot import exp

    sources = []
    frm = select.args.get("from_") or select.args.get("from")
    if frm is not None:
        sources.append(frm.this)
    for j in select.args.get("joins") or []:
        sources.append(j.this)
    return [s for s in sources if isinstance(s, exp.Table)], len(sources)


def own_columns(select):
    """The columns of a SELECT that belong to it (not to a subquery inside it)."""
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
        tables, n_sources = scope_tables(select)
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
        for col in own_columns(select):
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

    if sum(1 for _ in tree.walk()) <= MAX_SIMPLIFY_NODES:
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
    """A canonical text for a query (None when it does not parse): equal texts mean equivalent queries.

    With a context, double-quoted names of its tables and columns are identifiers (see `resolve_double_quotes`).
    """
    schema = parse_context(context) if context else None
    if schema:
        sql = resolve_double_quotes(sql, schema_names(schema))
    tree = parse(sql)
    if tree is None:
        return None
    try:
        tree = _canonical_tree(tree, schema)
        return tree.sql(dialect="sqlite", normalize_functions="upper")
    except Exception:  # noqa: BLE001 - a tree sqlglot cannot write back counts as unparseable
        return None


def normalized_match(prediction: str, gold: str, context: str | None = None) -> bool:
    """Equal canonical forms; a prediction or a reference over `MAX_QUERY_CHARS` is not read (a miss: sqlglot's
    work grows faster than the text, a 600 KB reference took two minutes)."""
    if len(prediction or "") > MAX_QUERY_CHARS or len(gold or "") > MAX_QUERY_CHARS:
        return False
    p = canonical_sql(prediction, context)
    return p is not None and p == canonical_sql(gold, context)
