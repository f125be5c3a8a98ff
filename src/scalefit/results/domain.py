"""Parameter domains: the range of values a parameter of each role may take.

A value the user gives (a fixed value, the parameters of :meth:`Fit.from_params`) must lie
in its role's range — constants >= 0, amplitudes and scales > 0, exponents any finite
number; a fitted (free) value lies in that range narrowed to the fit's bounds, and
exponents are bounded below by 0 by default.
"""

from __future__ import annotations

import math

import numpy as np

from scalefit.fitting.problem import Problem
from scalefit.laws.law import Law

ROLE_DOMAIN = {  # paper form: (low, low_open) of a fitted value; every parameter is below +inf
    "constant": (0.0, False),
    "amplitude": (0.0, True),
    "scale": (0.0, True),
    "exponent": (0.0, False),  # the default bound of a free exponent; a given one may be any value
    "location": (0.0, True),
    "shape": (0.0, True),
}


def domain(
    law: Law, name: str, problem: Problem | None = None, *, explicit: bool = False
) -> tuple[float, float, bool, str]:
    """``(low, high, low_open, text)`` of a parameter's paper-form values: its role's range
    (constants >= 0, amplitudes and scales > 0, exponents >= 0), narrowed to the fit's
    bounds for a free parameter of ``problem``. ``explicit``: a value the user gives
    (:meth:`Fit.from_params`), for which an exponent may be any finite number — only a
    fitted exponent is bounded (by the fit's bounds, >= 0 by default)."""
    role = law.specs[name].role
    low, low_open = ROLE_DOMAIN[role]
    if (explicit or law.specs[name].signed) and role == "exponent":
        low = -math.inf
    high = math.inf
    if problem is not None and name in problem.free:
        i = problem.free.index(name)
        lo, hi = float(problem.lo[i]), float(problem.hi[i])
        with np.errstate(over="ignore"):
            if role == "exponent":
                low, high = lo, hi
            elif role == "scale":  # internal -log(lambda): the order reverses
                low, high = float(np.exp(-hi)), float(np.exp(-lo))
            else:
                low, high = float(np.exp(lo)), float(np.exp(hi))
        low_open = low_open and low == 0.0
    parts = [] if low == -math.inf else [f"{'>' if low_open else '>='} {low:g}"]
    if high < math.inf:
        parts.append(f"<= {high:g}")
    what = {"exponent": "an exponent", "constant": "a constant", "amplitude": "an amplitude", "scale": "a scale",
            "location": "a location", "shape": "a shape"}  # fmt: skip
    return low, high, low_open, f"{' and '.join(parts) or 'any finite value'}; {name} is {what[role]}"


def inside(value: np.ndarray | float, low: float, high: float, low_open: bool) -> np.ndarray:
    """Whether values lie in the domain, allowing rounding (1e-9 relative) at a finite end."""
    v = np.asarray(value, dtype=float)
    tol_lo = 1e-9 * max(1.0, abs(low)) if np.isfinite(low) else 0.0
    tol_hi = 1e-9 * max(1.0, abs(high)) if np.isfinite(high) else 0.0
    above = v > low if low_open else v >= low - (0.0 if low == 0.0 else tol_lo)
    return above & (v <= high + tol_hi)
