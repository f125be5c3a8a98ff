"""Paths through the variables: crossings, boundaries and allocations along more than one variable.

:func:`scalefit.crossover` and :func:`scalefit.distillation_boundary` search along one
coordinate. That coordinate is a variable (``axis="Dp"``, the others held by ``at=``) or a
:class:`Path`: a named coordinate ``t`` with a map from ``t`` to several variables, e.g.
training compute ``C`` at a fixed ratio of tokens to parameters::

    >>> from scalefit import compute_path
    >>> p = compute_path(tokens_per_parameter=20)
    >>> {k: float(v) for k, v in p.values(1.2e18).items()}
    {'N': 100000000.0, 'D': 2000000000.0}

or any user mapping (``Path("C", lambda C: {"N": ..., "D": ...}, ("N", "D"))``). Variables
the path does not set come from ``at=`` as before; the domain is a range of ``t``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from scalefit.errors import ScalefitError


@dataclass(frozen=True)
class Path:
    """A path through the variables: ``t -> {variable: value}``.

    Parameters
    ----------
    axis : str
        Name of the coordinate along the path (``"C"``), used in results and messages.
    mapping : callable
        ``mapping(t)`` for an array ``t`` returns ``{variable: array}`` for every name in
        ``variables`` (arrays broadcastable with ``t``; values finite and >= 0).
    variables : tuple of str
        The variables the path sets.
    description : str
        How the path maps ``t`` (printed with results), e.g. ``"N = sqrt(C / 120), D = 20 N"``.
    """

    axis: str
    mapping: Callable[[np.ndarray], Mapping[str, object]]
    variables: tuple[str, ...]
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.axis, str) or not self.axis.isidentifier():
            raise ScalefitError(f"Path axis must be a name such as 'C', got {self.axis!r}")
        if not callable(self.mapping):
            raise TypeError(
                f"Path mapping must be a function t -> {{variable: value}}, got {type(self.mapping).__name__}"
            )
        vs = (self.variables,) if isinstance(self.variables, str) else tuple(self.variables)
        if not vs or not all(isinstance(v, str) for v in vs):
            raise ScalefitError(f"Path variables must be one or more variable names, got {self.variables!r}")
        object.__setattr__(self, "variables", vs)

    def values(self, t) -> dict[str, np.ndarray]:
        """The variables at ``t`` (array in, arrays out), checked finite and >= 0."""
        t = np.asarray(t, dtype=float)
        try:
            out = self.mapping(t)
        except Exception as exc:  # a user's function: say whose it is
            raise ScalefitError(f"path {self.axis!r}: its mapping raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(out, Mapping) or set(out) != set(self.variables):
            got = sorted(out) if isinstance(out, Mapping) else type(out).__name__
            raise ScalefitError(
                f"path {self.axis!r}: its mapping must return {{variable: value}} for exactly {list(self.variables)}, "
                f"got {got}"
            )
        res = {}
        for v in self.variables:
            a = np.asarray(out[v], dtype=float)
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(a) | (a < 0)
            if bad.any():
                raise ScalefitError(
                    f"path {self.axis!r} gives {v} = {a[bad].ravel()[0]!r} at some {self.axis} in the domain; a path "
                    "must give finite variables >= 0 — narrow the domain or fix the mapping"
                )
            res[v] = np.broadcast_to(a, np.broadcast_shapes(a.shape, t.shape))
        return res

    def __str__(self) -> str:
        return f"{self.axis} ({self.description})" if self.description else self.axis


def compute_path(
    tokens_per_parameter: float = 20.0,
    *,
    flops_per_token: float = 6.0,
    params: str = "N",
    tokens: str = "D",
    axis: str = "C",
) -> Path:
    """Training compute ``C = flops_per_token * N * D`` at a fixed ratio ``D = r N``.

    ``N = sqrt(C / (flops_per_token * r))`` and ``D = r N`` (Chinchilla's ``C = 6 N D``, ``r = 20``
    by default). ``params`` and ``tokens`` name the law's variables.

    Parameters
    ----------
    tokens_per_parameter : float
        ``r`` in ``D = r N``.
    flops_per_token : float
        FLOPs per parameter per token (6 for a forward and backward pass).
    params, tokens : str
        The law's variables for parameters and tokens.
    axis : str
        The name of the compute coordinate.

    Returns
    -------
    Path
    """
    r, k = float(tokens_per_parameter), float(flops_per_token)
    for name, v in (("tokens_per_parameter", r), ("flops_per_token", k)):
        if not (np.isfinite(v) and v > 0):
            raise ScalefitError(f"{name} must be a positive number, got {v!r}")
    if params == tokens:
        raise ScalefitError(f"params and tokens must name different variables, both are {params!r}")

    def mapping(c):
        n = np.sqrt(np.asarray(c, dtype=float) / (k * r))
        return {params: n, tokens: r * n}

    return Path(axis, mapping, (params, tokens), f"{params} = sqrt({axis} / {k * r:g}), {tokens} = {r:g} {params}")


def path_variables(axis: object) -> tuple[str, ...]:
    """The variables a search coordinate sets: the path's, or the axis itself."""
    return axis.variables if isinstance(axis, Path) else (axis,)


def along(axis: object, x, at: Mapping[str, float], variables: Iterable[str]) -> dict:
    """Every one of ``variables`` at coordinate ``x`` along ``axis`` (a variable or a :class:`Path`)."""
    x_of = axis.values(x) if isinstance(axis, Path) else {axis: x}
    return {v: (x_of[v] if v in x_of else at[v]) for v in variables}
