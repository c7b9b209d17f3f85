"""The schema in a sql-create-context `context`, the keys a reader assumes, and double-quoted names.

Which columns are keys (unique and never NULL in the test databases), in this order, at most one per table
besides the declared ones:

(a) a column declared `PRIMARY KEY` (alone) or `UNIQUE` in the context;
(b) a column named `id`;
(c) an id-like column whose stem names its table and no other. Id-like: the name ends in `id` (`stuid`,
    `AlbumId`, `singer_id`) and its last word is not an English word that ends so (`paid`, `valid`, `acid`, ...
    see `_NOT_ID_WORDS`), or it ends in `code` (`AirportCode`, `template_type_code`: reference tables' keys).
    Stem: the name without `id` / `_id` / `code` / `_code` and underscores; a table's name is read without a
    `Ref_` prefix. The stem names the table when it equals the table's name (without underscores, singular or
    plural) or its last word, or abbreviates its last word (two to four letters, same first letter, letters in
    order: `stuid` in `student`, `apid` in `airports`, `amenid` in `dorm_amenity`); not when another table is
    called by the stem (`transcript_contents.transcript_id` with a `transcripts` table is a foreign key). A table
    with two id-like columns named after its words is a link table (`singer_in_concert`): neither is its key;
(d) else the table's only id-like column when its stem is one or two letters (an abbreviation: `uid`, `aid`,
    `mid`; `dog_id` alone in `treatments` is a foreign key) and no other table holds a column of that name as its
    key;
(e) else a column the gold query joins with a column named after its table plus its own name
    (`country.Code = countrylanguage.CountryCode`).

Every other id-like column, and every column the gold query equates with a key (joins, `IN (SELECT key ...)`),
is a foreign key: never NULL, and drawn from the referenced key's values (a subset of them, so that
`NOT IN` / `NOT EXISTS` / `EXCEPT` / `LEFT JOIN ... IS NULL` have rows to find). An id-like column with nothing to
reference is never NULL and draws from a small pool (so it repeats).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # INTEGER, REAL or TEXT (SQLite affinity of the declared type)
    declared_key: bool = False  # PRIMARY KEY (alone) or UNIQUE in the context
    references: tuple[str, str] | None = None  # (table, column) from REFERENCES, lower case


_CREATE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([`\"\[]?[\w.]+[`\"\]]?)\s*\((.*?)\)\s*(?:;|$)",
                     re.I | re.S)
_CONSTRAINT = re.compile(r"^(PRIMARY\s+KEY|UNIQUE|FOREIGN\s+KEY|CONSTRAINT|CHECK|KEY|INDEX)\b", re.I)
_REFERENCES = re.compile(r"REFERENCES\s+([`\"\[]?\w+[`\"\]]?)\s*(?:\(\s*([`\"\[]?\w+[`\"\]]?)\s*\))?", re.I)
_NAMES_IN_PARENS = re.compile(r"\(([^()]*)\)")


def _unquote(name: str) -> str:
    return name.strip().strip("`\"[]")


def _split_top_level(body: str) -> list[str]:
    """`a INT, b DECIMAL(10,2), PRIMARY KEY (a, b)` -> its three parts (commas inside parentheses kept)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p.strip() for p in parts if p.strip()]


