"""The terms beyond sums of powers, written as function calls in a formula.

:class:`Bend` (a smooth break of a power law), :class:`Implicit` (a law defined by an
equation in ``y``), :class:`Saturate` (a law bent below a ceiling) and :class:`Repeated`
(effective data of repeated tokens): each evaluates exactly in log space, like the terms of
:mod:`scalefit.laws.terms`, and composes with them by the same operators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.laws.arrays import repeat, stop_gradient
from scalefit.laws.params import ParamSpec, check_name, latex_name
from scalefit.laws.terms import Function, Term, as_term


def _softplus(z, xp):
    """``log(1 + e^z)``, stable for any ``z`` (numpy or JAX)."""
    return xp.logaddexp(0.0, z)


def _log_sigmoid(z, xp):
    return -_softplus(-z, xp)


def _param_text(names) -> str:
    return ", ".join(str(n) for n in names)


@dataclass(frozen=True)
class Bend(Function):
    """A smooth break of a power law (Caballero et al. 2023, "Broken Neural Scaling Laws").

    ``Bend("x", "c1", "d1", "f1")`` is ``(1 + (x / d1)^(1 / f1))^(-c1 * f1)``: 1 well below
    the break ``x = d1`` and ``(x / d1)^-c1`` well above it, so multiplying a power
    ``b * x^-c0`` by it changes the slope in log-log space from ``c0`` to ``c0 + c1``; ``f1``
    is the sharpness of the break (small: a corner; large: a long bend). Multiply several
    for several breaks (:func:`scalefit.broken_power_law`). Written ``bend(x, c1, d1, f1)``
    in a formula.

    Parameters: ``c1`` an exponent (``>= 0`` by default: the curve steepens; give bounds
    to let it flatten), ``d1`` a *location* (in units of ``x``, fitted as ``log d1``) and
    ``f1`` a *shape* (dimensionless, fitted as ``log f1``). In log space it is exact:
    ``-c1 * f1 * softplus((log x - log d1) / f1)``.
    """

    variable: str
    exponent: str
    location: str
    sharpness: str

    def __post_init__(self):
        check_name(self.variable, "Bend variable")
        names = [
            check_name(n, f"Bend {what} name")
            for n, what in ((self.exponent, "exponent"), (self.location, "location"), (self.sharpness, "sharpness"))
        ]
        if len(set(names)) < 3 or self.variable in names:
            raise ScalefitError(
                f"Bend({self.variable!r}, {self.exponent!r}, {self.location!r}, {self.sharpness!r}) repeats a name; "
                "the variable, exponent, location and sharpness need four different names"
            )

    def specs(self):
        return (
            ParamSpec(self.exponent, "exponent", self.variable),
            ParamSpec(self.location, "location", self.variable),
            ParamSpec(self.sharpness, "shape", self.variable),
        )

    def variables(self):
        return (self.variable,)

    def _eval(self, p, x, xp):
        f = p[self.sharpness]
        return xp.power(1.0 + xp.power(x[self.variable] / p[self.location], 1.0 / f), -p[self.exponent] * f)

    def _log_eval(self, theta, logx, xp):
        f = xp.exp(theta[self.sharpness])
        return -theta[self.exponent] * f * _softplus((logx[self.variable] - theta[self.location]) / f, xp)

    def text(self):
        return f"bend({_param_text((self.variable, self.exponent, self.location, self.sharpness))})"

    def latex(self):
        x, c, d, f = (latex_name(n) for n in (self.variable, self.exponent, self.location, self.sharpness))
        return f"\\left(1 + \\left({x}/{d}\\right)^{{1/{f}}}\\right)^{{-{c}\\,{f}}}"

    def to_dict(self):
        return {
            "type": "bend",
            "variable": self.variable,
            "exponent": self.exponent,
            "location": self.location,
            "sharpness": self.sharpness,
        }


#: Newton steps of the implicit solve (each halves the digits' distance at worst; the
#: equation is monotone with a slope bounded away from 0, so 40 reach double precision
#: from the starting guess for every finite right-hand side).
IMPLICIT_STEPS = 40


def _implicit_solve(t, a, xp):
    """``u`` solving ``log sigmoid(u) - a * log sigmoid(-u) = t`` (``a >= 0``), clipped to
    ``|u| <= 60``. The left side rises monotonically (slope ``sigmoid(-u) + a sigmoid(u)``)."""
    a = xp.maximum(a, 0.0)

    def g(u):
        return _log_sigmoid(u, xp) - a * _log_sigmoid(-u, xp) - t

    def slope(u):
        s = 1.0 / (1.0 + xp.exp(-u))
        return (1.0 - s) + a * s

    def step(u):
        return xp.clip(u - g(u) / slope(u), -60.0, 60.0)

    u0 = xp.clip(xp.where(t < 0, t, t / xp.maximum(a, 1e-2)), -60.0, 60.0)
    if xp is not np:
        u = stop_gradient(repeat(IMPLICIT_STEPS, step, stop_gradient(u0, xp), xp), xp)
        # one step carrying the implicit-function gradient; none where u is clipped (y at
        # its floor or ceiling, where the equation has no root and y does not move)
        inside = xp.abs(u) < 59.0
        return u - xp.where(inside, g(u) / stop_gradient(xp.where(inside, slope(u), 1.0), xp), 0.0)
    u = u0
    for _ in range(IMPLICIT_STEPS):
        u = step(u)
    return u


@dataclass(frozen=True)
class Implicit(Function):
    """A law ``y`` defined implicitly: ``(y - floor) / (ceiling - y)^alpha = rhs``.

    Alabdulmohsin et al.'s estimator M4 (NeurIPS 2022) is
    ``Implicit(Power("x", "c", amplitude="b"), "e_inf", "e_0", "a")``: ``y`` falls from the
    ceiling ``e_0`` (the error of a model that learnt nothing) to the floor ``e_inf`` as
    ``x`` grows, a power law in ``x`` in between with a sigmoidal start whose shape is
    ``alpha``. ``y`` always lies between floor and ceiling. It is evaluated by solving the
    equation inside the compiled evaluation — Newton steps on ``u`` with
    ``y = floor + (ceiling - floor) * sigmoid(u)``, where the equation is monotone — and
    differentiated by the implicit-function theorem (one Newton step carries the gradient),
    so both fitters, ``jit`` and ``vmap`` work on it. Written
    ``implicit(rhs, floor, ceiling, alpha)`` in a formula.

    ``floor`` and ``ceiling`` are constants (``ceiling > floor``; where a fit proposes
    otherwise the law is held at the floor), ``alpha`` an exponent (``>= 0``).
    """

    rhs: Term
    floor: str
    ceiling: str
    alpha: str

    def __post_init__(self):
        object.__setattr__(self, "rhs", as_term(self.rhs, "implicit"))
        own = [check_name(n, f"Implicit {w} name") for n, w in ((self.floor, "floor"), (self.ceiling, "ceiling"),
                                                                  (self.alpha, "alpha"))]  # fmt: skip
        taken = {s.name for s in self.rhs.specs()} | set(self.rhs.variables())
        clash = [n for n in own if n in taken]
        if len(set(own)) < 3 or clash:
            raise ScalefitError(
                f"Implicit({self.rhs.text()!r}, {self.floor!r}, {self.ceiling!r}, {self.alpha!r}) uses a name twice "
                f"({clash or own}); the floor, ceiling and alpha need names of their own"
            )

    def specs(self):
        vs = self.rhs.variables()
        return self.rhs.specs() + (
            ParamSpec(self.floor, "constant"),
            ParamSpec(self.ceiling, "constant"),
            ParamSpec(self.alpha, "exponent", vs[0] if len(vs) == 1 else None),
        )

    def children(self):
        return (self.rhs,)

    def variables(self):
        return self.rhs.variables()

    def _solve(self, log_rhs, log_floor, ceiling_minus_floor, a, xp):
        gap = xp.maximum(ceiling_minus_floor, 1e-12 * xp.exp(log_floor) + 1e-300)
        log_gap = xp.log(gap)
        u = _implicit_solve(log_rhs - (1.0 - a) * log_gap, a, xp)
        return xp.logaddexp(log_floor, log_gap + _log_sigmoid(u, xp))

    def _eval(self, p, x, xp):
        floor, ceiling = p[self.floor], p[self.ceiling]
        with np.errstate(divide="ignore"):
            log_floor = xp.log(floor)
            log_rhs = xp.log(self.rhs._eval(p, x, xp))
        return xp.exp(self._solve(log_rhs, log_floor, ceiling - floor, p[self.alpha], xp))

    def _log_eval(self, theta, logx, xp):
        lf, lc = theta[self.floor], theta[self.ceiling]
        gap = xp.exp(lc) - xp.exp(lf)
        return self._solve(self.rhs._log_eval(theta, logx, xp), lf, gap, theta[self.alpha], xp)

    def text(self):
        return f"implicit({self.rhs.text()}, {_param_text((self.floor, self.ceiling, self.alpha))})"

    def latex(self):
        f, c, a = (latex_name(n) for n in (self.floor, self.ceiling, self.alpha))
        return f"y:\\ \\frac{{y - {f}}}{{({c} - y)^{{{a}}}}} = {self.rhs.latex()}"

    def to_dict(self):
        return {"type": "implicit", "rhs": self.rhs.to_dict(), "floor": self.floor, "ceiling": self.ceiling,
                "alpha": self.alpha}  # fmt: skip


@dataclass(frozen=True)
class Saturate(Function):
    """A law bent below a ceiling: ``ceiling * (1 - exp(-inner / ceiling))``.

    Equal to ``inner`` while it is small against the ceiling and never above it, so an
    unbounded law (``E + A * x^-alpha``) becomes one for a bounded metric — an error rate
    that bends towards chance (``ceiling`` = the chance error, e.g. ``fix={"chance": 0.9}``
    for ten classes) instead of crossing it. Also the saturating "exponential" of
    Muennighoff et al. 2023 (``R* (1 - exp(-R / R*))``). Written ``saturate(inner,
    ceiling)`` in a formula; ``ceiling`` is a constant. In log space:
    ``log c + log(-expm1(-exp(log inner - log c)))``, stable at both ends.
    """

    inner: Term
    ceiling: str

    def __post_init__(self):
        object.__setattr__(self, "inner", as_term(self.inner, "saturate"))
        check_name(self.ceiling, "Saturate ceiling name")
        if self.ceiling in {s.name for s in self.inner.specs()} | set(self.inner.variables()):
            raise ScalefitError(
                f"Saturate ceiling {self.ceiling!r} is also used in '{self.inner.text()}'; give it its own name"
            )

    def specs(self):
        return self.inner.specs() + (ParamSpec(self.ceiling, "constant"),)

    def children(self):
        return (self.inner,)

    def variables(self):
        return self.inner.variables()

    @staticmethod
    def _log_one_minus_exp(r, xp):
        """``log(1 - exp(-e^r))`` for any ``r``: ``r - e^r / 2`` where ``e^r`` is tiny."""
        small = r < -20.0
        z = xp.exp(xp.where(small, -20.0, r))
        return xp.where(small, r - 0.5 * xp.exp(xp.minimum(r, -20.0)), xp.log(-xp.expm1(-z)))

    def _eval(self, p, x, xp):
        c = p[self.ceiling]
        return -c * xp.expm1(-self.inner._eval(p, x, xp) / c)

    def _log_eval(self, theta, logx, xp):
        lc = theta[self.ceiling]
        return lc + self._log_one_minus_exp(self.inner._log_eval(theta, logx, xp) - lc, xp)

    def text(self):
        return f"saturate({self.inner.text()}, {self.ceiling})"

    def latex(self):
        c = latex_name(self.ceiling)
        return f"{c}\\left(1 - e^{{-\\left({self.inner.latex()}\\right)/{c}}}\\right)"

    def to_dict(self):
        return {"type": "saturate", "inner": self.inner.to_dict(), "ceiling": self.ceiling}


@dataclass(frozen=True)
class Repeated(Function):
    """Effective data of repeated tokens (Muennighoff et al. 2023, "Scaling Data-Constrained
    Language Models", Eq. 5): ``U + U * R_star * (1 - exp(-R / R_star))`` with
    ``R = D / U - 1`` repetitions of ``U`` unique tokens in ``D`` tokens seen.

    Each repetition is worth less than fresh data, and data repeated many more than
    ``R_star`` times adds almost nothing. Use it where a law has ``D``:
    ``B * Repeated("D", "U", "R_star") ** -Exponent("beta")``. Written
    ``repeated(D, U, R_star)`` in a formula; ``R_star`` is a constant (in repetitions).
    ``D`` and ``U`` stay in the runs' units (they are compared with each other). Where
    ``D < U`` no token was seen twice: ``U`` is taken as ``D`` and the effective data is ``D``.
    """

    tokens: str
    unique: str
    r_star: str

    def __post_init__(self):
        names = [check_name(n, f"Repeated {w} name") for n, w in ((self.tokens, "tokens"), (self.unique, "unique"),
                                                                  (self.r_star, "r_star"))]  # fmt: skip
        if len(set(names)) < 3:
            raise ScalefitError(f"Repeated{tuple(names)} repeats a name; the three need different names")

    def specs(self):
        return (ParamSpec(self.r_star, "constant"),)

    def variables(self):
        return (self.tokens, self.unique)

    def _eval(self, p, x, xp):
        u, rs = xp.minimum(x[self.unique], x[self.tokens]), p[self.r_star]
        return u * (1.0 - rs * xp.expm1(-(x[self.tokens] / u - 1.0) / rs))

    def _log_eval(self, theta, logx, xp):
        lu, rs = xp.minimum(logx[self.unique], logx[self.tokens]), xp.exp(theta[self.r_star])
        r = xp.exp(logx[self.tokens] - lu) - 1.0
        return lu + xp.log1p(-rs * xp.expm1(-r / rs))

    def text(self):
        return f"repeated({_param_text((self.tokens, self.unique, self.r_star))})"

    def latex(self):
        d, u, r = (latex_name(n) for n in (self.tokens, self.unique, self.r_star))
        return f"{u}\\left(1 + {r}\\left(1 - e^{{-({d}/{u} - 1)/{r}}}\\right)\\right)"

    def to_dict(self):
        return {"type": "repeated", "tokens": self.tokens, "unique": self.unique, "r_star": self.r_star}
