"""Composable scaling laws: terms, their algebra, and the :class:`Law` value.

A law is built from two kinds of term,

* :class:`Constant` — a positive constant ``c`` (an irreducible error, a transfer gap);
* :class:`Power` — a power of one variable, ``x^-a / lambda`` in the paper's form, which
  is the same family as ``A * x^-a`` with ``A = 1 / lambda``; or a bare ``x^-a``;

composed with ``+``, ``*``, ``/`` and ``**``::

    >>> from scalefit import Constant, Exponent, Power
    >>> law = Constant("E") + Power("N", "alpha", amplitude="A") + Power("D", "beta", amplitude="B")
    >>> print(law)
    E + A * N^-alpha + B * D^-beta
    >>> print(Constant("b") * (Power("x", 1) + Constant("g")) ** -Exponent("c"))
    b * (x^-1 + g)^-c

An exponent is a fitted parameter (a name) or a fixed number (``Power("x", 1)`` is
``x^-1``). :class:`Pow` raises any law to a power, ``base^-c`` (``law ** -Exponent("c")``,
``law ** -0.5``), evaluated exactly in log space as ``-c * log base``; ``a / b`` is
``a * b^-1``. A law can also be written as a formula string (:func:`scalefit.parse_law`).

Every parameter has a *paper form* (the value a user reads and writes: ``lambda_p``,
``A``, ``alpha``) and an *internal form* in which fitting is well conditioned:
log-amplitudes (``log A``, ``-log lambda``, ``log c``) and positive exponents. A law
evaluates in log space as a log-sum-exp of log-terms (Hoffmann et al. 2022; Besiroglu
et al. 2024), which is what the fitters use.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from scalefit.errors import ScalefitError

Role = Literal["constant", "amplitude", "scale", "exponent", "location", "shape"]
Metric = Literal["error_rate", "loss"]

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


def _namespace(*values: Any):
    """``jax.numpy`` if any value is a JAX array (or tracer), else ``numpy``."""
    for v in values:
        if isinstance(v, jax.Array):
            return jnp
    return np


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


class Term:
    """Base class of law expressions. Compose terms with ``+`` and ``*``."""

    def specs(self) -> tuple[ParamSpec, ...]:
        """The term's parameters (:class:`ParamSpec`), in order of appearance."""
        raise NotImplementedError

    def variables(self) -> tuple[str, ...]:
        """The term's variables, in order of appearance."""
        raise NotImplementedError

    def _eval(self, p: Mapping[str, Any], x: Mapping[str, Any], xp) -> Any:
        raise NotImplementedError

    def _log_eval(self, theta: Mapping[str, Any], logx: Mapping[str, Any], xp) -> Any:
        raise NotImplementedError

    def text(self) -> str:
        """Plain-text formula of the term (``str(term)``)."""
        raise NotImplementedError

    def latex(self) -> str:
        """LaTeX formula of the term (no surrounding ``$``)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description of the term."""
        raise NotImplementedError

    def children(self) -> tuple[Term, ...]:
        """The sub-terms of this term (none for a leaf)."""
        return ()

    def __add__(self, other: Term | Law) -> Sum:
        if _general(other):
            return _general(other)("+", self, other)
        return Sum((self, _as_term(other, "+")))

    def __mul__(self, other: Term | Law) -> Product:
        if _general(other):
            return _general(other)("*", self, other)
        return Product((self, _as_term(other, "*")))

    def __truediv__(self, other: Term | Law) -> Product:
        if _general(other):
            return _general(other)("/", self, other)
        return Product((self, Pow(_as_term(other, "/"), 1.0)))

    def __rtruediv__(self, other: object) -> Pow:
        if is_number(other) and float(other) == 1.0:
            return Pow(self, 1.0)
        raise TypeError(
            f"cannot divide {type(other).__name__} {other!r} by a law term; only 1 / term (its reciprocal) "
            "is allowed — wrap other constants as Constant('name')"
        )

    def __pow__(self, power: Exponent | float) -> Pow:
        return _power_of(self, power)

    def __sub__(self, other: object) -> Term:  # beyond the positive algebra: a general expression
        return GENERAL["combine"]("-", self, other)

    def __rsub__(self, other: object) -> Term:
        return GENERAL["combine"]("-", other, self)

    def __neg__(self) -> Term:
        return GENERAL["negate"](self)

    def __str__(self) -> str:
        return self.text()


