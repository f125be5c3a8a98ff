"""The goals of a run design: the location of a crossing of two fits, or a law's prediction at a
configuration — each as its gradient in the fits' parameters, its current interval and its
values over the draws."""

from __future__ import annotations

import numpy as np

from scalefit.decide.boundary import crossover
from scalefit.decide.crossover_solver import CHECK
from scalefit.decide.paired import difference_along, draw_columns, paired_draws, values_along
from scalefit.errors import ScalefitError


# -- goals --------------------------------------------------------------------------------
def crossing_goal(blocks, names, axis, at, domain, which, interval, notes):
    """The location ``log x*`` of a crossing of the two fits as a goal."""
    fa, fb = blocks[0].fit, blocks[1].fit
    cross = crossover(fa, fb, axis, at, domain, names)
    if cross.coincide or not cross.crossings:
        raise ScalefitError(
            f"the best fits of {names[0]} and {names[1]} do not cross along {axis} in domain=({domain[0]:g}, "
            f"{domain[1]:g}), so there is no crossing to locate; widen domain=, or use goal='prediction'"
        )
    k = {"upper": len(cross.crossings), "lower": 1}.get(which, which)
    if k > len(cross.crossings):
        raise ScalefitError(
            f"which={which}: the best fits cross {len(cross.crossings)} time(s) along {axis} in the domain "
            f"(at {', '.join(f'{c:.4g}' for c in cross.crossings)}); use which='upper', 'lower' or 1.."
            f"{len(cross.crossings)}"
        )
    xs = float(cross.crossings[k - 1])
    u = np.log(xs)
    h = 1e-4

    def F(uu):
        return float(difference_along(fa.law, fa.params, fb.law, fb.params, axis, at, np.exp(uu)))

    slope = (F(u + h) - F(u - h)) / (2 * h)
    point = {v: np.array([xs if v == axis else at[v]]) for v in {*fa.law.variables, *fb.law.variables}}
    ga = blocks[0].gradient({v: point[v] for v in fa.law.variables}, False)[0]
    gb = blocks[1].gradient({v: point[v] for v in fb.law.variables}, False)[0]
    c = np.concatenate([-ga / slope, gb / slope])  # d log x* / d theta, by the implicit function theorem
    goal = {"kind": "crossing", "names": list(names), "axis": axis, "at": dict(at), "domain": list(domain),
            "which": which, "estimate": xs}  # fmt: skip
    now, ens = None, None
    if cross.draws is not None:
        values, pairs = _matched_crossings(cross, xs, np.sign(slope))
        ok = np.isfinite(values)
        goal["p_exists"] = float(ok.mean()) if len(values) else 0.0
        if ok.sum() >= 20:
            tail = (1 - interval) / 2
            lo, med, hi = np.quantile(np.log(values[ok]), [tail, 0.5, 1 - tail])
            now = (med, lo, hi)
            pa, pb = paired_draws(fa, fb)
            idx = pairs[ok]
            ens = (np.log(values[ok]), [{k: v[idx] for k, v in pa.items()}, {k: v[idx] for k, v in pb.items()}])
            if goal["p_exists"] < 0.9:
                notes.append(
                    f"the crossing exists in the domain in only {goal['p_exists']:.0%} of the pairs of draws; the "
                    "interval is over those"
                )
        else:
            notes.append("too few pairs of draws have this crossing for an interval from draws; linearised instead")
    return c, now, goal, True, ens


def _matched_crossings(cross, xs: float, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of draws in ``cross.draws``, the crossing that matches the best fit's: the
    same direction of change of ``F = a - b`` (so the lower and upper of two crossings are
    never confused), nearest to it in log ``x``; NaN where a pair has none. Also the index
    of each row's pair in ``paired_draws`` (rows are the pairs finite over the domain)."""
    fa, fb = cross.pair()
    pa, pb = paired_draws(fa, fb)
    check = np.geomspace(*cross.domain, CHECK)
    va = values_along(fa.law, draw_columns(pa), cross.axis, cross.at, check[None, :])
    vb = values_along(fb.law, draw_columns(pb), cross.axis, cross.at, check[None, :])
    pairs = np.flatnonzero(np.all(np.isfinite(va) & np.isfinite(vb), axis=1))
    d = cross.draws
    if len(pairs) != len(d):  # pragma: no cover - the same test as crossover()'s
        raise ScalefitError("internal: the pairs of draws do not match the crossover's draws table")
    cols = [c for c in d.columns if c.startswith("crossing_")]
    table = d[cols].to_numpy(dtype=float)
    out = np.full(len(d), np.nan)
    for i, row in enumerate(table):
        row = row[np.isfinite(row)]
        if not len(row):
            continue
        da = {k: float(v[pairs[i]]) for k, v in pa.items()}
        db = {k: float(v[pairs[i]]) for k, v in pb.items()}
        up = difference_along(fa.law, da, fb.law, db, cross.axis, cross.at, row * np.exp(1e-4))
        down = difference_along(fa.law, da, fb.law, db, cross.axis, cross.at, row * np.exp(-1e-4))
        same = np.sign(up - down) == sign
        if same.any():
            cand = row[same]
            out[i] = cand[np.argmin(np.abs(np.log(cand) - np.log(xs)))]
    return out, pairs


def prediction_goal(block, at, interval, notes):
    """A fit's prediction at the configuration ``at`` as a goal."""
    fit = block.fit
    point = {v: np.array([at[v]]) for v in fit.law.variables}
    c = block.gradient(point, False)[0]
    value = float(block.values(block.theta[None, :], point)[0, 0])
    goal = {"kind": "prediction", "at": dict(at), "estimate": value, "target": fit.target}
    now, ens = None, None
    if fit.draws is not None and len(fit.draws) >= 20:
        p = fit.predict({v: [a] for v, a in at.items()}, interval=interval)
        lo, hi = float(p["ci_lower"].iloc[0]), float(p["ci_upper"].iloc[0])
        if np.isfinite(lo) and np.isfinite(hi):
            now = (value, lo, hi)
        draws = {k: fit.draws[k].to_numpy(dtype=float) for k in fit.law.parameters}
        with np.errstate(all="ignore"):
            g = np.asarray(fit.law.evaluate(draw_columns(draws), point), dtype=float).reshape(-1)
        ok = np.isfinite(g)
        ens = (g[ok], [{k: v[ok] for k, v in draws.items()}])
    return c, now, goal, False, ens
