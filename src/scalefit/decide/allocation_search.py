"""The search for an optimum allocation: one problem at one parameter set, in log amounts of
the variables bought, solved by SLSQP from several starts placed on the constraint (cost =
budget, or law = target), with central-difference gradients."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq, minimize

from scalefit.decide.cost import Cost
from scalefit.errors import ScalefitError
from scalefit.laws.law import Law
from scalefit.results.fit import Fit

STEP = 1e-6  # central-difference step in log amounts
LOG_LIMIT = 690.0  # |log amount| never beyond this: exp(690) ~ 1e300


class Problem:
    """One allocation problem at one parameter set, in log amounts ``u`` of the bought variables."""

    def __init__(self, law: Law, params, cost: Cost, bought, at, lo, hi, mode: str, level: float):
        self.law, self.params, self.cost, self.bought, self.at = law, params, cost, list(bought), at
        self.lo, self.hi, self.mode, self.level = lo, hi, mode, level
        with np.errstate(all="ignore"):
            top = np.where(np.isfinite(hi), np.log(np.where(hi > 0, hi, 1.0)), np.inf)
            self.floor = float(self.values(top[None, :])[0][0])
        self.shift = self.floor if np.isfinite(self.floor) else None
        self._cache: dict[bytes, tuple[float, float, np.ndarray, np.ndarray]] = {}

    def x(self, U: np.ndarray) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):
            out = {v: np.exp(U[:, i]) for i, v in enumerate(self.bought)}
        return {**{k: np.full(len(U), val) for k, val in self.at.items()}, **out}

    def values(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The law and the cost at each row of ``U``."""
        x = self.x(U)
        with np.errstate(all="ignore"):
            law = np.asarray(self.law.expr._eval(self.params, x, np), dtype=float)
        return np.broadcast_to(law, (len(U),)), np.broadcast_to(self.cost(x), (len(U),))

    def objective_constraint(self, L, C):
        """(objective, constraint >= 0) from law and cost values."""
        with np.errstate(all="ignore"):
            if self.mode == "budget":
                gap = L - self.shift if self.shift is not None else L
                obj = np.log(np.maximum(gap, 1e-300)) if self.shift is not None else L
                con = 1.0 - C / self.level
            else:
                obj = np.log(np.maximum(C, 1e-300))
                span = self.level - self.shift if self.shift is not None else abs(self.level)
                con = (self.level - L) / span
        return obj, con

    def at_u(self, u: np.ndarray):
        key = u.tobytes()
        hit = self._cache.get(key)
        if hit is None:
            k = len(u)
            U = np.vstack([u, u + STEP * np.eye(k), u - STEP * np.eye(k)])
            obj, con = self.objective_constraint(*self.values(U))
            g_obj = (obj[1 : k + 1] - obj[k + 1 :]) / (2 * STEP)
            g_con = (con[1 : k + 1] - con[k + 1 :]) / (2 * STEP)
            hit = (float(obj[0]), float(con[0]), g_obj, g_con)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def bounds(self) -> list[tuple[float, float]]:
        return log_bounds(self.lo, self.hi)

    def project(self, w: np.ndarray) -> np.ndarray | None:
        """``w + t`` on the constraint (cost = budget, or law = target), clipped to the limits."""
        t = np.arange(-2 * LOG_LIMIT, 2 * LOG_LIMIT + 1, 5.0)
        U = np.clip(w[None, :] + t[:, None], -LOG_LIMIT, LOG_LIMIT)
        _, con = self.objective_constraint(*self.values(U))
        ok = np.isfinite(con)
        sign = np.sign(con)
        change = np.nonzero(ok[:-1] & ok[1:] & (sign[:-1] != sign[1:]))[0]
        if len(change) == 0:
            return None
        i = change[-1] if self.mode == "budget" else change[0]

        def g(s):
            return float(self.objective_constraint(*self.values(np.clip(w + s, -LOG_LIMIT, LOG_LIMIT)[None, :]))[1][0])

        s = brentq(g, t[i], t[i + 1], xtol=1e-12)
        lo, hi = np.array(self.bounds()).T
        return np.clip(w + s, lo, hi)

    def solve(self, starts: Sequence[np.ndarray]) -> np.ndarray | None:
        """The best feasible SLSQP optimum from ``starts`` (log amounts), or None."""
        best, best_obj = None, np.inf
        cons = {"type": "ineq", "fun": lambda u: self.at_u(u)[1], "jac": lambda u: self.at_u(u)[3]}
        for u0 in starts:
            if u0 is None or not np.all(np.isfinite(u0)):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = minimize(
                    lambda u: self.at_u(u)[0],
                    u0,
                    jac=lambda u: self.at_u(u)[2],
                    method="SLSQP",
                    bounds=self.bounds(),
                    constraints=[cons],
                    options={"ftol": 1e-14, "maxiter": 500},
                )
            u = np.asarray(res.x, dtype=float)
            obj, con, _, _ = self.at_u(u)
            if np.isfinite(obj) and con >= -1e-7 and obj < best_obj:
                best, best_obj = u, obj
        return best

    def report(self, u: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(law, cost, marginal values) at ``u``."""
        k = len(u)
        U = np.vstack([u, u + STEP * np.eye(k), u - STEP * np.eye(k)])
        L, C = self.values(U)
        with np.errstate(all="ignore"):
            marginal = -(L[1 : k + 1] - L[k + 1 :]) / (C[1 : k + 1] - C[k + 1 :])
        return float(L[0]), float(C[0]), marginal


def start_points(problem: Problem, centre: np.ndarray, n: int, rng) -> list[np.ndarray]:
    """``n`` starts around ``centre`` (the first at it), each projected onto the constraint."""
    k = len(centre)
    offsets = np.vstack([np.zeros(k), rng.normal(0.0, 2.0, (max(n - 1, 0), k))]) if k > 1 else np.zeros((1, k))
    return [problem.project(centre + o) for o in offsets]


def infeasible_error(problem: Problem, fit: Fit, cost: Cost, limits) -> ScalefitError:
    """The error for a problem with no feasible amounts (a budget too small, a target out of reach)."""
    bought = problem.bought
    if problem.mode == "budget":
        with np.errstate(all="ignore"):
            low = np.where(problem.lo > 0, np.log(np.where(problem.lo > 0, problem.lo, 1.0)), -LOG_LIMIT)
        least = float(problem.values(low[None, :])[1][0])
        where = "their lower limits" if limits else "their smallest"
        return ScalefitError(
            f"budget={problem.level:g} buys nothing: the cost {cost.text!r} is at least {least:.4g} (with {bought} "
            f"at {where}; a fixed cost per run?); give a larger budget= or a cheaper cost="
        )
    return ScalefitError(
        f"no amounts of {bought} reach target {problem.level:g} at the fitted parameters of law {fit.law.name!r}; "
        "check target=, at= and limits="
    )


def log_bounds(lo: np.ndarray, hi: np.ndarray) -> list[tuple[float, float]]:
    """Limits on the bought variables as bounds on their log amounts (within +-LOG_LIMIT)."""
    with np.errstate(divide="ignore"):
        low = np.maximum(np.log(lo), -LOG_LIMIT)
        high = np.minimum(np.log(hi), LOG_LIMIT)
    return list(zip(low.tolist(), high.tolist(), strict=True))
