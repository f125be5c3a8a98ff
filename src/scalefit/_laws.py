"""Composable scaling laws: terms, their algebra, and the :class:`Law` value.

A law is built from two kinds of term,

* :class:`Constant` — a positive constant ``c`` (an irreducible error, a transfer gap);
* :class:`Power` — a power of one variable, ``x^-a / lambda`` in the paper's form, which
  is the same family as ``A * x^-a`` with ``A = 1 / lambda``; or a bare ``x^-a``;

composed with ``+`` and ``*``::

    >>> from scalefit import Constant, Power
    >>> law = Constant("E") + Power("N", "alpha", amplitude="A") + Power("D", "beta", amplitude="B")
    >>> print(law)
    E + A * N^-alpha + B * D^-beta

Every parameter has a *paper form* (the value a user reads and writes: ``lambda_p``,
``A``, ``alpha``) and an *internal form* in which fitting is well conditioned:
log-amplitudes (``log A``, ``-log lambda``, ``log c``) and positive exponents. A law
evaluates in log space as a log-sum-exp of log-terms (Hoffmann et al. 2022; Besiroglu
et al. 2024), which is what the fitters use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import ScalefitError

Role = Literal["constant", "amplitude", "scale", "exponent"]
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


def _namespace(*values: Any):
    """``jax.numpy`` if any value is a JAX array (or tracer), else ``numpy``."""
    for v in values:
        if isinstance(v, jax.Array):
            return jnp
    return np


def _check_name(name: object, what: str) -> str:
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
        raise NotImplementedError

    def variables(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _eval(self, p: Mapping[str, Any], x: Mapping[str, Any], xp) -> Any:
        raise NotImplementedError

    def _log_eval(self, theta: Mapping[str, Any], logx: Mapping[str, Any], xp) -> Any:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def latex(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __add__(self, other: Term | Law) -> Sum:
        return Sum((self, _as_term(other, "+")))

    def __mul__(self, other: Term | Law) -> Product:
        return Product((self, _as_term(other, "*")))

    def __str__(self) -> str:
        return self.text()


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
        _check_name(self.name, "Constant name")

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
    The exponent is positive (the term falls as ``x`` grows). Internally the amplitude is
    ``log A`` (``-log lambda``), which keeps fits well conditioned.
    """

    variable: str
    exponent: str
    scale: str | None = None
    amplitude: str | None = None

    def __post_init__(self):
        _check_name(self.variable, "Power variable")
        _check_name(self.exponent, "Power exponent name")
        if self.scale is not None and self.amplitude is not None:
            raise ScalefitError(
                f"Power({self.variable!r}) got both scale={self.scale!r} and "
                f"amplitude={self.amplitude!r}; give one: scale for x^-a / lambda, "
                "amplitude for A * x^-a"
            )
        coef = self.scale if self.scale is not None else self.amplitude
        if coef is not None:
            _check_name(coef, "Power scale/amplitude name")
            if coef == self.exponent:
                raise ScalefitError(
                    f"Power({self.variable!r}) uses {coef!r} as both exponent and amplitude; give them different names"
                )

    @property
    def coefficient(self) -> str | None:
        return self.scale if self.scale is not None else self.amplitude

    def specs(self):
        out = [ParamSpec(self.exponent, "exponent", self.variable)]
        if self.scale is not None:
            out.append(ParamSpec(self.scale, "scale", self.variable))
        elif self.amplitude is not None:
            out.append(ParamSpec(self.amplitude, "amplitude", self.variable))
        return tuple(out)

    def variables(self):
        return (self.variable,)

    def _eval(self, p, x, xp):
        val = xp.power(x[self.variable], -p[self.exponent])
        if self.scale is not None:
            return val / p[self.scale]
        if self.amplitude is not None:
            return p[self.amplitude] * val
        return val

    def _log_eval(self, theta, logx, xp):
        out = -theta[self.exponent] * logx[self.variable]
        coef = self.coefficient
        return out + theta[coef] if coef is not None else out

    def text(self):
        base = f"{self.variable}^-{self.exponent}"
        if self.scale is not None:
            return f"{base} / {self.scale}"
        if self.amplitude is not None:
            return f"{self.amplitude} * {base}"
        return base

    def latex(self):
        base = f"{latex_name(self.variable)}^{{-{latex_name(self.exponent)}}}"
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
        return " * ".join(f"({t.text()})" if isinstance(t, Sum) else t.text() for t in self.terms)

    def latex(self):
        return "\\,".join(f"\\left({t.latex()}\\right)" if isinstance(t, Sum) else t.latex() for t in self.terms)


def term_from_dict(d: Mapping[str, Any]) -> Term:
    """Rebuild a term from :meth:`Term.to_dict` output."""
    kind = d.get("type")
    if kind == "constant":
        return Constant(d["name"])
    if kind == "power":
        return Power(d["variable"], d["exponent"], scale=d.get("scale"), amplitude=d.get("amplitude"))
    if kind in ("sum", "product"):
        cls = Sum if kind == "sum" else Product
        return cls(tuple(term_from_dict(t) for t in d["terms"]))
    raise ScalefitError(f"unknown law term type {kind!r} in saved law; expected constant, power, sum or product")


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
            raise TypeError(f"Law(expr) needs a Constant/Power/Sum/Product term, got {type(self.expr).__name__}")
        if self.metric not in (None, "error_rate", "loss"):
            raise ScalefitError(f"metric must be 'error_rate', 'loss' or None, got {self.metric!r}")

    # -- structure ---------------------------------------------------------------------
    @property
    def specs(self) -> dict[str, ParamSpec]:
        """Parameter name -> :class:`ParamSpec`, in order of appearance."""
        return {s.name: s for s in self.expr.specs()}

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

    def powers(self) -> tuple[Power, ...]:
        """The :class:`Power` terms of the law, in order of appearance."""

        def walk(t):
            if isinstance(t, Power):
                yield t
            for child in getattr(t, "terms", ()):
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


def as_law(law: Law | Term) -> Law:
    """Accept a :class:`Law` or a bare :class:`Term` wherever a law is expected."""
    if isinstance(law, Law):
        return law
    if isinstance(law, Term):
        return Law(law)
    hint = f" (for the catalogue law, pass scalefit.get_law({law!r}))" if isinstance(law, str) else ""
    raise TypeError(
        f"law must be a scalefit Law or term (e.g. scalefit.paper_error), got {type(law).__name__} "
        f"{law!r}{hint}; catalogue laws are listed by scalefit.list_laws()"
    )
