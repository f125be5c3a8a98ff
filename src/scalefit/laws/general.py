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
``objective="squared"`` (least squares, additive residuals) or ``noise="normal"`` (NUTS,
``y ~ Normal(f, sigma)``): the log-residual objectives need positive targets and say so.

What is slower or less stable than the log-space path
-----------------------------------------------------
The expression is evaluated in linear space (``log f`` where a log objective asks for it),
variables stay in the user's units (no normalisation by their geometric mean: the general
path cannot know which parameter carries a variable's unit), and random starts are drawn from
positional ranges rather than from the structure of a sum of powers. Give ``starts=`` ranges
for parameters whose scale is far from O(1) (e.g. an amplitude of ``N`` in parameters).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np

from scalefit import syntax
from scalefit.errors import ScalefitError
from scalefit.laws.terms import (
    GENERAL,
    TERM_READERS,
    Law,
    Metric,
    ParamSpec,
    Power,
    Term,
    check_name,
    is_number,
    latex_name,
    number_text,
)

#: Functions of the general language: name -> (min args, max args or None, description).
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "exp": (1, 1, "exp(z)"),
    "log": (1, 1, "log(z), natural"),
    "sqrt": (1, 1, "sqrt(z)"),
    "sigmoid": (1, 1, "sigmoid(z) = 1/(1 + exp(-z))"),
    "softplus": (1, 1, "softplus(z) = log(1 + exp(z))"),
    "min": (2, None, "min(a, b, ...)"),
    "max": (2, None, "max(a, b, ...)"),
}
#: Functions whose argument takes any real value (parameters only inside them are signed).
_ANY_REAL = ("exp", "sigmoid", "softplus")

LANGUAGE = "names, numbers, + - * / ^ (or **), unary minus, parentheses and the functions " + ", ".join(
    f"{k}()" for k in FUNCTIONS
)

# A node is a tuple: ("num", value) | ("var", name) | ("par", name) | ("neg", child)
# | ("sum", ((sign, child), ...)) | ("prod", ((power, child), ...)) with power +1 (times) or -1 (divide)
# | ("pow", base, exponent) | ("call", fn, (args...)).
Node = tuple

_PREC = {"sum": 1, "prod": 2, "neg": 3, "pow": 4, "call": 5, "num": 5, "var": 5, "par": 5}


