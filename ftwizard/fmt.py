"""Numbers as people read them: dollars and durations, in one format for every face (CLI, wizard, verdict, report,
logs).

The one money rule (`usd`), by the size of the amount:

    None            the `unpriced` word ("-" unless the caller names it: "unpriced", "?")   nothing prices it
    0               $0.00
    below $0.0001   <$0.0001          a fraction of a hundredth of a cent says nothing more
    below $0.01     $0.0012           four decimals: a judge call or a short run still compares
    below $0.10     $0.052            three decimals: two would round a third of the amount away
    below $1,000    $11.99  $0.50     cents
    from $1,000     $1,234            cents are noise beside the estimate's own spread
    negative        -$3.50            the same rule on the size, the sign in front

Each tier is chosen on the amount as it will be shown (0.0996 reads "$0.10", never "$0.100"; 999.996 reads
"$1,000"), so one amount never reads two ways. A price per unit (`$2.5/1M`, `$0.475/h`) is `rate`: the figure as
the provider publishes it, every significant digit kept. The tests (tests/test_fmt.py) refuse a `$` formatted
anywhere else in the package.
"""

from __future__ import annotations


def usd(v: float | None, *, unpriced: str = "-") -> str:
    """An amount of dollars by the module's one rule; `unpriced` for None (nothing prices it; never "$0")."""
    if v is None:
        return unpriced
    sign, a = ("-" if v < 0 else ""), abs(float(v))
    if a == 0:
        return "$0.00"
    if a < 0.00005:
        return "<$0.0001"
    if a < 0.00995:
        return f"{sign}${a:.4f}"
    if a < 0.0995:
        return f"{sign}${a:.3f}"
    if a < 999.995:
        return f"{sign}${a:,.2f}"
    return f"{sign}${a:,.0f}"


def rate(v: float | None, per: str, *, unpriced: str = "-") -> str:
    """A unit price as published: `$2.5/1M`, `$0.475/h`, `$3.29/h`; `unpriced` for None."""
    if v is None:
        return unpriced
    return f"${float(v):g}/{per}"


def duration(seconds: float | None) -> str:
    """`0:42`, `12:05`, `1:02:03` (hours:minutes:seconds, as rich's elapsed column); `-:--` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "-:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
