"""A Levenberg-Marquardt solver for robust least squares, written to be ``vmap``-ed.

The objective is ``f(u) = sum_i w_i * rho(r_i(u))`` for residuals ``r(u)``, case weights
``w`` (bootstrap counts) and a loss ``rho`` (Huber or square). Each step solves

    (H + mu * diag(H)) d = -g,   g = J^T (w * rho'(r)),   H = J^T diag(w * rho'(r) / r) J

— Gauss-Newton for squares and the iteratively reweighted (IRLS) curvature for Huber,
which is positive semi-definite where the exact Hessian of a Huber loss is not. Steps
that do not lower ``f`` are rejected and the damping raised (Nielsen's update), so every
accepted step is a descent step. When no step can lower ``f`` in floating point and the
gradient is below ``1e-6 * max(1, f)``, the point counts as converged at machine
precision. The loop is a ``lax.while_loop``; ``jax.vmap`` over starting points (or over
bootstrap weights) runs them all in one compiled call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from scalefit.fitting.convergence import (
    CONVERGED_GRADIENT,
    CONVERGED_PRECISION,
    CONVERGED_STEP,
    MAX_STEPS,
    NONFINITE,
    RUNNING,
    STALLED,
)

STALL_GTOL = 1e-6
#: Systems of at most this many parameters are solved by :func:`small_spd_solve`, larger ones by
#: LU (``jnp.linalg.solve``).
SMALL_SYSTEM = 8

class Loss(NamedTuple):
    """A residual loss ``rho`` with its derivative and curvature ``curv(r, newton)``: IRLS's
    ``rho'(r)/r`` where ``newton`` is 0, the loss's own second derivative where it is 1 (the
    same for a square loss). ``newton`` is an input of the compiled program, not part of it."""

    name: str
    rho: Callable
    drho: Callable
    curv: Callable


#: Share of the IRLS curvature ``delta/|r|`` that :func:`huber_loss`'s Newton curvature keeps
#: beyond ``delta`` (where Huber's own second derivative is 0), so that the curvature matrix
#: stays as regular as the IRLS one.
NEWTON_FLOOR = 1e-2


def huber_loss(delta: float) -> Loss:
    """Huber loss: ``r^2/2`` for ``|r| <= delta``, ``delta (|r| - delta/2)`` beyond.

    Two curvatures, chosen per call by ``newton``. IRLS's ``rho'(r)/r`` (``newton`` 0: 1
    inside ``delta``, ``delta/|r|`` beyond) is robust from any start, but near an optimum
    where most residuals lie beyond ``delta`` (a noisy table) it converges only linearly, in
    tens of steps. Huber's own second derivative (``newton`` 1: 1 inside, 0 beyond — as
    scipy's ``least_squares`` does), keeping ``NEWTON_FLOOR`` of the IRLS value beyond, is
    Gauss-Newton for the piecewise-quadratic objective, which converges in a few steps from
    a point near the optimum (a polished start after its exploration, a screen optimum on
    all rows, a bootstrap replicate from the fit's optimum). Either curvature is positive
    semi-definite; the objective, gradient and stopping rules are the same, so both stop at
    the same optimum.
    """

    def rho(r):
        a = jnp.abs(r)
        return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))

    def drho(r):
        return jnp.clip(r, -delta, delta)

    def curv(r, newton):
        a = jnp.abs(r)
        beyond = jnp.where(newton > 0, NEWTON_FLOOR, 1.0)
        return jnp.where(a <= delta, 1.0, beyond * delta / jnp.where(a <= delta, 1.0, a))

    return Loss("huber", rho, drho, curv)


def square_loss() -> Loss:
    """Square loss ``r^2`` (sum of squared residuals); both curvatures are Gauss-Newton's."""
    return Loss("square", lambda r: r * r, lambda r: 2.0 * r, lambda r, newton: jnp.full_like(r, 2.0))


class Solution(NamedTuple):
    u: jax.Array
    f: jax.Array
    grad_norm: jax.Array
    steps: jax.Array
    status: jax.Array


def small_spd_solve(A: jax.Array, b: jax.Array) -> jax.Array:
    """``A^-1 b`` for a symmetric positive definite ``A`` (``k x k``, ``k <= SMALL_SYSTEM``) by a
    Cholesky factorisation written out element by element.

    Under ``vmap`` over thousands of starts, ``jnp.linalg.solve`` runs one LAPACK LU call per
    lane on CPU (65,536 systems of 3 x 3: 20 ms a step); these elementwise operations run
    across the lanes at once (1 ms). A pivot that is not positive (``A`` not positive definite
    in floating point) gives a non-finite solution, which the solver treats as a failed step:
    it raises the damping, which makes ``A`` diagonally dominant.
    """
    k = A.shape[-1]
    L: list[list[jax.Array]] = [[jnp.zeros((), A.dtype)] * k for _ in range(k)]
    for j in range(k):
        pivot = jnp.sqrt(A[j, j] - sum((L[j][m] * L[j][m] for m in range(j)), jnp.zeros((), A.dtype)))
        L[j][j] = pivot
        for i in range(j + 1, k):
            L[i][j] = (A[i, j] - sum((L[i][m] * L[j][m] for m in range(j)), jnp.zeros((), A.dtype))) / pivot
    y: list[jax.Array] = []
    for i in range(k):
        y.append((b[i] - sum((L[i][m] * y[m] for m in range(i)), jnp.zeros((), A.dtype))) / L[i][i])
    x: list[jax.Array] = [jnp.zeros((), A.dtype)] * k
    for i in reversed(range(k)):
        x[i] = (y[i] - sum((L[m][i] * x[m] for m in range(i + 1, k)), jnp.zeros((), A.dtype))) / L[i][i]
    return jnp.stack(x)


def make_solver(
    residuals: Callable[[jax.Array], jax.Array],
    loss: Loss,
    *,
    to_theta: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
    gtol: float,
    ftol: float,
    xtol: float,
    chunks: tuple[Callable, object] | None = None,
) -> Callable[..., Solution]:
    """``solve(u0, w, max_steps, mask=None, newton=0.0) -> Solution`` for one start ``u0`` and case
    weights ``w``; coordinates where ``mask`` is 0 are held at their start (a profile likelihood);
    ``newton`` picks the loss's curvature (:class:`Loss`).

    ``residuals(theta)`` maps the free parameters to the residual vector, and
    ``to_theta(u) -> (theta, dtheta/du)`` maps the unconstrained variables to them
    element-wise (so the chain rule is a column scaling of the Jacobian: differentiating
    through the transform directly is several times slower under ``vmap``). The returned
    function is pure and traceable: ``jax.vmap`` it over ``u0`` or ``w``.

    ``chunks=(residual_rows, data)`` computes the residuals block by block instead (then
    ``residuals`` is unused): ``data`` is a pytree whose arrays have a leading axis of
    blocks of rows, ``residual_rows(theta, block)`` gives one block's residuals, and ``w``
    is split into the same blocks. The objective, gradient and curvature are summed over
    the blocks in a ``lax.scan``, so a step holds one block's Jacobian, not the table's:
    memory stays bounded however many rows there are. The sums are the same.
    """

    def objective(r, w):
        return jnp.sum(w * loss.rho(r))

    def linear_part(resid, theta, slope, w, newton):
        r, jvp_fn = jax.linearize(resid, theta)
        J = jax.vmap(jvp_fn, out_axes=1)(jnp.eye(theta.shape[0], dtype=theta.dtype)) * slope
        f = objective(r, w)
        g = J.T @ (w * loss.drho(r))
        H = (J * (w * loss.curv(r, newton))[:, None]).T @ J
        return f, g, H

    def linearise(u, w, mask, newton):
        theta, slope = to_theta(u)
        slope = slope * mask  # a masked coordinate has no gradient and no curvature: it stays put
        if chunks is None:
            return linear_part(residuals, theta, slope, w, newton)
        residual_rows, data = chunks
        blocks = jax.tree.leaves(data)[0].shape[0]

        def add_block(total, block):
            part, wb = block
            out = linear_part(lambda th: residual_rows(th, part), theta, slope, wb, newton)
            return jax.tree.map(jnp.add, total, out), None

        k = u.shape[0]
        zero = (jnp.zeros((), u.dtype), jnp.zeros(k, u.dtype), jnp.zeros((k, k), u.dtype))
        total, _ = jax.lax.scan(add_block, zero, (data, w.reshape(blocks, -1)))
        return total

    def solve(u0, w, max_steps, mask=None, newton=0.0):
        mask = jnp.ones_like(u0) if mask is None else mask
        f0, g0, H0 = linearise(u0, w, mask, newton)
        k = u0.shape[0]
        eye = jnp.eye(k, dtype=u0.dtype)
        mu0 = jnp.asarray(1e-3, u0.dtype)
        status0 = jnp.where(jnp.isfinite(f0), RUNNING, NONFINITE)

        def cond(state):
            return state[-1] == RUNNING

        def body(state):
            u, f, g, H, mu, nu, step, _ = state
            d_h = jnp.diag(H)
            scale = jnp.maximum(d_h, 1e-12 * jnp.max(d_h) + 1e-300)
            A = H + mu * jnp.diag(scale) + 1e-14 * jnp.trace(H) * eye / k
            d = -(small_spd_solve(A, g) if k <= SMALL_SYSTEM else jnp.linalg.solve(A, g))
            u_new = u + d
            f_new, g_new, H_new = linearise(u_new, w, mask, newton)
            predicted = -(g @ d + 0.5 * d @ (H @ d))
            actual = f - f_new
            ok = jnp.isfinite(f_new) & (actual > 0) & (predicted > 0) & jnp.all(jnp.isfinite(d))
            rho = actual / jnp.where(predicted > 0, predicted, 1.0)
            mu_ok = mu * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            u2 = jnp.where(ok, u_new, u)
            f2 = jnp.where(ok, f_new, f)
            g2 = jnp.where(ok, g_new, g)
            H2 = jnp.where(ok, H_new, H)
            mu2 = jnp.where(ok, mu_ok, mu * nu)
            nu2 = jnp.where(ok, 2.0, nu * 2.0)
            step2 = step + 1
            small_f = ok & (actual <= ftol * jnp.maximum(f, 1e-300))
            small_x = jnp.linalg.norm(d) <= xtol * (jnp.linalg.norm(u) + xtol)
            status = jnp.select(
                [
                    jnp.max(jnp.abs(g2)) <= gtol,
                    small_f & small_x,
                    (mu2 > 1e16) & (jnp.max(jnp.abs(g2)) <= STALL_GTOL * jnp.maximum(1.0, f2)),
                    mu2 > 1e16,
                    step2 >= max_steps,
                ],
                [CONVERGED_GRADIENT, CONVERGED_STEP, CONVERGED_PRECISION, STALLED, MAX_STEPS],
                RUNNING,
            )
            return (u2, f2, g2, H2, mu2, nu2, step2, status)

        state = (u0, f0, g0, H0, mu0, jnp.asarray(2.0, u0.dtype), jnp.asarray(0), status0)
        state = jax.lax.while_loop(cond, body, state)
        u, f, g, _, _, _, step, status = state
        return Solution(u, f, jnp.max(jnp.abs(g)), step, status)

    return solve
