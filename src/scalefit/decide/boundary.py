"""Where two fitted laws cross: the distillation boundary and general crossovers.

Along one variable ``x`` (everything else held at ``at``) the difference of two fitted
laws is ``F(x) = a(x) - b(x)``; ``F > 0`` means ``b`` gives the lower error. For the
paper's plain (Eq. 1) and distilled (Eq. 4) laws along ``Dp``,

    F(Dp) = Delta + Dp^-alpha / lambda_p - Dp^-alpha' / lambda'_p

has one stationary point, ``D*_p = [(alpha / lambda_p) / (alpha' / lambda'_p)]^(1 / (alpha -
alpha'))`` — the derivation's exponent; the paper prints ``1 / (alpha' - alpha)``, which is
not a stationary point — and so at most two crossings ``D**_p``, one on each side of it.
The solver splits the domain at each stationary point (where ``F`` is monotone between
them) and brackets every crossing in log space, so none is missed; for other law shapes
stationary points come from sign changes of ``dF/dlog x`` on a dense grid, refined by
Brent's method.

A crossing is a point where ``F`` changes sign inside the domain; a zero touched without a
change of sign, or lying exactly on an end of the domain, is not one. Where the two laws
agree to within ``COINCIDE_RTOL`` (relative) at every checked point of the domain they
*coincide*: there is no crossing and no winner, and the result says so. Pairs of draws
that coincide count as having no crossing.

Every argument is checked before any work: the fits (for :func:`distillation_boundary`,
the plain law first and the distilled one second), the axis, ``at``, ``domain`` and
``names``. A law that overflows or is undefined somewhere in the domain is an error that
names the fit and the inputs, never a NaN in the result.

With bootstrap or posterior fits, the same is done for every pair of draws, giving the
distribution of ``D*_p`` and of each crossing, the probability that a crossing exists in
the domain, and the probability that each side wins at any ``x``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scalefit.decide.arguments import check_domain, fit_arg, near
from scalefit.decide.crossover_evidence import crossing_caveats, observed_cells
from scalefit.decide.crossover_result import TIE, Condition, Crossover, DistillationBoundary, Regime
from scalefit.decide.crossover_solver import CHECK, coincident, single_power, solve_crossings
from scalefit.decide.paired import difference_along, draw_columns, paired_draws, values_along
from scalefit.decide.path import Path, path_variables
from scalefit.errors import ScalefitError, ScalingWarning
from scalefit.laws.catalogue import paper_distilled, paper_error, paper_loss
from scalefit.laws.law import Law
from scalefit.results.fit import Fit
from scalefit.validate import check_at, shown_value, text

TEACHER = "Mt"  # the distilled law's teacher variable


def check_names(names: object) -> tuple[str, str]:
    """Two different labels for the fits, neither of them ``TIE``."""
    if isinstance(names, str | bytes) or not isinstance(names, Sequence) or len(names) != 2:
        raise TypeError(
            f"names must be a pair of labels for fit_a and fit_b, e.g. names=('small', 'large'), "
            f"got {shown_value(names)} ({type(names).__name__})"
        )
    a, b = (text(n, f"names[{i}]") for i, n in enumerate(names))
    if a == b:
        raise ScalefitError(f"names must be two different labels, got ({a!r}, {b!r}); the regimes would not say "
                            "which fit wins")  # fmt: skip
    if TIE in (a, b):
        raise ScalefitError(f"names cannot use {TIE!r}, which marks a regime where the laws coincide; got {names!r}")
    return a, b


def check_pair(fit_a, fit_b, axis, at, domain, args=("fit_a", "fit_b"), hint="") -> tuple[dict, tuple[float, float]]:
    for name, f in zip(args, (fit_a, fit_b), strict=True):
        fit_arg(f, name)
    if not isinstance(axis, Path):
        axis = text(axis, "axis")
    ma, mb = fit_a.law.metric or fit_a.target, fit_b.law.metric or fit_b.target
    if ma != mb:
        raise ScalefitError(
            f"the fits predict different metrics ({args[0]}: {ma!r}, {args[1]}: {mb!r}); a crossover compares the "
            "same metric — fit both laws to the same kind of target (e.g. both error rates)"
        )
    va, vb = list(fit_a.law.variables), list(fit_b.law.variables)
    if isinstance(axis, Path):
        for arg, f, vs in ((args[0], fit_a, va), (args[1], fit_b, vb)):
            if not set(axis.variables) & set(vs):
                raise ScalefitError(
                    f"path {axis.axis!r} sets {list(axis.variables)}, none of which is a variable of {arg} "
                    f"({f.law.name}: {vs}); choose a path through the laws' variables{hint}"
                )
    elif axis not in va or axis not in vb:
        common = [v for v in va if v in vb]
        raise ScalefitError(
            f"axis {axis!r} must be a variable of both laws{near(axis, common)}; {args[0]} "
            f"({fit_a.law.name}) has {va} and {args[1]} ({fit_b.law.name}) has {vb}{hint}"
        )
    moving = path_variables(axis)
    needed = list(dict.fromkeys(v for v in va + vb if v not in moving))
    name = str(axis) if isinstance(axis, Path) else repr(axis)
    at = check_at(
        at,
        needed,
        role="holding every other variable fixed",
        fix="; hold every other variable fixed",
        unknown=f"at= names {{key!r}}, which neither law uses besides the axis {name}{{near}}; needed: {needed}",
        taken={v: f"at names {v!r}, which the axis {name} varies over the domain; remove it from at" for v in moving},
    )
    return at, check_domain(domain)


_DISTILLED_PARAMS = frozenset(paper_distilled.parameters) - frozenset(paper_error.parameters)


def distilled_marker(law: Law) -> str:
    """Why ``law`` looks like a distilled law, or ``""``."""
    if TEACHER in law.variables:
        return f"it has the teacher variable {TEACHER!r}"
    own = [p for p in law.parameters if p in _DISTILLED_PARAMS]
    return f"it has the distilled law's parameters {own}" if own else ""


def _is_plain(law: Law) -> bool:
    """``law`` is one of the catalogue's plain laws (Eq. 1 or 2), however named."""
    return any(law.expr == c.expr or set(law.parameters) == set(c.parameters) for c in (paper_error, paper_loss))


