"""Least-squares fitting: every start and every bootstrap replicate in one compiled call.

The objective is a sum over runs of a loss of the residuals, chosen explicitly:

* ``"huber"`` (default) — Huber loss (``delta = 1e-3``) of log-residuals
  ``log f(x) - log y``, as Hoffmann et al. 2022 and Besiroglu et al. 2024 fit Chinchilla;
* ``"squared_log"`` — sum of squared log-residuals;
* ``"squared"`` — sum of squared residuals ``f(x) - y`` (use for targets that can be 0).

The law is evaluated as a log-sum-exp of log-terms in its internal parameterisation
(log-amplitudes, positive exponents), and :mod:`scalefit._optim`'s Levenberg-Marquardt
solver is ``vmap``-ed over all starting points, then over the bootstrap's case weights.
Compiled solvers are cached per law, problem and shape, so a second fit is fast.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._errors import ScalefitError
from ._laws import Law
from ._optim import CONVERGED, NONFINITE, Solution, huber_loss, make_solver, square_loss
from ._problem import Problem

OBJECTIVES = ("huber", "squared_log", "squared")
BOOT_FIRST_STEPS = 150


@dataclass(frozen=True)
class Objective:
    """The loss that was minimised: its name and Huber ``delta`` (``None`` otherwise)."""

    name: str
    delta: float | None = None

    @classmethod
    def make(cls, name: str, delta: float | None) -> Objective:
        if name not in OBJECTIVES:
            raise ScalefitError(f"objective must be one of {list(OBJECTIVES)}, got {name!r}")
        if name == "huber":
            d = 1e-3 if delta is None else float(delta)
            if not d > 0:
                raise ScalefitError(f"delta (the Huber threshold) must be > 0, got {delta!r}")
            return cls(name, d)
        return cls(name, None)

    @property
    def log(self) -> bool:
        """Whether residuals are taken on log values."""
        return self.name != "squared"

    def __str__(self) -> str:
        if self.name == "huber":
            return f"Huber(delta={self.delta:g}) on log-residuals, summed"
        if self.name == "squared_log":
            return "squared log-residuals, summed"
        return "squared residuals, summed"


def _residual(problem: Problem, objective: Objective):
    law = problem.law

    def residual(theta_free, logx, target):
        logpred = law.log_evaluate(problem.theta_dict(theta_free), logx)
        return logpred - target if objective.log else jnp.exp(logpred) - target

    return residual


@functools.lru_cache(maxsize=32)
def _compiled(problem_key: str, objective: Objective, gtol: float, ftol: float, xtol: float):
    law_dict, problem_dict = json.loads(problem_key)
    problem = Problem.from_dict(Law.from_dict(law_dict), problem_dict)
    residual = _residual(problem, objective)
    loss = huber_loss(objective.delta) if objective.name == "huber" else square_loss()

    def solver(logx, target):
        return make_solver(
            lambda theta: residual(theta, logx, target),
            loss,
            to_theta=problem.theta_and_slope,
            gtol=gtol,
            ftol=ftol,
            xtol=xtol,
        )

    @functools.partial(jax.jit, static_argnames=("explore_steps", "n_polish", "max_steps"))
    def multi_start(u0s, logx, target, w, *, explore_steps, n_polish, max_steps):
        """Every start for ``explore_steps``; the ``n_polish`` best on to convergence."""
        solve = jax.vmap(solver(logx, target), in_axes=(0, None, None))
        explored = solve(u0s, w, explore_steps)
        f = jnp.where(jnp.isfinite(explored.f), explored.f, jnp.inf)
        best = jnp.argsort(f)[:n_polish]
        return solve(explored.u[best], w, max_steps)

    @functools.partial(jax.jit, static_argnames=("max_steps",))
    def bootstrap(u0, logx, target, W, *, max_steps):
        """Every replicate from ``u0``; then the unfinished ones again, in a smaller batch.

        A vmapped loop runs until its slowest lane is done, so the few replicates that
        need many steps would hold all of them. After a first round of at most
        ``BOOT_FIRST_STEPS`` steps, up to a quarter of the replicates — the unfinished
        ones — continue with the rest of their ``max_steps``.
        """
        solve = jax.vmap(solver(logx, target), in_axes=(0, 0, None))
        n = W.shape[0]
        first = min(max_steps, BOOT_FIRST_STEPS)
        sol = solve(jnp.broadcast_to(u0, (n, u0.shape[0])), W, first)
        if max_steps > first:
            size = -(-n // 4)
            pending = ~jnp.isin(sol.status, jnp.asarray(CONVERGED)) & (sol.status != NONFINITE)
            idx = jnp.argsort(~pending, stable=True)[:size]  # unfinished first
            more = solve(sol.u[idx], W[idx], max_steps - first)
            take = pending[idx]

            def merge(old, new):
                mask = take.reshape(take.shape + (1,) * (new.ndim - 1))
                return old.at[idx].set(jnp.where(mask, new, old[idx]))

            sol = Solution(
                u=merge(sol.u, more.u),
                f=merge(sol.f, more.f),
                grad_norm=merge(sol.grad_norm, more.grad_norm),
                steps=merge(sol.steps, sol.steps[idx] + more.steps),
                status=merge(sol.status, more.status),
            )
        return sol

    @functools.partial(jax.jit, static_argnames=("max_steps",))
    def profile(u0s, masks, logx, target, w, *, max_steps):
        """Every ``(start, mask)`` pair to convergence, masked coordinates held fixed."""
        solve = solver(logx, target)
        return jax.vmap(lambda u, m: solve(u, w, max_steps, m))(u0s, masks)

    @jax.jit
    def jacobian(theta_free, logx, target):
        return jax.jacfwd(residual)(theta_free, logx, target)

    @jax.jit
    def residuals(theta_free, logx, target):
        return residual(theta_free, logx, target)

    return multi_start, bootstrap, jacobian, residuals, profile


def compiled(problem: Problem, objective: Objective, gtol: float, ftol: float, xtol: float):
    """Jitted (multi_start, bootstrap, jacobian, residuals, profile) functions for this problem, cached."""
    key = json.dumps([problem.law.to_dict(), problem.to_dict(structure_only=True)], sort_keys=True)
    return _compiled(key, objective, gtol, ftol, xtol)


def fit_data(problem: Problem, x: Mapping[str, np.ndarray], y: np.ndarray, objective: Objective):
    """``(logx, target)`` arrays the compiled functions take (variables normalised)."""
    logx = {v: jnp.asarray(a) for v, a in problem.log_variables(x).items()}
    target = jnp.asarray(np.log(y) if objective.log else y)
    return logx, target


def random_starts(problem: Problem, x: Mapping[str, np.ndarray], y: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` starting points (normalised internal form, free parameters) spread over plausible values.

    Exponents are drawn from U(0.02, 2.5). A power term's log-amplitude is drawn so that
    the term, at the median of its variable, lies between ``e^-4 * min(y)`` and
    ``e^2 * max(y)``; a constant's log lies in ``[log min(y) - 6, log min(y)]``. Draws are
    clipped inside the parameter's bounds (uniform between them when both are finite).
    """
    law = problem.law
    out = np.zeros((n, len(problem.free)))
    ylo = np.log(np.min(y[y > 0])) if np.any(y > 0) else -5.0
    yhi = np.log(np.max(np.abs(y)) + 1e-300)

    def draw(i, low, high, shift=0.0):
        lo, hi = problem.lo[i], problem.hi[i]
        if np.isfinite(lo) and np.isfinite(hi):
            out[:, i] = rng.uniform(lo, hi, n)
        else:
            out[:, i] = np.clip(rng.uniform(low, high, n) + shift, lo, hi)

    roles = [law.specs[name].role for name in problem.free]
    for i, role in enumerate(roles):
        if role == "exponent":
            draw(i, 0.02, 2.5)
    theta = problem.theta_dict(out)  # exponents of every term, fixed and tied ones included
    exponent_of = {p.coefficient: p.exponent for p in law.powers()}
    logx = problem.log_variables(x)
    for i, (name, role) in enumerate(zip(problem.free, roles, strict=True)):
        if role == "constant":
            draw(i, ylo - 6.0, ylo)
        elif role in ("amplitude", "scale"):
            centre = theta[exponent_of[name]] * np.median(logx[law.specs[name].variable])
            draw(i, ylo - 4.0, yhi + 2.0, shift=centre)
    return out


def given_starts(problem: Problem, starts: Mapping[str, object] | pd.DataFrame) -> np.ndarray:
    """Internal-form starts from paper-form values of every free parameter.

    A DataFrame gives one start per row; a mapping ``{name: values}`` gives the Cartesian
    product of the values (a grid).
    """
    names = list(starts.columns) if isinstance(starts, pd.DataFrame) else list(starts)
    missing = [n for n in problem.free if n not in names]
    extra = [n for n in names if n not in problem.free]
    if missing or extra:
        raise ScalefitError(
            f"starts= must give values for exactly the free parameters {list(problem.free)}; "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"not free (unknown, fixed or tied): {extra}" if extra else "")
        )
    if isinstance(starts, pd.DataFrame):
        combos = starts[list(problem.free)].itertuples(index=False)
    else:
        combos = itertools.product(*(np.atleast_1d(np.asarray(starts[n], dtype=float)) for n in problem.free))
    rows = [problem.free_theta(dict(zip(problem.free, combo, strict=True))) for combo in combos]
    if not rows:
        raise ScalefitError("starts= gives no starting points; give at least one value per free parameter")
    return np.array(rows)
