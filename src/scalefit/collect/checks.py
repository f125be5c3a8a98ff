"""Field checks of the collector's specs, shared by the dataclasses and the grid reader.

Every spec (:class:`~scalefit.collect.train.HParams`, :class:`~scalefit.collect.models.ModelSpec`,
:class:`~scalefit.collect.distill.DistillLoss`, :class:`~scalefit.collect.grid.DataSpec`) declares
``CHECKS``: one check per field, ``check(value, name) -> value``. The dataclass runs them in
``__post_init__`` with short names (``epochs``); the grid reader runs them first with the key's
table path (``grid.toml [pretrain] epochs:``), so a bad value in a file is reported where it is.

Types are exact: an integer field takes a TOML/Python ``int`` only (``2.5``, ``2.0``, ``"2"``
and ``True`` are refused, never truncated or parsed); a real field takes an ``int`` or a
``float`` and keeps it as given (``lr = 1`` stays ``1``, so run ids are unchanged).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.files import name_in_path
from scalefit.validate import choice, integer, number, shown_value, suggest

Check = Callable[[Any, str], Any]

#: Largest seed: torch and numpy both take any integer in [0, 2**63 - 1].
SEED_MAX = 2**63 - 1


def item(name: str, index: int | str) -> str:
    """The name of element ``index`` of the list called ``name`` (``heads:`` -> ``heads[0]:``)."""
    suffix = ":" if name.endswith(":") else ""
    base = name[:-1] if suffix else name
    return f"{base}[{index}]{suffix}" if isinstance(index, int) else f"{base}.{index}{suffix}"


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def whole(minimum: int | None = None, maximum: int | None = None) -> Check:
    """An ``int`` (not a float, a string or a bool) in ``[minimum, maximum]``."""

    def check(value: Any, name: str) -> int:
        if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
            raise ScalefitError(
                f"{name} must be an integer{_bounds(minimum, maximum)}, got {value!r}; "
                f"write {int(value)} (without a decimal point)"
            )
        return integer(value, name, minimum, maximum)

    return check


def real(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> Check:
    """A finite real number within the limits, kept as given (an ``int`` stays an ``int``)."""

    def check(value: Any, name: str) -> float | int:
        number(value, name, low=low, high=high, low_open=low_open, high_open=high_open)
        return int(value) if isinstance(value, numbers.Integral) else float(value)

    return check


def one_of(*options: str) -> Check:
    return lambda value, name: choice(value, name, options)


def string(value: Any, name: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {shown_value(value)} ({type(value).__name__})")
    if not value.strip():
        raise ScalefitError(f"{name} must be a non-empty string, got {value!r}")
    return value


def file_name(value: Any, name: str) -> str:
    """A non-empty string that can be part of a file name, confined to its directory (no ``../``)."""
    return name_in_path(string(value, name), name)


def optional(check: Check) -> Check:
    """``None`` (not given) or a value ``check`` accepts."""
    return lambda value, name: None if value is None else check(value, name)


def int_list(value: Any, name: str, minimum: int = 1, *, example: str = "[2, 4]") -> tuple[int, ...]:
    """A non-empty list of distinct integers >= ``minimum``."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(
            f"{name} must be a list of integers, e.g. {example}, got {shown_value(value)} ({type(value).__name__})"
        )
    out = tuple(whole(minimum)(v, item(name, i)) for i, v in enumerate(value))
    if not out:
        raise ScalefitError(f"{name} must not be empty; give e.g. {example}")
    repeated = sorted({v for v in out if out.count(v) > 1})
    if repeated:
        raise ScalefitError(f"{name} repeats {repeated} in {list(out)}; list each value once")
    return out


def check_fields(obj: Any, checks: Mapping[str, Check], prefix: str = "") -> None:
    """Run ``checks`` on a frozen dataclass's fields, storing the canonical values."""
    for key, check in checks.items():
        object.__setattr__(obj, key, check(getattr(obj, key), f"{prefix}{key}"))


def table(value: Any, where: str) -> dict:
    """A TOML table (a mapping with string keys)."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{where} must be a table (a [section] of key = value lines), "
            f"got {shown_value(value)} ({type(value).__name__})"
        )
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{where}: keys must be strings, got {shown_value(key)}")
    return dict(value)


def no_unknown(found: Mapping[str, Any], known: Sequence[str], where: str, what: str = "key") -> None:
    """Refuse a key not in ``known``, suggesting the nearest known one."""
    for key in found:
        if key not in known:
            raise ScalefitError(
                f"{where}: unknown {what} {key!r}{suggest(key, known)}; known: {', '.join(sorted(known))}"
            )
