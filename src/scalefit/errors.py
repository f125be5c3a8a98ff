"""Error and warning types shared by every part of scalefit.

Every message scalefit raises names the argument or column at fault, the rows where
that applies, and the fix. ``ScalefitError`` subclasses ``ValueError`` so code that
already catches ``ValueError`` keeps working; the CLI prints its message and exits 2.
"""

from __future__ import annotations

from collections.abc import Sequence


class ScalefitError(ValueError):
    """A value given to scalefit cannot be used; the message says why and how to fix it."""


class ScalingWarning(UserWarning):
    """A result is usable but weaker than it looks (e.g. an exponent is not identified)."""


def format_rows(rows: Sequence[object], limit: int = 8) -> str:
    """``rows 4, 9, 12`` (or ``row 4``), shortened to ``limit`` labels plus a count."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{'row' if len(rows) == 1 else 'rows'} {shown}{more}"
