"""The three distribution functions a fit's intervals and misfit checks need, without
``scipy.special``.

Importing ``scipy.special`` costs a fresh process ~0.12 s (scipy 1.17: its array-API
dispatch layer), more than the rest of scalefit's own modules; a least-squares fit needs only
the normal CDF, the chi-squared(1) quantile and the F distribution's survival function, which
the standard library gives to double precision (``math.erfc``, :class:`statistics.NormalDist`,
``math.lgamma``). ``tests/test_cold_imports.py`` checks each against ``scipy.special`` over a
grid.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_ERFC = np.frompyfunc(math.erfc, 1, 1)
#: Continued-fraction terms of :func:`beta_regularised` at most: it needs O(sqrt(max(a, b))).
MAX_TERMS = 100_000
_TINY = 1e-300
_EPS = 1e-15


def normal_cdf(x) -> np.ndarray:
    """Standard normal CDF of every element (``scipy.special.ndtr``)."""
    x = np.asarray(x, dtype=float)
    return 0.5 * np.asarray(_ERFC(-x / math.sqrt(2.0)), dtype=float)


def chi2_1_quantile(q: float) -> float:
    """Quantile of chi-squared with 1 degree of freedom (``scipy.stats.chi2.ppf(q, 1)``): the
    square of a standard normal, so ``Phi^-1((1 - q) / 2) ** 2`` (the lower tail: exact near
    ``q = 1``); near ``q = 0``, where ``(1 - q) / 2`` rounds, the first term of its series."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"chi2_1_quantile needs 0 <= q <= 1, got {q!r}")
    if q == 1.0:
        return math.inf
    if q < 1e-3:  # Phi^-1(1/2 + q/2) = s (1 + s^2/6 + 7 s^4/120 + ...), s = sqrt(2 pi) q / 2
        s = math.sqrt(2.0 * math.pi) * q / 2.0
        return (s * (1.0 + s * s / 6.0 + 7.0 * s**4 / 120.0)) ** 2
    return NormalDist().inv_cdf((1.0 - q) / 2.0) ** 2


def _fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, MAX_TERMS + 1):
        for aa in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            return h
    return h


def _lgamma_step(a: float, b: float) -> float:
    """``lgamma(a + b) - lgamma(a)``; for large ``a`` from the difference of Stirling's series
    (the direct difference of two values near ``a log a`` loses ``eps * a log a`` to rounding)."""
    if a < 1e4:
        return math.lgamma(a + b) - math.lgamma(a)
    return (a + b - 0.5) * math.log1p(b / a) + b * math.log(a) - b + (1.0 / (12.0 * (a + b)) - 1.0 / (12.0 * a))


def beta_regularised(a: float, b: float, x: float, y: float | None = None) -> float:
    """The regularised incomplete beta function ``I_x(a, b)`` (``scipy.special.betainc``);
    ``y = 1 - x`` may be given where it is known more precisely than ``1 - x`` rounds to."""
    y = 1.0 - x if y is None else y
    if not (a > 0.0 and b > 0.0 and math.isfinite(a) and math.isfinite(b)):
        return math.nan
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    big, small = max(a, b), min(a, b)
    log_x = math.log1p(-y) if y < 0.5 else math.log(x)  # x near 1 (or y near 1) without rounding
    log_y = math.log1p(-x) if x < 0.5 else math.log(y)
    front = math.exp(_lgamma_step(big, small) - math.lgamma(small) + a * log_x + b * log_y)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _fraction(a, b, x) / a
    return 1.0 - front * _fraction(b, a, y) / b


def f_survival(d1: float, d2: float, f: float) -> float:
    """``P(F > f)`` for F with ``(d1, d2)`` degrees of freedom (``scipy.special.fdtrc``)."""
    if not (d1 > 0.0 and d2 > 0.0 and math.isfinite(d1) and math.isfinite(d2)) or math.isnan(f):
        return math.nan
    if f <= 0.0:
        return 1.0
    # x = d2 / (d2 + d1 f) and 1 - x computed apart, so a tiny d1 f / d2 is not rounded away
    return beta_regularised(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f), d1 * f / (d2 + d1 * f))
