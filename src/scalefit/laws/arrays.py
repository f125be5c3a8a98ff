"""NumPy or JAX: the array namespace a law evaluates in, chosen from its inputs without
importing JAX.

A law evaluates in ``jax.numpy`` when any input is a JAX array (or a tracer, inside the
fitters' compiled programs) and in NumPy otherwise. No value can be a JAX array unless JAX
is already imported, so the check reads ``sys.modules`` instead of importing it: a saved fit
is read, printed and predicts from without loading JAX.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def is_jax(value: Any) -> bool:
    """Whether ``value`` is a JAX array or tracer (``False`` whenever JAX is not imported)."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.Array)


def namespace(*values: Any):
    """``jax.numpy`` if any value is a JAX array (or tracer), else ``numpy``."""
    if any(is_jax(v) for v in values):
        import jax.numpy as jnp  # noqa: PLC0415 - loaded already: a JAX array was given

        return jnp
    return np


def stop_gradient(value: Any, xp):
    """``value`` with no derivative through it under JAX (``jax.lax.stop_gradient``); as it is
    under NumPy."""
    if xp is np:
        return value
    import jax  # noqa: PLC0415 - loaded already: xp is jax.numpy

    return jax.lax.stop_gradient(value)


def repeat(steps: int, step, start, xp):
    """``step`` applied ``steps`` times from ``start``: a ``jax.lax.fori_loop`` under JAX (one
    traced step, not ``steps``), a Python loop under NumPy."""
    if xp is np:
        value = start
        for _ in range(steps):
            value = step(value)
        return value
    import jax  # noqa: PLC0415 - loaded already: xp is jax.numpy

    return jax.lax.fori_loop(0, steps, lambda _, v: step(v), start)
