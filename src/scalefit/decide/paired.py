"""Paired draws of two fits: the same number of bootstrap replicates or posterior draws of
each, evaluated side by side along one axis, so that a difference between two laws carries
the uncertainty of both (the crossover, the boundary, run design and the difference plot).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalefit.decide.path import along
from scalefit.laws.law import Law
from scalefit.results.fit import Fit

#: Most draws of each fit used for the intervals of a crossing.
DRAWS_USED = 1000


def draw_columns(params: Mapping[str, np.ndarray]) -> dict:
    return {k: np.asarray(v)[:, None] for k, v in params.items()}


def values_along(law: Law, params, axis: str, at: Mapping[str, float], x) -> np.ndarray:
    """The law along ``axis`` (NaN/inf where it overflows or is undefined: callers check)."""
    with np.errstate(all="ignore"):
        return np.asarray(law.evaluate(params, along(axis, x, at, law.variables)), dtype=float)


def difference_along(law_a: Law, pa, law_b: Law, pb, axis: str, at: Mapping[str, float], x) -> np.ndarray:
    with np.errstate(all="ignore"):
        return values_along(law_a, pa, axis, at, x) - values_along(law_b, pb, axis, at, x)


def paired_draws(a: Fit, b: Fit) -> tuple[dict, dict]:
    n = min(len(a.draws), len(b.draws), DRAWS_USED)
    pa = {k: a.draws[k].to_numpy()[:n] for k in a.law.parameters}
    pb = {k: b.draws[k].to_numpy()[:n] for k in b.law.parameters}
    return pa, pb