def _check_roles(plain_fit: Fit, distilled_fit: Fit) -> None:
    """Refuse a distilled law in the plain slot or the plain law in the distilled slot."""
    plain_mark, distilled_mark = distilled_marker(plain_fit.law), distilled_marker(distilled_fit.law)
    order = (
        "pass the plain fit first: distillation_boundary(plain_fit, distilled_fit, at=..., domain=...) "
        "(on the command line: scalefit boundary PLAIN.json DISTILLED.json)"
    )
    other = "or compare any two fits with crossover(fit_a, fit_b, axis='Dp', at=..., domain=..., names=...)"
    if plain_mark and not distilled_mark:
        raise ScalefitError(
            f"plain_fit and distilled_fit look swapped: plain_fit ({plain_fit.law.name}) looks like the distilled "
            f"law ({plain_mark}) and distilled_fit ({distilled_fit.law.name}) does not; {order}"
        )
    if plain_mark:
        raise ScalefitError(
            f"plain_fit ({plain_fit.law.name}) looks like a distilled law ({plain_mark}), and so does distilled_fit "
            f"({distilled_fit.law.name}); pass a fit of the plain law (e.g. paper_error) as plain_fit, {other}"
        )
    if _is_plain(distilled_fit.law):
        raise ScalefitError(
            f"distilled_fit ({distilled_fit.law.name}) is the plain law: it has no teacher variable {TEACHER!r} and "
            f"none of the distilled law's parameters; pass a fit of the distilled law (e.g. paper_distilled) as "
            f"distilled_fit — if the two are swapped, {order}; {other}"
        )


