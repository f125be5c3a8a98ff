"""General expressions built in Python: ``Variable``, ``exp``, ``log``, ``sqrt``, ``sigmoid``,
``softplus``, ``minimum``, ``maximum`` and the operators of :class:`~scalefit.Expression`.

``Constant("C") * Variable("S2")`` or ``exp(law)`` builds the same :class:`~scalefit.Expression`
as the formula it reads as (:func:`~scalefit.parse_law`). Loading this module gives every
term its ``-`` (and a log-space term its operators with an expression), by registering
:func:`combine` and :func:`negate` with :mod:`scalefit.laws.terms`.
"""

from __future__ import annotations

import math

from scalefit import syntax
from scalefit.errors import ScalefitError
from scalefit.laws.expression_tree import Node, TreeReader, tree_text
from scalefit.laws.general import Expression
from scalefit.laws.law import Law
from scalefit.laws.params import check_name, is_number
from scalefit.laws.terms import GENERAL, Power, Term


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
            node = _unit_powers(TreeReader(text, frozenset(vs)).read(syntax.parse(text.replace("^", "**"), repr(text))))
        except (ScalefitError, SyntaxError):
            raise ScalefitError(
                f"{op}: the term {text!r} cannot be part of a general expression (bend, implicit, saturate and "
                "repeated are terms of the log-space algebra only); write its formula out with parse_law"
            ) from None
        return node, vs, (), ()
    if is_number(obj) and math.isfinite(float(obj)):
        return ("num", float(obj)), (), (), ()
    raise TypeError(
        f"{op}: cannot combine a law with {type(obj).__name__} {obj!r}; "
        "use laws, terms, Variable('x') and finite numbers"
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
    return Expression(tree_text(tree), vs, signed, ranges)


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


GENERAL["combine"] = combine
GENERAL["negate"] = negate