#: The general expression path's operations (``combine``, ``negate``), registered by
#: :mod:`scalefit.laws.general` when it loads (``scalefit.laws`` loads it), so that the
#: algebra here can hand a term to it without importing it (general builds on these terms).
GENERAL: dict[str, Any] = {}


def _general(other: object):
    """``combine`` of the general path when ``other`` is a general expression (or a law of
    one): then ``term op other`` is a general expression too, not a log-space sum or product."""
    expr = other.expr if isinstance(other, Law) else other
    if type(expr).__name__ == "Expression":
        return GENERAL["combine"]
    return None


def is_number(v: object) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def number_text(v: float) -> str:
    """A fixed exponent as text that Python (and :func:`parse_law`) reads back exactly."""
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def _fixed_exponent(value: object, what: str) -> float:
    v = float(value)  # type: ignore[arg-type]
    if not np.isfinite(v) or v == 0.0:
        raise ScalefitError(
            f"{what} must be a finite, non-zero number or a parameter name, got {value!r} "
            "(a power 0 is the constant 1: use a Constant instead)"
        )
    return v


@dataclass(frozen=True)
class Exponent:
    """A fitted exponent parameter for ``**``: ``law ** -Exponent("c")`` is ``law^-c``.

    The parameter (role ``"exponent"``) is fitted ``>= 0`` by default; the sign written in
    front of it says whether the law falls (``-``) or grows (``+``) with its base.
    """

    name: str
    sign: int = 1

    def __post_init__(self):
        check_name(self.name, "Exponent name")
        if self.sign not in (1, -1):
            raise ScalefitError(f"Exponent sign must be 1 or -1, got {self.sign!r}")

    def __neg__(self) -> Exponent:
        return Exponent(self.name, -self.sign)

    def __pos__(self) -> Exponent:
        return self


def _power_of(base: Term, power: object) -> Pow:
    if isinstance(power, Exponent):
        return Pow(base, power.name, power.sign)
    if is_number(power):
        v = float(power)
        return Pow(base, abs(v), 1 if v > 0 else -1)
    hint = f" (for a fitted exponent write ** -Exponent({power!r}))" if isinstance(power, str) else ""
    raise TypeError(
        f"a law term can be raised to a number or to -Exponent('name'), got {type(power).__name__} {power!r}{hint}"
    )


def _as_term(obj: object, op: str) -> Term:
    if isinstance(obj, Law):
        return obj.expr
    if isinstance(obj, Term):
        return obj
    raise TypeError(
        f"cannot combine a law term with {type(obj).__name__} {obj!r} by '{op}'; "
        "wrap constants as Constant('name') so they become fitted parameters"
    )


@dataclass(frozen=True)
class Constant(Term):
    """A positive constant parameter ``c`` (internal form ``log c``)."""

    name: str

    def __post_init__(self):
        check_name(self.name, "Constant name")

    def specs(self):
        return (ParamSpec(self.name, "constant"),)

    def variables(self):
        return ()

    def _eval(self, p, x, xp):
        return p[self.name]

    def _log_eval(self, theta, logx, xp):
        return theta[self.name]

    def text(self):
        return self.name

    def latex(self):
        return latex_name(self.name)

    def to_dict(self):
        return {"type": "constant", "name": self.name}


