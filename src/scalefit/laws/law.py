"""The :class:`Law` value: an expression of terms plus a name, target metric and citation.

A law evaluates in paper form (:meth:`Law.evaluate`) and, for the fitters, in log space from
internal-form parameters (:meth:`Law.log_evaluate`). Every parameter has a *paper form* (the
value a user reads and writes: ``lambda_p``, ``A``, ``alpha``) and an *internal form* in
which fitting is well conditioned: log-amplitudes (``log A``, ``-log lambda``, ``log c``)
and positive exponents (:meth:`Law.to_internal`, :meth:`Law.from_internal`). A law saves
to a dict and reads back (:meth:`Law.to_dict`, :func:`term_from_dict`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.laws.arrays import is_jax, namespace
from scalefit.laws.function_terms import Bend, Implicit, Repeated, Saturate
from scalefit.laws.params import ParamSpec, is_number
from scalefit.laws.terms import Constant, Exponent, Pow, Power, Product, Sum, Term, TermHolder, as_term, power_of

Metric = Literal["error_rate", "loss"]


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
class Law(TermHolder):
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

    @property
    def zero_allowed(self) -> tuple[str, ...]:
        """Variables that may be 0 in the runs (a general expression law's: it is evaluated
        without their logs); none for the log-space algebra."""
        return tuple(getattr(self.expr, "zero_allowed", ()))

    def __add__(self, other: Term | Law) -> Law:
        return Law(self.expr + as_term(other, "+"))

    def __mul__(self, other: Term | Law) -> Law:
        return Law(self.expr * as_term(other, "*"))

    def __truediv__(self, other: Term | Law) -> Law:
        return Law(self.expr / as_term(other, "/"))

    def __pow__(self, power: Exponent | float) -> Law:
        return Law(power_of(self.expr, power))

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
        with np.errstate(divide="ignore"):  # a constant, amplitude or scale at 0 is at -inf (+inf) inside
            for name, spec in self.specs.items():
                v = params[name]
                xp = namespace(v)
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
            xp = namespace(v)
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
            out[v] = val if is_jax(val) else np.asarray(val, dtype=float)
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
        xp = namespace(*params.values(), *x.values())
        return self.expr._eval(params, x, xp)

    __call__ = evaluate

    def log_evaluate(self, theta: Mapping[str, Any], logx: Mapping[str, Any]):
        """``log`` of the law from internal parameters and ``log`` variables (JAX/numpy).

        This is the form the fitters use: a log-sum-exp of log-terms, exact and stable
        even where a term under- or overflows in linear space.
        """
        xp = namespace(*theta.values(), *logx.values())
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
