"""One money format: `ftwizard.fmt` owns how dollars read; no other module formats a `$` itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ftwizard.fmt import rate, usd

PACKAGE = Path(__file__).resolve().parents[1] / "ftwizard"


@pytest.mark.parametrize("value, shown", [
    (None, "-"),
    (0, "$0.00"),
    (0.0, "$0.00"),
    (0.00004, "<$0.0001"),
    (0.0012, "$0.0012"),
    (0.004, "$0.0040"),
    (0.00996, "$0.010"),   # chosen on the amount as shown: never "$0.0100"
    (0.01, "$0.010"),
    (0.052, "$0.052"),
    (0.0996, "$0.10"),     # never "$0.100"
    (0.1, "$0.10"),
    (0.5, "$0.50"),
    (11.99, "$11.99"),
    (26.06, "$26.06"),
    (456.0, "$456.00"),
    (999.996, "$1,000"),   # never "$1,000.00"
    (1234.4, "$1,234"),
    (1_234_567.0, "$1,234,567"),
    (-3.5, "-$3.50"),
    (-0.004, "-$0.0040"),
])
def test_one_rule_for_every_amount(value, shown):
    assert usd(value) == shown


def test_unpriced_is_a_word_never_zero_dollars():
    assert usd(None, unpriced="unpriced") == "unpriced"
    assert usd(None, unpriced="?") == "?"
    assert rate(None, "h") == "-"


def test_a_unit_price_reads_as_published():
    assert rate(0.475, "h") == "$0.475/h"
    assert rate(3.29, "h") == "$3.29/h"
    assert rate(25.0, "1M") == "$25/1M"
    assert rate(0.8, "1M") == "$0.8/1M"


def _own_money_formats(path: Path) -> list[str]:
    """Every place in a module that writes a `$` before a formatted value, or a sub-cent word of its own."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for before, after in zip(node.values, node.values[1:]):
                if (isinstance(before, ast.Constant) and isinstance(before.value, str)
                        and before.value.endswith("$") and isinstance(after, ast.FormattedValue)):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: f-string '${{...}}'")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "<$0." in node.value:
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}")
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Constant)
              and node.left.value == "$"):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: '$' + ...")
    return found


def test_no_module_formats_dollars_itself():
    """A screen or a log line that writes `f"${x:.2f}"` is a second money format; it goes through fmt."""
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "fmt.py"
             for hit in _own_money_formats(path)]
    assert not found, "money formatted outside ftwizard/fmt.py:\n" + "\n".join(found)


def test_the_guard_sees_what_it_refuses(tmp_path):
    """The scan above would catch each shape the five old formatters had."""
    src = tmp_path / "ftwizard" / "m.py"
    src.parent.mkdir()
    src.write_text('a = 1.5\nx = f"${a:,.2f}"\ny = "<$0.01"\nz = "$" + str(a)\nw = f"cost ${a}/h"\n'
                   'ok = f"{a:g}"\nalso_ok = "{amount}"\n')
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "ftwizard"
    try:
        hits = _own_money_formats(src)
    finally:
        PACKAGE = saved
    assert [h.split(":")[1] for h in hits] == ["2", "3", "4", "5"]


def test_the_faces_read_the_one_rule():
    """The past-runs list and the Hardware step's summary show what `usd` shows."""
    from types import SimpleNamespace

    from ftwizard.runlist import RunSummary
    from ftwizard.tui.screens.hardware import HardwareScreen

    for v in (0.004, 0.052, 11.99, 1234.0):
        s = RunSummary(run_dir="r", name="r", backend="local", provider="", model="m", task="sql",
                       state="succeeded", training_usd=v)
        assert s.cost_cell() == usd(v)
    recipe = SimpleNamespace(model=SimpleNamespace(quant="4bit"),
                             hosted=SimpleNamespace(provider="openai", model="gpt-4o-mini"))
    own = {"source": SimpleNamespace(where="recipe"), "model": "x", "quant": "4bit", "cost_usd": 0.052,
           "cost_range_usd": [0.031, 1234.0]}
    assert HardwareScreen._summary(None, recipe, [own], []) == "local $0.052 ($0.031-$1,234)"
