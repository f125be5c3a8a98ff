"""The terms of a scaling law and their log-space algebra.

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
The terms written as function calls (``bend``, ``implicit``, ``saturate``, ``repeated``)
are in :mod:`scalefit.laws.function_terms`; the :class:`~scalefit.Law` value that wraps a
term is in :mod:`scalefit.laws.law`.

Each term evaluates in log space from internal-form parameters; a sum is a log-sum-exp of
log-terms (Hoffmann et al. 2022; Besiroglu et al. 2024), which is what the fitters use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.laws.params import ParamSpec, check_name, is_number, latex_name, number_text


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

    def __add__(self, other: Term | TermHolder) -> Sum:
        if _general(other):
            return _general(other)("+", self, other)
        return Sum((self, as_term(other, "+")))

    def __mul__(self, other: Term | TermHolder) -> Product:
        if _general(other):
            return _general(other)("*", self, other)
        return Product((self, as_term(other, "*")))

    def __truediv__(self, other: Term | TermHolder) -> Product:
        if _general(other):
            return _general(other)("/", self, other)
        return Product((self, Pow(as_term(other, "/"), 1.0)))

    def __rtruediv__(self, other: object) -> Pow:
        if is_number(other) and float(other) == 1.0:
            return Pow(self, 1.0)
        raise TypeError(
            f"cannot divide {type(other).__name__} {other!r} by a law term; only 1 / term (its reciprocal) "
            "is allowed — wrap other constants as Constant('name')"
        )

    def __pow__(self, power: Exponent | float) -> Pow:
        return power_of(self, power)

    def __sub__(self, other: object) -> Term:  # beyond the positive algebra: a general expression
        return GENERAL["combine"]("-", self, other)

    def __rsub__(self, other: object) -> Term:
        return GENERAL["combine"]("-", other, self)

    def __neg__(self) -> Term:
        return GENERAL["negate"](self)

    def __str__(self) -> str:
        return self.text()


#: The general expression path's operations (``combine``, ``negate``), registered by
#: :mod:`scalefit.laws.expression_algebra` when it loads (``scalefit.laws`` loads it), so that the
#: algebra here can hand a term to it without importing it (general builds on these terms).
GENERAL: dict[str, Any] = {}


def _general(other: object):
    """``combine`` of the general path when ``other`` is a general expression (or a law of
    one): then ``term op other`` is a general expression too, not a log-space sum or product."""
    expr = other.expr if isinstance(other, TermHolder) else other
    if type(expr).__name__ == "Expression":
        return GENERAL["combine"]
    return None


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


def power_of(base: Term, power: object) -> Pow:
    """``base ** power`` for a number or an :class:`Exponent` (a TypeError for anything else)."""
    if isinstance(power, Exponent):
        return Pow(base, power.name, power.sign)
    if is_number(power):
        v = float(power)
        return Pow(base, abs(v), 1 if v > 0 else -1)
    hint = f" (for a fitted exponent write ** -Exponent({power!r}))" if isinstance(power, str) else ""
    raise TypeError(
        f"a law term can be raised to a number or to -Exponent('name'), got {type(power).__name__} {power!r}{hint}"
    )


def as_term(obj: object, op: str) -> Term:
    """``obj`` as a term (a law gives its ``expr``), or a TypeError naming the operator ``op``."""
    if isinstance(obj, TermHolder):
        return obj.expr
    if isinstance(obj, Term):
        return obj
    raise TypeError(
        f"cannot combine a law term with {type(obj).__name__} {obj!r} by '{op}'; "
        "wrap constants as Constant('name') so they become fitted parameters"
    )


class TermHolder:
    """A value that wraps one term as ``expr`` (:class:`~scalefit.Law`): the algebra takes its term."""

    expr: Term


class Function(Term):
    """A term written as a function call in a formula (``bend(...)``, ``implicit(...)``)."""


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
            t = as_term(t, self._op)
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
    single = isinstance(t, Constant | Function) or (isinstance(t, Pow) and not _is_reciprocal(t))
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
        object.__setattr__(self, "base", as_term(self.base, "**"))
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
        base = self.base.text() if isinstance(self.base, Constant | Function) else f"({self.base.text()})"
        return f"{base}^{self._exponent_text()}"

    def latex(self):
        base = self.base.latex() if isinstance(self.base, Constant) else f"\\left({self.base.latex()}\\right)"
        return f"{base}^{{{self._exponent_text(latex_name)}}}"

    def to_dict(self):
        return {"type": "pow", "base": self.base.to_dict(), "exponent": self.exponent, "sign": self.sign}
