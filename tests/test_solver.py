"""The Levenberg-Marquardt solver's own pieces (scalefit.fitting.solver)."""

import jax
import numpy as np
import pytest

from scalefit.fitting.solver import SMALL_SYSTEM, small_spd_solve


@pytest.mark.parametrize("k", range(1, SMALL_SYSTEM + 1))
def test_small_spd_solve_matches_lu(k):
    """Damped normal equations of every size the elementwise Cholesky handles, batched as the
    solver's vmap batches them: the same solution as LAPACK's LU to rounding (conditioning up
    to ~1e6, so the tolerance is 1e6 x machine epsilon of the solution's scale)."""
    rng = np.random.default_rng(k)
    M = rng.normal(size=(200, 3 * k, k)) * np.logspace(0, 3, k)  # columns on different scales
    A = np.einsum("nij,nik->njk", M, M) + 1e-3 * np.eye(k)
    b = rng.normal(size=(200, k))
    with jax.enable_x64(True):
        x = np.asarray(jax.jit(jax.vmap(small_spd_solve))(A, b))
    expected = np.linalg.solve(A, b[..., None])[..., 0]
    scale = np.max(np.abs(expected), axis=1, keepdims=True)
    assert np.max(np.abs(x - expected) / scale) < 1e6 * np.finfo(float).eps


def test_small_spd_solve_not_positive_definite_is_not_finite():
    """A matrix with a negative pivot gives a non-finite step (the solver rejects it and raises
    the damping) — never a finite wrong one."""
    A = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    with jax.enable_x64(True):
        x = np.asarray(small_spd_solve(A, np.array([1.0, 0.0])))
    assert not np.all(np.isfinite(x))
    with jax.enable_x64(True):
        y = np.asarray(small_spd_solve(np.diag([4.0, 9.0]), np.array([2.0, 3.0])))
    np.testing.assert_allclose(y, [0.5, 1.0 / 3.0], rtol=1e-15)


def test_clear_of_bounds_never_hides_a_bound():
    """The batched pre-check that lets most polished starts skip ``at_bounds``: a point it calls
    clear has no bound in ``at_bounds``'s own verdict, and points with a parameter at a bound (an
    exponent at 0, a negligible term, a user bound) are not called clear."""
    import scalefit
    from scalefit.fitting.problem import Problem
    from scalefit.results.intervals import NEGLIGIBLE, at_bounds, clear_of_bounds

    law = scalefit.paper_error
    problem = Problem.build(law, bounds={"alpha": (0.1, 2.0)})
    rng = np.random.default_rng(0)
    k = len(problem.free)
    lo = np.where(np.isfinite(problem.lo), problem.lo, -5.0)
    hi = np.where(np.isfinite(problem.hi), problem.hi, lo + 10.0)
    thetas = rng.uniform(lo, hi, size=(400, k))
    shares = rng.uniform(0.01, 1.0, size=(400, 30, k))
    edge = rng.integers(0, 4, 400)  # 0: inside; 1: at the lower end; 2: at the upper end; 3: a term at 0
    cols = rng.integers(0, k, 400)
    for p, (e, j) in enumerate(zip(edge, cols, strict=True)):
        if e == 1 and np.isfinite(problem.lo[j]):
            thetas[p, j] = problem.lo[j]
        elif e == 2 and np.isfinite(problem.hi[j]):
            thetas[p, j] = problem.hi[j]
        elif e == 3:
            shares[p, :, j] = NEGLIGIBLE / 10
    clear = clear_of_bounds(problem, thetas, shares)
    verdicts = [bool(at_bounds(problem, th, sh)) for th, sh in zip(thetas, shares, strict=True)]
    assert not any(v for v, c in zip(verdicts, clear, strict=True) if c)  # clear => no bound
    assert clear.sum() >= 50 and (~clear).sum() >= 100  # both kinds occur in this draw
    assert sum(verdicts) >= 50