@dataclass(frozen=True)
class Power(Term):
    """A power term in one variable.

    ``Power("Dp", "alpha", scale="lambda_p")`` is the paper's ``Dp^-alpha / lambda_p``;
    ``Power("N", "alpha", amplitude="A")`` is ``A * N^-alpha``; with neither, ``x^-alpha``.
    A named exponent is a fitted parameter, positive by default (the term falls as ``x``
    grows). A number is a fixed exponent with no parameter: ``Power("x", 1)`` is ``x^-1``,
    ``Power("x", 0.5, amplitude="A")`` is ``A * x^-0.5`` and ``Power("x", -2)`` is ``x^2``.
    Internally the amplitude is ``log A`` (``-log lambda``), which keeps fits well conditioned.
    """

    variable: str
    exponent: str | float
    scale: str | None = None
    amplitude: str | None = None

    def __post_init__(self):
        check_name(self.variable, "Power variable")
        if is_number(self.exponent):
            object.__setattr__(self, "exponent", _fixed_exponent(self.exponent, f"Power({self.variable!r}) exponent"))
        else:
            check_name(self.exponent, "Power exponent name")
        if self.scale is not None and self.amplitude is not None:
            raise ScalefitError(
                f"Power({self.variable!r}) got both scale={self.scale!r} and "
                f"amplitude={self.amplitude!r}; give one: scale for x^-a / lambda, "
                "amplitude for A * x^-a"
            )
        coef = self.scale if self.scale is not None else self.amplitude
        if coef is not None:
            check_name(coef, "Power scale/amplitude name")
            if coef == self.exponent:
                raise ScalefitError(
                    f"Power({self.variable!r}) uses {coef!r} as both exponent and amplitude; give them different names"
                )
            if coef == self.variable:
                raise ScalefitError(
                    f"{coef!r} is used both as a variable and as a parameter name in Power({self.variable!r}); "
                    "rename the parameter"
                )
        if self.exponent == self.variable:
            raise ScalefitError(
                f"{self.variable!r} is used both as a variable and as a parameter name in "
                f"Power({self.variable!r}); rename the exponent"
            )

    @property
    def coefficient(self) -> str | None:
        return self.scale if self.scale is not None else self.amplitude

    @property
    def fixed_exponent(self) -> bool:
        """Whether the exponent is a fixed number (no exponent parameter)."""
        return not isinstance(self.exponent, str)

    def specs(self):
        out = [] if self.fixed_exponent else [ParamSpec(self.exponent, "exponent", self.variable)]
        if self.scale is not None:
            out.append(ParamSpec(self.scale, "scale", self.variable))
        elif self.amplitude is not None:
            out.append(ParamSpec(self.amplitude, "amplitude", self.variable))
        return tuple(out)

    def variables(self):
        return (self.variable,)

    def _exp(self, values):
        return self.exponent if self.fixed_exponent else values[self.exponent]

    def _eval(self, p, x, xp):
        val = xp.power(x[self.variable], -self._exp(p))
        if self.scale is not None:
            return val / p[self.scale]
        if self.amplitude is not None:
            return p[self.amplitude] * val
        return val

    def _log_eval(self, theta, logx, xp):
        out = -self._exp(theta) * logx[self.variable]
        coef = self.coefficient
        return out + theta[coef] if coef is not None else out

    def _power_text(self):
        if self.fixed_exponent:
            e = -self.exponent
            return f"{self.variable}^{number_text(e)}"
        return f"{self.variable}^-{self.exponent}"

    def text(self):
        base = self._power_text()
        if self.scale is not None:
            return f"{base} / {self.scale}"
        if self.amplitude is not None:
            return f"{self.amplitude} * {base}"
        return base

    def latex(self):
        e = number_text(-self.exponent) if self.fixed_exponent else f"-{latex_name(self.exponent)}"
        base = f"{latex_name(self.variable)}^{{{e}}}"
        if self.scale is not None:
            return f"\\frac{{{base}}}{{{latex_name(self.scale)}}}"
        if self.amplitude is not None:
            return f"{latex_name(self.amplitude)}\\,{base}"
        return base

    def to_dict(self):
        return {
            "type": "power",
            "variable": self.variable,
            "exponent": self.exponent,
            "scale": self.scale,
            "amplitude": self.amplitude,
        }


def _check_clashes(terms: tuple[Term, ...]) -> None:
    seen: dict[str, str] = {}
    for t in terms:
        for s in t.specs():
            if s.name in seen:
                raise ScalefitError(
                    f"parameter name {s.name!r} is used twice, in '{seen[s.name]}' and in "
                    f"'{t.text()}'; give each term its own name (e.g. {s.name + '_2'!r}) and, "
                    f"if they should be equal, fit with tie={{{s.name + '_2'!r}: {s.name!r}}}"
                )
            seen[s.name] = t.text()
    variables = {v for t in terms for v in t.variables()}
    both = sorted(variables & seen.keys())
    if both:
        raise ScalefitError(
            f"{both[0]!r} is used both as a variable and as a parameter name in "
            f"'{' + '.join(t.text() for t in terms)}'; rename the parameter"
        )


