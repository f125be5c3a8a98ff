"""Large tables (issue 24): screened starts and row blocks change no optimum.

The thresholds are lowered on a small table so the paths that large tables take run here in
seconds; each fit is compared with the plain path's on the same table.
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import LeastSquares
from scalefit.fitting import bootstrap as _bootstrap
from scalefit.fitting import convergence as _convergence
from scalefit.fitting import lsq as _lsq
from scalefit.fitting import multistart as _multistart
from scalefit.fitting.objective import Objective
from scalefit.fitting.solver import huber_loss


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        yield


def _fit_eq1(runs, starts="auto", **kw):
    """paper_error without a bootstrap, seed 3; ``kw`` are fit_law's own arguments (bounds=...)."""
    method = LeastSquares(starts=starts, bootstrap=0)
    return scalefit.fit_law(scalefit.paper_error, runs, target="error", method=method, seed=3, **kw)


def _same_optimum(a, b):
    assert a.value == pytest.approx(b.value, rel=1e-8)
    for name, value in a.params.items():
        assert b.params[name] == pytest.approx(value, rel=1e-4, abs=1e-9), name


def test_row_blocks_give_the_same_optimum(runs, quiet, monkeypatch):
    plain = _fit_eq1(runs, starts=16)
    monkeypatch.setattr(_lsq, "CHUNK_ROWS", 64)
    _lsq._compiled.cache_clear()  # trace again: the blocks are chosen when the solver is traced
    try:
        assert _lsq.bucket(len(runs)) == 256 and _lsq.bucket(65) == 128 and _lsq.bucket(64) == 64
        blocked = _fit_eq1(runs, starts=16)
    finally:
        _lsq._compiled.cache_clear()
    assert blocked.status.converged and plain.status.converged
    _same_optimum(plain, blocked)


def test_screened_starts_reach_the_same_optimum(runs, quiet, monkeypatch):
    plain = _fit_eq1(runs)
    monkeypatch.setattr(_multistart, "SCREEN_ABOVE", 64)
    monkeypatch.setattr(_multistart, "SCREEN_ROWS", 64)
    screened = _fit_eq1(runs)
    assert screened.status.converged
    assert screened.starts.n_polished == _multistart.FINAL_POLISH  # only the best few polished on every row
    assert screened.starts.n_starts >= 64
    _same_optimum(plain, screened)


def test_newton_curvature_is_huber_second_derivative_with_a_floor():
    loss = huber_loss(1e-3)
    r = np.array([0.0, 5e-4, -1e-3, 2e-3, -0.1])
    irls = np.asarray(loss.curv(r, 0.0))
    np.testing.assert_allclose(irls, np.where(np.abs(r) <= 1e-3, 1.0, 1e-3 / np.maximum(np.abs(r), 1e-3)))
    np.testing.assert_allclose(np.asarray(loss.curv(r, 1.0)), np.where(np.abs(r) <= 1e-3, 1.0, 1e-2 * irls))


def test_distance_to_optimum_matches_a_direct_svd():
    rng = np.random.default_rng(0)
    obj = Objective.make("huber", None)
    for n, k in ((1500, 7), (5, 7), (40, 3)):
        J = rng.normal(size=(n, k))
        J[:, -1] = 2.0 * J[:, 0]  # a flat direction
        r, w = 0.01 * rng.normal(size=n), rng.integers(0, 3, n).astype(float)
        curv = np.where(np.abs(r) <= 1e-3, 1.0, 1e-3 / np.maximum(np.abs(r), 1e-3))
        A = J * np.sqrt(w * curv)[:, None]
        b = np.sqrt(w / curv) * np.clip(r, -1e-3, 1e-3)
        U, s, _ = np.linalg.svd(A / np.linalg.norm(A, axis=0), full_matrices=False)
        p = U[:, s > _convergence.FLAT_RCOND * s[0]].T @ b
        assert _convergence.distance_to_optimum(J, r, w, obj, 2.0) == pytest.approx(np.sqrt(2.0 * p @ p), rel=1e-9)


