"""General expression laws: any formula of variables and parameters, written as a paper writes it.

The log-space algebra of :mod:`scalefit.laws.terms` (positive constants, powers, products, sums,
powers of laws and four function terms) is fast and well conditioned, and
:func:`scalefit.parse_law` uses it whenever a formula fits it. Every other formula becomes an
:class:`Expression`: a term holding the formula's tree, compiled by JAX (through the same
:class:`~scalefit.Law` interface) once per structure, and fitted by both fitters.

The language
------------
``+ - * /``, ``^`` (or ``**``), unary minus, numbers, parentheses, and the functions
``exp``, ``log``, ``sqrt``, ``sigmoid`` (``1 / (1 + exp(-z))``), ``softplus``
(``log(1 + exp(z))``), ``min(a, b, ...)`` and ``max(a, b, ...)``. Examples::

    exp(s*N^q + S) + exp(B*N^b + Q) * D^(-exp(A*N^a + E))      # Farseer
    exp(a*log(N) + b*log(E) + c*log(N)*log(E) + d)              # Clark et al. (MoE)
    (A/(N*(k*log(S) + 1)))^alpha + E                            # ParScale
    L0 + A*S1^-alpha - C*S2                                     # Tissue et al. (LR annealing)

The text is parsed (Python's :mod:`ast` through :mod:`scalefit.syntax`: size, depth and
name checks), never evaluated; only the node types above are accepted and anything else
is refused naming the offending part.

Parameters and their default ranges
-----------------------------------
Every name that is not a variable is a parameter. Its *role* comes from its position:

* directly in the exponent of ``^`` (``N^-alpha``, ``N^q``): an **exponent**, fitted ``>= 0``
  (the sign written in front of it says whether the term falls or grows);
* inside the argument of ``exp``, ``sigmoid`` or ``softplus`` (and nowhere else), other than
  as a divisor: a **signed** parameter (any real value; ``exp`` of anything is positive);
* anywhere else (a coefficient, an additive floor, a constant inside a base): a positive
  **constant**, fitted as ``log c`` (so it stays > 0; a value 0 is its lower limit).

``signed=[...]`` makes any parameter signed (a floor a paper lets go negative, an exponent of
either sign); ``fit_law(bounds=...)`` narrows any range; ``starts={name: (low, high)}`` in
:func:`~scalefit.parse_law` sets the range random starts are drawn from.

Targets and variables
---------------------
Variables may be 0 where the law is defined there (mixture proportions); negative variable
values are refused. Where targets are <= 0 or cross zero, fit on the natural scale with
``objective="squared"`` (least squares, additive residuals) or ``NUTS(noise="normal")`` (``y ~
Normal(f, sigma)``) with ``objective="squared"`` too (its starting fit is a least-squares one):
the log-residual objectives need positive targets and say so.

What is slower or less stable than the log-space path
-----------------------------------------------------
The expression is evaluated in linear space (``log f`` where a log objective asks for it),
variables stay in the user's units (no normalisation by their geometric mean: the general
path cannot know which parameter carries a variable's unit), and random starts are drawn from
positional ranges rather than from the structure of a sum of powers. Give ``starts=`` ranges
for parameters whose scale is far from O(1) (e.g. an amplitude of ``N`` in parameters).

The formula's tree (reading, walking, evaluating, printing) is in
:mod:`scalefit.laws.expression_tree`; ``Variable``, ``exp``, ``log`` and the other functions
that build expressions in Python are in :mod:`scalefit.laws.expression_algebra`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit import syntax
from scalefit.errors import ScalefitError
from scalefit.laws.arrays import namespace
from scalefit.laws.expression_tree import (
    Node,
    evaluate_tree,
    names_in_order,
    parameter_positions,
    read_tree,
    tree_latex,
    tree_text,
    walk_tree,
)
from scalefit.laws.law import TERM_READERS, Law, Metric
from scalefit.laws.params import ParamSpec
from scalefit.laws.terms import Term


@dataclass(frozen=True)
class Expression(Term):
    """A law written as any formula (see the module docstring); made by :func:`scalefit.parse_law`.

    Parameters
    ----------
    formula : str
        The formula text.
    vars : tuple of str
        Its variables (every other name is a parameter).
    signed : tuple of str
        Parameters allowed any sign (identity internal form, no default bound).
    start_ranges : tuple of (name, low, high)
        Paper-form ranges random starts of those parameters are drawn from (log-uniform for
        a positive constant, uniform otherwise).
    """

    formula: str
    vars: tuple[str, ...]
    signed: tuple[str, ...] = ()
    start_ranges: tuple[tuple[str, float, float], ...] = ()
    tree: Node = field(default=(), compare=False, repr=False)

    def __post_init__(self):
        node, vs, _ = read_tree(self.formula, self.vars, allow_none=True)
        object.__setattr__(self, "tree", node)
        object.__setattr__(self, "vars", vs)
        params = names_in_order(node, "par")
        object.__setattr__(self, "formula", tree_text(node))  # canonical text: equal laws print (and compare) equal
        for group, what in ((self.signed, "signed"), (tuple(r[0] for r in self.start_ranges), "starts")):
            unknown = [n for n in group if n not in params]
            if unknown:
                variables = [n for n in unknown if n in vs]
                also = f" ({', '.join(variables)}: a variable, not a parameter)" if variables else ""
                raise ScalefitError(f"{what}= names {unknown}, which are not parameters of the formula{also}; its "
                                    f"parameters are {params}")  # fmt: skip
        for n, lo, hi in self.start_ranges:
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ScalefitError(f"starts[{n!r}] = ({lo}, {hi}) must be a finite (low, high) range with low < high")

    def check_start_ranges(self) -> None:
        """``starts=`` ranges outside a parameter's own range (an exponent's below 0, a positive
        constant's at or below 0) would start every draw at its bound: refused where a law is
        written (:func:`parse_law`), not where a saved one is read back (it is clipped there)."""
        roles = self.roles
        for n, lo, hi in self.start_ranges:
            if roles[n] == "exponent" and lo < 0:
                raise ScalefitError(
                    f"starts[{n!r}] = ({lo:g}, {hi:g}) reaches below 0, but {n} is an exponent, fitted >= 0 (the "
                    f"sign written before it says whether the term falls or grows); give a range within [0, inf), "
                    f"or let {n} take either sign with signed=[{n!r}]"
                )
            if roles[n] == "constant" and lo <= 0:
                raise ScalefitError(
                    f"starts[{n!r}] = ({lo:g}, {hi:g}) reaches 0 or below, but {n} is a positive constant (fitted as "
                    f"log {n}); give a range of positive values, or let {n} take either sign with signed=[{n!r}]"
                )

    # -- structure ------------------------------------------------------------------------
    @property
    def roles(self) -> dict[str, str]:
        """Parameter -> ``"exponent"`` / ``"signed"`` / ``"constant"`` (see the module docstring)."""
        where = parameter_positions(self.tree)
        out = {}
        for n in names_in_order(self.tree, "par"):
            if n in self.signed:
                out[n] = "signed"
            elif "exponent" in where[n]:
                out[n] = "exponent"
            elif where[n] == {"real"}:
                out[n] = "signed"
            else:
                out[n] = "constant"
        return out

    def specs(self):
        return tuple(
            ParamSpec(n, "constant" if r == "constant" else "exponent", signed=r == "signed")
            for n, r in self.roles.items()
        )

    def variables(self):
        return self.vars

    @property
    def zero_allowed(self) -> tuple[str, ...]:
        """Variables that may be 0 in the runs table (every variable of an expression)."""
        return self.vars

    # -- evaluation -----------------------------------------------------------------------
    def _eval(self, p, x, xp):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return evaluate_tree(self.tree, p, x, None, xp)

    def _paper(self, theta, xp):
        roles = self.roles
        return {n: (xp.exp(v) if roles.get(n) == "constant" else v) for n, v in theta.items()}

    def natural(self, theta, logx, xp):
        """The law's value (linear scale) from internal parameters and ``log`` variables."""
        x = {v: xp.exp(a) for v, a in logx.items()}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return evaluate_tree(self.tree, self._paper(theta, xp), x, logx, xp)

    def _log_eval(self, theta, logx, xp):
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.log(self.natural(theta, logx, xp))

    # -- printing and saving --------------------------------------------------------------
    def text(self):
        return tree_text(self.tree)

    def latex(self):
        return tree_latex(self.tree)

    def to_dict(self):
        out: dict[str, Any] = {"type": "expression", "formula": self.text(), "variables": list(self.vars)}
        if self.signed:
            out["signed"] = list(self.signed)
        if self.start_ranges:
            out["starts"] = {n: [lo, hi] for n, lo, hi in self.start_ranges}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Expression:
        starts = d.get("starts") or {}
        if not isinstance(starts, Mapping):
            raise ScalefitError(f"saved expression has starts {starts!r}; expected {{name: [low, high]}}")
        return cls(
            str(d["formula"]),
            tuple(d["variables"]),
            tuple(d.get("signed") or ()),
            tuple((str(n), float(r[0]), float(r[1])) for n, r in starts.items()),
        )

    # -- starting points ------------------------------------------------------------------
    def random_starts(self, problem, x: Mapping[str, np.ndarray], y: np.ndarray, n: int, rng) -> np.ndarray:
        """``n`` starts (internal form of the free parameters) drawn by position.

        Exponents: U(0.02, 2.5); signed parameters: U(-2, 2); a constant that is a factor
        of a product: its log drawn so that the product, at the median of the runs'
        variables, lies between ``e^-4`` and ``e^2`` times the target's typical size where
        the product is a term of the law (a summand at the top), or between ``e^-3`` and
        ``e^3`` inside a sub-expression; an additive floor at the top: its log in
        ``[log min|y| - 6, log min|y|]``; any other constant: log in U(-4, 4). ``starts=``
        ranges of :func:`~scalefit.parse_law` replace these; draws are clipped into bounds.
        A subtracted term is drawn 3 e-folds smaller. Eight times ``n`` candidates are drawn
        and those at which the law is finite on every run (and positive, where every target
        is) are kept first, so a start is rarely lost to a law undefined at it.
        """
        m = 8 * n
        out = self._draw(problem, x, y, m, rng)
        xs = {v: np.asarray(a, dtype=float)[None, :] for v, a in x.items()}
        with np.errstate(all="ignore"):
            paper = {k: np.asarray(v, dtype=float)[:, None] for k, v in problem.paper(out).items()}
            pred = np.broadcast_to(evaluate_tree(self.tree, paper, xs, None, np), (m, len(y)))
        ok = np.all(np.isfinite(pred), axis=1)
        if np.all(np.asarray(y) > 0):
            ok &= np.all(pred > 0, axis=1)
        order = np.argsort(~ok, kind="stable")
        return out[order[:n]]

    def _draw(self, problem, x, y, n, rng) -> np.ndarray:
        roles = self.roles
        ranges = {r[0]: (r[1], r[2]) for r in self.start_ranges}
        ay = np.abs(np.asarray(y, dtype=float))
        ylo = float(np.log(np.min(ay[ay > 0]))) if np.any(ay > 0) else 0.0
        yhi = float(np.log(np.max(ay))) if np.any(ay > 0) else 0.0
        med = {}
        for v, a in x.items():
            a = np.asarray(a, dtype=float)
            med[v] = float(np.median(a[a != 0])) if np.any(a != 0) else 0.0
        names = list(roles)
        values: dict[str, np.ndarray] = {}
        for name in names:
            role = roles[name]
            if name in ranges:
                lo, hi = ranges[name]
                if role == "constant":
                    lo, hi = np.log(max(lo, 1e-300)), np.log(max(hi, 1e-300))
                values[name] = rng.uniform(lo, hi, n)
            elif role == "exponent":
                values[name] = rng.uniform(0.02, 2.5, n)
            elif role == "signed":
                values[name] = rng.uniform(-2.0, 2.0, n)
            else:
                values[name] = rng.uniform(-4.0, 4.0, n)
        # constants by place: floors and factors, drawn against the other parameters' draws
        top = [c for _, c in self.tree[1]] if self.tree[0] == "sum" else [self.tree]
        minus = {id(c) for s, c in self.tree[1] if s < 0} if self.tree[0] == "sum" else set()
        done = set(ranges)
        for level, nodes in (("top", top), ("inner", [m for m in walk_tree(self.tree) if m not in top])):
            for node in nodes:
                if node[0] == "par" and roles[node[1]] == "constant" and node[1] not in done and level == "top":
                    values[node[1]] = rng.uniform(ylo - 6.0, ylo, n)
                    done.add(node[1])
                if node[0] != "prod":
                    continue
                for i, (power, child) in enumerate(node[1]):
                    if child[0] != "par" or roles[child[1]] != "constant" or child[1] in done:
                        continue
                    rest = ("prod", tuple(f for j, f in enumerate(node[1]) if j != i)) if len(node[1]) > 1 else None
                    paper = {k: (np.exp(v) if roles[k] == "constant" else v) for k, v in values.items()}
                    with np.errstate(all="ignore"):
                        size = np.abs(evaluate_tree(rest, paper, med, None, np)) if rest else np.ones(n)
                        shift = np.where(np.isfinite(np.log(size)), np.log(size), 0.0)
                    if level == "inner":
                        target = rng.uniform(-3.0, 3.0, n)
                    elif id(node) in minus:
                        target = rng.uniform(ylo - 7.0, ylo - 1.0, n)
                    else:
                        target = rng.uniform(ylo - 4.0, yhi + 2.0, n)
                    values[child[1]] = power * (target - shift)
                    done.add(child[1])
        out = np.zeros((n, len(problem.free)))
        for i, name in enumerate(problem.free):
            lo, hi = problem.lo[i], problem.hi[i]
            if np.isfinite(lo) and np.isfinite(hi) and name not in ranges:
                out[:, i] = rng.uniform(lo, hi, n)
            else:
                out[:, i] = np.clip(values[name], lo, hi)
        return out