# -- public functions -------------------------------------------------------------------
def _build(cls, fit_a, fit_b, axis, at, domain, names, args, conditions=()):
    """The crossover of two checked fits; ``at`` and ``domain`` already checked."""
    lo, hi = domain
    check = np.geomspace(lo, hi, CHECK)
    va = values_along(fit_a.law, fit_a.params, axis, at, check)
    vb = values_along(fit_b.law, fit_b.params, axis, at, check)
    for arg, f, v in ((args[0], fit_a, va), (args[1], fit_b, vb)):
        bad = ~np.isfinite(v)
        if bad.any():
            held = ", ".join(f"{k}={x:g}" for k, x in at.items()) or "nothing else held"
            raise ScalefitError(
                f"{arg} ({f.law.name}) is not finite at {axis}={check[bad][0]:.4g} ({held}): its law overflows or "
                f"is undefined there at the fitted parameters; narrow domain=({lo:g}, {hi:g}) or change at="
            )
    pa_shape, pb_shape = single_power(fit_a.law, axis), single_power(fit_b.law, axis)
    shapes = (pa_shape, pb_shape) if pa_shape is not None and pb_shape is not None else None
    coincide = bool(np.all(coincident(va, vb)))
    if coincide:
        stationary, crossings, closed = [], [], shapes is not None
        regimes = [Regime(lo, hi, TIE)]
    else:
        stationary, crossings, closed = solve_crossings(
            fit_a.law, fit_a.params, fit_b.law, fit_b.params, axis, at, domain, shapes
        )
        edges = [lo, *crossings, hi]
        regimes = []
        for left, right in zip(edges[:-1], edges[1:], strict=True):
            if right <= left:
                continue
            f = float(
                difference_along(fit_a.law, fit_a.params, fit_b.law, fit_b.params, axis, at, np.sqrt(left * right))
            )
            regimes.append(Regime(left, right, names[1] if f > 0 else names[0]))
    draws = None
    if fit_a.draws is not None and fit_b.draws is not None:
        draws = _draw_table(fit_a, fit_b, axis, at, domain, shapes, args)
    checked = observed_cells(fit_a, fit_b, axis, at, names)
    caveats = crossing_caveats(fit_a, fit_b, args, conditions, checked, axis)
    return cls(axis=axis, at=at, domain=domain, names=tuple(names), stationary=tuple(stationary),
               crossings=tuple(crossings), regimes=tuple(regimes), closed_form=closed, draws=draws,
               conditions=tuple(conditions), coincide=coincide, checked=checked, caveats=caveats,
               fits=(fit_a, fit_b))  # fmt: skip


def _draw_table(fit_a, fit_b, axis, at, domain, shapes, args) -> pd.DataFrame | None:
    """Stationary point and crossings for every pair of draws whose laws are finite in the domain."""
    pa, pb = paired_draws(fit_a, fit_b)
    n = len(next(iter(pa.values())))
    if n == 0:
        return None
    check = np.geomspace(*domain, CHECK)
    va = values_along(fit_a.law, draw_columns(pa), axis, at, check[None, :])
    vb = values_along(fit_b.law, draw_columns(pb), axis, at, check[None, :])
    finite = np.all(np.isfinite(va) & np.isfinite(vb), axis=1)
    same = finite & np.all(coincident(va, vb), axis=1)
    where = f"domain=({domain[0]:g}, {domain[1]:g})"
    if not finite.any():
        raise ScalefitError(
            f"no pair of draws of {args[0]} and {args[1]} gives laws that are finite over {where}; they overflow or "
            "are undefined there — narrow the domain"
        )
    if not finite.all():
        warnings.warn(
            f"{int((~finite).sum())} of {n} pairs of draws of {args[0]} and {args[1]} overflow or are undefined "
            f"somewhere in {where}; they are left out of draws, p_crossing and intervals() — narrow the domain "
            "to keep them",
            ScalingWarning,
            stacklevel=4,
        )
    rows = []
    for i in np.flatnonzero(finite):
        if same[i]:
            rows.append({"stationary": np.nan, "crossings": [], "coincide": True})
            continue
        da = {k: float(v[i]) for k, v in pa.items()}
        db = {k: float(v[i]) for k, v in pb.items()}
        s, c, _ = solve_crossings(fit_a.law, da, fit_b.law, db, axis, at, domain, shapes)
        rows.append({"stationary": s[0] if s else np.nan, "crossings": c, "coincide": False})
    width = max([len(r["crossings"]) for r in rows] + [2 if shapes else 1])
    return pd.DataFrame(
        {
            "stationary": [r["stationary"] for r in rows],
            **{
                f"crossing_{j + 1}": [r["crossings"][j] if j < len(r["crossings"]) else np.nan for r in rows]
                for j in range(width)
            },  # fmt: skip
            "n_crossings": [len(r["crossings"]) for r in rows],
            "coincide": [r["coincide"] for r in rows],
        }
    )