# -- parsing --------------------------------------------------------------------------------
class _Reader:
    """Python :mod:`ast` of the formula -> node tuples, over a whitelist of node types."""

    def __init__(self, formula: str, variables: frozenset[str]):
        self.formula = formula
        self.source = formula.strip().replace("^", "**")
        self.variables = variables

    def part(self, node: ast.AST) -> str:
        return syntax.segment(self.source, node).replace("**", "^")

    def fail(self, node: ast.AST, why: str) -> ScalefitError:
        return ScalefitError(
            f"formula {syntax.shown(self.formula)}: {why} (in '{self.part(node)}'); a formula may use {LANGUAGE}"
        )

    def read(self, node: ast.AST) -> Node:
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add | ast.Sub):
                parts = syntax.chain(node, (ast.Add, ast.Sub))
                return ("sum", tuple((-1 if isinstance(op, ast.Sub) else 1, self.read(p)) for op, p in parts))
            if isinstance(node.op, ast.Mult | ast.Div):
                parts = syntax.chain(node, (ast.Mult, ast.Div))
                return ("prod", tuple((-1 if isinstance(op, ast.Div) else 1, self.read(p)) for op, p in parts))
            if isinstance(node.op, ast.Pow):
                return ("pow", self.read(node.left), self.read(node.right))
            raise self.fail(node, f"operator {type(node.op).__name__} is not part of the language")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return ("neg", self.read(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.read(node.operand)
            raise self.fail(node, f"operator {type(node.op).__name__} is not part of the language")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise self.fail(node, f"{v!r} is not a number; constants must be real numbers")
            if not math.isfinite(float(v)):
                raise self.fail(node, f"the number {v!r} is not finite")
            return ("num", float(v))
        if isinstance(node, ast.Name):
            check_name(node.id, "name")
            return ("var" if node.id in self.variables else "par", node.id)
        if isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else None
            if fn not in FUNCTIONS:
                from scalefit.laws.formula import FUNCTIONS as LOG_SPACE

                extra = (
                    f"; {fn}() is a term of the log-space algebra and cannot be mixed with operators it does not "
                    "have (subtraction, numbers, exp, log...): write its formula out"
                    if fn in LOG_SPACE
                    else ""
                )
                raise self.fail(
                    node,
                    f"unknown function {self.part(node.func)!r}; the functions are "
                    + ", ".join(v[2] for v in FUNCTIONS.values())
                    + " (and, in formulas of the log-space algebra, bend, implicit, saturate and repeated)"
                    + extra,
                )
            lo, hi, sig = FUNCTIONS[fn]
            if node.keywords:
                raise self.fail(node, f"{fn}() takes its arguments by position: {sig}")
            if len(node.args) < lo or (hi is not None and len(node.args) > hi):
                want = f"{lo}" if hi == lo else f"at least {lo}"
                raise self.fail(node, f"{fn}() takes {want} argument{'s' if lo > 1 else ''}, got {len(node.args)}")
            return ("call", fn, tuple(self.read(a) for a in node.args))
        raise self.fail(node, f"{type(node).__name__} is not part of the formula language")


def _guess_variables(tree: ast.AST) -> list[str]:
    """Names used as the base of ``^`` or as the argument of ``log``/``sqrt``."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) and isinstance(n.left, ast.Name):
            out.append(n.left.id)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("log", "sqrt"):
            out.extend(a.id for a in n.args if isinstance(a, ast.Name))
    return list(dict.fromkeys(out))


def read_tree(
    formula: str, variables: Iterable[str] | None, allow_none: bool = False
) -> tuple[Node, tuple[str, ...], ast.AST]:
    """The node tree of ``formula``, its variables and its Python ast (for the log-space parser)."""
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__} {formula!r}")
    what = f"formula {syntax.shown(formula)}"
    syntax.check_length(formula, what)
    try:
        tree = syntax.parse(formula.replace("^", "**"), what)
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ScalefitError(
            f"formula {formula!r} cannot be parsed{where} ({exc.msg}); a formula may use {LANGUAGE}, e.g. "
            "'E + A*N^-alpha + B*D^-beta' (Python keywords such as 'lambda' cannot be names)"
        ) from None
    names = syntax.names(tree)
    for node in ast.walk(tree):  # a bad call is named before any variable is guessed
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            _Reader(formula, frozenset()).read(node)
    if variables is None:
        vs = tuple(v for v in _guess_variables(tree))
        if not vs:
            raise ScalefitError(
                f"formula {syntax.shown(formula)} has no variable: no name is raised to a power or passed to log(); "
                "give variables=(...) naming the columns it depends on"
            )
    else:
        if isinstance(variables, str):
            variables = (variables,)
        vs = tuple(variables)
        for v in vs:
            if not isinstance(v, str):
                raise TypeError(f"variables must be names (strings), got {type(v).__name__} {v!r}")
        if not vs and not allow_none:  # (a part of a law built in the Python algebra may have none)
            bases = _guess_variables(tree)
            raise ScalefitError(
                f"variables=[] for formula {syntax.shown(formula)}: a law needs at least one variable; "
                + (f"give variables={bases} (the names raised to a power) or leave variables out" if bases
                   else "name them, e.g. variables=['N', 'D']")
            )  # fmt: skip
        unused = [v for v in vs if v not in names]
        if unused:
            raise ScalefitError(
                f"formula {syntax.shown(formula)} does not use variables {unused}; its names are {names}"
            )
    node = _Reader(formula, frozenset(vs)).read(tree)
    if variables is None:
        vs = tuple(_order(node, "var"))  # in order of appearance, as the log-space algebra orders them
    return node, vs, tree


# -- structure ------------------------------------------------------------------------------
def _walk(node: Node):
    """Every node of the tree, depth first (iterative: no recursion limit)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        kind = n[0]
        if kind == "neg":
            stack.append(n[1])
        elif kind in ("sum", "prod"):
            stack.extend(c for _, c in reversed(n[1]))
        elif kind == "pow":
            stack.extend((n[2], n[1]))
        elif kind == "call":
            stack.extend(reversed(n[2]))


def _positions(node: Node) -> dict[str, set[str]]:
    """Where each parameter appears: ``"exponent"`` (directly the exponent of ``^``, perhaps
    negated), ``"real"`` (inside an argument of exp/sigmoid/softplus) or ``"positive"``."""
    out: dict[str, set[str]] = {}
    stack = [(node, False, False)]  # node, is a direct exponent, inside an any-real argument
    while stack:
        n, is_exp, real = stack.pop()
        kind = n[0]
        if kind == "par":
            out.setdefault(n[1], set()).add("exponent" if is_exp else "real" if real else "positive")
        elif kind == "neg":
            stack.append((n[1], is_exp, real))
        elif kind == "sum":
            stack.extend((c, False, real) for _, c in n[1])
        elif kind == "prod":  # a divisor is a scale: positive even inside exp (exp(-P/gamma))
            stack.extend((c, False, real and s > 0) for s, c in n[1])
        elif kind == "pow":
            stack.append((n[1], False, real))
            stack.append((n[2], True, real))
        elif kind == "call":
            stack.extend((a, False, real or n[1] in _ANY_REAL) for a in n[2])
    return out


def _order(node: Node, kind: str) -> list[str]:
    """Names of ``kind`` ("par" or "var") in order of appearance in the formula text."""
    return list(dict.fromkeys(n[1] for n in _walk(node) if n[0] == kind))


# -- evaluation -----------------------------------------------------------------------------
def _sigmoid(z, xp):
    return xp.exp(-xp.logaddexp(0.0, -z))


def _evaluate(node: Node, p: Mapping[str, Any], x: Mapping[str, Any], logx: Mapping[str, Any] | None, xp):
    """Value of the tree (numpy or JAX). ``logx`` (optional) gives ``log x`` so that a power
    of a variable is ``exp(e * log x)`` without a round trip through ``x``."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "par":
        return p[node[1]]
    if kind == "var":
        return x[node[1]]
    if kind == "neg":
        return -_evaluate(node[1], p, x, logx, xp)
    if kind == "sum":
        out = 0.0
        for sign, child in node[1]:
            v = _evaluate(child, p, x, logx, xp)
            out = out + v if sign > 0 else out - v
        return out
    if kind == "prod":
        out = 1.0
        for power, child in node[1]:
            v = _evaluate(child, p, x, logx, xp)
            out = out * v if power > 0 else out / v
        return out
    if kind == "pow":
        base, e = node[1], _evaluate(node[2], p, x, logx, xp)
        if base[0] == "var" and logx is not None:
            return xp.exp(e * logx[base[1]])
        return xp.power(_evaluate(base, p, x, logx, xp), e)
    if kind == "call":
        fn, args = node[1], [_evaluate(a, p, x, logx, xp) for a in node[2]]
        if fn == "exp":
            return xp.exp(args[0])
        if fn == "log":
            return xp.log(args[0])
        if fn == "sqrt":
            return xp.sqrt(args[0])
        if fn == "sigmoid":
            return _sigmoid(args[0], xp)
        if fn == "softplus":
            return xp.logaddexp(0.0, args[0])
        out = args[0]
        for a in args[1:]:
            out = xp.minimum(out, a) if fn == "min" else xp.maximum(out, a)
        return out
    raise ScalefitError(f"saved expression has an unknown node {kind!r}")


# -- printing -------------------------------------------------------------------------------
def _text(node: Node, name=lambda n: n) -> str:
    kind = node[0]
    if kind == "num":
        return number_text(node[1])
    if kind in ("var", "par"):
        return name(node[1])
    if kind == "neg":
        child = node[1]
        inner = _text(child, name)
        return "-" + (f"({inner})" if _PREC[child[0]] <= 2 else inner)
    if kind == "sum":
        out = []
        for i, (sign, child) in enumerate(node[1]):
            t = _text(child, name)
            if child[0] == "sum" or (child[0] == "neg" and i > 0):
                t = f"({t})"
            out.append(t if i == 0 else (" + " if sign > 0 else " - ") + t)
        return "".join(out)
    if kind == "prod":
        out = []
        for i, (power, child) in enumerate(node[1]):
            t = _text(child, name)
            if _PREC[child[0]] <= 2 or (child[0] == "neg" and i > 0):
                t = f"({t})"
            out.append(t if i == 0 else (" * " if power > 0 else " / ") + t)
        return "".join(out)
    if kind == "pow":
        base, e = node[1], node[2]
        b = _text(base, name)
        if _PREC[base[0]] <= 4 or (base[0] == "num" and base[1] < 0):
            b = f"({b})"
        t = _text(e, name)
        if _PREC[e[0]] <= 2 or (e[0] == "num" and e[1] < 0):
            t = f"({t})"
        return f"{b}^{t}"
    if kind == "call":
        return f"{node[1]}(" + ", ".join(_text(a, name) for a in node[2]) + ")"
    raise ScalefitError(f"unknown expression node {kind!r}")


def _latex(node: Node) -> str:
    kind = node[0]
    if kind == "num":
        return number_text(node[1])
    if kind in ("var", "par"):
        return latex_name(node[1])
    if kind == "neg":
        inner = _latex(node[1])
        return "-" + (f"\\left({inner}\\right)" if _PREC[node[1][0]] <= 2 else inner)
    if kind == "sum":
        out = []
        for i, (sign, child) in enumerate(node[1]):
            t = _latex(child)
            if child[0] == "sum" or (child[0] == "neg" and i > 0):
                t = f"\\left({t}\\right)"
            out.append(t if i == 0 else (" + " if sign > 0 else " - ") + t)
        return "".join(out)
    if kind == "prod":
        num = [c for s, c in node[1] if s > 0]
        den = [c for s, c in node[1] if s < 0]

        def factors(cs):
            return " ".join(
                f"\\left({_latex(c)}\\right)" if _PREC[c[0]] <= 1 or (c[0] == "neg" and i > 0) else _latex(c)
                for i, c in enumerate(cs)
            )

        top = factors(num) if num else "1"
        return f"\\frac{{{top}}}{{{factors(den)}}}" if den else top
    if kind == "pow":
        b = _latex(node[1])
        if _PREC[node[1][0]] <= 4:
            b = f"\\left({b}\\right)"
        return f"{b}^{{{_latex(node[2])}}}"
    if kind == "call":
        fn, args = node[1], ", ".join(_latex(a) for a in node[2])
        op = {"exp": "\\exp", "log": "\\log", "min": "\\min", "max": "\\max", "sigmoid": "\\sigma"}.get(
            fn, f"\\operatorname{{{fn}}}"
        )
        if fn == "sqrt":
            return f"\\sqrt{{{args}}}"
        return f"{op}\\left({args}\\right)"
    raise ScalefitError(f"unknown expression node {kind!r}")


# -- the term -------------------------------------------------------------------------------
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
        params = _order(node, "par")
        object.__setattr__(self, "formula", _text(node))  # canonical text: equal laws print (and compare) equal
        for group, what in ((self.signed, "signed"), (tuple(r[0] for r in self.start_ranges), "starts")):
            unknown = [n for n in group if n not in params]
            if unknown:
                raise ScalefitError(f"{what}= names {unknown}, which are not parameters of the formula; its "
                                    f"parameters are {params}")  # fmt: skip
        for n, lo, hi in self.start_ranges:
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ScalefitError(f"starts[{n!r}] = ({lo}, {hi}) must be a finite (low, high) range with low < high")

    # -- structure ------------------------------------------------------------------------
    @property
    def roles(self) -> dict[str, str]:
        """Parameter -> ``"exponent"`` / ``"signed"`` / ``"constant"`` (see the module docstring)."""
        where = _positions(self.tree)
        out = {}
        for n in _order(self.tree, "par"):
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
            return _evaluate(self.tree, p, x, None, xp)

    def _paper(self, theta, xp):
        roles = self.roles
        return {n: (xp.exp(v) if roles.get(n) == "constant" else v) for n, v in theta.items()}

    def natural(self, theta, logx, xp):
        """The law's value (linear scale) from internal parameters and ``log`` variables."""
        x = {v: xp.exp(a) for v, a in logx.items()}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _evaluate(self.tree, self._paper(theta, xp), x, logx, xp)

    def _log_eval(self, theta, logx, xp):
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.log(self.natural(theta, logx, xp))

    # -- printing and saving --------------------------------------------------------------
    def text(self):
        return _text(self.tree)

    def latex(self):
        return _latex(self.tree)

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
            pred = np.broadcast_to(_evaluate(self.tree, paper, xs, None, np), (m, len(y)))
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
        for level, nodes in (("top", top), ("inner", [m for m in _walk(self.tree) if m not in top])):
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
                        size = np.abs(_evaluate(rest, paper, med, None, np)) if rest else np.ones(n)
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


def natural_value(law: Law, theta, logx, xp=jnp):
    """The law's value on the natural scale from internal parameters and ``log`` variables:
    exact for an expression law (which may be <= 0), ``exp(log f)`` for the log-space algebra."""
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
    if not _order(node, "par"):
        raise ScalefitError(
            f"formula {syntax.shown(formula)} has no parameters to fit (its names {list(vs)} are all variables); name "
            "the parameters, e.g. 'E + A*N^-alpha'"
        )
    expr = Expression(formula.strip(), vs, _names_arg(signed, "signed"), _starts_arg(starts))
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


# -- the Python algebra -----------------------------------------------------------------------
def _operand(obj: object, op: str) -> tuple[Node, tuple[str, ...], tuple[str, ...], tuple]:
    """``(tree, variables, signed, start ranges)`` of one side of an operator or function."""

    if isinstance(obj, Law):
        obj = obj.expr
    if isinstance(obj, Expression):
        return obj.tree, obj.vars, obj.signed, obj.start_ranges

    if isinstance(obj, Power) and obj.coefficient is None and obj.exponent == -1.0:
        return ("var", obj.variable), (obj.variable,), (), ()  # Variable("x")
    if isinstance(obj, Term):
        text = obj.text()
        vs = Law(obj).variables
        try:
            node = _unit_powers(_Reader(text, frozenset(vs)).read(syntax.parse(text.replace("^", "**"), repr(text))))
        except (ScalefitError, SyntaxError):
            raise ScalefitError(
                f"{op}: the term {text!r} cannot be part of a general expression (bend, implicit, saturate and "
                "repeated are terms of the log-space algebra only); write its formula out with parse_law"
            ) from None
        return node, vs, (), ()
    if is_number(obj) and math.isfinite(float(obj)):
        return ("num", float(obj)), (), (), ()
    raise TypeError(
        f"{op}: cannot combine a law with {type(obj).__name__} {obj!r}; use laws, terms, Variable('x') and finite numbers"
    )


def _unit_powers(node: Node) -> Node:
    """``x^1`` (how the log-space algebra prints a bare variable) as ``x``."""
    kind = node[0]
    if kind == "pow":
        base, e = _unit_powers(node[1]), _unit_powers(node[2])
        return base if e == ("num", 1.0) else ("pow", base, e)
    if kind == "neg":
        return ("neg", _unit_powers(node[1]))
    if kind in ("sum", "prod"):
        return (kind, tuple((s, _unit_powers(c)) for s, c in node[1]))
    if kind == "call":
        return ("call", node[1], tuple(_unit_powers(a) for a in node[2]))
    return node


def _build(tree: Node, parts) -> Expression:
    vs = tuple(dict.fromkeys(v for p in parts for v in p[1]))
    signed = tuple(dict.fromkeys(s for p in parts for s in p[2]))
    ranges = tuple(dict.fromkeys(r for p in parts for r in p[3]))
    return Expression(_text(tree), vs, signed, ranges)


def combine(op: str, a: object, b: object) -> Expression:
    """``a op b`` as a general expression (``op`` one of ``+ - * / ^``)."""
    pa, pb = _operand(a, op), _operand(b, op)
    if op in "+-":
        tree = ("sum", ((1, pa[0]), (1 if op == "+" else -1, pb[0])))
    elif op in "*/":
        tree = ("prod", ((1, pa[0]), (1 if op == "*" else -1, pb[0])))
    elif op == "^":
        tree = ("pow", pa[0], pb[0])
    else:
        raise ScalefitError(f"unknown operator {op!r}")
    return _build(tree, (pa, pb))


def negate(a: object) -> Expression:
    """``-a`` as a general expression."""
    pa = _operand(a, "-")
    return _build(("neg", pa[0]), (pa,))


def _call(fn: str, *args: object) -> Expression:
    parts = [_operand(a, f"{fn}()") for a in args]
    return _build(("call", fn, tuple(p[0] for p in parts)), parts)


def Variable(name: str) -> Term:  # noqa: N802 - reads as a constructor, like Constant
    """A bare variable ``x`` for the Python algebra (``Constant("C") * Variable("S2")``).

    Parameters
    ----------
    name : str
        The variable's name (a column of the runs, or mapped to one).

    Returns
    -------
    Term
    """
    return Power(check_name(name, "Variable name"), -1.0)


def exp(z) -> Expression:
    """``exp(z)`` of a law, term or number (a general expression).

    Parameters
    ----------
    z : Law, Term or float
        The argument.

    Returns
    -------
    Expression
    """
    return _call("exp", z)


def log(z) -> Expression:
    """``log(z)`` (natural) of a law, term or number (a general expression).

    Parameters
    ----------
    z : Law, Term or float
        The argument.

    Returns
    -------
    Expression
    """
    return _call("log", z)


def sqrt(z) -> Expression:
    """``sqrt(z)`` of a law, term or number (a general expression).

    Parameters
    ----------
    z : Law, Term or float
        The argument.

    Returns
    -------
    Expression
    """
    return _call("sqrt", z)


def sigmoid(z) -> Expression:
    """``1 / (1 + exp(-z))`` of a law, term or number (a general expression).

    Parameters
    ----------
    z : Law, Term or float
        The argument.

    Returns
    -------
    Expression
    """
    return _call("sigmoid", z)


def softplus(z) -> Expression:
    """``log(1 + exp(z))`` of a law, term or number (a general expression).

    Parameters
    ----------
    z : Law, Term or float
        The argument.

    Returns
    -------
    Expression
    """
    return _call("softplus", z)


def minimum(a, b, *more) -> Expression:
    """``min(a, b, ...)`` (a general expression).

    Parameters
    ----------
    a, b, *more : Law, Term or float
        The arguments (at least two).

    Returns
    -------
    Expression
    """
    return _call("min", a, b, *more)


def maximum(a, b, *more) -> Expression:
    """``max(a, b, ...)`` (a general expression).

    Parameters
    ----------
    a, b, *more : Law, Term or float
        The arguments (at least two).

    Returns
    -------
    Expression
    """
    return _call("max", a, b, *more)


def _expression_operators():
    """Operators of :class:`Expression` (and ``-`` of every term): general expressions, with numbers allowed."""
    Expression.__add__ = lambda self, other: combine("+", self, other)
    Expression.__radd__ = lambda self, other: combine("+", other, self)
    Expression.__sub__ = lambda self, other: combine("-", self, other)
    Expression.__rsub__ = lambda self, other: combine("-", other, self)
    Expression.__mul__ = lambda self, other: combine("*", self, other)
    Expression.__rmul__ = lambda self, other: combine("*", other, self)
    Expression.__truediv__ = lambda self, other: combine("/", self, other)
    Expression.__rtruediv__ = lambda self, other: combine("/", other, self)
    Expression.__pow__ = lambda self, other: combine("^", self, other)
    Expression.__rpow__ = lambda self, other: combine("^", other, self)
    Expression.__neg__ = negate


_expression_operators()


TERM_READERS["expression"] = Expression.from_dict
GENERAL["combine"] = combine
GENERAL["negate"] = negate