def _affinity(decl: str) -> str:
    decl = decl.upper()
    if "INT" in decl:
        return "INTEGER"
    if any(k in decl for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "REAL"
    return "TEXT"


@lru_cache(maxsize=4096)
def parse_context(context: str) -> dict[str, tuple[Column, ...]]:
    """{table name (lower case): columns} from `CREATE TABLE t (a VARCHAR, b INTEGER); CREATE TABLE ...`.

    A table created twice (sql-create-context does that) gets the union of its columns; SQLite names are
    case-insensitive, so `Id` and `id` are one column.
    """
    tables: dict[str, dict[str, Column]] = {}
    for m in _CREATE.finditer(context or ""):
        table = _unquote(m.group(1)).lower()
        cols = tables.setdefault(table, {})
        table_keys: set[str] = set()
        table_refs: dict[str, tuple[str, str]] = {}
        for part in _split_top_level(m.group(2)):
            c = _CONSTRAINT.match(part)
            if c:
                kind = c.group(1).upper()
                names = _NAMES_IN_PARENS.search(part)
                listed = [_unquote(n).lower() for n in names.group(1).split(",")] if names else []
                if (kind.startswith("PRIMARY") or kind == "UNIQUE") and len(listed) == 1:
                    table_keys.add(listed[0])
                elif kind.startswith("FOREIGN") and len(listed) == 1:
                    ref = _REFERENCES.search(part)
                    if ref:
                        table_refs[listed[0]] = (_unquote(ref.group(1)).lower(), _unquote(ref.group(2) or listed[0]).lower())
                continue
            bits = part.split()
            name = _unquote(bits[0])
            if not name or name.lower() in cols:
                continue
            decl = " ".join(bits[1:])
            ref = _REFERENCES.search(decl)
            cols[name.lower()] = Column(
                name, _affinity(decl.split("REFERENCES")[0] if ref else decl),
                declared_key=bool(re.search(r"\bPRIMARY\s+KEY\b|\bUNIQUE\b", decl, re.I)),
                references=(_unquote(ref.group(1)).lower(), _unquote(ref.group(2) or name).lower()) if ref else None,
            )
        for lname, col in list(cols.items()):
            if lname in table_keys or lname in table_refs:
                cols[lname] = Column(col.name, col.type, col.declared_key or lname in table_keys,
                                     col.references or table_refs.get(lname))
    return {t: tuple(c.values()) for t, c in tables.items() if c}


# ----------------------------------------------------------------------------------------------
# Keys

_NOT_ID_WORDS = ("paid", "valid", "void", "acid", "rapid", "fluid", "solid", "liquid", "humid", "kid", "lid",
                 "grid", "hybrid", "android", "squid", "pyramid", "maid", "raid", "braid", "said", "druid",
                 "vivid", "timid", "candid", "stupid", "lucid", "placid", "morbid", "orchid", "tabloid", "avoid",
                 "steroid", "asteroid", "humanoid", "overlaid", "unpaid", "prepaid", "repaid")


def is_id_like(name: str) -> bool:
    """`id`, `..._id`, a name ending in `id` whose last word is no English word ending so (`amount_paid` is not),
    or a code (`..._code`, `AirportCode`: the keys of reference tables)."""
    n = name.lower()
    if n == "id" or n.endswith(("_id", "code")):
        return True
    if not n.endswith("id") or len(n) < 3:
        return False
    last = re.split(r"[_\W]+", n)[-1]
    return not any(last.endswith(w) for w in _NOT_ID_WORDS)


def _stem(name: str) -> str:
    n = name.lower()
    for suffix in ("_id", "_code", "code", "id"):
        if n.endswith(suffix) and len(n) > len(suffix):
            n = n[:-len(suffix)]
            break
    return n.replace("_", "")


def _table_words(table: str) -> list[str]:
    """A table's words, without a `ref_` prefix (`Ref_template_types` is the reference table of template types)."""
    words = [w for w in table.split("_") if w]
    return words[1:] if len(words) > 1 and words[0] == "ref" else words


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def _names_whole(stem: str, table: str) -> bool:
    whole = "".join(_table_words(table))
    return stem in (whole, _singular(whole)) or _singular(stem) in (whole, _singular(whole))


def _names_table(stem: str, table: str) -> bool:
    """Whether an id column's stem names `table` (see the module docstring, rule (c))."""
    if not stem:
        return False
    if _names_whole(stem, table):
        return True
    words = _table_words(table)
    last = words[-1] if words else ""
    if len(words) > 1 and (stem in (last, _singular(last)) or _singular(stem) in (last, _singular(last))):
        return True
    return 2 <= len(stem) <= 4 and bool(last) and last[0] == stem[0] and _is_subsequence(stem, last)


def own_keys(schema: dict[str, tuple[Column, ...]], joins: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = ()
             ) -> dict[str, set[str]]:
    """{table: the lower-case names of its key columns} by rules (a)-(e) of the module docstring.

    `joins`: pairs of (table, column) the gold query equates, for rule (e).
    """
    keys: dict[str, set[str]] = {}
    named: dict[str, str] = {}  # table -> key chosen by (b) or (c)
    for table, cols in schema.items():
        keys[table] = {c.name.lower() for c in cols if c.declared_key}
        if keys[table]:
            continue
        lower = [c.name.lower() for c in cols]
        if "id" in lower:
            named[table] = "id"
            continue
        by_name = [n for n in lower if is_id_like(n) and _names_table(_stem(n), table)
                   and not any(_names_whole(_stem(n), other) for other in schema if other != table)]
        words = {f for w in _table_words(table) for f in (w, _singular(w))}
        linking = [n for n in lower if is_id_like(n) and (_stem(n) in words or _singular(_stem(n)) in words)]
        if len(by_name) == 1 and len(linking) < 2:
            named[table] = by_name[0]
    for table, key in named.items():
        keys[table].add(key)
    held = {k for t, ks in keys.items() for k in ks}
    for table, cols in schema.items():
        if keys[table]:
            continue
        id_like = [c.name.lower() for c in cols if is_id_like(c.name)]
        if len(id_like) == 1 and len(_stem(id_like[0])) <= 2 and id_like[0] not in held:
            keys[table].add(id_like[0])
    for (t1, c1), (t2, c2) in joins:
        for (ta, ca), (tb, cb) in (((t1, c1), (t2, c2)), ((t2, c2), (t1, c1))):
            if ta in keys and not keys[ta] and ta != tb and cb.replace("_", "") in (
                    ta.replace("_", "") + ca.replace("_", ""), _singular(ta.replace("_", "")) + ca.replace("_", "")):
                keys[ta].add(ca)
    return keys


# ----------------------------------------------------------------------------------------------
# Double-quoted names

def schema_names(schema: dict[str, tuple[Column, ...]]) -> frozenset[str]:
    return frozenset(set(schema) | {c.name.lower() for cols in schema.values() for c in cols})


def resolve_double_quotes(sql: str, names: frozenset[str]) -> str:
    """`"Name"` becomes the identifier `Name` when the schema has a table or column of that name (as SQLite reads
    it); every other double-quoted text stays a string (Spider writes its strings so: `WHERE name = "Ann"`)."""
    if '"' not in sql or not names:
        return sql

    def one(m: re.Match) -> str:
        token = m.group(0)
        inner = token[1:-1]
        if token[0] == '"' and inner.lower() in names and "`" not in inner:
            return f"`{inner}`"
        return token

    return _QUOTED.sub(one, sql)


_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`[^`]*`")
