"""SQL metrics: equivalent queries written differently match; near misses do not; bad queries are misses."""

from __future__ import annotations

import json

import pytest

from ftwizard.evaluation.sql_metrics import (
    canonical_sql,
    exact_match,
    execution_match,
    execution_match_detail,
    normalized_match,
    parse_context,
    score_pair,
)
from ftwizard.tasks.base import DATA_DIR

CTX = ("CREATE TABLE singer (singer_id INTEGER, name VARCHAR, country VARCHAR, age INTEGER); "
       "CREATE TABLE concert (concert_id INTEGER, singer_id INTEGER, year VARCHAR, stadium VARCHAR)")

# (gold, equivalent forms that must match by normalization AND execution)
EQUIVALENT = [
    ("SELECT count(*) FROM singer", ["SELECT COUNT(*) FROM singer", "select count(*) from SINGER;"]),
    ('SELECT name FROM singer WHERE country = "France" AND age > 20', [
        "SELECT name FROM singer WHERE age > 20 AND country = 'France'",          # AND order, quotes
        "SELECT T1.name FROM singer AS T1 WHERE T1.country = 'France' AND 20 < T1.age",  # alias, operand order
        "SELECT name FROM singer WHERE (country='France') AND (age>20)",           # redundant parentheses
        "select NAME from singer where COUNTRY = 'France' and AGE > 20",           # identifier and keyword case
    ]),
    ("SELECT name FROM singer WHERE country != 'France'", ["SELECT name FROM singer WHERE country <> 'France'"]),
    ("SELECT DISTINCT country FROM singer WHERE age > 20", ["SELECT DISTINCT country FROM singer WHERE 20 < age"]),
    ("SELECT name FROM singer ORDER BY age DESC", ["SELECT name FROM singer ORDER BY age desc"]),
    ('SELECT T2.year FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T1.name = "Ann"', [
        "SELECT concert.year FROM concert JOIN singer ON concert.singer_id = singer.singer_id WHERE singer.name = 'Ann'",
        "SELECT c.year FROM concert c, singer s WHERE s.singer_id = c.singer_id AND s.name = 'Ann'",
        "SELECT T2.year FROM singer AS T1 INNER JOIN concert AS T2 ON T2.singer_id = T1.singer_id WHERE T1.name = 'Ann'",
    ]),
]

# (gold, near misses that must match by neither)
NEAR_MISSES = [
    ("SELECT count(*) FROM singer", ["SELECT count(name) FROM singer", "SELECT count(DISTINCT country) FROM singer"]),
    ("SELECT name FROM singer WHERE country = 'France' AND age > 20", [
        "SELECT country FROM singer WHERE country = 'France' AND age > 20",   # another column
        "SELECT name FROM singer WHERE country = 'Germany' AND age > 20",     # another constant
        "SELECT name FROM singer WHERE country = 'France' AND age > 30",      # another number
        "SELECT name FROM singer WHERE country = 'France' AND age >= 20",     # >= for >
        "SELECT name FROM singer WHERE country = 'France' OR age > 20",       # OR for AND
    ]),
    ("SELECT name FROM singer WHERE age <= 30", ["SELECT name FROM singer WHERE age < 30"]),  # < for <=
    ("SELECT DISTINCT country FROM singer WHERE age > 20", ["SELECT country FROM singer WHERE age > 20"]),  # DISTINCT
    ("SELECT name FROM singer ORDER BY age DESC", [
        "SELECT name FROM singer",                      # a missing ORDER BY where order matters
        "SELECT name FROM singer ORDER BY age",         # the other direction
    ]),
    ("SELECT name FROM singer ORDER BY age DESC LIMIT 1", ["SELECT name FROM singer LIMIT 1"]),
    ("SELECT T2.year FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T1.name = 'Ann'", [
        "SELECT T2.year FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.concert_id WHERE T1.name = 'Ann'",
    ]),
]