def test_distances_of_a_stack_match_one_point_at_a_time():
    rng = np.random.default_rng(1)
    for name, n in (("huber", 700), ("squared", 12)):
        obj = Objective.make(name, None)
        J, r, w = rng.normal(size=(6, n, 4)), 0.01 * rng.normal(size=(6, n)), rng.integers(0, 3, n).astype(float)
        J[1, :, 2] = 0.0  # a parameter that cannot move the residuals at this point: as if left out
        J[2, 0, 0] = np.nan  # not finite: infinitely far
        got = _convergence.distances_to_optimum(J, r, w, obj, 3.0)
        assert got[2] == np.inf
        assert got[1] == pytest.approx(
            _convergence.distance_to_optimum(J[1][:, [0, 1, 3]], r[1], w, obj, 3.0), rel=1e-9
        )
        for i in (0, 3, 4, 5):
            assert got[i] == pytest.approx(_convergence.distance_to_optimum(J[i], r[i], w, obj, 3.0), rel=1e-9)
            assert got[i] > 0


def test_bootstrap_stops_once_endpoints_settle_and_states_their_error(runs, quiet):
    loose = scalefit.fit_law(
        scalefit.paper_error, runs, target="error", seed=1, method=LeastSquares(bootstrap=1000, bootstrap_rtol=0.2)
    )
    made = loose.bootstrap.requested
    assert made is not None and _bootstrap.MIN_REPLICATES <= made < 1000 and made % _bootstrap.BOOT_BATCH == 0
    mc = loose.bootstrap_error()
    assert list(mc.columns) == ["lower_mc", "upper_mc", "width", "relative"]
    assert (mc["relative"].dropna() <= 0.2).all() and mc.attrs["replicates"] == len(loose.draws)
    assert set(loose.summary().attrs["bootstrap_mc_error"]) == set(loose.setup.problem.free)
    assert "Monte-Carlo s.e." in repr(loose)
    # the replicates made are the first ones of the full run: the same resamples, the same optima
    full = scalefit.fit_law(
        scalefit.paper_error, runs, target="error", seed=1, method=LeastSquares(bootstrap=made, bootstrap_rtol=0)
    )
    assert full.bootstrap.requested == made
    np.testing.assert_allclose(full.draws.to_numpy(), loose.draws.to_numpy(), rtol=1e-6, atol=1e-12)


def test_an_endpoint_that_cannot_settle_is_said_in_words_not_as_a_huge_percent(runs, quiet):
    fit = scalefit.fit_law(
        scalefit.paper_error, runs, target="error", method=LeastSquares(starts=16, bootstrap=200, bootstrap_rtol=0)
    )
    assert "95% endpoints within" in repr(fit)
    name = next(p for p in fit.setup.problem.free if p not in fit.bounds and fit.law.specs[p].role != "exponent")
    draws = fit.draws.copy()
    draws[name] = np.exp(np.random.default_rng(0).normal(0.0, 15.0, len(draws)))  # spread over decades
    spread = dataclasses.replace(fit, draws=draws)
    assert spread.bootstrap_error().loc[name, "relative"] > 1.0
    text = repr(spread)
    assert f"NOT settled: the Monte-Carlo s.e. of {name}'s exceeds its interval's whole width" in text
    assert "endpoints within" not in text


def test_bootstrap_rtol_zero_makes_every_replicate(runs, quiet):
    fit = scalefit.fit_law(
        scalefit.paper_error, runs, target="error", method=LeastSquares(starts=16, bootstrap=300, bootstrap_rtol=0)
    )
    assert fit.bootstrap.requested == 300
    with pytest.raises(TypeError, match="bootstrap_rtol"):  # a least-squares option; NUTS has posterior draws
        scalefit.NUTS(bootstrap_rtol=0.1)


