"""Laws written as formula strings: ``parse_law("E + A*N^-alpha + B*D^-beta")``.

A formula is parsed with Python's :mod:`ast` (never evaluated) on a small, safe subset and
turned into the same terms a user composes by hand:

* ``+`` adds terms, ``*`` and ``/`` multiply and divide, ``^`` (or ``**``) raises to a power,
  parentheses group; no subtraction and no comparison;
* a *variable* to a power is a :class:`~scalefit.Power`: ``N^-alpha`` is
  ``Power("N", "alpha")``, ``A*N^-alpha`` is ``Power("N", "alpha", amplitude="A")``,
  ``N^-alpha / lam`` is ``Power("N", "alpha", scale="lam")``; a number is a fixed exponent
  (``x^-0.5``, ``1/x`` is ``x^-1``, a bare ``x`` is ``x^1``);
* any other name is a parameter: alone, a :class:`~scalefit.Constant`; in an exponent, a
  fitted exponent (``>= 0``; the sign written in front of it is kept);
* four functions build the terms beyond powers: ``bend(x, c, d, f)`` (a break of a power
  law, :class:`~scalefit.Bend`), ``implicit(rhs, floor, ceiling, alpha)`` (``y`` solving
  ``(y - floor) / (ceiling - y)^alpha = rhs``, :class:`~scalefit.Implicit`),
  ``saturate(law, ceiling)`` (``ceiling * (1 - exp(-law / ceiling))``,
  :class:`~scalefit.Saturate`) and ``repeated(D, U, R_star)`` (effective data of repeated
  tokens, :class:`~scalefit.Repeated`);
* a power of anything else is a :class:`~scalefit.Pow`: ``b * (1/x + g)^-c``; ``a / b``
  is ``a * b^-1``.

``variables`` names the variables; without it, every name used directly as the base of
``^`` is a variable and every other name a parameter (write ``variables=`` when a
parameter is raised to a power, as in ``g^-c``). ``str(law)`` is a formula that parses
back to the same law for every law written in this form (a ``Constant`` multiplying a
bare power reads back as that power's amplitude, which evaluates the same).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from scalefit import syntax
from scalefit.errors import ScalefitError
from scalefit.laws.function_terms import Bend, Implicit, Repeated, Saturate
from scalefit.laws.law import Law, Metric
from scalefit.laws.terms import Constant, Pow, Power, Product, Sum, Term

ALLOWED = (
    "names, numbers (only as exponents, or the 1 of 1/...), + * / ^ (or **), a minus sign in "
    "front of an exponent, parentheses, and the functions bend, implicit, saturate and repeated"
)


#: Functions of the formula language: name -> (signature, how many leading arguments are laws).
FUNCTIONS = {
    "bend": ("x, c, d, f", 0),  # Bend: (1 + (x/d)^(1/f))^(-c f)
    "implicit": ("rhs, floor, ceiling, alpha", 1),  # Implicit: (y - floor)/(ceiling - y)^alpha = rhs
    "saturate": ("law, ceiling", 1),  # Saturate: ceiling (1 - exp(-law / ceiling))
    "repeated": ("D, U, R_star", 0),  # Repeated: effective data of repeated tokens
}
#: Argument positions of each function that are variables (for guessing ``variables``).
_VARIABLE_ARGS = {"bend": (0,), "repeated": (0, 1)}


class _Parser:
    def __init__(self, formula: str, variables: tuple[str, ...]):
        self.formula = formula
        self.source = formula.replace("^", "**")
        self.variables = variables

    def part(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        return text.replace("**", "^")

    def fail(self, node: ast.AST, why: str) -> ScalefitError:
        return ScalefitError(f"formula {self.formula!r}: {why} (in '{self.part(node)}'); a formula may use {ALLOWED}")

    # -- exponents ------------------------------------------------------------------------
    def number(self, node: ast.AST) -> float | None:
        """The value of a purely numeric expression, else None."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = self.number(node.operand)
            return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Pow):
            a, b = self.number(node.left), self.number(node.right)
            if a is None or b is None:
                return None
            try:
                return {
                    ast.Add: a + b,
                    ast.Sub: a - b,
                    ast.Mult: a * b,
                    ast.Div: a / b if b else float("nan"),
                    ast.Pow: a**b if a > 0 else float("nan"),
                }[type(node.op)]
            except OverflowError:
                return float("inf")
        return None

    def exponent(self, node: ast.AST) -> tuple[str | float, int]:
        """``(name, sign)`` of a fitted exponent, or ``(number, 1)`` of a fixed one."""
        value = self.number(node)
        if value is not None:
            if not value == value or value in (float("inf"), float("-inf")) or value == 0.0:
                raise self.fail(node, f"the exponent is {value}; a fixed exponent must be a finite non-zero number")
            return value, 1
        sign, inner = 1, node
        while isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.USub | ast.UAdd):
            sign = -sign if isinstance(inner.op, ast.USub) else sign
            inner = inner.operand
        if isinstance(inner, ast.Name):
            if inner.id in self.variables:
                raise self.fail(node, f"variable {inner.id!r} is in an exponent; exponents are parameters or numbers")
            return inner.id, sign
        raise self.fail(
            node, "an exponent must be a parameter name or a number, with an optional minus sign (e.g. ^-alpha, ^-0.5)"
        )

    def power(self, node: ast.BinOp) -> Term:
        exponent, sign = self.exponent(node.right)
        base = node.left
        if isinstance(base, ast.Name) and base.id in self.variables:
            if isinstance(exponent, str):
                if sign > 0:
                    raise self.fail(
                        node,
                        f"a fitted exponent of variable {base.id!r} is written with a minus sign, "
                        f"{base.id}^-{exponent} ({exponent} >= 0 is fitted); for a term that grows with "
                        f"{base.id} use a number ({base.id}^2) or a power of a law ((...)^{exponent})",
                    )
                return Power(base.id, exponent)
            return Power(base.id, -exponent)
        term = self.term(base)
        if isinstance(exponent, str):
            return Pow(term, exponent, sign)
        return Pow(term, abs(exponent), 1 if exponent > 0 else -1)

    # -- products -------------------------------------------------------------------------
    def chain(self, node: ast.AST) -> list[tuple[str, ast.AST]]:
        """A left-nested run of ``*`` and ``/`` as ``[(op, factor), ...]``."""
        return [("/" if isinstance(op, ast.Div) else "*", f) for op, f in syntax.chain(node, (ast.Mult, ast.Div))]

    def is_parameter(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id not in self.variables

    def product(self, node: ast.BinOp) -> Term:
        factors = self.chain(node)
        first = self.number(factors[0][1])
        if first is not None:
            if first != 1.0 or len(factors) < 2 or factors[1][0] != "/":
                raise self.fail(
                    factors[0][1],
                    "a number can only be an exponent, or the 1 of 1/(...); write a coefficient as a named "
                    "parameter (it is fitted)",
                )
            factors = factors[1:]
        built: list[Term | None] = []
        for op, f in factors:
            if self.is_parameter(f):
                built.append(None)  # a parameter name: settled below
            elif op == "/" and self.number(f) is not None:
                raise self.fail(f, "dividing by a number is not supported; write the coefficient as a parameter")
            else:
                built.append(self.term(f))
        for i, (op, f) in enumerate(factors):  # 1/x^-0.5 = x^0.5 before anything is folded into it
            t = built[i]
            if op == "/" and isinstance(t, Power) and t.coefficient is None and t.fixed_exponent:
                built[i], factors[i] = Power(t.variable, -t.exponent), ("*", f)
        ops = [op for op, _ in factors]
        names = [f.id if isinstance(f, ast.Name) else None for _, f in factors]
        done = [False] * len(factors)

        def bare_power(i: int) -> bool:
            t = built[i]
            return isinstance(t, Power) and t.coefficient is None and ops[i] == "*" and not done[i]

        for i in range(1, len(factors)):  # x^-a / lam: a scale
            if built[i] is None and ops[i] == "/" and bare_power(i - 1):
                p = built[i - 1]
                built[i - 1] = Power(p.variable, p.exponent, scale=names[i])
                done[i - 1] = done[i] = True
        for i in range(len(factors) - 1):  # A * x^-a: an amplitude
            if built[i] is None and not done[i] and ops[i] == "*" and bare_power(i + 1):
                p = built[i + 1]
                built[i + 1] = Power(p.variable, p.exponent, amplitude=names[i])
                done[i] = done[i + 1] = True
        terms: list[Term] = []
        for i, (op, _) in enumerate(factors):
            if built[i] is None and done[i]:
                continue  # absorbed as a scale or an amplitude
            t = built[i] if built[i] is not None else Constant(names[i])
            if op == "/" and not (isinstance(t, Power) and done[i]):
                t = Pow(t, 1.0)
            terms.append(t)
        return terms[0] if len(terms) == 1 else Product(tuple(terms))

    # -- functions ------------------------------------------------------------------------
    def call(self, node: ast.Call) -> Term:
        fn = node.func.id if isinstance(node.func, ast.Name) else None
        if fn not in FUNCTIONS:
            raise self.fail(
                node,
                f"unknown function {self.part(node.func)!r}; the functions are "
                + ", ".join(f"{k}({v[0]})" for k, v in FUNCTIONS.items()),
            )
        signature, laws = FUNCTIONS[fn]
        if node.keywords or len(node.args) != signature.count(",") + 1:
            raise self.fail(node, f"{fn} takes {signature.count(',') + 1} arguments by position: {fn}({signature})")
        args: list[object] = []
        for i, a in enumerate(node.args):
            if i < laws:
                args.append(self.term(a))
            elif isinstance(a, ast.Name):
                args.append(a.id)
            else:
                raise self.fail(a, f"argument {i + 1} of {fn}({signature}) must be a name")
        return {"bend": Bend, "implicit": Implicit, "saturate": Saturate, "repeated": Repeated}[fn](*args)

    # -- any node -------------------------------------------------------------------------
    def term(self, node: ast.AST) -> Term:
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add):  # a run of + as one flat sum, without recursion
                return Sum(tuple(self.term(part) for _, part in syntax.chain(node, (ast.Add,))))
            if isinstance(node.op, ast.Mult | ast.Div):
                return self.product(node)
            if isinstance(node.op, ast.Pow):
                return self.power(node)
            if isinstance(node.op, ast.Sub):
                raise self.fail(
                    node,
                    "subtraction is not supported: a law is built from positive terms; write the "
                    "term you subtract as part of a positive one, or fit the excess over it",
                )
            raise self.fail(node, f"operator {type(node.op).__name__} is not supported")
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                return Power(node.id, -1.0)
            return Constant(node.id)
        if isinstance(node, ast.Constant):
            raise self.fail(
                node,
                "a number can only be an exponent, or the 1 of 1/(...); write a constant as a named parameter "
                "(it is fitted; fix it with fix={...} to hold it at a value)",
            )
        if isinstance(node, ast.UnaryOp):
            raise self.fail(node, "a minus sign is only allowed in front of an exponent (x^-alpha)")
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"{type(node).__name__} is not part of the formula language")


