"""Argument checks shared by the decision tools: a fit, values along an axis, a ``(low, high)``
domain, and the "did you mean" hint for a misspelt name."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.results.fit import Fit
from scalefit.validate import number, shown_value, suggest


def near(value: object, options) -> str:
    """``suggest`` that also catches a difference of case only (``'m'`` for ``'M'``)."""
    options = [str(o) for o in options]
    same = [o for o in options if o.lower() == str(value).lower()]
    return f" (did you mean {same[0]!r}?)" if same else suggest(value, options)


def fit_arg(value: object, name: str) -> Fit:
    """A scalefit Fit, else a TypeError naming the argument."""
    if not isinstance(value, Fit):
        hint = "; load a saved fit with scalefit.load_fit(path)" if isinstance(value, str) else ""
        raise TypeError(
            f"{name} must be a scalefit Fit (from fit_law(), load_fit() or Fit.from_params()), "
            f"got {shown_value(value)} ({type(value).__name__}){hint}"
        )
    return value


def points_arg(x: object, name: str, axis: str) -> np.ndarray:
    """Values of the axis: a number or an array of finite numbers > 0."""
    kind = f"a number or an array of numbers (values of {axis} > 0)"
    if isinstance(x, str | bytes) or x is None:
        raise TypeError(f"{name} must be {kind}, got {shown_value(x)} ({type(x).__name__})")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {kind}, got {shown_value(x)} ({type(x).__name__})") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be {kind}, got {shown_value(x)} ({type(x).__name__} of {arr.dtype})")
    arr = arr.astype(float)
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        raise ScalefitError(f"{name} must hold finite values of {axis} > 0, got {float(arr[bad].flat[0])!r}")
    return arr


def check_domain(domain: object, name: str = "domain") -> tuple[float, float]:
    """``(low, high)``: two finite numbers with ``0 < low < high``."""
    example = f"e.g. {name}=(1e4, 1e8)"
    if isinstance(domain, str | bytes) or not isinstance(domain, Sequence | np.ndarray) or len(domain) != 2:
        raise TypeError(
            f"{name} must be a (low, high) pair of numbers with 0 < low < high, {example}, "
            f"got {shown_value(domain)} ({type(domain).__name__})"
        )
    lo = number(domain[0], f"{name} low", low=0.0, low_open=True, fix=example)
    hi = number(domain[1], f"{name} high", low=0.0, low_open=True, fix=example)
    if not lo < hi:
        fix = f"swap them: {name}=({hi:g}, {lo:g})" if lo > hi else example
        raise ScalefitError(f"{name} must satisfy 0 < low < high, got ({lo:g}, {hi:g}); {fix}")
    return lo, hi