def is_general(law: Law) -> bool:
    """Whether ``law`` is a general expression law (evaluated in linear space)."""
    return isinstance(law.expr, Expression)


def natural_value(law: Law, theta, logx):
    """The law's value on the natural scale from internal parameters and ``log`` variables
    (JAX or NumPy): exact for an expression law (which may be <= 0), ``exp(log f)`` for the
    log-space algebra."""
    xp = namespace(*theta.values(), *logx.values())
    if isinstance(law.expr, Expression):
        return law.expr.natural(theta, logx, xp)
    return xp.exp(law.log_evaluate(theta, logx))


def _starts_arg(starts: Mapping[str, object] | None) -> tuple[tuple[str, float, float], ...]:
    if starts is None:
        return ()
    if not isinstance(starts, Mapping):
        raise TypeError(f"starts must be a dict {{name: (low, high)}}, got {type(starts).__name__} {starts!r}")
    out = []
    for n, r in starts.items():
        if not isinstance(r, tuple | list) or len(r) != 2:
            raise ScalefitError(f"starts[{n!r}] must be a (low, high) range of starting values, got {r!r}")
        try:
            lo, hi = float(r[0]), float(r[1])
        except (TypeError, ValueError):
            raise ScalefitError(f"starts[{n!r}] must hold two numbers, got {r!r}") from None
        out.append((str(n), lo, hi))
    return tuple(out)


