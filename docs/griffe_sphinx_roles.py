"""A griffe extension for the docs site: Sphinx roles in docstrings become Markdown.

scalefit's docstrings cross-reference with Sphinx roles (``:func:`fit_law```,
``:class:`~scalefit.Fit```, ``:meth:`Fit.predict```). mkdocstrings renders Markdown, where
those would print literally. This rewrites each role, before the docstring is rendered, as

* a cross-reference ``[`fit_law()`][scalefit.fit_law]`` when the target is a public name
  (``scalefit.__all__`` or ``scalefit.collect.__all__``), a member of one, or a member of
  the class whose docstring holds the role (a member without a docstring of its own, such
  as a dataclass field, links to its class); mkdocs-autorefs then links it, and a target
  that is not on the site fails ``mkdocs build --strict``;
* plain code (``fit_law()``) otherwise (:mod:`ast`, private helpers: those by their own
  name only, ``replacing()`` for ``scalefit._io.replacing``, since the site documents
  public names and private module paths change).

The public names are read from the two ``__init__.py`` files (parsed, not imported).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import griffe

SRC = Path(__file__).resolve().parents[1] / "src" / "scalefit"
ROLE = re.compile(r":(?:py:)?(class|func|meth|attr|data|mod|obj|exc):`(~?)([^`<>]+)`")


def _public(init: Path) -> set[str]:
    """The names in ``__all__`` of a module, read from its source."""
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


TOP = _public(SRC / "__init__.py")
COLLECT = _public(SRC / "collect" / "__init__.py")


def _public_path(obj) -> str | None:
    """The public dotted path of a public class (or function), e.g. ``scalefit.Fit``."""
    if obj is None or obj.name.startswith("_"):
        return None
    if obj.path.startswith("scalefit.collect.") and obj.name in COLLECT:
        return f"scalefit.collect.{obj.name}"
    if obj.name in TOP:
        return f"scalefit.{obj.name}"
    return None


def _resolve(target: str, obj) -> str | None:
    """The identifier of ``target`` on the site, or None where it is not documented there."""
    parts = target.split(".")
    if any(p.startswith("_") for p in parts):
        return None
    if parts[0] == "scalefit":
        parts = parts[1:]
        if parts and parts[0] == "collect":
            return "scalefit.collect." + ".".join(parts[1:]) if len(parts) > 1 and parts[1] in COLLECT else None
        return "scalefit." + ".".join(parts) if parts and parts[0] in TOP else None
    in_collect = obj.path.startswith("scalefit.collect")
    if parts[0] in COLLECT and (in_collect or parts[0] not in TOP):
        return "scalefit.collect." + target
    if parts[0] in TOP:
        return "scalefit." + target
    if len(parts) == 1:  # a member of the class this docstring belongs to (or of its class)
        owner = obj if obj.is_class else obj.parent if obj.parent is not None and obj.parent.is_class else None
        base = _public_path(owner)
        if base is not None and parts[0] in owner.members:
            # a member with no docstring of its own (a dataclass field, listed in the class's
            # Attributes section) has no heading on the site: link to its class
            return f"{base}.{target}"
    return None


def _on_site(ident: str, obj) -> str:
    """``ident``, or its class where ``ident`` is a member with no docstring of its own (a
    dataclass field, listed in its class's Attributes section, has no heading on the site)."""
    owner, _, member = ident.rpartition(".")
    try:
        found = obj.modules_collection[ident]
    except Exception:  # not found: leave it to autorefs, which fails the strict build
        return ident
    return owner if member and found.docstring is None and owner not in ("scalefit", "scalefit.collect") else ident


def rewrite(text: str, obj) -> str:
    """``text`` with every Sphinx role replaced by Markdown (see the module docstring)."""

    def one(match: re.Match) -> str:
        role, short, target = match.groups()
        target = target.strip().lstrip(".")
        private = any(part.startswith("_") for part in target.split("."))
        shown = target.rsplit(".", 1)[-1] if short or private else target
        if role in ("func", "meth"):
            shown += "()"
        ident = None if role == "mod" else _resolve(target, obj)
        if ident is not None:
            ident = _on_site(ident, obj)
        return f"[`{shown}`][{ident}]" if ident else f"`{shown}`"

    return ROLE.sub(one, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring once the object tree is complete."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value, obj)
