"""Parameters of a law and the names in its formulas: parameter roles (:class:`ParamSpec`),
the check of a name, a name's LaTeX, and how a number prints in a formula.

Every parameter has a *role* (``constant``, ``amplitude``, ``scale``, ``exponent``,
``location``, ``shape``) that fixes its internal form: a log for positive constants,
amplitudes, locations and shapes, ``-log`` for a scale, the value itself for an exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from scalefit.errors import ScalefitError

Role = Literal["constant", "amplitude", "scale", "exponent", "location", "shape"]

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
}  # fmt: skip


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a law: its name, its role, and the variable it belongs to."""

    name: str
    role: Role
    variable: str | None = None
    signed: bool = False  # an identity-form parameter with no default bound (general expression laws)


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a string, got {type(name).__name__} {name!r}")
    if not name.isidentifier():
        raise ScalefitError(
            f"{what} {name!r} is not a valid name; use letters, digits and underscores (e.g. 'lambda_p', 'alpha_prime')"
        )
    return name


def latex_name(name: str) -> str:
    """LaTeX for a parameter or variable name.

    ``alpha`` -> ``\\alpha``, ``lambda_p`` -> ``\\lambda_{p}``, ``E_inf`` -> ``E_{\\infty}``,
    ``lambda_p_prime`` -> ``\\lambda'_{p}``, ``alpha_pprime`` -> ``\\alpha''``,
    ``Dp`` -> ``D_{p}``.
    """
    parts = name.split("_")
    base, rest = parts[0], [p for p in parts[1:] if p]
    primes = ""
    if rest and rest[-1] in ("prime", "pprime"):
        primes = "'" if rest[-1] == "prime" else "''"
        rest = rest[:-1]
    if not rest and len(base) > 1 and base[0].isupper() and base[1:].islower():
        base, rest = base[0], [base[1:]]
    tex = "\\" + base if base in _GREEK else base
    sub = ",".join("\\infty" if r == "inf" else r for r in rest)
    return tex + primes + (f"_{{{sub}}}" if sub else "")


def is_number(v: object) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def number_text(v: float) -> str:
    """A fixed exponent as text that Python (and :func:`parse_law`) reads back exactly."""
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s