def _power_bases(tree: ast.AST) -> list[str]:
    """Names used as the base of ``^`` or as the variable argument of a function."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) and isinstance(n.left, ast.Name):
            out.append(n.left.id)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _VARIABLE_ARGS:
            out.extend(
                n.args[i].id for i in _VARIABLE_ARGS[n.func.id] if i < len(n.args) and isinstance(n.args[i], ast.Name)
            )
    return list(dict.fromkeys(out))


def parse_log_space(
    formula: str,
    variables: Iterable[str] | None = None,
    *,
    name: str = "custom",
    metric: Metric | None = None,
    reference: str = "",
    description: str = "",
) -> Law:
    """A :class:`~scalefit.Law` from a formula string.

    Parameters
    ----------
    formula : str
        E.g. ``"E + A*N^-alpha + B*D^-beta"`` (Chinchilla), ``"b * (1/x + g)^c"``
        (Alabdulmohsin et al.'s M3), ``"E_inf + Dp^-alpha / lambda_p"``. The language:
        ``+``, ``*``, ``/``, ``^`` (or ``**``) and parentheses, no subtraction; a variable
        to a power is a :class:`~scalefit.Power` (``A*N^-alpha``, ``N^-alpha / lam``), any
        other name a parameter (a :class:`~scalefit.Constant`, or a fitted exponent ``>= 0``
        in an exponent), a number only as a fixed exponent (or the 1 of ``1/x``); the
        functions ``bend(x, c, d, f)``, ``implicit(rhs, floor, ceiling, alpha)``,
        ``saturate(law, ceiling)`` and ``repeated(D, U, R_star)``; a power of anything
        else is a :class:`~scalefit.Pow`. It is parsed, never evaluated.
    variables : iterable of str, optional
        The variables. By default every name used directly as the base of ``^`` is one
        (give them when a parameter is raised to a power, as in ``g^-c``).
    name, metric, reference, description
        As for :class:`~scalefit.Law`.

    Returns
    -------
    Law
        ``str(law)`` is a formula that parses back to the same law.

    Examples
    --------
    >>> from scalefit import parse_law
    >>> law = parse_law("E + A*N^-alpha + B*D^-beta", name="chinchilla")
    >>> law.variables, law.parameters
    (('N', 'D'), ('E', 'alpha', 'A', 'beta', 'B'))
    >>> print(parse_law("b * (1/x + g)^c", variables=["x"]))
    b * (x^-1 + g)^c
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__} {formula!r}")
    syntax.check_length(formula, f"formula {syntax.shown(formula)}")
    source = formula.replace("^", "**")
    try:
        tree = syntax.parse(source, f"formula {syntax.shown(formula)}")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ScalefitError(
            f"formula {formula!r} cannot be parsed{where} ({exc.msg}); a formula may use {ALLOWED}, "
            "e.g. 'E + A*N^-alpha + B*D^-beta' (Python keywords such as 'lambda' cannot be names)"
        ) from None
    check_calls = _Parser(formula.strip(), ())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):  # a bad call is named before any variable is guessed
            fn = node.func.id if isinstance(node.func, ast.Name) else None
            if fn not in FUNCTIONS or node.keywords:
                check_calls.call(node)
    names = syntax.names(tree)
    if variables is None:
        vs = tuple(_power_bases(tree))
        if not vs:
            raise ScalefitError(
                f"formula {formula!r} has no variable: no name is raised to a power; give variables=(...) "
                "or write the variable's power (x^-alpha)"
            )
    else:
        if isinstance(variables, str):
            variables = (variables,)
        vs = tuple(variables)
        for v in vs:
            if not isinstance(v, str):
                raise TypeError(f"variables must be names (strings), got {type(v).__name__} {v!r}")
        if not vs:  # as a formula with no name raised to a power: a law must vary with something
            bases = _power_bases(tree)
            raise ScalefitError(
                f"variables=[] for formula {syntax.shown(formula)}: a law needs at least one variable (with none, "
                "every name would be a fitted constant and the law would not depend on the runs); "
                + (
                    f"give variables={bases} (the names raised to a power) or leave variables out"
                    if bases
                    else "name the variables, e.g. variables=['x']"
                )
            )
        unused = [v for v in vs if v not in names]
        if unused:
            raise ScalefitError(f"formula {formula!r} does not use variables {unused}; its names are {names}")
    parser = _Parser(formula.strip(), vs)
    try:
        expr = parser.term(tree)
    except ScalefitError as exc:
        if str(exc).startswith("formula "):
            raise
        raise ScalefitError(f"formula {formula!r}: {exc}") from None
    law = Law(expr, name=name, metric=metric, reference=reference, description=description)
    if not law.parameters:
        raise ScalefitError(
            f"formula {formula!r} has no parameters to fit (its names {names} are all variables, and a number "
            "can only be an exponent); name the parameters, e.g. 'E + A*N^-alpha'"
        )
    return law


def looks_like_formula(text: str) -> bool:
    """Whether a string is a formula rather than a catalogue name (it has an operator)."""
    return any(c in text for c in "+-*/^()")
