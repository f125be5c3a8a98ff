"""Next-run design: which runs most reduce the uncertainty of a stated goal, per unit cost.

:func:`suggest_runs` scores candidate runs by **sequential c-optimal design**: the goal
``g`` is a scalar function of the fitted parameters — the location ``log x*`` of a crossing
of two fitted laws (:func:`~scalefit.crossover`), or the value of a law at a target
configuration — and a design is c-optimal when it minimises the variance of ``g`` (Atkinson,
Donev & Tobias 2007, *Optimum Experimental Designs, with SAS*, Oxford University Press;
in its Bayesian form, Chaloner & Verdinelli 1995, *Statistical Science* 10:273-304). Runs
are added one at a time, each the one with the largest expected fall of the goal's interval
width per unit cost, given the runs already picked (the sequential construction for
nonlinear models); with a ``budget``, the better of that plan and the plan by the largest
fall of the width is kept. Three ways to forecast the goal's uncertainty after a new run
``x`` with noise variance ``s2`` (the fit's residual variance; log scale for log objectives):

* ``method="draws"`` (the default when the fits have bootstrap or posterior draws): over the
  draws, the goal ``g_d`` and the prediction ``f_d(x)`` have a joint distribution; observing
  ``f(x)`` leaves the **Bayes linear adjusted variance** (Goldstein & Wooff 2007, *Bayes
  Linear Statistics*, Wiley)

      V(x) = Var(g) - Cov(g, f(x))^2 / (Var(f(x)) + s2),

  which sees the nonlinearity the draws carry (a crossing that moves a decade between
  draws), not just the slope at the best fit. The goal's draws are clipped to their 1% and
  99% quantiles so a few wild replicates do not decide the variance.
* ``method="reweight"``: preposterior Monte Carlo (Ryan, Drovandi, McGree & Pettitt 2016,
  *International Statistical Review* 84:128-154): draws play the truth in turn, simulate
  the new run's outcome, and the draws reweighted by its likelihood give the goal's interval
  after it; the expected width is the mean over the truths. Nothing is linearised, but the
  forecast is a Monte Carlo estimate and the weights are tempered to keep an effective
  sample of 30 draws.
* ``method="fisher"``: the delta method at the best fit. ``V = c^T I^-1 c`` with ``c = dg /
  dtheta`` (for a crossing, by the implicit function theorem), ``I = J^T J / s2`` the
  least-squares Fisher information of each fit's runs (blocks side by side for two fits;
  ``theta`` the free internal parameters: log-amplitudes and exponents), and a run adds the
  row ``j = df(x)/dtheta``: ``V(x) = V - (c^T I^-1 j)^2 / (s2 + j^T I^-1 j)`` (Sherman-Morrison).

``"draws"`` and ``"fisher"`` are the same update, in the space of draws or of parameters;
each pick updates it (so ``n > 1`` never counts the same information twice; a picked run
leaves the pool). Their expected interval after a run is the current one shrunk about its
median by ``sqrt(V(x) / V)`` (on the log scale of the axis for a crossing); the current interval comes
from the draws where the fits have them (``width_basis="draws"``), else from the delta
method (``"linearised"``).

What it does not see: a new run also moves the estimate (the design is local to what the
current fits believe), the Huber objective and run weights are treated as plain least
squares, and (``"fisher"``) a parameter at a bound of its range is held fixed. The expected
widths are forecasts to rank runs by, not promises; refit after running them and ask again.

Costs (``cost=``) are per-unit prices ``{"Dp": 1e-6, "M": ...}`` (cost = sum of price times
amount), a formula of the variables (``"6*M*Dp"``, ``"1e-6*Dp + 5"``), a callable whose
parameters are named after the variables it uses (given numpy arrays) returning the cost
of each run — all checked and evaluated by :mod:`scalefit.decide.cost`, as for
:func:`~scalefit.allocate` — or ``None`` (every run costs 1). For a crossing of two fits a
dict keyed by the two fits' names gives each its own cost (a distilled run also pays for
the teacher).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from scalefit.decide.arguments import fit_arg, near
from scalefit.decide.boundary import check_names, check_pair, distilled_marker
from scalefit.decide.design_candidates import MAX_CANDIDATES, candidate_costs, candidate_table
from scalefit.decide.design_criteria import (
    METHODS,
    MIN_DRAWS,
    TRUTHS,
    Reweight,
    draw_predictions,
    ensemble_model,
    fisher_inverse,
    fisher_model,
    kept_draws,
    linearise,
)
from scalefit.decide.design_goals import crossing_goal, prediction_goal
from scalefit.decide.design_result import RunSuggestions
from scalefit.errors import ScalefitError
from scalefit.results.fit import Fit
from scalefit.validate import choice, integer, number, probability, shown_value

GOALS = ("crossing", "prediction")


# -- argument checks ----------------------------------------------------------------------
def _with_runs(fit: Fit, name: str) -> Fit:
    fit_arg(fit, name)
    if not fit.runs.data or "x" not in fit.runs.data or fit.runs.n_runs == 0:
        raise ScalefitError(
            f"{name} ({fit.law.name}) holds no runs (it was made with Fit.from_params); suggest_runs needs the runs "
            "a fit was made from to know what they already tell — pass a result of fit_law() or load_fit()"
        )
    return fit


def _fits_arg(fits: object, goal: str, names: object) -> tuple[list[Fit], tuple[str, ...] | None]:
    if goal == "prediction":
        if isinstance(fits, Fit):
            return [_with_runs(fits, "fits")], None
        raise TypeError(
            f"fits must be one Fit for goal='prediction' (the fit whose prediction to pin down), got "
            f"{shown_value(fits)} ({type(fits).__name__})"
        )
    example = "e.g. suggest_runs((plain_fit, distilled_fit), goal='crossing', axis='Dp', at=..., domain=...)"
    if isinstance(fits, Mapping):
        if len(fits) != 2:
            raise ScalefitError(f"fits: a crossing needs exactly two fits, got {len(fits)} ({list(fits)}); {example}")
        if names is not None:
            raise ScalefitError("give the fits' names once: either fits={name: fit, ...} or names=(..., ...)")
        pair = list(fits.values())
        names = tuple(fits)
    elif isinstance(fits, list | tuple):
        if len(fits) != 2:
            raise ScalefitError(f"fits: a crossing needs exactly two fits, got {len(fits)}; {example}")
        pair = list(fits)
    else:
        raise TypeError(f"fits must be a pair of Fits (or a dict of two) for goal='crossing', got "
                        f"{shown_value(fits)} ({type(fits).__name__}); {example}")  # fmt: skip
    for i, f in enumerate(pair):
        _with_runs(f, f"fits[{i}]")
    if names is None:
        distilled = [bool(distilled_marker(f.law)) for f in pair]
        names = ("plain", "distill") if distilled == [False, True] else ("a", "b")
    return pair, check_names(names)


def _at_all(at: object, variables: list[str]) -> dict[str, float]:
    example = "at={" + ", ".join(f"{v!r}: ..." for v in variables) + "}"
    if not isinstance(at, Mapping):
        raise TypeError(
            f"at must be a dict {{variable: value}} giving the target configuration, {example}, got "
            f"{shown_value(at)} ({type(at).__name__})"
        )
    for k in at:
        if not isinstance(k, str) or k not in variables:
            raise ScalefitError(f"at names {k!r}, which is not a variable of the law{near(k, variables)}; {example}")
    missing = [v for v in variables if v not in at]
    if missing:
        raise ScalefitError(f"at is missing {missing}: the target configuration needs every variable, {example}")
    return {v: number(at[v], f"at[{v!r}]", low=0.0, low_open=True) for v in variables}


def _which(which: object) -> str | int:
    if isinstance(which, str):
        return choice(which, "which", ("upper", "lower"))
    return integer(which, "which", 1, fix="'upper', 'lower', or the crossing's number counting up along the axis")


# -- the design ---------------------------------------------------------------------------
def suggest_runs(
    fits: Fit | Sequence[Fit] | Mapping[str, Fit],
    candidates: pd.DataFrame | Mapping[str, Sequence[float]] | None = None,
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    points: int | None = None,
    cost: object = None,
    goal: str = "crossing",
    axis: str | None = None,
    at: Mapping[str, float] | None = None,
    domain: tuple[float, float] | None = None,
    which: str | int = "upper",
    names: tuple[str, str] | None = None,
    n: int | None = None,
    budget: float | None = None,
    interval: float = 0.9,
    method: str = "auto",
    seed: int = 0,
) -> RunSuggestions:
    """The runs that most reduce the uncertainty of a goal per unit cost (sequential c-optimal design).

    Sequential c-optimal design (Atkinson, Donev & Tobias 2007): each pick is the run with the
    largest expected fall of the goal's interval width per unit cost, the variance after a
    run being the Bayes linear adjusted variance over the fits' draws (``method="draws"``,
    Goldstein & Wooff 2007) or the delta method's from the Fisher information
    (``method="fisher"``); the methods and what they do not see are described in the
    user guide (*Allocation and design*).

    Parameters
    ----------
    fits : Fit, pair of Fits, or dict of two Fits
        ``goal="crossing"``: the two fits whose crossing to locate (e.g. ``(plain_fit,
        distilled_fit)``; a dict gives their names). ``goal="prediction"``: one fit. Each
        must hold its runs (a result of :func:`fit_law` or :func:`load_fit`).
    candidates : DataFrame or dict, optional
        Possible runs, one per row, a column per law variable (every one: a missing column
        is an error, never filled in from ``at``). For a crossing, an optional column
        ``fit`` names which fit each run is for; without it every row is a candidate for
        both fits.
    bounds : dict, optional
        ``{variable: (low, high)}`` instead of ``candidates``: a grid of ``points``
        log-spaced values per variable (default 25). For a crossing, the default is
        ``{axis: domain}``.
    cost : None, dict, str or callable
        The cost of a run: ``None`` (1 per run), prices per unit ``{"Dp": 1e-6}``, a formula
        ``"6*M*Dp"`` or a callable whose parameters are named after the variables (numpy arrays). For a
        crossing, ``{name: cost}`` gives each fit's runs their own cost.
    goal : {"crossing", "prediction"}
        ``"crossing"``: the location of a crossing of the two laws along ``axis``, with the
        other variables at ``at``, in ``domain`` (as :func:`crossover`); ``which`` picks
        ``"upper"`` (largest), ``"lower"`` (smallest) or the k-th crossing counting up.
        ``"prediction"``: the law's value at the configuration ``at`` (the interval of the
        mean law).
    names : (str, str), optional
        Labels of the two fits (default ``("plain", "distill")`` when the second is a
        distilled law, else ``("a", "b")``).
    n : int, optional
        How many runs to pick (greedily, without repeats); default 1, or with ``budget``
        as many as it buys.
    budget : float, optional
        Pick runs until their total cost would exceed this. Two greedy plans are made — by
        the fall of the width per unit cost, and by the fall of the width among the runs
        still affordable — and the one leaving the narrower interval is returned. Taking the
        better of the two greedy rules keeps a constant-factor guarantee when gains are
        submodular, where either rule alone can be arbitrarily bad (Khuller, Moss & Naor
        1999; Leskovec et al. 2007, KDD); a fall of variance is not always submodular, so here
        it is a safeguard, not a guarantee. ``rule`` says which plan won.
    interval : float
        Central probability of the goal's interval (default 0.9).
    method : {"auto", "draws", "fisher", "reweight"}
        How the goal's uncertainty after a run is forecast: the Bayes linear adjusted variance
        over the bootstrap/posterior draws (``"draws"``, what ``"auto"`` uses when at least 50
        draws give the goal), the delta method from the Fisher information at the best fit
        (``"fisher"``, ``"auto"`` otherwise), or the expected interval width over the draws
        importance-reweighted by simulated outcomes (``"reweight"``: fully nonlinear, but a
        Monte Carlo estimate — noisier, seeded by ``seed``).
    seed : int
        Seed of ``method="reweight"``'s simulated outcomes.

    Returns
    -------
    RunSuggestions
        ``table`` (every candidate ranked: fit, variables, cost, expected_width, reduction,
        reduction_per_cost, cumulative_cost, pick), ``runs`` (the picks), ``goal`` (the
        estimate and its current interval) and ``to_dict()`` for JSON.
    """
    goal = choice(goal, "goal", GOALS)
    given_names = names
    pair, names = _fits_arg(fits, goal, names)
    if budget is not None:
        budget = number(budget, "budget", low=0.0, low_open=True, fix="the most the picked runs may cost in all")
    n = (None if budget is not None else 1) if n is None else integer(n, "n", 1, MAX_CANDIDATES)
    interval = probability(interval, "interval")
    method = choice(method, "method", ("auto", *METHODS))
    seed = integer(seed, "seed", 0, 2**32 - 1)
    if goal == "crossing":
        if axis is None or domain is None:
            raise ScalefitError(
                "goal='crossing' needs axis= (the variable along which the laws cross), at= (the other variables) "
                "and domain= (low, high) to search, as crossover() does"
            )
        which = _which(which)
        at, domain = check_pair(pair[0], pair[1], axis, at, domain, ("fits[0]", "fits[1]"))
        fixed, default = at, {axis: domain}
        variables = list(dict.fromkeys([*pair[0].law.variables, *pair[1].law.variables]))
    else:
        for arg, value in (("axis", axis), ("domain", domain), ("names", given_names)):
            if value is not None:
                raise ScalefitError(f"{arg}= belongs to goal='crossing'; goal='prediction' takes at= only — drop it")
        if which != "upper":
            raise ScalefitError("which= belongs to goal='crossing'; drop it")
        variables = list(pair[0].law.variables)
        if at is None:
            raise ScalefitError(
                "goal='prediction' needs at= the target configuration, e.g. at={"
                + ", ".join(f"{v!r}: ..." for v in variables)
                + "}"
            )
        at = _at_all(at, variables)
        fixed, default = at, None
    table = candidate_table(candidates, bounds, points, variables, fixed, names, default)
    if n is not None and n > len(table):
        raise ScalefitError(f"n={n} is more than the {len(table)} candidates; lower n or give more candidates")
    costs, cost_text = candidate_costs(cost, table, variables, names)

    notes: list[str] = []
    labels = names or ("fit",)
    blocks = [linearise(f, lab, notes) for f, lab in zip(pair, labels, strict=True)]
    if goal == "crossing":
        c, now, described, log_axis, ens_goal = crossing_goal(blocks, names, axis, at, domain, which, interval, notes)
    else:
        c, now, described, log_axis, ens_goal = prediction_goal(blocks[0], at, interval, notes)
    owners = [
        np.flatnonzero(table["fit"].to_numpy() == names[i]) if names is not None else np.arange(len(table))
        for i in range(len(blocks))
    ]
    sig2 = np.empty(len(table))
    for b, mine in zip(blocks, owners, strict=True):
        sig2[mine] = b.sigma2
    enough = ens_goal is not None and len(ens_goal[0]) >= MIN_DRAWS
    if method == "auto":
        method = "draws" if enough else "fisher"
    elif method in ("draws", "reweight") and not enough:
        have = 0 if ens_goal is None else len(ens_goal[0])
        raise ScalefitError(
            f"method={method!r} needs at least {MIN_DRAWS} bootstrap or posterior draws giving the goal; these fits "
            f"have {have} — refit with bootstrap=1000, or use method='fisher'"
        )
    z = norm.ppf(0.5 + interval / 2)
    if now is None:
        basis = "linearised"
        centre = np.log(described["estimate"]) if log_axis else described["estimate"]
        sd = np.sqrt(float(c @ fisher_inverse(blocks) @ c))
        now = (centre, centre - z * sd, centre + z * sd)
    else:
        basis = "draws"  # for a crossing, already on the log scale of the axis
    med, lo, hi = now
    lo_now, hi_now = (np.exp(lo), np.exp(hi)) if log_axis else (lo, hi)
    if method == "reweight":
        g, params = ens_goal
        keep = kept_draws(len(g), len(table), TRUTHS)
        X = draw_predictions(blocks, owners, table, params, keep, labels)
        model = Reweight(g[keep], X, sig2, interval, log_axis, np.random.default_rng(seed))
        w_now = model.width_now()
    else:
        model = ensemble_model(blocks, owners, table, ens_goal, sig2, labels) if method == "draws" else (
            fisher_model(blocks, owners, table, c, sig2, labels))  # fmt: skip
        V0 = model.variance()
        if not (np.isfinite(V0) and V0 > 0):
            raise ScalefitError("the goal's variance is not a positive number; the fits do not constrain it")

        def width(V):
            r = np.sqrt(np.maximum(V, 0.0) / V0)
            a, b_ = med + r * (lo - med), med + r * (hi - med)
            return np.exp(b_) - np.exp(a) if log_axis else b_ - a

        model.to_width = width
        w_now = float(width(V0))
    described.update(lower=float(lo_now), upper=float(hi_now), width=w_now)

    plans = {"per_cost": _greedy(model, costs, w_now, n, budget, per_cost=True)}
    if budget is not None:  # the better of the cost-benefit and the plain greedy (Leskovec et al. 2007)
        plans["largest_reduction"] = _greedy(model, costs, w_now, n, budget, per_cost=False)
    rule = min(plans, key=lambda k: (plans[k][4], plans[k][5]))  # smallest final width, then cheapest
    pick, after, reduction, cumulative, _, _ = plans[rule]
    if not (pick > 0).any():
        raise ScalefitError(
            f"budget={budget:g} buys none of the candidates (the cheapest costs {costs.min():.4g}); raise the "
            "budget or give cheaper candidates"
        )
    out = table.copy()
    out["cost"] = costs
    out["expected_width"] = after
    out["reduction"] = reduction
    out["reduction_per_cost"] = reduction / costs
    out["cumulative_cost"] = cumulative
    out["pick"] = pick
    chosen = out[pick > 0].sort_values("pick")
    others = out[pick == 0].sort_values("reduction_per_cost", ascending=False, kind="stable")
    ranked = pd.concat([chosen, others]).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    if budget is not None:
        other = [k for k in plans if k != rule][0]
        notes.append(
            f"budget {budget:g}: picked by {RULES[rule]} (expected width {plans[rule][4]:.4g}); {RULES[other]} would "
            f"leave {plans[other][4]:.4g}"
        )
    return RunSuggestions(
        ranked, described, int((pick > 0).sum()), interval, basis, METHODS[method], cost_text, tuple(notes),
        budget=budget, rule=rule,
    )  # fmt: skip


RULES = {
    "per_cost": "the largest fall of the width per unit cost",
    "largest_reduction": "the largest fall of the width",
}


def _greedy(model, costs, w_now: float, n: int | None, budget: float | None, per_cost: bool):
    """Runs picked one at a time: the largest fall of the width (per unit cost, or not) among
    the runs not yet picked and, with a budget, still affordable; until ``n`` runs, the
    budget, or no run that narrows the interval. Returns per candidate its pick number (0
    for none), expected width, reduction and cumulative cost, and the plan's final width
    and cost."""
    model = model.fresh()
    m = len(costs)
    pick = np.zeros(m, dtype=int)
    after, reduction, cumulative = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    spent, w_prev, last = 0.0, w_now, None
    limit = m if n is None else n
    for step in range(1, limit + 1):
        w = model.widths()
        gain = (w_prev - w) / costs if per_cost else w_prev - w
        open_ = pick == 0
        if budget is not None:
            open_ &= costs <= budget - spent + 1e-12 * budget
        if not open_.any():
            break
        gain = np.where(open_, gain, -np.inf)
        best = int(np.argmax(gain))
        if budget is not None and not w[best] < w_prev:
            break  # nothing affordable narrows the interval further
        last = (w, w_prev)
        pick[best], after[best], reduction[best] = step, w[best], w_prev - w[best]
        spent += costs[best]
        cumulative[best] = spent
        model.add(best)
        w_prev = float(w[best])
    if last is not None:  # the runs not picked: as an alternative to the last pick
        w, prev = last
        rest = pick == 0
        after[rest], reduction[rest] = w[rest], prev - w[rest]
    return pick, after, reduction, cumulative, w_prev, spent