@dataclass(frozen=True)
class _Compound(Term):
    terms: tuple[Term, ...]

    def __post_init__(self):
        flat: list[Term] = []
        for t in self.terms:
            t = _as_term(t, self._op)
            flat.extend(t.terms if type(t) is type(self) else (t,))
        object.__setattr__(self, "terms", tuple(flat))
        _check_clashes(self.terms)

    def specs(self):
        return tuple(s for t in self.terms for s in t.specs())

    def children(self):
        return self.terms

    def variables(self):
        return tuple(dict.fromkeys(v for t in self.terms for v in t.variables()))

    def to_dict(self):
        return {"type": self._kind, "terms": [t.to_dict() for t in self.terms]}


class Sum(_Compound):
    """Sum of terms; evaluated in log space as a log-sum-exp of the log-terms."""

    _op, _kind = "+", "sum"

    def _eval(self, p, x, xp):
        out = self.terms[0]._eval(p, x, xp)
        for t in self.terms[1:]:
            out = out + t._eval(p, x, xp)
        return out

    def _log_eval(self, theta, logx, xp):
        parts = xp.broadcast_arrays(*(t._log_eval(theta, logx, xp) for t in self.terms))
        stacked = xp.stack(parts)
        top = xp.max(stacked, axis=0)
        return top + xp.log(xp.sum(xp.exp(stacked - top), axis=0))

    def text(self):
        return " + ".join(t.text() for t in self.terms)

    def latex(self):
        return " + ".join(t.latex() for t in self.terms)


class Product(_Compound):
    """Product of terms; evaluated in log space as a sum of the log-terms."""

    _op, _kind = "*", "product"

    def _eval(self, p, x, xp):
        out = self.terms[0]._eval(p, x, xp)
        for t in self.terms[1:]:
            out = out * t._eval(p, x, xp)
        return out

    def _log_eval(self, theta, logx, xp):
        out = self.terms[0]._log_eval(theta, logx, xp)
        for t in self.terms[1:]:
            out = out + t._log_eval(theta, logx, xp)
        return out

    def text(self):
        out = ""
        for i, t in enumerate(self.terms):
            if _is_reciprocal(t):
                out += ("1 / " if i == 0 else " / ") + _divisor_text(t.base)
            else:
                out += ("" if i == 0 else " * ") + (f"({t.text()})" if isinstance(t, Sum) else t.text())
        return out

    def latex(self):
        return "\\,".join(f"\\left({t.latex()}\\right)" if isinstance(t, Sum) else t.latex() for t in self.terms)


def _is_reciprocal(t: Term) -> bool:
    return isinstance(t, Pow) and t.exponent == 1.0 and t.sign == -1


def _divisor_text(t: Term) -> str:
    """Text of a term written after ``/``: parenthesised unless it is a single factor."""
    single = isinstance(t, Constant | _Function) or (isinstance(t, Pow) and not _is_reciprocal(t))
    if single or (isinstance(t, Power) and t.coefficient is None):
        return t.text()
    return f"({t.text()})"


