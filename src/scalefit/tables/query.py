"""Row filters written as text: ``"stage == 'distill' and Dp >= 1e6"``.

One small language, read by scalefit itself and shared by every place a filter is given as
text — ``scalefit fit --where``, ``backtest(holdout=...)`` / ``--holdout`` and anything read
from a file. It is parsed with :mod:`ast` (never compiled or evaluated as Python, see
:mod:`scalefit.syntax`) and evaluated by walking a whitelist of node types over the
columns as numpy arrays. It has

* column names (as written, or in backticks for any other name: ```my col` > 3``),
  numbers, strings in quotes (``'distill'``), ``True`` and ``False``;
* arithmetic ``+ - * / // % **`` (or ``^``) on numbers;
* comparisons ``== != < <= > >=``, chained (``1e4 <= Dp < 1e6``), and ``in`` /
  ``not in`` a list of values (``stage in ['finetune', 'distill']``; ``== [...]`` means
  ``in``, as in pandas);
* ``and``, ``or``, ``not``, and their pandas spellings ``&``, ``|``, ``~`` (``&`` and ``|``
  bind like ``and`` and ``or``, as in pandas), and parentheses.

Nothing else: no ``@variable``, attributes, calls, indexing, lambdas or comprehensions —
each is refused with a :class:`~scalefit.ScalefitError` naming the construct, the filter and
the fix. A name that is not a column is an error naming the columns. Comparisons with a
missing value (NaN) are false, as in pandas.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from scalefit import syntax
from scalefit.errors import ScalefitError
from scalefit.validate import suggest

#: What a filter may use (the end of every refusal).
ALLOWED = (
    "a filter may use column names (or `any name` in backticks), numbers, 'strings', True/False, "
    "+ - * / // % ** on numbers, == != < <= > >= (chained: 1e4 <= Dp < 1e6), in / not in [a list], "
    "and / or / not (or & | ~) and parentheses — e.g. \"stage == 'distill' and Dp >= 1e6\""
)

_ARITHMETIC = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}
_COMPARE = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}
#: Python constructs a filter cannot use, by how a message names them.
_REFUSED = {
    ast.Attribute: "attribute access (a.b)",
    ast.Call: "a function call",
    ast.Subscript: "indexing (a[...])",
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional expression (x if c else y)",
    ast.NamedExpr: "an assignment (:=)",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.Dict: "a dict",
    ast.Set: "a set {...} (use a list [...])",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Starred: "unpacking (*)",
    ast.Slice: "a slice",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

#: The prefix of a backticked name's stand-in identifier (never a column name a user writes).
_QUOTED = "__scalefit_quoted_"


class _Value:
    """A value while evaluating: an array (one entry per row) or a scalar, of one kind —
    ``"number"``, ``"bool"`` or ``"text"``."""

    __slots__ = ("data", "kind")

    def __init__(self, data, kind: str):
        self.data, self.kind = data, kind


def row_mask(frame: pd.DataFrame, query: object, *, argument: str = "query", label: str | None = None) -> np.ndarray:
    """The boolean mask (one entry per row of ``frame``) of the rows ``query`` keeps.

    ``argument`` names the filter in messages (``"--where"``, ``"holdout"``); ``label``,
    when given, starts every message instead of ``"<argument> '<query>'"``. Every refusal
    is a :class:`~scalefit.ScalefitError` naming the filter, what in it is not allowed,
    and what is.
    """
    if not isinstance(query, str):
        raise TypeError(f"{argument} must be a filter string, e.g. \"stage == 'distill'\", got {type(query).__name__}")
    return _Filter(frame, query, argument, label).mask()


class _Filter:
    def __init__(self, frame: pd.DataFrame, query: str, argument: str, label: str | None):
        self.frame, self.query, self.argument = frame, query, argument
        self.what = label or f"{argument} {syntax.shown(query)}"
        self.quoted: dict[str, str] = {}
        self.source = self.rewrite(query)

    # -- text -----------------------------------------------------------------------------
    def fail(self, why: str) -> ScalefitError:
        return ScalefitError(f"{self.what}: {why}; {ALLOWED}")

    def rewrite(self, text: str) -> str:
        """The filter as Python-parsable text: backticked names become stand-in identifiers,
        ``&``/``|`` become ``and``/``or`` (pandas' precedence), ``^`` becomes ``**``; a ``@``
        outside a string is refused. String literals are kept as written."""
        if not text.strip():
            raise ScalefitError(f"{self.argument} is an empty filter; {ALLOWED}")
        syntax.check_length(text, self.what)
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c in "'\"":
                j = i + 1
                while j < n and text[j] != c:
                    j += 2 if text[j] == "\\" else 1
                if j >= n:
                    raise self.fail(f"the string starting at column {i + 1} ({text[i : i + 20]!r}) is not closed")
                out.append(text[i : j + 1])
                i = j + 1
            elif c == "`":
                j = text.find("`", i + 1)
                if j < 0:
                    raise self.fail(f"the backtick at column {i + 1} is not closed (write `column name`)")
                name = text[i + 1 : j]
                if not name:
                    raise self.fail(f"empty backticks at column {i + 1}; put a column name inside")
                stand_in = self.quoted.setdefault(name, f"{_QUOTED}{len(self.quoted)}")
                out.append(f" {stand_in} ")
                i = j + 1
            elif c == "@":
                raise self.fail(
                    f"'@' (column {i + 1}) refers to a Python variable in pandas; scalefit filters read no Python "
                    "variables or code — write the value itself (e.g. Dp > 1e6)"
                )
            elif c in "&|":
                out.append(" and " if c == "&" else " or ")
                i += 1
            elif c == "^":
                out.append("**")
                i += 1
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def part(self, node: ast.AST) -> str:
        text = syntax.segment(self.source, node)
        for name, stand_in in self.quoted.items():
            text = text.replace(stand_in, f"`{name}`")
        return text.strip()

    # -- evaluation -----------------------------------------------------------------------
    def mask(self) -> np.ndarray:
        try:
            tree = syntax.parse(self.source, self.what)
        except SyntaxError as exc:
            where = f" at column {exc.offset}" if exc.offset else ""
            raise self.fail(f"cannot be parsed{where} ({exc.msg})") from None
        for node in ast.walk(tree):  # refuse what is not allowed before anything is evaluated
            self.allowed(node)
        result = self.value(tree)
        n = len(self.frame)
        if result.kind != "bool":
            raise self.fail(
                f"gives {'numbers' if result.kind == 'number' else 'text'}, not true/false for each row; "
                "compare it with something (e.g. Dp > 1e6)"
            )
        return np.broadcast_to(np.asarray(result.data, dtype=bool), (n,)).copy()

    def allowed(self, node: ast.AST) -> None:
        refused = _REFUSED.get(type(node))
        if refused is not None:
            raise self.fail(f"{refused} is not allowed (in {self.part(node)!r})")
        if isinstance(node, ast.BinOp) and type(node.op) not in _ARITHMETIC:
            raise self.fail(f"the operator {type(node.op).__name__} is not allowed (in {self.part(node)!r})")
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool | int | float | str):
            raise self.fail(f"the value {self.part(node)} is not allowed (numbers, 'strings', True and False are)")
        if isinstance(node, ast.List | ast.Tuple):
            for item in node.elts:
                if self.literal(item) is None:
                    raise self.fail(f"a list may hold only numbers, strings, True and False (in {self.part(node)!r})")

    def literal(self, node: ast.AST) -> object:
        """The value of a constant (with an optional sign), else None."""
        sign = 1
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            sign = -sign if isinstance(node.op, ast.USub) else sign
            node = node.operand
        if isinstance(node, ast.Constant) and isinstance(node.value, bool | int | float | str):
            value = node.value
            if isinstance(value, str) or isinstance(value, bool):
                return value if sign == 1 else None
            return float(sign * value)
        return None

    def value(self, node: ast.AST) -> _Value:
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v, "and" if isinstance(node.op, ast.And) else "or") for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return _Value(combine.reduce(np.broadcast_arrays(*parts)), "bool")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not | ast.Invert):
                return _Value(np.logical_not(self.condition(node.operand, "not")), "bool")
            operand = self.number(node.operand, node)
            return _Value(-operand if isinstance(node.op, ast.USub) else operand, "number")
        if isinstance(node, ast.BinOp):
            left, right = self.number(node.left, node), self.number(node.right, node)
            with np.errstate(all="ignore"):
                return _Value(_ARITHMETIC[type(node.op)](left, right), "number")
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Name):
            return self.column(node)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return _Value(np.bool_(v), "bool")
            if isinstance(v, str):
                return _Value(v, "text")
            return _Value(np.float64(float(v)), "number")
        if isinstance(node, ast.List | ast.Tuple):
            raise self.fail(f"a list is allowed only after in / not in / == / != (in {self.part(node)!r})")
        raise self.fail(f"{type(node).__name__} is not allowed (in {self.part(node)!r})")

    def condition(self, node: ast.AST, op: str) -> np.ndarray:
        return self.expect(node, "bool", f"{op} combines conditions", f"compare it (e.g. {self.part(node)} > 0)")

    def number(self, node: ast.AST, within: ast.AST) -> np.ndarray:
        return self.expect(node, "number", "arithmetic needs numbers", f"in {self.part(within)!r}")

    def expect(self, node: ast.AST, kind: str, needs: str, hint: str) -> np.ndarray:
        """The value of ``node``, which ``needs`` to be of ``kind`` (``"bool"`` or ``"number"``)."""
        v = self.value(node)
        if v.kind != kind:
            raise self.fail(f"{needs}, but {self.part(node)!r} gives {_described(v.kind)} ({hint})")
        return np.asarray(v.data, dtype=bool if kind == "bool" else float)

    def column(self, node: ast.Name) -> _Value:
        name = next((k for k, s in self.quoted.items() if s == node.id), node.id)
        labels = list(self.frame.columns)
        if isinstance(self.frame.columns, pd.MultiIndex):
            raise self.fail("the table has multi-level column names; flatten them to one name per column first")
        count = sum(1 for c in labels if c == name)
        if count == 0:
            shown = ", ".join(map(str, labels[:30])) + (f" and {len(labels) - 30} more" if len(labels) > 30 else "")
            raise self.fail(f"{name!r} is not a column{suggest(name, map(str, labels))}; columns: {shown}")
        if count > 1:
            raise self.fail(f"column {name!r} appears {count} times in the table; give each column one name")
        series = self.frame[name]
        kind = series.dtype.kind
        if kind == "b":  # a missing value (nullable boolean) is false, as a comparison with NaN is
            return _Value(series.to_numpy(dtype=bool, na_value=False), "bool")
        if kind in "iuf":
            return _Value(series.to_numpy(dtype=float, na_value=np.nan), "number")
        return _Value(series.to_numpy(dtype=object), "text")

    def compare(self, node: ast.Compare) -> _Value:
        out = None
        left_node = node.left
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            result = self.pair(left_node, op, right_node, node)
            out = result if out is None else np.logical_and(out, result)
            left_node = right_node
        return _Value(out, "bool")

    def pair(self, left_node: ast.AST, op: ast.cmpop, right_node: ast.AST, within: ast.AST) -> np.ndarray:
        listed = isinstance(right_node, ast.List | ast.Tuple)
        if isinstance(op, ast.In | ast.NotIn) or (listed and isinstance(op, ast.Eq | ast.NotEq)):
            if not listed:
                raise self.fail(
                    f"in / not in needs a list of values, e.g. stage in ['a', 'b'] (in {self.part(within)!r})"
                )
            values = [self.literal(e) for e in right_node.elts]
            left = self.value(left_node)
            kept = np.zeros(np.shape(left.data), dtype=bool)
            for v in values:
                kept |= self.equal(left, _Value(v, _kind_of(v)), within)
            return ~kept if isinstance(op, ast.NotIn | ast.NotEq) else kept
        if isinstance(op, ast.Is | ast.IsNot):
            raise self.fail(f"'is' is not allowed; use == or != (in {self.part(within)!r})")
        if listed or isinstance(left_node, ast.List | ast.Tuple):
            raise self.fail(f"a list can only follow in / not in / == / != (in {self.part(within)!r})")
        left, right = self.value(left_node), self.value(right_node)
        if isinstance(op, ast.Eq | ast.NotEq):
            same = self.equal(left, right, within)
            return same if isinstance(op, ast.Eq) else ~same
        if left.kind != right.kind or left.kind == "bool":
            raise self.fail(
                f"{self.part(within)!r} orders {_described(left.kind)} against {_described(right.kind)}; "
                "< <= > >= compare numbers with numbers or text with text"
            )
        try:
            with np.errstate(all="ignore"):
                return np.asarray(_COMPARE[type(op)](left.data, right.data), dtype=bool)
        except TypeError:  # text against a missing value (NaN) in a text column
            raise self.fail(
                f"{self.part(within)!r} cannot order the values of a column that holds text and missing values; "
                "compare with == / != or fill the missing values first"
            ) from None

    def equal(self, left: _Value, right: _Value, within: ast.AST) -> np.ndarray:
        if left.kind != right.kind:
            raise self.fail(
                f"{self.part(within)!r} compares {_described(left.kind)} with {_described(right.kind)}, which "
                "are never equal; compare like with like (text in quotes: stage == 'distill')"
            )
        result = np.equal(left.data, right.data) if left.kind != "text" else _text_equal(left.data, right.data)
        return np.asarray(result, dtype=bool)


def _text_equal(a, b) -> np.ndarray:
    """Element-wise equality of text values (object arrays or strings), without NaN surprises."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    a, b = np.broadcast_arrays(a, b)
    same = (isinstance(x, str) and isinstance(y, str) and x == y for x, y in zip(a.flat, b.flat, strict=True))
    return np.fromiter(same, dtype=bool, count=a.size).reshape(a.shape)


def _kind_of(value: object) -> str:
    return "bool" if isinstance(value, bool) else "text" if isinstance(value, str) else "number"


def _described(kind: str) -> str:
    return {"number": "numbers", "text": "text", "bool": "true/false values"}[kind]