def crossover(fit_a: Fit, fit_b: Fit, axis: str, at: Mapping[str, float], domain: tuple[float, float],
              names: tuple[str, str] = ("a", "b")) -> Crossover:  # fmt: skip
    """Every crossing of two fitted laws along ``axis`` inside ``domain``.

    E.g. at what fine-tuning set size does the 38M model overtake the 10M one:
    ``crossover(fit_38m, fit_10m, axis="Df", at={"Dp": 1.28e6}, domain=(1e3, 1e6))``.

    ``axis`` must be a variable of both laws and ``at`` must hold every other variable of
    either law (values > 0). Laws that coincide along the axis give a result with
    ``coincide=True``, no crossings and a single ``"tie"`` regime.

    ``axis`` may instead be a :class:`~scalefit.Path`: a coordinate that moves several
    variables at once, e.g. compute ``C`` with ``D = 20 N`` (:func:`~scalefit.compute_path`)
    or any mapping of your own; ``domain`` is then a range of that coordinate and ``at``
    holds the variables the path does not set. Crossings along a path are found numerically
    (no closed form), and :attr:`Crossover.checked` is ``None`` (runs are not indexed by a
    coordinate along a path).

    Parameters
    ----------
    fit_a, fit_b : Fit
        Two fits predicting the same metric; ``F = a - b > 0`` means ``b`` is lower.
    axis : str
        The variable along which to look for crossings (a variable of both laws).
    at : dict
        Values (> 0) of every other variable of either law.
    domain : (float, float)
        Range of ``axis`` to search.
    names : (str, str)
        Labels of the two fits in the regimes, tables and figures (default ``("a", "b")``).

    Returns
    -------
    Crossover
        ``stationary``, ``crossings``, ``regimes`` and, when both fits have bootstrap or
        posterior draws, ``draws``, :meth:`Crossover.intervals`, ``p_crossing`` and
        :meth:`Crossover.probability_b_wins`.
    """
    at, domain = check_pair(fit_a, fit_b, axis, at, domain)
    names = check_names(names)
    return _build(Crossover, fit_a, fit_b, axis, at, domain, names, ("fit_a", "fit_b"))


RATIO = 2.0  # "lambda ~ lambda'" is read as a ratio within this factor; the paper gives no tolerance
EQ6 = (
    ("E_inf < E_inf'", lambda p, d: p["E_inf"] < d["E_inf_prime"],
     lambda p, d: f"{p['E_inf']:.4g} vs {d['E_inf_prime']:.4g}"),
    ("gamma > gamma'", lambda p, d: p["gamma"] > d["gamma_prime"],
     lambda p, d: f"{p['gamma']:.4g} vs {d['gamma_prime']:.4g}"),
    ("beta < beta'", lambda p, d: p["beta"] < d["beta_prime"],
     lambda p, d: f"{p['beta']:.4g} vs {d['beta_prime']:.4g}"),
    ("alpha - alpha' in (-1, 0)", lambda p, d: np.abs(p["alpha"] - d["alpha_prime"] + 0.5) < 0.5,
     lambda p, d: f"alpha - alpha' = {p['alpha'] - d['alpha_prime']:.4g}"),
    *(
        (f"{n} ~ {n}'", lambda p, d, n=n: (p[n] / d[f"{n}_prime"] >= 1 / RATIO) & (p[n] / d[f"{n}_prime"] <= RATIO),
         lambda p, d, n=n: f"ratio {p[n] / d[f'{n}_prime']:.3g} (within x{RATIO:g})")
        for n in ("lambda_m", "lambda_f")
    ),
)  # fmt: skip


