"""The criteria of a run design: how the goal's uncertainty after new runs is forecast.

``"fisher"`` linearises each fit at its best parameters (the delta method, Sherman-Morrison
updates of the inverse Fisher information), ``"draws"`` takes the Bayes linear adjusted
variance over the fits' draws, and ``"reweight"`` importance-reweights the draws by simulated
outcomes (preposterior Monte Carlo). See :mod:`scalefit.decide.design` for the references.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import ScalefitError
from scalefit.results.fit import Fit

METHODS = {
    "fisher": (
        "sequential c-optimal design: greedy expected reduction of the goal's linearised (delta-method) variance "
        "per unit cost, from the least-squares Fisher information J^T J / sigma^2 (Atkinson, Donev & Tobias 2007, "
        "Optimum Experimental Designs, with SAS, OUP)"
    ),
    "reweight": (
        "sequential Bayesian c-optimal design by preposterior Monte Carlo: greedy expected fall of the goal's "
        "central interval width per unit cost, the width measured over the fits' bootstrap/posterior draws "
        "importance-reweighted by the likelihood of each run's simulated outcome, with draws playing the truth in "
        "turn (Ryan, Drovandi, McGree & Pettitt 2016, Int. Stat. Rev. 84:128-154; Chaloner & Verdinelli 1995; "
        "sequential construction as in Atkinson, Donev & Tobias 2007)"
    ),
    "draws": (
        "sequential Bayesian c-optimal design: greedy expected reduction of the goal's variance per unit cost, "
        "the variance adjusted by the new run's observation under the joint distribution of the goal and the "
        "predictions over the fits' bootstrap/posterior draws (Bayes linear adjusted variance, Goldstein & Wooff "
        "2007; Bayesian c-optimality, Chaloner & Verdinelli 1995; sequential construction as in Atkinson, Donev & "
        "Tobias 2007)"
    ),
}
MIN_DRAWS = 50  # draws giving the goal needed for method="draws" (and for "auto" to choose it)
ENSEMBLE_BUDGET = 20_000_000  # most numbers in the matrix of draws x candidates
WINSOR = 0.01  # the goal's draws are clipped to these quantiles for the variance
TRUTHS = 64  # method="reweight": draws that play the truth in turn
MIN_ESS = 30.0  # method="reweight": weights are tempered to keep at least this effective sample size
TEMPER = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.0)
STEP = 1e-5  # central finite-difference step in the internal parameters (log units, exponents)


# -- linearisation ------------------------------------------------------------------------
@dataclass
class _Block:
    """One fit's part of the linearisation: its free internal parameters and information."""

    fit: Fit
    free: np.ndarray  # indices into problem.free that are linearised (not at a bound)
    theta: np.ndarray  # all free internal parameters (normalised form)
    log: bool  # rows are of log f
    sigma2: float
    info: np.ndarray = field(default=None)

    def values(self, theta_batch: np.ndarray, x: Mapping[str, np.ndarray]) -> np.ndarray:
        """The law (K, m) at K parameter vectors and m configurations."""
        paper = self.fit.setup.problem.paper(theta_batch)
        params = {k: np.asarray(v, dtype=float).reshape(-1, 1) for k, v in paper.items()}
        with np.errstate(all="ignore"):
            return np.asarray(self.fit.law.evaluate(params, x), dtype=float).reshape(len(theta_batch), -1)

    def gradient(self, x: Mapping[str, np.ndarray], log: bool) -> np.ndarray:
        """``d f / d theta`` (or of ``log f``) at m configurations: (m, k) for the linearised parameters."""
        k = len(self.free)
        steps = STEP * np.maximum(1.0, np.abs(self.theta[self.free]))
        batch = np.repeat(self.theta[None, :], 2 * k, axis=0)
        for i, (j, h) in enumerate(zip(self.free, steps, strict=True)):
            batch[2 * i, j] += h
            batch[2 * i + 1, j] -= h
        v = self.values(batch, x)
        if log:
            with np.errstate(all="ignore"):
                v = np.log(v)
        return ((v[0::2] - v[1::2]) / (2 * steps[:, None])).T


def linearise(fit: Fit, name: str, notes: list[str]) -> _Block:
    """One fit's linearisation: its free parameters at the best fit and their Fisher information."""
    problem = fit.setup.problem
    theta = problem.free_theta({n: fit.params[n] for n in problem.free})
    at_bound = set(fit.bounds or ())
    free = np.array([i for i, n in enumerate(problem.free) if n not in at_bound and np.isfinite(theta[i])], dtype=int)
    held = [n for i, n in enumerate(problem.free) if i not in free]
    if held:
        notes.append(f"{name}: {', '.join(held)} at a bound of the range, held fixed in the linearisation")
    if not len(free):
        raise ScalefitError(f"{name} ({fit.law.name}): every free parameter is at a bound; nothing to linearise")
    log = fit.bayes.noise != "normal" if fit.bayes is not None else fit.setup.objective.log
    x = {v: np.asarray(a, dtype=float) for v, a in fit.runs.data["x"].items()}
    b = _Block(fit, free, theta, log, 1.0)
    J = b.gradient(x, log)
    if not np.isfinite(J).all():
        raise ScalefitError(f"{name} ({fit.law.name}): the law is not finite near the fitted parameters at its runs")
    r = np.asarray(fit._fitted_residuals(), dtype=float)
    dof = max(len(r) - len(free), 1)
    sigma2 = float(np.sum(r**2) / dof)
    scale = float(np.mean(np.abs(np.asarray(fit.runs.data["y"], dtype=float)))) if not log else 1.0
    b.sigma2 = max(sigma2, (1e-6 * scale) ** 2)
    b.info = J.T @ J / b.sigma2
    return b


