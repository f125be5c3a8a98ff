"""User text as an expression tree: the one place where a formula, a cost or a row filter
becomes a Python :mod:`ast` — parsed, never compiled or evaluated.

Each language (:mod:`scalefit.laws.formula`, :mod:`scalefit.decide.cost`, :mod:`scalefit.tables.query`)
walks the tree itself over a whitelist of node types. This module makes that walk safe
whatever the text is:

* **size**: text longer than :data:`MAX_LENGTH` characters is refused before it is parsed,
  and a tree the Python parser itself cannot build (it raises ``RecursionError`` or
  ``MemoryError`` on very deep input) is a :class:`~scalefit.ScalefitError`;
* **depth**: a tree nested more than :data:`MAX_DEPTH` levels is refused, counting a
  left-nested run of one operator family (``a + b - c + ...``, ``a * b / c``) as one
  level — so a flat sum of thousands of terms is fine, and the walkers, which recurse only
  into nesting and loop over runs (:func:`chain`), stay far from Python's recursion limit;
* **names**: Python folds identifiers by Unicode NFKC (``Ｎ`` reads as ``N``); a name
  written differently from how Python reads it is refused, never folded silently.
"""

from __future__ import annotations

import ast

from scalefit.errors import ScalefitError

#: Longest expression text accepted (characters).
MAX_LENGTH = 100_000
#: Deepest nesting accepted (a left-nested run of one operator family counts once).
MAX_DEPTH = 100

#: Operator families whose left-nested runs count as one level (and are walked by :func:`chain`).
_FAMILIES = ((ast.Add, ast.Sub), (ast.Mult, ast.Div, ast.FloorDiv, ast.Mod), (ast.BitAnd,), (ast.BitOr,))


def parse(source: str, what: str) -> ast.expr:
    """The expression tree of ``source``, checked for size, depth and folded names.

    ``what`` starts every message (``"formula 'E + ...'"``). A ``SyntaxError`` is left to
    the caller, which knows its language and says what it allows.
    """
    check_length(source, what)
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except (RecursionError, MemoryError):  # the C parser's own limit on very deep input
        raise _too_deep(what, None) from None
    levels = depth(tree)
    if levels > MAX_DEPTH:
        raise _too_deep(what, levels)
    lines = source.strip().encode().splitlines(keepends=True)  # ast's offsets are in UTF-8 bytes per line
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            line = lines[node.lineno - 1] if node.lineno <= len(lines) else b""
            written = line[node.col_offset : node.end_col_offset].decode("utf-8", "replace")
            if written != node.id:
                raise ScalefitError(
                    f"{what}: name {written!r} is read by Python as {node.id!r} (Unicode compatibility folding); "
                    f"scalefit never folds names silently — write {node.id!r} if that is the name you mean, "
                    "with the same characters as the column or parameter it stands for"
                )
    return tree


def check_length(source: str, what: str) -> None:
    """Refuse text longer than :data:`MAX_LENGTH` (before any work on it)."""
    if len(source) > MAX_LENGTH:
        raise ScalefitError(
            f"{what} is {len(source):,} characters long, more than the {MAX_LENGTH:,} an expression may have; "
            "shorten it"
        )


def _too_deep(what: str, levels: int | None) -> ScalefitError:
    if levels is None:
        return ScalefitError(
            f"{what} is too long or nested too deeply for Python's parser (an expression may nest at most "
            f"{MAX_DEPTH} levels, and a run of one operator may have a few thousand terms); shorten or simplify it"
        )
    return ScalefitError(
        f"{what} is nested {levels} levels deep, more than the {MAX_DEPTH} an expression may have "
        "(parentheses, powers, minus signs and function calls each nest one level; a run of + or * does not); "
        "simplify it"
    )


def _family(node: ast.AST) -> int | None:
    if isinstance(node, ast.BinOp):
        for i, ops in enumerate(_FAMILIES):
            if isinstance(node.op, ops):
                return i
    return None


def depth(tree: ast.AST) -> int:
    """Nesting depth of ``tree``, counted without recursion; the left operand of a binary
    operator of the same family as its parent does not add a level."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        family = _family(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.operator | ast.boolop | ast.cmpop | ast.unaryop | ast.expr_context):
                continue
            same = family is not None and child is node.left and _family(child) == family
            stack.append((child, level if same else level + 1))
    return deepest


def chain(node: ast.expr, ops: tuple[type, ...]) -> list[tuple[ast.operator | None, ast.expr]]:
    """A left-nested run of the binary operators ``ops`` as ``[(None, first), (op, operand), ...]``,
    unrolled without recursion (``a - b + c`` is ``[(None, a), (Sub, b), (Add, c)]``)."""
    out: list[tuple[ast.operator | None, ast.expr]] = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ops):
        out.append((node.op, node.right))
        node = node.left
    out.append((None, node))
    out.reverse()
    return out


def names(tree: ast.AST) -> list[str]:
    """The names a parsed formula uses, in order of first use, function names excluded."""
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls))


def segment(source: str, node: ast.AST, limit: int = 80) -> str:
    """The text of ``node`` in ``source`` (shortened to ``limit`` characters), for messages."""
    text = ast.get_source_segment(source.strip(), node)
    if text is None:
        text = type(node).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(text: str, limit: int = 60) -> str:
    """``repr(text)``, shortened to about ``limit`` characters (for a long expression in a message)."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 3]) + "..."