def _conditions(plain: Fit, distilled: Fit) -> list[Condition]:
    """The paper's Eq. 6 on the best fits, and how often each holds over pairs of draws."""
    p, d = plain.params, distilled.params
    need_p = {"E_inf", "alpha", "beta", "gamma", "lambda_m", "lambda_f"}
    if not need_p <= set(p) or not {f"{n}_prime" for n in need_p} <= set(d):
        return []
    draws = paired_draws(plain, distilled) if plain.draws is not None and distilled.draws is not None else None
    if draws is not None and not len(next(iter(draws[0].values()))):
        draws = None
    return [
        Condition(name, bool(test(p, d)), detail(p, d), None if draws is None else float(np.mean(test(*draws))))
        for name, test, detail in EQ6
    ]


def distillation_boundary(
    plain_fit: Fit,
    distilled_fit: Fit,
    at: Mapping[str, float],
    domain: tuple[float, float],
    along: str | Path = "Dp",
) -> DistillationBoundary:
    """Where distilling a small teacher into the model stops (or starts) paying, along ``Dp``.

    Parameters
    ----------
    plain_fit, distilled_fit : Fit
        Fits of the plain law (e.g. ``paper_error``) and the distilled law (e.g.
        ``paper_distilled``) to the same metric, in that order. A distilled law (one with
        the teacher variable ``Mt`` or the distilled law's parameters) as ``plain_fit``, or
        the catalogue's plain law as ``distilled_fit``, is refused: the regimes would be
        labelled the wrong way round. To compare other pairs, use :func:`crossover`.
    at : dict
        The other variables, e.g. ``{"M": 22e6, "Df": 5e4, "Mt": 10e6}``.
    domain : (float, float)
        Range of ``Dp`` (or of the ``along`` coordinate) to search.
    along : str or Path
        The coordinate searched: ``"Dp"`` (the paper's Eq. 1/4 question), another variable of
        both laws, or a :class:`~scalefit.Path` — e.g. student compute
        ``compute_path(tokens_per_parameter=20)`` for Busbridge et al.'s question "up to what
        student compute does distillation beat supervised training, for this teacher?".

    Returns
    -------
    DistillationBoundary
        ``stationary`` (``D*_p``, closed form for the paper's shapes), ``crossings``
        (every ``D**_p``), ``regimes`` (``"plain"`` / ``"distill"``), ``conditions`` (the
        paper's Eq. 6 on the fitted numbers) and, with bootstrap or posterior fits,
        ``draws``, ``intervals()``, ``p_crossing`` and ``p_distill_wins(Dp)``.
    """
    args = ("plain_fit", "distilled_fit")
    fit_arg(plain_fit, args[0])
    fit_arg(distilled_fit, args[1])
    _check_roles(plain_fit, distilled_fit)
    hint = " (distillation_boundary() searches along 'Dp' unless along= names another variable or a Path)"
    at, domain = check_pair(plain_fit, distilled_fit, along, at, domain, args, hint)
    conditions = _conditions(plain_fit, distilled_fit) if along == "Dp" else []
    return _build(DistillationBoundary, plain_fit, distilled_fit, along, at, domain, ("plain", "distill"), args,
                  conditions)  # fmt: skip
