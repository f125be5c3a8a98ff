"""The node tree of a general formula: reading it from the text, walking it, evaluating it
(numpy or JAX) and printing it back as text or LaTeX.

The language and the parameters' roles are described in :mod:`scalefit.laws.general`, whose
:class:`~scalefit.Expression` holds one such tree.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from scalefit import syntax
from scalefit.errors import ScalefitError
from scalefit.laws.params import check_name, latex_name, number_text

#: Functions of the general language: name -> (min args, max args or None, description).
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "exp": (1, 1, "exp(z)"),
    "log": (1, 1, "log(z) (natural)"),
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
class TreeReader:
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
        out = self._read(node)
        if out[0] in ("sum", "prod", "pow", "neg", "call") and all(
            n[0] not in ("var", "par") for n in walk_tree(out)
        ):  # numbers only (10^1000, -(2^2000)): their value must be a finite number
            with np.errstate(all="ignore"):
                try:
                    value = float(evaluate_tree(out, {}, {}, None, np))
                except (OverflowError, ValueError, ZeroDivisionError):
                    value = math.nan
            if not math.isfinite(value):
                raise self.fail(node, "the numbers there do not give a finite number")
        return out

    def _read(self, node: ast.AST) -> Node:
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
            TreeReader(formula, frozenset()).read(node)
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
    node = TreeReader(formula, frozenset(vs)).read(tree)
    if variables is None:
        vs = tuple(names_in_order(node, "var"))  # in order of appearance, as the log-space algebra orders them
    return node, vs, tree


# -- structure ------------------------------------------------------------------------------
def walk_tree(node: Node):
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


def parameter_positions(node: Node) -> dict[str, set[str]]:
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


def names_in_order(node: Node, kind: str) -> list[str]:
    """Names of ``kind`` ("par" or "var") in order of appearance in the formula text."""
    return list(dict.fromkeys(n[1] for n in walk_tree(node) if n[0] == kind))


# -- evaluation -----------------------------------------------------------------------------
def _sigmoid(z, xp):
    return xp.exp(-xp.logaddexp(0.0, -z))


def evaluate_tree(node: Node, p: Mapping[str, Any], x: Mapping[str, Any], logx: Mapping[str, Any] | None, xp):
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
        return -evaluate_tree(node[1], p, x, logx, xp)
    if kind == "sum":
        out = 0.0
        for sign, child in node[1]:
            v = evaluate_tree(child, p, x, logx, xp)
            out = out + v if sign > 0 else out - v
        return out
    if kind == "prod":
        out = 1.0
        for power, child in node[1]:
            v = evaluate_tree(child, p, x, logx, xp)
            out = out * v if power > 0 else out / v
        return out
    if kind == "pow":
        base, e = node[1], evaluate_tree(node[2], p, x, logx, xp)
        if base[0] == "var" and logx is not None:
            return xp.exp(e * logx[base[1]])
        return xp.power(evaluate_tree(base, p, x, logx, xp), e)
    if kind == "call":
        fn, args = node[1], [evaluate_tree(a, p, x, logx, xp) for a in node[2]]
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
def tree_text(node: Node, name=lambda n: n) -> str:
    """The formula text of the tree (``name`` maps each variable and parameter name)."""
    kind = node[0]
    if kind == "num":
        return number_text(node[1])
    if kind in ("var", "par"):
        return name(node[1])
    if kind == "neg":
        child = node[1]
        inner = tree_text(child, name)
        return "-" + (f"({inner})" if _PREC[child[0]] <= 2 else inner)
    if kind == "sum":
        out = []
        for i, (sign, child) in enumerate(node[1]):
            t = tree_text(child, name)
            if child[0] == "sum" or (child[0] == "neg" and i > 0):
                t = f"({t})"
            out.append(t if i == 0 else (" + " if sign > 0 else " - ") + t)
        return "".join(out)
    if kind == "prod":
        out = []
        for i, (power, child) in enumerate(node[1]):
            t = tree_text(child, name)
            if _PREC[child[0]] <= 2 or (child[0] == "neg" and i > 0):
                t = f"({t})"
            out.append(t if i == 0 else (" * " if power > 0 else " / ") + t)
        return "".join(out)
    if kind == "pow":
        base, e = node[1], node[2]
        b = tree_text(base, name)
        if _PREC[base[0]] <= 4 or (base[0] == "num" and base[1] < 0):
            b = f"({b})"
        t = tree_text(e, name)
        if _PREC[e[0]] <= 2 or (e[0] == "num" and e[1] < 0):
            t = f"({t})"
        return f"{b}^{t}"
    if kind == "call":
        return f"{node[1]}(" + ", ".join(tree_text(a, name) for a in node[2]) + ")"
    raise ScalefitError(f"unknown expression node {kind!r}")


def tree_latex(node: Node) -> str:
    """The LaTeX of the tree (no surrounding ``$``)."""
    kind = node[0]
    if kind == "num":
        return number_text(node[1])
    if kind in ("var", "par"):
        return latex_name(node[1])
    if kind == "neg":
        inner = tree_latex(node[1])
        return "-" + (f"\\left({inner}\\right)" if _PREC[node[1][0]] <= 2 else inner)
    if kind == "sum":
        out = []
        for i, (sign, child) in enumerate(node[1]):
            t = tree_latex(child)
            if child[0] == "sum" or (child[0] == "neg" and i > 0):
                t = f"\\left({t}\\right)"
            out.append(t if i == 0 else (" + " if sign > 0 else " - ") + t)
        return "".join(out)
    if kind == "prod":
        num = [c for s, c in node[1] if s > 0]
        den = [c for s, c in node[1] if s < 0]

        def factors(cs):
            return " ".join(
                f"\\left({tree_latex(c)}\\right)" if _PREC[c[0]] <= 1 or (c[0] == "neg" and i > 0) else tree_latex(c)
                for i, c in enumerate(cs)
            )

        top = factors(num) if num else "1"
        return f"\\frac{{{top}}}{{{factors(den)}}}" if den else top
    if kind == "pow":
        b = tree_latex(node[1])
        if _PREC[node[1][0]] <= 4:
            b = f"\\left({b}\\right)"
        return f"{b}^{{{tree_latex(node[2])}}}"
    if kind == "call":
        fn, args = node[1], ", ".join(tree_latex(a) for a in node[2])
        op = {"exp": "\\exp", "log": "\\log", "min": "\\min", "max": "\\max", "sigmoid": "\\sigma"}.get(
            fn, f"\\operatorname{{{fn}}}"
        )
        if fn == "sqrt":
            return f"\\sqrt{{{args}}}"
        return f"{op}\\left({args}\\right)"
    raise ScalefitError(f"unknown expression node {kind!r}")