@dataclass(frozen=True)
class Pow(Term):
    """A law raised to a power: ``base^(sign * exponent)``.

    ``exponent`` is a parameter name (a fitted exponent, role ``"exponent"``, ``>= 0`` by
    default) or a fixed number; ``sign=-1`` (the default) makes the law fall as its base
    grows. Write it with ``**``: ``base ** -Exponent("c")`` is ``Pow(base, "c")`` =
    ``base^-c``, ``base ** -1`` is ``Pow(base, 1.0)`` = ``1 / base`` and ``a / b`` is
    ``a * b^-1``. Alabdulmohsin et al.'s M3, ``y = b (x^-1 + g)^-c``::

        Constant("b") * (Power("x", 1) + Constant("g")) ** -Exponent("c")

    In log space it is exact: ``sign * exponent * log(base)``. A negative number as the
    exponent is stored as its magnitude with the sign flipped (``Pow(b, -2.0)`` is
    ``Pow(b, 2.0, sign=1)``, i.e. ``b^2``).
    """

    base: Term
    exponent: str | float
    sign: int = -1

    def __post_init__(self):
        object.__setattr__(self, "base", _as_term(self.base, "**"))
        if self.sign not in (1, -1) or isinstance(self.sign, bool):
            raise ScalefitError(f"Pow sign must be 1 or -1, got {self.sign!r}")
        if is_number(self.exponent):
            v = _fixed_exponent(self.exponent, "Pow exponent")
            object.__setattr__(self, "exponent", abs(v))
            object.__setattr__(self, "sign", self.sign if v > 0 else -self.sign)
        else:
            check_name(self.exponent, "Pow exponent name")
            names = {s.name for s in self.base.specs()}
            if self.exponent in names:
                raise ScalefitError(
                    f"parameter name {self.exponent!r} is used twice, in '{self.base.text()}' and as the exponent "
                    f"of its power; give the exponent its own name (e.g. {self.exponent + '_2'!r})"
                )
            if self.exponent in self.base.variables():
                raise ScalefitError(
                    f"{self.exponent!r} is used both as a variable and as a parameter name in "
                    f"'{self.text()}'; rename the exponent"
                )

    @property
    def fixed_exponent(self) -> bool:
        """Whether the exponent is a fixed number (no exponent parameter)."""
        return not isinstance(self.exponent, str)

    def specs(self):
        own = ()
        if not self.fixed_exponent:
            vs = self.base.variables()
            own = (ParamSpec(self.exponent, "exponent", vs[0] if len(vs) == 1 else None),)
        return self.base.specs() + own

    def children(self):
        return (self.base,)

    def variables(self):
        return self.base.variables()

    def _power(self, values):
        return self.sign * (self.exponent if self.fixed_exponent else values[self.exponent])

    def _eval(self, p, x, xp):
        return xp.power(self.base._eval(p, x, xp), self._power(p))

    def _log_eval(self, theta, logx, xp):
        return self._power(theta) * self.base._log_eval(theta, logx, xp)

    def _exponent_text(self, name=lambda n: n):
        if self.fixed_exponent:
            return number_text(self.sign * self.exponent)
        return ("-" if self.sign < 0 else "") + name(self.exponent)

    def text(self):
        if _is_reciprocal(self):
            return "1 / " + _divisor_text(self.base)
        base = self.base.text() if isinstance(self.base, Constant | _Function) else f"({self.base.text()})"
        return f"{base}^{self._exponent_text()}"

    def latex(self):
        base = self.base.latex() if isinstance(self.base, Constant) else f"\\left({self.base.latex()}\\right)"
        return f"{base}^{{{self._exponent_text(latex_name)}}}"

    def to_dict(self):
        return {"type": "pow", "base": self.base.to_dict(), "exponent": self.exponent, "sign": self.sign}


# -- terms beyond sums of powers ---------------------------------------------------------
def _softplus(z, xp):
    """``log(1 + e^z)``, stable for any ``z`` (numpy or JAX)."""
    return xp.logaddexp(0.0, z)


def _log_sigmoid(z, xp):
    return -_softplus(-z, xp)


def _stop(v, xp):
    return jax.lax.stop_gradient(v) if xp is jnp else v


def _param_text(names) -> str:
    return ", ".join(str(n) for n in names)


class _Function(Term):
    """A term written as a function call in a formula (``bend(...)``, ``implicit(...)``)."""


@dataclass(frozen=True)
class Bend(_Function):
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
    if xp is jnp:
        u = jax.lax.fori_loop(0, IMPLICIT_STEPS, lambda _, u: step(u), _stop(u0, xp))
        u = _stop(u, xp)
        # one step carrying the implicit-function gradient; none where u is clipped (y at
        # its floor or ceiling, where the equation has no root and y does not move)
        inside = xp.abs(u) < 59.0
        return u - xp.where(inside, g(u) / _stop(xp.where(inside, slope(u), 1.0), xp), 0.0)
    u = u0
    for _ in range(IMPLICIT_STEPS):
        u = step(u)
    return u


@dataclass(frozen=True)
class Implicit(_Function):
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
        object.__setattr__(self, "rhs", _as_term(self.rhs, "implicit"))
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
class Saturate(_Function):
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
        object.__setattr__(self, "inner", _as_term(self.inner, "saturate"))
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
class Repeated(_Function):
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


def _exponent_from_dict(d: Mapping[str, Any]) -> str | float:
    e = d.get("exponent")
    if isinstance(e, str) or is_number(e):
        return e
    raise ScalefitError(f"saved law term has exponent {e!r}; expected a parameter name or a number")


#: Readers of saved term types defined in other modules, by ``type``: a module that defines a
#: term registers its reader here when it loads (``scalefit.laws`` loads them all).
TERM_READERS: dict[str, Any] = {}