def test_progress_quiet_when_not_a_terminal_and_shown_when_asked(runs, quiet, capsys, monkeypatch):
    from scalefit import progress as _progress

    monkeypatch.delenv(_progress.ENV, raising=False)
    scalefit.fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=16, bootstrap=0))
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal: nothing drawn
    assert not _progress.wanted()
    monkeypatch.setenv(_progress.ENV, "1")
    assert _progress.wanted() and not _progress.wanted(False)
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    monkeypatch.setattr(_progress, "INTERVAL", 0.01)
    with _progress.task("outer") as line:
        with _progress.task("bootstrap", total=10, unit="replicates") as inner:
            inner.set(4)
            assert inner.text().startswith("scalefit: bootstrap 4/10 replicates")
        assert line.label == "outer"
    assert "scalefit: " in capsys.readouterr().err
    monkeypatch.setenv(_progress.ENV, "1")
    scalefit.fit_law(
        scalefit.paper_error, runs, target="error", method=LeastSquares(starts=16, bootstrap=0, progress=False)
    )
    assert capsys.readouterr().err == ""  # the option wins over the variable


def test_row_blocks_and_screen_with_a_bound_and_groups(runs, quiet, monkeypatch):
    """A parameter at a user's bound (its profile is solved in blocks too) and a by= call
    mixing a screened group with one small enough to be its own screen."""
    bounds = {"alpha": (0.45, 1.0)}  # the truth is 0.4: alpha sits at its bound
    plain = _fit_eq1(runs, starts=16, bounds=bounds)
    two = pd.concat([runs.assign(g="a"), runs.iloc[:50].assign(g="b")], ignore_index=True)
    plain_groups = scalefit.fit_groups(
        scalefit.paper_error, two, "g", target="error", seed=3, method=LeastSquares(bootstrap=0)
    )
    monkeypatch.setattr(_lsq, "CHUNK_ROWS", 64)
    monkeypatch.setattr(_multistart, "SCREEN_ABOVE", 64)
    monkeypatch.setattr(_multistart, "SCREEN_ROWS", 64)
    _lsq._compiled.cache_clear()
    try:
        blocked = _fit_eq1(runs, starts=16, bounds=bounds)
        groups = scalefit.fit_groups(
            scalefit.paper_error, two, "g", target="error", seed=3, method=LeastSquares(bootstrap=0)
        )
    finally:
        _lsq._compiled.cache_clear()
    assert "alpha" in blocked.bounds and "alpha" in plain.bounds
    _same_optimum(plain, blocked)
    np.testing.assert_allclose(blocked.bounds["alpha"]["profile"]["stat"], plain.bounds["alpha"]["profile"]["stat"],
                               rtol=1e-5, atol=1e-8)  # fmt: skip
    assert groups["a"].starts.n_polished == _multistart.FINAL_POLISH  # screened: the best 4 on every row
    assert groups["b"].starts.n_polished > _multistart.FINAL_POLISH  # 50 runs: its own screen, kept as polished
    for k in ("a", "b"):
        _same_optimum(plain_groups[k], groups[k])


def test_intervals_at_a_bound_at_levels_at_or_below_one_half_are_the_bound(quiet):
    """The Self & Liang mixture's quantile is 0 at levels <= 0.5: the one-sided interval of a
    parameter at its bound is the bound itself there (it raised a ValueError)."""
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e7, 1e9, 6), 5)
    D = np.tile(np.geomspace(1e9, 1e11, 5), 6)
    loss = (1.7 + 400 * N**-0.34 + 2000 * D**-0.37) * np.exp(rng.normal(0, 0.01, N.size))
    fit = scalefit.fit_law(
        scalefit.chinchilla, pd.DataFrame({"N": N, "D": D, "loss": loss}), target="loss",
        bounds={"E": (1.75, None)}, method=LeastSquares(starts=16, bootstrap=50),
    )  # fmt: skip
    assert "E" in fit.bounds
    for level in (0.3, 0.5):
        row = fit.summary(level).loc["E"]
        assert row["lower"] == pytest.approx(1.75) and row["upper"] == pytest.approx(1.75)
    wide = fit.summary(0.95).loc["E"]
    assert wide["lower"] == pytest.approx(1.75) and wide["upper"] > 1.75
