"""Checks of every public argument, in one message shape, before any work starts.

Each check takes the value and the argument's name as the user wrote it (``"starts"``,
``"--interval"``, ``"heads"`` in a grid file) and returns the value in its canonical type,
or raises: :class:`~scalefit.ScalefitError` (a ``ValueError``) for a value out of range,
``TypeError`` for a value of the wrong kind. The message names the argument, shows the
value, says what is allowed and, where there is one, the fix::

    starts must be an integer >= 1, got 2.5
    interval must be a number strictly between 0 and 1 (e.g. 0.9 for 90%), got 5
    objective must be one of 'huber', 'squared_log', 'squared', got 'huberr' (did you mean 'huber'?)

Nothing is repaired silently: ``2.5`` is never truncated to ``2``, a string is never parsed
as a number, a bool is never an integer.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from scalefit.errors import ScalefitError

#: Most starts, and most bootstrap replicates, a fit takes (each is a full least-squares
#: problem); more are refused before any array is made, by the API and the command line alike.
MAX_STARTS = 1_000_000
MAX_REPLICATES = 1_000_000


def shown_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def suggest(value: object, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``value`` is close to one of ``options``, else ``""``."""
    options = [str(o) for o in options]
    folded = {o.casefold(): o for o in options}
    if str(value).casefold() in folded:  # differs only in case: 'm' for 'M'
        return f" (did you mean {folded[str(value).casefold()]!r}?)"
    close = difflib.get_close_matches(str(value), options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def is_number(value: object) -> bool:
    """A real number: int, float or numpy scalar, not bool, not a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def integer(value: object, name: str, minimum: int | None = None, maximum: int | None = None, *, fix: str = "") -> int:
    """An integer in ``[minimum, maximum]``; floats only when integral (``1e3``), never truncated."""
    kind = "an integer"
    bounds = (
        f" in [{minimum}, {maximum}]"
        if minimum is not None and maximum is not None
        else f" >= {minimum}"
        if minimum is not None
        else f" <= {maximum}"
        if maximum is not None
        else ""
    )
    fix = f"; {fix}" if fix else ""
    if not is_number(value):
        raise TypeError(f"{name} must be {kind}{bounds}, got {shown_value(value)} ({type(value).__name__}){fix}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        out = int(value)
    else:
        raise ScalefitError(f"{name} must be {kind}{bounds}, got {shown_value(value)}{fix}")
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise ScalefitError(f"{name} must be {kind}{bounds}, got {shown_value(value)}{fix}")
    return out


def number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
    fix: str = "",
) -> float:
    """A real number (finite unless ``finite=False``) within the given limits."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    what = "a finite number" if finite else "a number"
    what += f" {' and '.join(parts)}" if parts else ""
    fix = f"; {fix}" if fix else ""
    if not is_number(value):
        raise TypeError(f"{name} must be {what}, got {shown_value(value)} ({type(value).__name__}){fix}")
    out = float(value)
    if math.isnan(out) or (finite and not math.isfinite(out)):
        raise ScalefitError(f"{name} must be {what}, got {shown_value(value)}{fix}")
    if low is not None and (out < low or (low_open and out == low)):
        raise ScalefitError(f"{name} must be {what}, got {shown_value(value)}{fix}")
    if high is not None and (out > high or (high_open and out == high)):
        raise ScalefitError(f"{name} must be {what}, got {shown_value(value)}{fix}")
    return out


def probability(value: object, name: str = "interval") -> float:
    """A probability strictly between 0 and 1 (an interval's coverage)."""
    if is_number(value) and 1 < float(value) < 100:
        fix = f"give a fraction, e.g. {float(value) / 100:g} for {float(value):g}%"
    else:
        fix = "e.g. 0.9 for 90%"
    return number(value, name, low=0.0, high=1.0, low_open=True, high_open=True, fix=fix)


def boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {shown_value(value)} ({type(value).__name__})")
    return bool(value)


def choice(value: object, name: str, options: Iterable[str]) -> str:
    """One of ``options`` (strings), with a suggestion for a near miss."""
    options = list(options)
    allowed = ", ".join(repr(o) for o in options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {allowed}, got {shown_value(value)} ({type(value).__name__})")
    if value not in options:
        raise ScalefitError(f"{name} must be one of {allowed}, got {value!r}{suggest(value, options)}")
    return value


def text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, got {shown_value(value)} ({type(value).__name__})")
    return value


def names(
    value: object, name: str, allowed: Iterable[str], *, what: str = "name", example: str = ""
) -> Mapping[str, Any]:
    """A mapping keyed by names from ``allowed``; unknown names are an error with suggestions."""
    allowed = list(allowed)
    example = f", e.g. {example}" if example else ""
    if not isinstance(value, Mapping):
        got = f"{shown_value(value)} ({type(value).__name__})"
        raise TypeError(f"{name} must be a dict {{{what}: value}}{example}, got {got}")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be {what}s (strings), got {shown_value(key)}")
        if key not in allowed:
            raise ScalefitError(
                f"{name} names unknown {what} {key!r}{suggest(key, allowed)}; known: {', '.join(allowed)}"
            )
    return value


def each(value: Mapping[str, Any], name: str, check: Callable[[Any, str], Any]) -> dict[str, Any]:
    """``{key: check(v, "name['key']")}`` for every entry of a mapping."""
    return {k: check(v, f"{name}[{k!r}]") for k, v in value.items()}


def array_budget(elements: float, name: str, what: str, fix: str, limit: float = 1e9) -> None:
    """Refuse before allocating an array of more than ``limit`` float64 elements (~2 GB)."""
    if elements > limit:
        raise ScalefitError(
            f"{name}: {what} needs about {elements * 8 / 1e9:.3g} GB of working memory "
            f"(limit {limit * 8 / 1e9:.0f} GB); {fix}"
        )


def check_at(
    at: object,
    needed: list[str],
    *,
    role: str,
    fix: str,
    unknown: str,
    taken: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Values of the variables held fixed (``at=``), in the order of ``needed``.

    ``at`` must be a dict (or ``None`` when nothing is held) naming exactly the variables in
    ``needed``, each a finite number > 0. ``role`` says what the dict holds, for the message
    of a wrong type (``"holding every other variable fixed"``); ``fix`` follows the missing
    names in their message (``"; hold every other variable fixed"``); ``unknown`` is the message of a
    name outside ``needed``, a template with ``{key!r}`` and ``{near}`` (a suggestion);
    ``taken`` maps names that may not be held (the axis of a crossover, a variable bought by
    an allocation) to the message refusing each. Used by :func:`~scalefit.crossover`,
    :func:`~scalefit.distillation_boundary` and :func:`~scalefit.allocate`.
    """
    taken = taken or {}
    example = "at={" + ", ".join(f"{v!r}: ..." for v in needed) + "}"
    if at is None:
        at = {}
    if not isinstance(at, Mapping):
        raise TypeError(
            f"at must be a dict {{variable: value}} {role}, e.g. {example}, got {shown_value(at)} ({type(at).__name__})"
        )
    for key in at:
        if not isinstance(key, str):
            raise TypeError(f"at keys must be variable names (strings), got {shown_value(key)}")
        if key in taken:
            raise ScalefitError(taken[key])
        if key not in needed:
            raise ScalefitError(unknown.format(key=key, near=suggest(key, needed)))
    missing = [v for v in needed if v not in at]
    if missing:
        raise ScalefitError(f"at= is missing {missing}{fix}, e.g. {example}")
    values = each(
        at, "at", lambda v, n: number(v, n, low=0.0, low_open=True, fix="a value of the variable held fixed, > 0")
    )
    return {v: values[v] for v in needed}