def _names_arg(value: Iterable[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    out = tuple(value)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"{what} must be parameter names (strings), got {type(v).__name__} {v!r}")
    return out


def parse_general(
    formula: str,
    variables: Iterable[str] | None = None,
    *,
    signed: Iterable[str] | None = None,
    starts: Mapping[str, object] | None = None,
    name: str = "custom",
    metric: Metric | None = None,
    reference: str = "",
    description: str = "",
) -> Law:
    """A :class:`~scalefit.Law` holding an :class:`Expression` (the general path, always)."""
    node, vs, _ = read_tree(formula, variables)
    if not names_in_order(node, "par"):
        raise ScalefitError(
            f"formula {syntax.shown(formula)} has no parameters to fit (its names {list(vs)} are all variables); name "
            "the parameters, e.g. 'E + A*N^-alpha'"
        )
    expr = Expression(formula.strip(), vs, _names_arg(signed, "signed"), _starts_arg(starts))
    expr.check_start_ranges()
    return Law(expr, name=name, metric=metric, reference=reference, description=description)


def parse_law(
    formula: str,
    variables: Iterable[str] | None = None,
    *,
    name: str = "custom",
    metric: Metric | None = None,
    reference: str = "",
    description: str = "",
    general: bool | None = None,
    signed: Iterable[str] | None = None,
    starts: Mapping[str, object] | None = None,
) -> Law:
    """A :class:`~scalefit.Law` from a formula string, on the fast path where it can be.

    Parameters
    ----------
    formula : str
        Any formula of the variables and parameters (see :mod:`scalefit.laws.general` for the
        language and the default range of each parameter), e.g.
        ``"E + A*N^-alpha + B*D^-beta"`` (Chinchilla: the log-space algebra) or
        ``"exp(s*N^q + S) + exp(B*N^b + Q) * D^(-exp(A*N^a + E))"`` (Farseer: an
        :class:`Expression`).
    variables : iterable of str, optional
        The variables. By default every name used directly as the base of ``^`` (or, for a
        general formula, passed to ``log``/``sqrt``) is one — give them whenever a variable
        appears only as a factor (``C*S2``) or would otherwise be read as a parameter.
    name, metric, reference, description
        As for :class:`~scalefit.Law`.
    general : bool, optional
        ``None`` (default): the positive log-space algebra when the formula fits it (fast and
        well conditioned), else the general expression law. ``True`` forces the general
        path; ``False`` refuses formulas the log-space algebra cannot express.
    signed : iterable of str, optional
        Parameters that may take either sign (general path).
    starts : dict, optional
        ``{parameter: (low, high)}`` paper-form range random starts are drawn from (general path).

    Returns
    -------
    Law

    Examples
    --------
    >>> from scalefit import parse_law
    >>> law = parse_law("E + A*N^-alpha + B*D^-beta", name="chinchilla")
    >>> law.variables, law.parameters
    (('N', 'D'), ('E', 'alpha', 'A', 'beta', 'B'))
    >>> print(parse_law("b * (1/x + g)^c", variables=["x"]))
    b * (x^-1 + g)^c
    >>> law = parse_law("L0 + A*S1^-alpha - C*S2", variables=["S1", "S2"])
    >>> type(law.expr).__name__, law.parameters
    ('Expression', ('L0', 'A', 'alpha', 'C'))
    """
    from scalefit.laws.formula import parse_log_space

    if general not in (None, True, False):
        raise TypeError(f"general must be None, True or False, got {general!r}")
    meta = dict(name=name, metric=metric, reference=reference, description=description)
    if general is False:
        if signed or starts:
            raise ScalefitError("signed= and starts= apply to the general path; drop them or leave general= unset")
        return parse_log_space(formula, variables, **meta)
    if general is None and not signed and not starts:
        try:
            return parse_log_space(formula, variables, **meta)
        except ScalefitError as fast_error:
            try:
                return parse_general(formula, variables, **meta)
            except ScalefitError as exc:
                log_space_only = re.search(r"\b(bend|implicit|saturate|repeated)\s*\(", formula)
                if log_space_only or "cannot be parsed" in str(fast_error) or "nested" in str(fast_error):
                    raise fast_error from None  # the log-space algebra's own message says what is wrong
                raise exc from None
    return parse_general(formula, variables, signed=signed, starts=starts, **meta)


TERM_READERS["expression"] = Expression.from_dict
