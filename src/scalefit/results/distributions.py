"""The three distribution functions a fit's intervals and misfit checks need, without
``scipy.special``.

Importing ``scipy.special`` costs a fresh process ~0.12 s (scipy 1.17: its array-API
dispatch layer), more than the rest of scalefit's own modules; a least-squares fit needs only
the normal CDF, the chi-squared(1) quantile and the F distribution's survival function, which
the standard library gives to double precision (``math.erfc``, :class:`statistics.NormalDist`,
``math.lgamma``). ``tests/test_distributions.py`` checks each against ``scipy.special`` over a
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
    return 0.5 * _ERFC(-x / math.sqrt(2.0)).astype(float)


def chi2_1_quantile(q: float) -> float:
    """Quantile of chi-squared with 1 degree of freedom (``scipy.stats.chi2.ppf(q, 1)``): the
    square of a standard normal, so ``Phi^-1((1 - q) / 2) ** 2``."""
    if not 0.0 <= q < 1.0:
        raise ValueError(f"chi2_1_quantile needs 0 <= q < 1, got {q!r}")
    return NormalDist().inv_cdf((1.0 - q) / 2.0) ** 2 if q > 0 else 0.0  # the lower tail: exact near q = 1


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


def beta_regularised(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)`` (``scipy.special.betainc``)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _fraction(a, b, x) / a
    return 1.0 - front * _fraction(b, a, 1.0 - x) / b


def f_survival(d1: float, d2: float, f: float) -> float:
    """``P(F > f)`` for F with ``(d1, d2)`` degrees of freedom (``scipy.special.fdtrc``)."""
    if f <= 0.0:
        return 1.0
    return beta_regularised(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f))
