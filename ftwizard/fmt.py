"""Numbers as people read them: dollars, in one format for every face (CLI, wizard, verdict, report)."""

from __future__ import annotations


def usd(v: float | None, *, unpriced: str = "-") -> str:
    """`$11.99`, `$1,234`, `$0.052`, `$0.0012`; `unpriced` (default "-") for None: nothing prices it."""
    if v is None:
        return unpriced
    if abs(v) >= 100:
        return f"${v:,.0f}"
    if abs(v) >= 0.995 or v == 0:
        return f"${v:,.2f}"
    if abs(v) >= 0.01:
        return f"${v:.3f}"
    return f"${v:.4f}" if abs(v) >= 0.0001 else "<$0.0001"
