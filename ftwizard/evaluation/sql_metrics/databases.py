"""Test databases for execution match, built from the gold query and the context only (never the prediction).

What the gold query says about the data (`read_facts`): the constants each column is compared with and how, the
LIKE patterns, which columns are numbers, which columns it equates (joins, `IN (SELECT ...)`, the columns of
INTERSECT / EXCEPT / UNION sides), the `HAVING count(*)` thresholds and the largest LIMIT.

How a database is filled (`build_databases`), per column:
- keys (see `schema.own_keys`): distinct, never NULL, the gold's constants for them included;
- foreign keys: values of the referenced key (a random subset of them, so some keys are never referenced);
- compared columns: each constant and its neighbours on both sides of the boundary (`> 10`: 9, 10, 11; BETWEEN
  both ends), a spread of values near and far (`v +- 2, 5, 10, 30`, `2v`, `3v`, `v/2`, 0) so two different
  thresholds (`> 20` vs `> 50`) have rows between them, and for LIKE patterns words that match as prefix,
  infix, suffix and the whole (`'x%'` and `'%x%'` then differ);
- columns the gold equates without a key: one shared pool of values (joins find partners);
- every other column: a small pool (repeats: DISTINCT matters), numbers for numeric columns.
Some rows ("hit rows") take, in every compared column, a value that satisfies the gold's comparison, so the gold
returns rows and a wrong constant shows. Tables without a key get whole duplicate rows. The variants (`VARIANTS`,
tried in order, built only as far as a prediction needs) differ in size, NULLs (never in key or id-like columns)
and hit rate, and each adds one probe:
- boundary: three probe rows per inequality constant, exactly on the boundary, with the other compared columns
  true (first or last satisfying value, for AND) or false (for OR) and the uncompared numbers larger than any other, so `>` vs `>=` shows even
  under max / sum / avg;
- groups (when the gold has `HAVING count(*) op N`): groups of N-1, N and N+1 rows, planted in the foreign keys
  that reference the grouped table (`>= 10` vs `> 10` then differ);
- typical and small: a column compared with a subquery (`age > (SELECT avg(age) ...)`) holds one value per table,
  so `>` and `>=` differ; small has 1-3 rows per table (empty and single-row edge cases).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterator

from .canonical import own_columns, scope_tables
from .limits import MAX_CONSTANTS_PER_COLUMN
from .schema import Column, is_id_like, own_keys

TC = tuple[str, str]  # (table, column), lower case

MAX_GROUP_THRESHOLD = 200  # HAVING count(*) > N plants groups of about N rows for N up to this
_WORDS = ("a", "b", "c", "x y", "A", "1", "2", "10")


@dataclass
class Facts:
    schema: dict[str, tuple[Column, ...]]
    keys: dict[str, set[str]] = field(default_factory=dict)
    comparisons: dict[TC, list[tuple[str, Any]]] = field(default_factory=dict)
    likes: dict[TC, list[str]] = field(default_factory=dict)
    numeric: set[TC] = field(default_factory=set)
    links: list[tuple[TC, TC]] = field(default_factory=list)
    thresholds: list[tuple[TC | None, list[int]]] = field(default_factory=list)
    vs_query: set[TC] = field(default_factory=set)  # columns compared with a subquery (`age > (SELECT avg(age) ...)`)
    strings: list[str] = field(default_factory=list)
    numbers: list = field(default_factory=list)
    limit: int = 0


_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "=", "!=": "!="}


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _literal(node):
    """The value of a literal (`-3` included) or None."""
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        num = _number(str(node.this.this))
        return None if num is None else -num
    if isinstance(node, exp.Literal):
        return str(node.this) if node.is_string else _number(str(node.this))
    return None


class _Resolver:
    """(table, column) for a column reference of the gold query: aliases and unqualified names resolved by scope."""

    def __init__(self, tree, schema):
        from sqlglot import exp

        self.schema = schema
        self.scopes: dict[int, tuple[dict[str, str], list[str]]] = {}
        for sel in tree.find_all(exp.Select):
            tables, _ = scope_tables(sel)
            amap: dict[str, str] = {}
            for t in tables:
                amap[t.name.lower()] = t.name.lower()
                if t.alias:
                    amap[t.alias.lower()] = t.name.lower()
            self.scopes[id(sel)] = (amap, [t.name.lower() for t in tables])

    def __call__(self, col) -> TC | None:
        from sqlglot import exp

        if not isinstance(col, exp.Column) or isinstance(col.this, exp.Star):
            return None
        name = col.name.lower()
        sel = col.find_ancestor(exp.Select)
        first = None
        while sel is not None:
            amap, tabs = self.scopes.get(id(sel), ({}, []))
            if first is None and tabs:
                first = tabs[0]
            if col.table:
                if col.table.lower() in amap:
                    return amap[col.table.lower()], name
            else:
                for t in tabs:
                    if any(c.name.lower() == name for c in self.schema.get(t, ())):
                        return t, name
            sel = sel.parent.find_ancestor(exp.Select) if sel.parent is not None else None
        if not col.table and first is not None:
            return first, name
        return None


def complete_schema(schema: dict[str, tuple[Column, ...]], tree) -> dict[str, tuple[Column, ...]]:
    """Add the tables and columns the gold query uses but the context lacks (a few sql-create-context rows)."""
    from sqlglot import exp

    if tree is None:
        return schema
    tables = {t: list(cols) for t, cols in schema.items()}
    for select in tree.find_all(exp.Select):
        sources, _ = scope_tables(select)
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
        for col in own_columns(select):
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


def read_facts(tree, schema: dict[str, tuple[Column, ...]]) -> Facts:
    from sqlglot import exp

    facts = Facts(schema=schema)
    if tree is None:
        facts.keys = own_keys(schema)
        return facts
    resolve = _Resolver(tree, schema)
    cmp_ops = {exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}

    def first_column(node):
        if isinstance(node, exp.Column):
            return node
        return next((c for c in node.find_all(exp.Column) if not isinstance(c.this, exp.Star)), None)

    def note(target, op, value):
        if isinstance(target, exp.Count) or (isinstance(target, exp.Paren) and isinstance(target.this, exp.Count)):
            if isinstance(value, int) and target.find_ancestor(exp.Having) is not None:
                _threshold(target, op, [value])
            return
        col = first_column(target)
        tc = resolve(col) if col is not None else None
        if tc is None:
            return
        comps = facts.comparisons.setdefault(tc, [])
        if len(comps) >= MAX_CONSTANTS_PER_COLUMN:
            return
        comps.append((op, value))
        numeric_value = isinstance(value, (int, float)) or (op not in ("=", "!=") and _number(value) is not None)
        if numeric_value and (op not in ("=", "!=") or isinstance(target, (exp.Sum, exp.Avg))):
            facts.numeric.add(tc)

    def _threshold(count_node, op, values):
        sel = count_node.find_ancestor(exp.Select)
        group = sel.args.get("group") if sel is not None else None
        tc = None
        if group is not None:
            for g in group.expressions:
                c = first_column(g)
                if c is not None and (tc := resolve(c)) is not None:
                    break
        n = values[0]
        sizes = sorted({max(1, v) for v in values for v in (v - 1, v, v + 1)} if len(values) == 1
                       else {max(1, v) for v in (values[0] - 1, values[0], values[-1], values[-1] + 1)})
        if max(sizes) <= MAX_GROUP_THRESHOLD + 1 and n >= 0:
            facts.thresholds.append((tc, sizes))

    kinds = {"cmp": [], "in": [], "between": [], "like": [], "arith": [], "setop": [], "literal": []}
    cmp_types, arith = tuple(cmp_ops), (exp.Sum, exp.Avg, exp.Add, exp.Sub, exp.Mul, exp.Div)
    for node in tree.walk():  # one pass over the tree, sorted by kind
        if isinstance(node, exp.Literal):
            kinds["literal"].append(node)
        elif isinstance(node, cmp_types):
            kinds["cmp"].append(node)
        elif isinstance(node, exp.In):
            kinds["in"].append(node)
        elif isinstance(node, exp.Between):
            kinds["between"].append(node)
        elif isinstance(node, (exp.Like, exp.ILike)):
            kinds["like"].append(node)
        elif isinstance(node, arith):
            kinds["arith"].append(node)
        elif isinstance(node, exp.SetOperation):
            kinds["setop"].append(node)
    for node in kinds["cmp"]:
        left, right = node.this, node.expression
        op = cmp_ops[type(node)]
        lv, rv = _literal(left), _literal(right)
        if lv is not None and rv is None:
            left, right, lv, rv, op = right, left, rv, lv, _FLIP[op]
        if rv is not None:
            note(left, op, rv)
        elif op == "=" and isinstance(left, exp.Column) and isinstance(right, exp.Column):
            a, b = resolve(left), resolve(right)
            if a and b and a != b:
                facts.links.append((a, b))
        elif lv is None:
            for side, other in ((left, right), (right, left)):
                if isinstance(side, exp.Column) and other.find(exp.Select) is not None:
                    if (tc := resolve(side)) is not None:
                        facts.vs_query.add(tc)
    for node in kinds["in"]:
        target = node.this
        values = [_literal(e) for e in node.expressions]
        for v in values:
            if v is not None:
                note(target, "=", v)
        query = node.args.get("query")
        if query is not None:
            inner = query.this if isinstance(query, exp.Subquery) else query
            sel = inner if isinstance(inner, exp.Select) else inner.find(exp.Select)
            if sel is not None and sel.expressions and isinstance(target, exp.Column):
                a, b = resolve(target), resolve(sel.expressions[0].unalias())
                if a and b and a != b:
                    facts.links.append((a, b))
    for node in kinds["between"]:
        lo, hi = _literal(node.args.get("low")), _literal(node.args.get("high"))
        if lo is not None and hi is not None:
            target = node.this
            if isinstance(target, exp.Count):
                if isinstance(lo, int) and isinstance(hi, int):
                    _threshold(target, "between", [lo, hi])
            else:
                note(target, ">=", lo)
                note(target, "<=", hi)
    for node in kinds["like"]:
        pattern = _literal(node.expression)
        col = first_column(node.this)
        tc = resolve(col) if col is not None else None
        if isinstance(pattern, str) and tc is not None and len(facts.likes.get(tc, ())) < MAX_CONSTANTS_PER_COLUMN:
            facts.likes.setdefault(tc, []).append(pattern)
    for node in kinds["arith"]:
        for c in node.find_all(exp.Column):
            if (tc := resolve(c)) is not None:
                facts.numeric.add(tc)
    for node in kinds["setop"]:
        left, right = node.this, node.expression
        if isinstance(left, exp.Select) and isinstance(right, exp.Select):
            for a, b in zip(left.expressions, right.expressions):
                a, b = a.unalias(), b.unalias()
                if isinstance(a, exp.Column) and isinstance(b, exp.Column):
                    ra, rb = resolve(a), resolve(b)
                    if ra and rb and ra != rb:
                        facts.links.append((ra, rb))
    for lit in kinds["literal"]:
        v = _literal(lit)
        if isinstance(lit.parent, (exp.Limit, exp.Offset)):
            if isinstance(v, int):
                facts.limit = max(facts.limit, v)
            continue
        if isinstance(v, str) and len(facts.strings) < MAX_CONSTANTS_PER_COLUMN:
            facts.strings.append(v)
        elif v is not None and not isinstance(v, str) and len(facts.numbers) < MAX_CONSTANTS_PER_COLUMN:
            facts.numbers.append(v)
    facts.keys = own_keys(schema, tuple(facts.links))
    return facts


# ----------------------------------------------------------------------------------------------
# Values

def _like_examples(pattern: str) -> tuple[list[str], list[str]]:
    """(words the LIKE pattern matches: the whole, and as a prefix / infix / suffix where it allows; words it does
    not: the same core where the pattern forbids it, and in another case: LIKE ignores ASCII case, `=` does not)."""
    lead, trail = pattern.startswith("%"), pattern.endswith("%") and len(pattern) > 1
    inner = pattern[int(lead):len(pattern) - int(trail)]
    core = "q".join(part.replace("_", "q") for part in inner.split("%"))
    forms = {core: True, core + "zz": trail, "zz" + core: lead, "zz" + core + "zz": lead and trail,
             core.swapcase(): True}
    matching = [w for w, ok in forms.items() if ok and w]
    others = [w for w, ok in forms.items() if not ok and w]
    return matching, others


def _satisfying(op: str, v):
    """A value that makes `col op v` true."""
    if op in ("=", ">=", "<="):
        return v
    if isinstance(v, str):
        num = _number(v)
        if num is None:
            return v + "z" if op in (">", "!=") else (v[:-1] if v else None)
        v = num
    if op in (">", "!="):
        return v + 1
    return v - 1


def _near(v) -> list:
    if isinstance(v, str):
        num = _number(v)
        if num is not None:
            return [v] + _near(num)
        # longer and shorter texts holding it, and another case: `= 'x'`, `LIKE '%x%'`, `LIKE 'x'` then differ
        return [v, v + " b", "a " + v, v.swapcase()] + ([v.split()[0]] if " " in v.strip() else [])
    step = 0.5 if isinstance(v, float) and v != int(v) else 1
    out = [v - step, v, v + step]
    scale = max(1, abs(v) // 20) if isinstance(v, int) else 1
    for d in (2, 5, 10, 30):
        out += [v - d * scale, v + d * scale]
    out += [2 * v, 3 * v, v // 2 if isinstance(v, int) else v / 2, 0]
    return out


@dataclass(frozen=True)
class Variant:
    name: str
    size: tuple[int, int]
    nulls: float
    hit: float
    groups: bool = False  # plant groups around the HAVING count(*) thresholds
    extremes: bool = False  # probe rows on each inequality's boundary, with the largest other numbers
    flat: bool = False  # columns compared with a subquery hold one value per table (avg = min = max)


VARIANTS = (  # in the order they are tried: the ones that catch most near misses first
    Variant("boundary", (20, 30), 0.08, 0.3, extremes=True),
    Variant("groups", (12, 18), 0.04, 0.35, groups=True),
    Variant("typical", (8, 14), 0.0, 0.4, flat=True),
    Variant("small", (1, 3), 0.1, 0.5, flat=True),
    Variant("wide", (30, 40), 0.05, 0.25),
)


@dataclass
class Database:
    """One test database: CREATE TABLE statements and rows, ready to load."""

    variant: str
    tables: list[tuple[str, list[Column], list[str], list[list]]]  # (name, columns, declared types, rows)


class _Plan:
    """Per-column value sources, shared by every variant of one gold query."""

    def __init__(self, facts: Facts, rng: random.Random):
        self.facts = facts
        schema, keys = facts.schema, facts.keys
        self.is_key = {(t, c.name.lower()) for t, cols in schema.items() for c in cols if c.name.lower() in keys[t]}
        self.fk: dict[TC, TC] = {}
        parent = {}

        def find(x):
            while parent.get(x, x) != x:
                x = parent[x]
            return x

        for a, b in facts.links:
            if a in self.is_key and b not in self.is_key:
                self.fk.setdefault(b, a)
            elif b in self.is_key and a not in self.is_key:
                self.fk.setdefault(a, b)
            elif a not in self.is_key and b not in self.is_key:
                parent[find(a)] = find(b)
        key_by_name: dict[str, TC] = {}
        for tc in sorted(self.is_key):
            key_by_name.setdefault(tc[1], tc)
        for t, cols in schema.items():
            for c in cols:
                tc = (t, c.name.lower())
                if tc in self.is_key or tc in self.fk:
                    continue
                if c.references and c.references in self.is_key:
                    self.fk[tc] = c.references
                elif is_id_like(c.name) and tc[1] in key_by_name and key_by_name[tc[1]][0] != t:
                    self.fk[tc] = key_by_name[tc[1]]
        self.domain = {tc: find(tc) for tc in parent}
        self.numeric = set(facts.numeric)
        for t, cols in schema.items():
            for c in cols:
                if c.type in ("INTEGER", "REAL"):
                    self.numeric.add((t, c.name.lower()))
        # constants of a domain (a key with its foreign keys, or columns sharing a pool) are its members'
        self.members: dict[TC, list[TC]] = {}
        for t, cols in schema.items():
            for c in cols:
                tc = (t, c.name.lower())
                self.members.setdefault(self.root(tc), []).append(tc)
        self.exact: dict[TC, list] = {}
        self.hit: dict[TC, list] = {}
        self.near: dict[TC, list] = {}
        self.pool: dict[TC, list] = {}
        numbers = [v for v in facts.numbers if isinstance(v, (int, float))]
        for root, members in self.members.items():
            exact, hit, near = [], [], []
            for m in members:
                for op, v in facts.comparisons.get(m, ()):
                    exact.append(v)
                    s = _satisfying(op, v)
                    if s is not None:
                        hit.append(s)
                    near += _near(v)
                for p in facts.likes.get(m, ()):
                    matching, others = _like_examples(p)
                    exact += matching + others
                    hit += matching
                    near += matching + others
            numeric = any(m in self.numeric for m in members)
            if numeric:
                near = [_number(v) if isinstance(v, str) and _number(v) is not None else v for v in near]
                spread = near or [rng.randint(0, 60) for _ in range(12)] + numbers
                if any(self._type(m) == "REAL" for m in members):
                    spread = spread + [x + 0.5 for x in spread[:6] if isinstance(x, int)]
            else:
                spread = near + list(_WORDS) + facts.strings
            self.exact[root] = exact
            self.hit[root] = hit
            self.near[root] = near
            self.pool[root] = spread or list(_WORDS)

    def root(self, tc: TC) -> TC:
        return self.fk.get(tc) or self.domain.get(tc, tc)

    def _type(self, tc: TC) -> str:
        for c in self.facts.schema.get(tc[0], ()):
            if c.name.lower() == tc[1]:
                return c.type
        return "TEXT"

    def declared(self, tc: TC) -> str:
        """The type the test table declares: numbers in NUMERIC columns even when the context says VARCHAR."""
        t = self._type(tc)
        if t != "TEXT":
            return t
        if tc in self.numeric or tc in self.is_key or tc in self.fk or self.root(tc) in self.is_key:
            return "NUMERIC"
        return "TEXT"

    def key_values(self, tc: TC, n: int, rng: random.Random) -> list:
        """`n` distinct values for a key: its domain's constants and their neighbours first, then 1, 2, ..."""
        wanted = []
        for v in self.exact.get(tc, []) + self.hit.get(tc, []) + self.near.get(tc, []):
            num = _number(v) if isinstance(v, str) else v
            wanted.append(num if num is not None else v)
        values = list(dict.fromkeys(wanted))[:n]
        i = 1
        while len(values) < n:
            if i not in values:
                values.append(i)
            i += 1
        rng.shuffle(values)
        return values