def _inverse(info: np.ndarray) -> np.ndarray:
    """The information's inverse, with a tiny ridge where it is (near) singular."""
    ridge = 1e-12 * max(float(np.trace(info)) / len(info), 1e-300)
    return np.linalg.pinv(info + ridge * np.eye(len(info)), hermitian=True)


# -- the variance of the goal as runs are added ----------------------------------------------
class _Linear:
    """Variance of a goal ``c`` as observations ``X[:, j]`` (noise ``sig2[j]``) are added:
    ``V = c^T P c`` with ``P = base - U U^T``; a run ``x`` adds ``P x / sqrt(x^T P x + s2)`` to
    ``U`` (Sherman-Morrison). ``base`` is the inverse Fisher information (parameter space)
    or ``None`` for the identity (the space of draws)."""

    def __init__(self, base: np.ndarray | None, c: np.ndarray, X: np.ndarray, sig2: np.ndarray):
        self.base, self.c, self.X, self.sig2 = base, c, X, sig2
        self.U = np.zeros((len(c), 0))

    def apply(self, v: np.ndarray) -> np.ndarray:
        out = v if self.base is None else self.base @ v
        return out - self.U @ (self.U.T @ v)

    def variance(self) -> float:
        return float(self.c @ self.apply(self.c))

    def after_each(self) -> np.ndarray:
        """The goal's variance after adding each candidate on its own."""
        Pc = self.apply(self.c)
        PX = self.apply(self.X)
        cov = Pc @ self.X
        var = np.einsum("ij,ij->j", self.X, PX)
        return float(self.c @ Pc) - cov**2 / (var + self.sig2)

    def fresh(self) -> _Linear:
        """The same goal and candidates with no run added."""
        out = _Linear(self.base, self.c, self.X, self.sig2)
        out.to_width = self.to_width
        return out

    def widths(self) -> np.ndarray:
        """The goal's expected interval width after adding each candidate on its own."""
        return self.to_width(self.after_each())

    def add(self, j: int) -> None:
        x = self.X[:, j]
        Px = self.apply(x)
        self.U = np.column_stack([self.U, Px / np.sqrt(x @ Px + self.sig2[j])])


def fisher_inverse(blocks: list[_Block]) -> np.ndarray:
    """The inverse of the fits' Fisher information, blocks side by side."""
    sizes = [len(b.free) for b in blocks]
    offsets = np.cumsum([0, *sizes])
    info = np.zeros((offsets[-1], offsets[-1]))
    for b, o in zip(blocks, offsets, strict=False):
        info[o : o + len(b.free), o : o + len(b.free)] = b.info
    return _inverse(info)


def _finite_or_raise(values: np.ndarray, rows: np.ndarray, table: pd.DataFrame, block: _Block, label: str) -> None:
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        r = rows[np.flatnonzero(bad)[0]]
        shown = ", ".join(f"{v}={table[v].iloc[r]:.4g}" for v in block.fit.law.variables)
        raise ScalefitError(
            f"candidate {r} ({shown}): the law of {label} ({block.fit.law.name}) is not finite there at the fitted "
            "parameters (or their draws); leave such runs out of candidates/bounds"
        )


def fisher_model(blocks, owners, table, c, sig2, labels) -> _Linear:
    """Parameter space: rows ``d f(x) / d theta`` of each candidate in its own fit's block."""
    offsets = np.cumsum([0, *[len(b.free) for b in blocks]])
    X = np.zeros((offsets[-1], len(table)))
    for i, (b, mine) in enumerate(zip(blocks, owners, strict=True)):
        if not len(mine):
            continue
        x = {v: table[v].to_numpy(dtype=float)[mine] for v in b.fit.law.variables}
        J = b.gradient(x, b.log).T
        _finite_or_raise(J, mine, table, b, labels[i])
        X[offsets[i] : offsets[i + 1], mine] = J
    return _Linear(fisher_inverse(blocks), c, X, sig2)


