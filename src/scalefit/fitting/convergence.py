"""Whether a least-squares fit has converged: how far a point is from the optimum that the
local curvature predicts, in standard errors — one rule, judged at the point itself, for every
start, round, group and bootstrap replicate (NumPy only)."""

from __future__ import annotations

import numpy as np

from scalefit.fitting.objective import Objective

#: How the solver (:mod:`scalefit.fitting.solver`) stopped: a lane's status code.
RUNNING, CONVERGED_GRADIENT, CONVERGED_STEP, MAX_STEPS, STALLED, NONFINITE, CONVERGED_PRECISION = range(7)
#: The codes of a solver that stopped at an optimum (its own tests; the fit's rule is the distance below).
CONVERGED = (CONVERGED_GRADIENT, CONVERGED_STEP, CONVERGED_PRECISION)

STATUS_TEXT = {
    RUNNING: "running",
    CONVERGED_GRADIENT: "converged: gradient norm below gtol",
    CONVERGED_STEP: "converged: objective and parameters stopped changing (ftol/xtol)",
    MAX_STEPS: "stopped: max_steps exhausted before convergence",
    STALLED: "stopped: no step lowers the objective any more (damping exceeded 1e16)",
    NONFINITE: "stopped: the objective is not finite at the start",
    CONVERGED_PRECISION: "converged: no step lowers the objective at machine precision, gradient ~ 0",
}

#: A least-squares fit has converged when its best point lies within this many standard
#: errors of the optimum that the local curvature predicts (:func:`distance_to_optimum`):
#: one rule, judged at the point itself, whatever path (starts, rounds, groups) reached it.
CONVERGED_DISTANCE = 0.01
#: Singular values of the scaled Jacobian below this share of the largest are flat directions
#: (left out of the distance: no step along them changes the objective).
FLAT_RCOND = 1e-10


def distance_to_optimum(J: np.ndarray, residuals: np.ndarray, w: np.ndarray, objective: Objective, c: float) -> float:
    """How far a point is from the optimum, in standard errors: ``sqrt(c * g' H^+ g)``.

    ``J`` is the residual Jacobian (runs x the parameters that can move: those at a bound
    left out), ``w`` the case weights, ``c`` the robust scale that turns objective
    differences into chi-squared units (:func:`scalefit.results.intervals.robust_scale`). A full
    Gauss-Newton step from the point would lower the objective by ``g' H^+ g / 2``; times
    ``2c`` that is the squared length of the step in standard errors. The quantity depends
    only on the point, not on how the optimiser reached it; it is invariant to rescaling
    the parameters. Computed from the SVD of the weighted, column-scaled Jacobian (never
    forming ``H``), with singular values below ``FLAT_RCOND`` of the largest dropped.
    """
    return float(distances_to_optimum(np.asarray(J)[None], np.asarray(residuals)[None], w, objective, c)[0])


def distances_to_optimum(J: np.ndarray, residuals: np.ndarray, w: np.ndarray, objective: Objective, c):
    """:func:`distance_to_optimum` of a stack of points at once (``J``: points x runs x
    parameters, ``residuals``: points x runs; case weights ``w``: one table's, or points x
    runs; scale ``c``: one, or per point): batched QR and SVD, not a LAPACK call per point (a
    thousand-group fit polishes 16,000 starts)."""
    J = np.asarray(J, dtype=float)
    r = np.asarray(residuals, dtype=float)
    out = np.zeros(J.shape[0])
    if J.shape[-1] == 0 or J.shape[0] == 0:
        return out
    w = np.broadcast_to(np.asarray(w, dtype=float), r.shape)
    c = np.broadcast_to(np.asarray(c, dtype=float), out.shape)
    finite = np.all(np.isfinite(J), axis=(1, 2)) & np.all(np.isfinite(r), axis=1)
    out[~finite] = np.inf
    if not finite.any():
        return out
    J, r, w, c = J[finite], r[finite], w[finite], c[finite]
    if objective.name == "huber":
        d = objective.delta
        drho = np.clip(r, -d, d)
        curv = np.where(np.abs(r) <= d, 1.0, d / np.maximum(np.abs(r), d))
    else:
        drho, curv = 2.0 * r, np.full_like(r, 2.0)
    A = J * np.sqrt(w * curv)[..., None]
    b = np.sqrt(w / curv) * drho
    norms = np.sqrt(np.sum(A * A, axis=1, keepdims=True))
    # a column that cannot move the residuals (norm 0) becomes a zero column: its singular
    # value is 0 and is dropped below, exactly as if the column were left out
    scaled = np.divide(A, norms, out=np.zeros_like(A), where=norms > 0)
    # U' b of the thin SVD A = U S V' from the R factor of [A | b] (A = Q R, so U = Q U_R and
    # U' b = U_R' (Q' b)), the QR taken block by block: small LAPACK calls that never start
    # BLAS threads, which contend with XLA's on a busy machine (an SVD of 3,000 x 7 took 30 ms)
    R = _tall_r(np.concatenate([scaled, b[..., None]], axis=-1))
    k = J.shape[-1]
    Ur, s, _ = np.linalg.svd(R[:, :k, :k])
    keep = s > FLAT_RCOND * s[:, :1]
    projected = np.einsum("pij,pi->pj", Ur, R[:, :k, k]) * keep
    out[finite] = np.sqrt(np.maximum(c, 0.0) * np.sum(projected * projected, axis=1))
    return out


#: Rows per block of :func:`_tall_r`.
QR_BLOCK = 512


def _tall_r(M: np.ndarray) -> np.ndarray:
    """The R factor of a tall matrix's QR (``k x k`` for ``n x k``, ``n >= k``; padded with
    zero rows when ``n < k``), block by block (TSQR); leading axes are a stack of matrices."""
    n, k = M.shape[-2:]
    R = np.zeros((*M.shape[:-2], 0, k))
    for start in range(0, n, QR_BLOCK):
        R = np.linalg.qr(np.concatenate([R, M[..., start : start + QR_BLOCK, :]], axis=-2), mode="r")
    return np.concatenate([R, np.zeros((*M.shape[:-2], max(k - R.shape[-2], 0), k))], axis=-2)