def term_from_dict(d: Mapping[str, Any]) -> Term:
    """Rebuild a term from :meth:`Term.to_dict` output."""
    kind = d.get("type")
    if kind == "constant":
        return Constant(d["name"])
    if kind == "power":
        return Power(d["variable"], _exponent_from_dict(d), scale=d.get("scale"), amplitude=d.get("amplitude"))
    if kind == "pow":
        sign = d.get("sign", -1)
        if sign not in (1, -1) or isinstance(sign, bool):
            raise ScalefitError(f"saved power term has sign {sign!r}; expected 1 or -1")
        return Pow(term_from_dict(d["base"]), _exponent_from_dict(d), sign)
    if kind == "bend":
        return Bend(d["variable"], d["exponent"], d["location"], d["sharpness"])
    if kind == "implicit":
        return Implicit(term_from_dict(d["rhs"]), d["floor"], d["ceiling"], d["alpha"])
    if kind == "saturate":
        return Saturate(term_from_dict(d["inner"]), d["ceiling"])
    if kind == "repeated":
        return Repeated(d["tokens"], d["unique"], d["r_star"])
    if kind in TERM_READERS:  # a term type defined outside this module (the general expression)
        return TERM_READERS[kind](d)
    if kind in ("sum", "product"):
        cls = Sum if kind == "sum" else Product
        return cls(tuple(term_from_dict(t) for t in d["terms"]))
    raise ScalefitError(
        f"unknown law term type {kind!r} in saved law; expected constant, power, pow, sum, product, bend, "
        "implicit, saturate or repeated"
    )