def draw_predictions(blocks, owners, table, params, keep, labels) -> np.ndarray:
    """Every candidate's prediction (log scale for log objectives) under each draw kept: (D, m)."""
    D = len(np.asarray(next(iter(params[0].values())))[keep])
    X = np.zeros((D, len(table)))
    for i, (b, mine) in enumerate(zip(blocks, owners, strict=True)):
        if not len(mine):
            continue
        p = {k: np.asarray(v, dtype=float)[keep].reshape(-1, 1) for k, v in params[i].items()}
        x = {v: table[v].to_numpy(dtype=float)[mine] for v in b.fit.law.variables}
        with np.errstate(all="ignore"):
            f = np.asarray(b.fit.law.evaluate(p, x), dtype=float).reshape(D, -1)
            f = np.log(f) if b.log else f
        _finite_or_raise(f, mine, table, b, labels[i])
        X[:, mine] = f
    return X


def kept_draws(n_draws: int, n_candidates: int, per_draw: int = 1) -> slice:
    """The draws to use so the arrays stay near ``ENSEMBLE_BUDGET`` numbers."""
    if n_draws * n_candidates * per_draw > ENSEMBLE_BUDGET:
        return slice(0, max(MIN_DRAWS, ENSEMBLE_BUDGET // (n_candidates * per_draw)))
    return slice(None)


def ensemble_model(blocks, owners, table, ens_goal, sig2, labels) -> _Linear:
    """The space of draws: the goal and every candidate's prediction under each (pair of)
    draw(s), centred — their covariances are the Bayes linear ones (Goldstein & Wooff 2007)."""
    g, params = ens_goal
    keep = kept_draws(len(g), len(table))
    g = g[keep]
    lo, hi = np.quantile(g, [WINSOR, 1 - WINSOR])
    g = np.clip(g, lo, hi)  # a few wild draws must not decide the variance
    X = draw_predictions(blocks, owners, table, params, keep, labels)
    scale = 1.0 / np.sqrt(len(g) - 1)
    return _Linear(None, (g - g.mean()) * scale, (X - X.mean(axis=0)) * scale, sig2)


class Reweight:
    """Expected interval width after new runs by importance reweighting of the draws.

    Preposterior Monte Carlo: ``TRUTHS`` draws play the truth in turn; each simulates the
    outcome of every candidate run (its prediction plus noise of the fit's residual variance,
    the same noise for every candidate: common random numbers); the draws are reweighted by
    the likelihood of the outcomes of the runs picked so far and the candidate's, and the
    goal's weighted central interval is measured. The expected width is the mean over the
    truths. Weights are tempered (raised to a power <= 1) where their effective sample size
    would fall below ``MIN_ESS``, so a forecast never claims more than the draws can show.
    """

    def __init__(self, g, X, sig2, interval, log_axis, rng):
        order = np.argsort(g)
        self.g, self.X = g[order], X[order]
        self.sig2, self.interval, self.log_axis = sig2, interval, log_axis
        t = rng.choice(len(g), size=min(TRUTHS, len(g)), replace=False)
        self.Y = self.X[t] + np.sqrt(sig2)[None, :] * rng.standard_normal((len(t), X.shape[1]))
        self.lw = np.zeros((len(t), len(g)))

    def fresh(self) -> Reweight:
        out = object.__new__(Reweight)
        out.__dict__.update(self.__dict__)
        out.lw = np.zeros_like(self.lw)
        return out

    def _loglik(self, cols) -> np.ndarray:
        """(truths, draws, len(cols)) log-likelihood of each truth's simulated outcomes."""
        d = self.Y[:, None, cols] - self.X[None, :, cols]
        return -0.5 * d**2 / self.sig2[cols]

    def _width(self, lw: np.ndarray) -> np.ndarray:
        """Weighted central interval width of the goal for log-weights (..., draws)."""
        lw = lw - lw.max(axis=-1, keepdims=True)
        best = np.zeros_like(lw)
        done = np.zeros(lw.shape[:-1], dtype=bool)
        for tau in TEMPER:
            w = np.exp(tau * lw)
            w /= w.sum(axis=-1, keepdims=True)
            take = (1.0 / np.sum(w**2, axis=-1) >= MIN_ESS) & ~done
            best = np.where(take[..., None], w, best)
            done |= take
            if done.all():
                break
        cdf = np.cumsum(best, axis=-1)
        tail = (1 - self.interval) / 2
        lo = self.g[np.minimum(np.sum(cdf < tail, axis=-1), len(self.g) - 1)]
        hi = self.g[np.minimum(np.sum(cdf < 1 - tail, axis=-1), len(self.g) - 1)]
        return np.exp(hi) - np.exp(lo) if self.log_axis else hi - lo

    def width_now(self) -> float:
        return float(np.mean(self._width(self.lw)))

    def widths(self) -> np.ndarray:
        m = self.X.shape[1]
        out = np.empty(m)
        step = max(1, int(4e6 // (self.lw.size or 1)))
        for a in range(0, m, step):
            cols = np.arange(a, min(m, a + step))
            lw = self.lw[:, :, None] + self._loglik(cols)  # (truths, draws, cols)
            out[cols] = self._width(np.moveaxis(lw, 2, 1)).mean(axis=0)
        return out

    def add(self, j: int) -> None:
        self.lw = self.lw + self._loglik(np.array([j]))[:, :, 0]
