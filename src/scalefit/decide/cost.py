"""Cost laws: what a run (or an allocation) costs, as an expression of a law's variables.

One parser, used by :func:`~scalefit.allocate`, :func:`~scalefit.compute_optimal` and
:func:`~scalefit.suggest_runs`. A cost is given as

* per-unit prices, ``{"Dp": 1e-4, "Df": 1e-2}`` (cost ``1e-4*Dp + 1e-2*Df``);
* a formula string: ``"6*N*D"`` (training FLOPs), ``"6*N*D / (312e12 * 0.4 * 3600)"``
  (GPU-hours at a throughput), ``"N*D/3.6e12 + 100"`` (plus a fixed cost per run) —
  numbers, the variables, ``+ - * /``, ``^`` (or ``**``), parentheses and the functions in
  :data:`FUNCTIONS`; it is parsed with :mod:`ast` into a tree of numpy operations, never
  evaluated as Python;
* a Python callable whose parameters are named after the variables,
  ``lambda N, D: 6 * N * D`` (called once on arrays; one call per point where that fails).

:func:`parse_cost` checks a cost once, against the variables it may use, and returns a
:class:`Cost`: called with ``{variable: array}`` it gives the cost at every point,
vectorised (numpy broadcasting; overflow and invalid values give ``inf``/``nan``, silently).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit import syntax
from scalefit.decide.arguments import near
from scalefit.errors import ScalefitError
from scalefit.validate import each, is_number, number, shown_value

FUNCTIONS: dict[str, tuple[Callable, int]] = {
    "log": (np.log, 1),
    "log10": (np.log10, 1),
    "log2": (np.log2, 1),
    "exp": (np.exp, 1),
    "sqrt": (np.sqrt, 1),
    "minimum": (np.minimum, 2),
    "maximum": (np.maximum, 2),
}
_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}
ALLOWED = (
    "numbers, the variables, + - * /, ^ (or **), parentheses and log(), log10(), log2(), exp(), sqrt(), "
    "minimum(a, b), maximum(a, b)"
)


@dataclass(frozen=True)
class Cost:
    """A checked cost law: ``cost({variable: array})`` is the cost at each point.

    ``text`` shows it (``"6*N*D"``, ``"0.0001*Dp + 0.005*Df"``, ``"cost(N, D)"``);
    ``variables`` are those it uses, in order (empty for a constant formula);
    ``prices`` the per-unit prices when it was given as a dict, else None.
    """

    text: str
    variables: tuple[str, ...]
    fn: Callable[[Mapping[str, np.ndarray]], Any]
    prices: dict[str, float] | None = None

    def __call__(self, x: Mapping[str, np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(self.fn(x), dtype=float)


def formula_example(variables: Sequence[str]) -> str:
    """``'6*N*D'`` in the first two of ``variables``."""
    return "*".join(["6", *list(variables)[:2]])


def example(variables: Sequence[str]) -> str:
    """The three forms of a cost, in ``variables``."""
    two = list(variables[:2])
    return (
        "e.g. cost={" + ", ".join(f"{v!r}: 1e-4" for v in two) + "} (per-unit prices), "
        f"cost={formula_example(two)!r} (a formula) or a function of the variables"
    )


def parse_cost(spec: object, variables: Sequence[str], *, owner: str, name: str = "cost", free: bool = False) -> Cost:
    """Check a cost (prices, formula or callable) against ``variables`` once.

    ``owner`` names where the variables come from in messages (``"law 'chinchilla'"``, ``"the
    candidate runs"``); ``name`` is the argument's name; ``free`` lets a price be 0 (not all
    of them). A formula may use none of the variables (a constant); callers that need one
    check :attr:`Cost.variables`.
    """
    variables = list(variables)
    if isinstance(spec, Mapping):
        return _price_cost(spec, variables, owner, name, free)
    if isinstance(spec, str):
        if not spec.strip():
            raise ScalefitError(f"{name} is an empty formula; {example(variables)}")
        return _formula_cost(spec, variables, owner, name)
    if callable(spec) and not isinstance(spec, type):
        return _callable_cost(spec, variables, owner, name)
    raise TypeError(
        f"{name} must be a dict {{variable: cost per unit}}, a cost formula or a function of the variables, "
        f"{example(variables)}; got {shown_value(spec)} ({type(spec).__name__})"
    )


def _formula_cost(text: str, variables: list[str], owner: str, name: str) -> Cost:
    syntax.check_length(text, f"{name} {syntax.shown(text)}")
    source = text.replace("^", "**").strip()
    try:
        tree = syntax.parse(source, f"{name} {syntax.shown(text)}")
    except SyntaxError as exc:
        raise ScalefitError(
            f"{name} {text!r} is not a formula ({exc.msg}); a cost formula may use {ALLOWED}, "
            f"e.g. {formula_example(variables)!r}"
        ) from None
    used: list[str] = []

    def fail(node: ast.AST, why: str) -> ScalefitError:
        part = (ast.get_source_segment(source, node) or ast.unparse(node)).replace("**", "^")
        return ScalefitError(f"{name} {text!r}: {why} (in '{part}'); a cost formula may use {ALLOWED}")

    def build(node: ast.AST) -> Callable[[Mapping[str, np.ndarray]], Any]:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            value = float(node.value)
            return lambda x: value
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise fail(node, f"{node.id} is a function; call it, e.g. {node.id}({variables[0]})")
            if node.id not in variables:
                raise ScalefitError(
                    f"{name} {text!r} names {node.id!r}, which is not a variable of {owner}{near(node.id, variables)}; "
                    f"its variables are {variables} (a cost is an expression of them and of numbers)"
                )
            if node.id not in used:
                used.append(node.id)
            key = node.id
            return lambda x: x[key]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            family = (ast.Add, ast.Sub) if isinstance(node.op, ast.Add | ast.Sub) else (ast.Mult, ast.Div)
            parts = [(op, build(part)) for op, part in syntax.chain(node, family)]  # a run, without recursion
            first, rest = parts[0][1], [(_BINOPS[type(op)], f) for op, f in parts[1:]]

            def run(x):
                out = first(x)
                for op, f in rest:
                    out = op(out, f(x))
                return out

            return run
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            op, left, right = _BINOPS[type(node.op)], build(node.left), build(node.right)
            return lambda x: op(left(x), right(x))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = build(node.operand)
            return (lambda x: -inner(x)) if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
            f, arity = FUNCTIONS[node.func.id]
            if len(node.args) != arity or node.keywords:
                raise fail(node, f"{node.func.id}() takes {'one argument' if arity == 1 else f'{arity} arguments'}")
            args = [build(a) for a in node.args]
            return lambda x: f(*(a(x) for a in args))
        if isinstance(node, ast.BinOp):
            raise fail(node, f"the operator {type(node.op).__name__} is not allowed")
        raise fail(node, f"a {type(node).__name__} is not allowed")

    fn = build(tree)  # fills ``used``
    return Cost(text=text.strip(), variables=tuple(used), fn=fn)


def _callable_cost(fn: Callable, variables: list[str], owner: str, name: str) -> Cost:
    label = getattr(fn, "__name__", type(fn).__name__)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}={label} is a callable whose parameters cannot be read; give a function whose parameters are "
            f"named after the variables {variables}, e.g. lambda N, D: 6 * N * D"
        ) from None
    used = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ScalefitError(
                f"{name}={label}{sig} takes *args or **kwargs; name each variable it uses, e.g. lambda N, D: 6 * N * D"
            )
        if p.name in variables:
            used.append(p.name)
        elif p.default is p.empty:
            raise ScalefitError(
                f"{name}={label}{sig} has parameter {p.name!r}, which is not a variable of {owner}"
                f"{near(p.name, variables)}; name the parameters after the variables {variables}"
            )

    def call(x):
        shape = np.broadcast_shapes(*(np.shape(x[v]) for v in used))
        try:  # a function written for arrays: one call
            out = np.asarray(fn(**{v: x[v] for v in used}), dtype=float)
            if out.shape == shape:
                return out
        except (TypeError, ValueError, ArithmeticError):
            pass
        # otherwise one call per point (a function of numbers, e.g. using max())
        cols = {v: np.broadcast_to(x[v], shape).ravel() for v in used}
        return np.array([one(**{v: c[i] for v, c in cols.items()}) for i in range(int(np.prod(shape)))]).reshape(shape)

    def one(**point) -> float:
        value = fn(**point)
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(())[()]
        if not is_number(value):
            at = ", ".join(f"{k}={float(v):.4g}" for k, v in point.items())
            raise ScalefitError(
                f"{name}={label}{sig} returned {shown_value(value)} ({type(value).__name__}) "
                f"at {at or 'no variables'}; "
                "a cost function must return a number (or an array of numbers when called with arrays)"
            )
        return float(value)

    return Cost(text=f"{label}({', '.join(used)})", variables=tuple(used), fn=call)


def _price_cost(prices: Mapping, variables: list[str], owner: str, name: str, free: bool) -> Cost:
    for key in prices:
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be variable names (strings), got {shown_value(key)}")
        if key not in variables:
            raise ScalefitError(
                f"{name}= must name variables of {owner} ({', '.join(variables)}) with a price per unit; {key!r} "
                f"is not one of them{near(key, variables)} (or give a formula, e.g. {formula_example(variables)!r})"
            )
    if not prices:
        raise ScalefitError(
            f"{name}= must name at least one variable of {owner} ({', '.join(variables)}), {example(variables)}"
        )
    prices = each(prices, name, lambda v, n: number(v, n, low=0.0, low_open=not free, fix="a cost per unit"))
    if not any(prices.values()):
        raise ScalefitError(f"{name}: every price is 0, so everything is free; give a positive price")
    names = list(prices)

    def fn(x):
        return sum(prices[v] * x[v] for v in names)

    text = " + ".join(f"{prices[v]:g}*{v}" for v in names)
    return Cost(text=text, variables=tuple(names), fn=fn, prices=dict(prices))