def iter_databases(facts: Facts, rng: random.Random, count: int) -> Iterator[Database]:
    """`count` test databases, built one by one (a prediction that fails on the first needs no more)."""
    plan = _Plan(facts, rng)
    variants = [v for v in VARIANTS if not v.groups or facts.thresholds]
    for i in range(count):
        yield _build_one(plan, variants[i % len(variants)], rng)


def _build_one(plan: _Plan, variant: Variant, rng: random.Random) -> Database:
    facts = plan.facts
    schema = facts.schema
    sizes: dict[str, int] = {}
    planned: dict[str, list[tuple[TC, Any, int]]] = {}
    for t in schema:
        lo, hi = variant.size
        n = rng.randint(lo, hi)
        if variant.name != "small" and facts.limit:
            n = max(n, min(facts.limit + 2, 300))
        sizes[t] = n
    # Probe rows (extremes variant): three per inequality constant, the column exactly on the boundary, the other
    # compared columns on their first or last satisfying values (for AND) or off them (for OR), uncompared numbers larger than
    # anything else (so max / sum / avg show the row) and uncompared texts of their own (so UNION / EXCEPT do)
    probes: dict[str, list[tuple[TC, Any, int | None]]] = {}
    if variant.extremes:
        for tc, comps in facts.comparisons.items():
            if tc[0] in schema:
                for op, v in comps:
                    if op in ("<", "<=", ">", ">=") and len(probes.get(tc[0], ())) < 9:
                        v = _number(v) if isinstance(v, str) and _number(v) is not None else v
                        # with the other comparisons true (AND) and false (OR)
                        probes.setdefault(tc[0], []).extend([(tc, v, 0), (tc, v, 1), (tc, v, None)])
        for t, ps in probes.items():
            sizes[t] += len(ps)
    unique: set[TC] = set()  # group columns given a distinct value per row (their groups are counted elsewhere)
    if variant.groups:
        for tc, group_sizes in facts.thresholds:
            if tc is None:
                continue
            # Groups of a table that other tables reference are counted in those tables' rows: plant the group
            # sizes in the foreign keys, and give the group column distinct values (no two groups merge).
            fks = [f for f, k in plan.fk.items() if k[0] == tc[0] and f[0] != tc[0]]
            if fks or tc in plan.is_key:
                targets = fks or [tc]
                if tc not in plan.is_key and tc not in facts.comparisons:
                    unique.add(tc)
            else:
                targets = [tc]
            for target in targets:
                planned.setdefault(target[0], []).extend((target, i, s) for i, s in enumerate(group_sizes))
        for t, groups in planned.items():
            sizes[t] = max(sizes[t], sum(s for _, _, s in groups) + 2)
    keys: dict[TC, list] = {}
    for tc in sorted(plan.is_key):  # sorted: the same databases in every process (set order varies)
        keys[tc] = plan.key_values(tc, sizes[tc[0]], rng)
    referenced: dict[TC, list] = {}
    for tc, values in keys.items():
        k = max(1, round(len(values) * 0.7)) if len(values) > 1 else 1
        referenced[tc] = rng.sample(values, k)
    tables = []
    for t, cols in schema.items():
        n = sizes[t]
        tcs = [(t, c.name.lower()) for c in cols]
        plan_rows: list[dict[TC, Any]] = []
        used: dict[TC, set] = {}
        for target, index, size in planned.get(t, ()):
            root = plan.root(target)
            if root in referenced:
                pool = referenced[root]
                value = pool[index % len(pool)]
            else:
                value = f"g{index}" if plan.declared(target) == "TEXT" else 1000 + index
            used.setdefault(target, set()).add(value)
            plan_rows += [{target: value} for _ in range(size)]
        # One value source per column, decided once: (kind, values)
        sources = []
        for c, tc in zip(cols, tcs):
            root = plan.root(tc)
            if tc in keys:
                sources.append(("key", keys[tc], None, None))
            elif tc in unique:
                sources.append(("unique", "u" if plan.declared(tc) == "TEXT" else 10_000, None, None))
            elif root in referenced:
                others = [x for x in referenced[root] if x not in used.get(tc, ())]
                sources.append(("choice", others or referenced[root], None, None))
            else:
                nulls = variant.nulls if not is_id_like(c.name) else 0.0
                sources.append(("value", plan.pool[root], plan.hit.get(root) or None,
                                (nulls, plan.exact.get(root) or None)))
        table_probes = probes.get(t, [])
        first_probe = n - len(table_probes)
        linked = {tc for link in facts.links for tc in link}
        extreme = [src[0] == "value" and tc not in facts.comparisons and tc not in facts.vs_query
                   and tc not in facts.likes and (plan.declared(tc) != "TEXT" or tc not in linked)
                   for tc, src in zip(tcs, sources)]
        off_hits = [[x for x in src[1] if x not in src[2]] if src[0] == "value" and src[2] else None
                    for src in sources]
        flat_values: dict[int, Any] = {}
        has_key = any(tc in keys for tc in tcs)
        random_, choice = rng.random, rng.choice
        rows = []
        for i in range(n):
            fixed = plan_rows[i] if i < len(plan_rows) else None
            hit = fixed is not None or (i < first_probe and random_() < variant.hit)
            row = []
            for tc, (kind, values, hits, extra) in zip(tcs, sources):
                if fixed is not None and tc in fixed:
                    v = fixed[tc]
                elif kind == "key":
                    v = values[i]
                elif kind == "choice":
                    v = choice(values)
                elif kind == "unique":
                    v = f"u{i}" if values == "u" else values + i
                elif hit and hits:
                    v = choice(hits)
                elif extra[0] and random_() < extra[0]:
                    v = None
                elif extra[1] and random_() < 0.3:
                    v = choice(extra[1])
                else:
                    v = choice(values)
                if variant.flat and tc in facts.vs_query:
                    v = flat_values.setdefault(len(row), v)
                row.append(v)
            if i >= first_probe:
                probe_tc, probe_value, others_true = table_probes[i - first_probe]
                for j, tc in enumerate(tcs):
                    if tc == probe_tc:
                        row[j] = probe_value
                    elif extreme[j]:
                        row[j] = f"p{i}" if plan.declared(tc) == "TEXT" else 1_000_000 + i
                    elif others_true is not None and sources[j][0] == "value" and sources[j][2]:
                        hits = sources[j][2]  # the first and the last satisfying value (`x = 'a' OR x = 'b'`)
                        row[j] = hits[0] if others_true == 0 else hits[-1]
                    elif others_true is None and off_hits[j]:
                        row[j] = choice(off_hits[j])
            rows.append(row)
            if not has_key and fixed is None and random_() < 0.2:
                rows.append(list(row))  # whole duplicate rows: DISTINCT must matter
        rng.shuffle(rows)
        tables.append((t, list(cols), [plan.declared(tc) for tc in tcs], rows))
    return Database(variant.name, tables)