@pytest.mark.parametrize("gold,pred", [(g, p) for g, ps in EQUIVALENT for p in ps])
def test_equivalent_queries_match(gold, pred):
    assert normalized_match(pred, gold, CTX), (canonical_sql(pred, CTX), canonical_sql(gold, CTX))
    result = execution_match_detail(pred, gold, CTX)
    assert result.match, result


@pytest.mark.parametrize("gold,pred", [(g, p) for g, ps in NEAR_MISSES for p in ps])
def test_near_misses_do_not_match(gold, pred):
    assert not normalized_match(pred, gold, CTX)
    result = execution_match_detail(pred, gold, CTX)
    assert not result.match and result.reason == "mismatch", result


def test_exact_match_is_the_seeds_whitespace_comparison():
    assert exact_match("SELECT  name\nFROM singer ", "SELECT name FROM singer")
    assert not exact_match("select name from singer", "SELECT name FROM singer")


def test_column_order_does_not_matter_for_execution_but_does_for_normalization():
    gold = "SELECT name, age FROM singer"
    assert execution_match("SELECT age, name FROM singer", gold, CTX)
    assert not normalized_match("SELECT age, name FROM singer", gold, CTX)
    assert not execution_match("SELECT name FROM singer", gold, CTX)


@pytest.mark.parametrize("pred,reason", [
    ("SELECT nonsense FROM singer", "pred_error"),          # a column that does not exist (not a string!)
    ("SELECT name FROM singer WHERE", "pred_error"),        # does not parse
    ("", "empty"),
    ("DROP TABLE singer", "pred_error"),                    # read-only databases
    ("ATTACH DATABASE 'x.db' AS x", "pred_error"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "pred_timeout"),
])
def test_bad_predictions_are_misses_never_crashes(pred, reason, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = execution_match_detail(pred, "SELECT name FROM singer", CTX, timeout_s=0.2)
    assert not result.match and result.reason == reason
    assert not list(tmp_path.iterdir())  # nothing written anywhere
    assert not normalized_match(pred, "SELECT name FROM singer", CTX)


def test_keyword_and_digit_columns_run():
    ctx = 'CREATE TABLE t (order VARCHAR, 2007 VARCHAR, name VARCHAR)'
    gold = "SELECT `2007` FROM t WHERE `order` = 'a'"
    assert execution_match("SELECT `2007` FROM t WHERE 'a' = `order`", gold, ctx)
    assert not execution_match("SELECT name FROM t WHERE `order` = 'a'", gold, ctx)


def test_context_tables_created_twice_are_merged():
    schema = parse_context("CREATE TABLE a (x VARCHAR, Id INTEGER); CREATE TABLE a (id VARCHAR, y INTEGER)")
    assert [c.name for c in schema["a"]] == ["x", "Id", "y"]
    assert [c.type for c in schema["a"]] == ["TEXT", "INTEGER", "INTEGER"]


def test_where_clauses_hit_the_constants():
    # A gold that selects nothing on random data would let any empty-result query match; the constants both
    # queries mention are planted, so the gold returns rows and a wrong constant is caught.
    gold = "SELECT name FROM singer WHERE country = 'Zanzibar' AND age = 77"
    assert execution_match(gold, gold, CTX)
    assert not execution_match("SELECT name FROM singer WHERE country = 'Zanzibar' AND age = 78", gold, CTX)
    assert not execution_match("SELECT name FROM singer WHERE 1 = 0", gold, CTX)


def test_every_gold_query_of_the_seed_eval_set_matches_itself():
    rows = [json.loads(line) for line in open(DATA_DIR / "sql-create-context/spider_create_context_val.jsonl")]
    assert len(rows) == 568
    misses = [r["answer"] for r in rows if not execution_match(r["answer"], r["answer"], r["context"])]
    assert misses == []


def test_score_pair_says_why():
    v = score_pair("SELECT nme FROM singer", "SELECT name FROM singer", CTX)
    assert v == {"exact_match": False, "normalized_match": False, "execution_match": False,
                 "execution_detail": "pred_error", "execution_note": "SQLite: no such column: nme"}
