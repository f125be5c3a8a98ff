"""Checked JSON: read a parsed JSON object field by field, refusing what does not fit.

:class:`JsonReader` holds the file's label and how to save it again, builds the refusals
(:meth:`JsonReader.fail`: the file, the field, the value, what is allowed and the fix) and
checks the generic JSON shapes — objects, lists, strings, numbers (non-finite ones written as
the strings of :data:`~scalefit.files.NONFINITE`), integers, names, keys and nested trees. The
fields of a fit file build on it (:mod:`scalefit.serialize.fit_fields`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalefit import validate as check
from scalefit.errors import ScalefitError
from scalefit.files import NONFINITE


def json_kind(value: object) -> str:
    """What JSON ``value`` is, in words (``"null"``, ``"a list"``, ``"a number"``...), for refusals."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


class JsonReader:
    """Checks the generic shapes of a parsed JSON file, one field at a time.

    Every refusal names the file (``label``) and the field (``params['alpha']``), shows the
    value, says what is allowed and ends with the fix (saving again with ``saver``). Numbers
    are decoded where numbers belong: a JSON number, or one of the strings of :data:`NONFINITE`.
    """

    def __init__(self, label: str, saver: str = "fit.to_json(path)"):
        self.label = label
        self.refit = f"refit and save it again with {saver}"
        self.damaged = f"the file was edited or damaged — {self.refit}"

    # -- primitives ---------------------------------------------------------------------
    def fail(self, where: str, text: str) -> ScalefitError:
        return ScalefitError(f"{self.label}: {where} {text}; {self.damaged}")

    def kind(self, value: object, where: str, want: type | tuple, what: str) -> Any:
        if isinstance(value, bool) and bool not in (want if isinstance(want, tuple) else (want,)):
            raise self.fail(where, f"must be {what}, got {value!r}")
        if not isinstance(value, want):
            shown = f"{value!r:.60}" if not isinstance(value, dict | list) else json_kind(value)
            raise self.fail(where, f"must be {what}, got {shown}")
        return value

    def obj(self, value: object, where: str) -> dict:
        return self.kind(value, where, dict, "an object")

    def lst(self, value: object, where: str) -> list:
        return self.kind(value, where, list, "a list")

    def text(self, value: object, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        return self.kind(value, where, str, "a string")

    def number(self, value: object, where: str, *, finite: bool = False, optional: bool = False) -> float | None:
        if value is None and optional:
            return None
        allowed = "a finite number" if finite else "a number (or 'NaN', 'Infinity', '-Infinity')"
        if isinstance(value, str) and value in NONFINITE:
            out = NONFINITE[value]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            try:
                out = float(value)
            except OverflowError:
                digits = f"{str(value)[:20]}... ({len(str(value))} digits)"
                raise self.fail(where, f"= {digits} is too large for a number") from None
        else:
            got = "null" if value is None else f"{value!r:.60}"
            raise self.fail(where, f"must be {allowed}, got {got}")
        if finite and not math.isfinite(out):
            raise self.fail(where, f"= {value!r} is not finite; it must be {allowed}")
        return out

    def integer(self, value: object, where: str, minimum: int = 0, *, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            got = "null" if value is None else f"{value!r:.60}"
            raise self.fail(where, f"must be an integer >= {minimum}, got {got}")
        return int(value)

    def numbers(self, value: object, where: str, *, finite: bool = False) -> np.ndarray:
        """A list of numbers (NaN/Infinity encoded as strings) as a float array."""
        items = self.lst(value, where)
        out = np.empty(len(items), dtype=float)
        for i, v in enumerate(items):
            if isinstance(v, float | int) and not isinstance(v, bool):
                out[i] = self.number(v, f"{where}[{i}]")
            elif isinstance(v, str) and v in NONFINITE:
                out[i] = NONFINITE[v]
            else:
                got = "null" if v is None else f"{v!r:.60}"
                raise self.fail(
                    f"{where}[{i}]",
                    f"must be a number, got {got} (non-finite numbers are written as 'NaN', 'Infinity', '-Infinity')",
                )
            if finite and not math.isfinite(out[i]):
                raise self.fail(f"{where}[{i}]", f"= {v!r} is not finite")
        return out

    def names(self, value: object, where: str, allowed, what: str) -> list[str]:
        items = self.lst(value, where)
        for i, v in enumerate(items):
            if not isinstance(v, str) or v not in allowed:
                raise self.fail(f"{where}[{i}]", f"= {v!r:.60} is not a {what} of the law ({', '.join(allowed)})")
        return items

    def keys(self, d: dict, where: str, required, optional=()) -> None:
        missing = [k for k in required if k not in d]
        if missing:
            raise self.fail(where, f"is missing {missing}")
        extra = [k for k in d if k not in required and k not in optional]
        if extra:
            raise self.fail(where, f"has unknown field {extra[0]!r}{check.suggest(extra[0], [*required, *optional])}")

    def tree(self, value: object, where: str) -> Any:
        """A nested object of numbers, booleans, strings and nulls, with encoded non-finite
        numbers decoded (for diagnostics, misfit, profiles: objects whose strings are not
        free text, except under ``problems``)."""
        if isinstance(value, dict):
            return {k: (v if k == "problems" else self.tree(v, f"{where}[{k!r}]")) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return NONFINITE.get(value, value)
        return value