@dataclass(frozen=True)
class Law:
    """A scaling law: an expression of terms plus a name, target metric and citation.

    Laws are immutable values. Build them from terms (``Constant("E") + Power(...)``) or
    take one from the catalogue (``scalefit.paper_error``). Any :class:`Term` is accepted
    wherever a law is expected and wrapped as ``Law(term)``.

    Parameters
    ----------
    expr : Term
        The expression.
    name : str
        Short name (the catalogue key for catalogue laws).
    metric : {"error_rate", "loss"} or None
        What the law predicts. ``"error_rate"`` makes data validation require targets in
        [0, 1]; fits of different metrics cannot be compared.
    reference : str
        Citation.
    description : str
        One line on what the law is for.
    """

    expr: Term
    name: str = "custom"
    metric: Metric | None = None
    reference: str = ""
    description: str = ""

    def __post_init__(self):
        if isinstance(self.expr, Law):
            raise TypeError("Law(expr) takes a term, not a Law; use the law itself")
        if not isinstance(self.expr, Term):
            raise TypeError(f"Law(expr) needs a Constant/Power/Pow/Sum/Product term, got {type(self.expr).__name__}")
        if self.metric not in (None, "error_rate", "loss"):
            raise ScalefitError(f"metric must be 'error_rate', 'loss' or None, got {self.metric!r}")

    # -- structure ---------------------------------------------------------------------
    @property
    def specs(self) -> dict[str, ParamSpec]:
        """Parameter name -> :class:`ParamSpec`, in order of appearance."""
        return dict(self._specs)

    @functools.cached_property
    def _specs(self) -> tuple[tuple[str, ParamSpec], ...]:
        """The walk of the expression behind :attr:`specs`, once per (immutable) law: a law of a
        thousand terms would otherwise walk them once per parameter."""
        return tuple((s.name, s) for s in self.expr.specs())

    @property
    def parameters(self) -> tuple[str, ...]:
        """Parameter names, in order of appearance in the formula."""
        return tuple(self.specs)

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names, in order of appearance in the formula."""
        return self.expr.variables()

    def __add__(self, other: Term | Law) -> Law:
        return Law(self.expr + _as_term(other, "+"))

    def __mul__(self, other: Term | Law) -> Law:
        return Law(self.expr * _as_term(other, "*"))

    def __truediv__(self, other: Term | Law) -> Law:
        return Law(self.expr / _as_term(other, "/"))

    def __pow__(self, power: Exponent | float) -> Law:
        return Law(_power_of(self.expr, power))

    def __sub__(self, other: Term | Law) -> Law:
        return Law(self.expr - other)

    def __neg__(self) -> Law:
        return Law(-self.expr)

    def powers(self) -> tuple[Power, ...]:
        """The :class:`Power` terms of the law (also inside :class:`Pow`), in order of appearance."""

        def walk(t):
            if isinstance(t, Power):
                yield t
            for child in t.children():
                yield from walk(child)

        return tuple(walk(self.expr))

    # -- printing ----------------------------------------------------------------------
    def formula(self) -> str:
        """Plain-text formula, e.g. ``E_inf + Dp^-alpha / lambda_p + ...``."""
        return self.expr.text()

    def latex(self) -> str:
        """LaTeX formula (no surrounding ``$``)."""
        return self.expr.latex()

    def __str__(self) -> str:
        return self.formula()

    def __repr__(self) -> str:
        return f"Law({self.name!r}: {self.formula()})"

    # -- parameter forms ---------------------------------------------------------------
    def _check_params(self, params: Mapping[str, Any], what: str = "params") -> None:
        missing = [n for n in self.parameters if n not in params]
        if missing:
            raise ScalefitError(
                f"{what} is missing {missing} for law {self.name!r} ({self.formula()}); "
                f"give a value for every parameter: {list(self.parameters)}"
            )
        extra = [n for n in params if n not in self.specs]
        if extra:
            raise ScalefitError(
                f"{what} has {extra}, which law {self.name!r} does not have; its parameters are {list(self.parameters)}"
            )

    def to_internal(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Paper form -> internal form (``log A``, ``-log lambda``, ``log c``, exponents)."""
        self._check_params(params)
        out = {}
        for name, spec in self.specs.items():
            v = params[name]
            xp = _namespace(v)
            if spec.role == "exponent":
                out[name] = v
            elif spec.role == "scale":
                out[name] = -xp.log(v)
            else:
                out[name] = xp.log(v)
        return out

    def from_internal(self, theta: Mapping[str, Any]) -> dict[str, Any]:
        """Internal form -> paper form; inverse of :meth:`to_internal`."""
        self._check_params(theta, "theta")
        out = {}
        for name, spec in self.specs.items():
            v = theta[name]
            xp = _namespace(v)
            if spec.role == "exponent":
                out[name] = v
            elif spec.role == "scale":
                out[name] = xp.exp(-v)
            else:
                out[name] = xp.exp(v)
        return out

    # -- evaluation --------------------------------------------------------------------
    def _gather_variables(self, data: Mapping[str, Any] | None, kw: Mapping[str, Any]):
        x = dict(kw)
        if data is not None:
            for v in self.variables:
                if v not in x:
                    try:
                        x[v] = data[v]
                    except (KeyError, IndexError):
                        pass
        missing = [v for v in self.variables if v not in x]
        if missing:
            raise ScalefitError(
                f"law {self.name!r} needs variables {missing}; pass them as keywords "
                f"(e.g. {missing[0]}=...) or in a mapping/DataFrame with those keys"
            )
        out = {}
        for v in self.variables:
            val = x[v]
            out[v] = val if isinstance(val, jax.Array) else np.asarray(val, dtype=float)
        return out

    def evaluate(self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None, **variables):
        """Evaluate the law in paper form.

        Works on numpy arrays (returns numpy) and JAX arrays (returns JAX, so it can be
        used under ``jit`` and ``vmap``). Variables come from ``data`` (a mapping or a
        DataFrame with the law's variable names) or as keywords.

        >>> from scalefit import chinchilla
        >>> p = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
        >>> round(float(chinchilla.evaluate(p, N=70e9, D=1.4e12)), 3)
        1.937
        """
        self._check_params(params)
        x = self._gather_variables(data, variables)
        xp = _namespace(*params.values(), *x.values())
        return self.expr._eval(params, x, xp)

    __call__ = evaluate

    def log_evaluate(self, theta: Mapping[str, Any], logx: Mapping[str, Any]):
        """``log`` of the law from internal parameters and ``log`` variables (JAX/numpy).

        This is the form the fitters use: a log-sum-exp of log-terms, exact and stable
        even where a term under- or overflows in linear space.
        """
        xp = _namespace(*theta.values(), *logx.values())
        return self.expr._log_eval(theta, logx, xp)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description; :meth:`from_dict` rebuilds an equal law."""
        return {
            "name": self.name,
            "metric": self.metric,
            "reference": self.reference,
            "description": self.description,
            "expr": self.expr.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Law:
        """Rebuild a law from :meth:`to_dict` output."""
        return cls(
            term_from_dict(d["expr"]),
            name=d.get("name", "custom"),
            metric=d.get("metric"),
            reference=d.get("reference", ""),
            description=d.get("description", ""),
        )

    def replace(self, **changes) -> Law:
        """A copy with fields changed (``law.replace(metric="loss")``)."""
        return dataclasses.replace(self, **changes)
