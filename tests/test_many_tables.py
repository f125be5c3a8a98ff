"""Fitting many tables of different sizes in one process: a handful of compiles, bounded memory.

Compiled solvers are keyed by the law's structure and the options, never by the data: a
table is padded to a bucket size (the next power of two) with zero-weight rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from jax._src import monitoring
from jax._src.dispatch import BACKEND_COMPILE_EVENT

import scalefit
from scalefit import Constant, Law, LeastSquares, Power, fit_law
from scalefit.fitting.lsq import bucket

LAW = Law(Constant("e_inf") + Power("x", "c", amplitude="b"), name="M2")
FAST = dict(method=LeastSquares(starts=8, polish=2, bootstrap=0, max_steps=60))


def _table(n: int, rng) -> pd.DataFrame:
    x = np.geomspace(1e3, 1e7, n)
    return pd.DataFrame({"x": x, "y": (0.1 + 5 * x**-0.3) * np.exp(rng.normal(0, 0.02, n))})


def _maps() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))


@pytest.fixture
def compiles():
    """The list of backend compilations recorded while the test runs."""
    seen: list[str] = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE_EVENT:
            seen.append(kwargs.get("fun_name", "?"))

    monitoring.register_event_duration_secs_listener(listener)
    yield seen
    monitoring.unregister_event_duration_listener(listener)


def test_bucket_sizes():
    assert [bucket(n) for n in (1, 16, 17, 32, 33, 300)] == [16, 16, 32, 32, 64, 512]


def test_300_table_sizes_compile_a_handful_of_times_with_bounded_memory(compiles):
    rng = np.random.default_rng(0)
    sizes = range(10, 310)  # 300 distinct sizes, 6 buckets (16 ... 512)
    maps, rss = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        for n in sizes:
            fit = fit_law(LAW, _table(n, rng), target="y", **FAST)
            assert fit.runs.n_runs == n and len(fit.runs.residuals) == n
            maps.append(_maps())
            rss.append(_rss_mb())
    buckets = len({bucket(n) for n in sizes})
    # at most a few programs per bucket (multi-start, Jacobian, residuals; a profile at a bound)
    assert len(compiles) <= 4 * buckets, compiles
    # after the last new bucket (n = 257), 50 more sizes add no memory mappings and little memory
    last = list(sizes).index(257)
    assert maps[-1] - maps[last] <= 50, (maps[last], maps[-1])
    assert rss[-1] - rss[last] < 200, (rss[last], rss[-1])
    print(
        sorted(set(compiles)),
        f"{len(compiles)} compiles; maps {maps[0]} -> {maps[-1]}; RSS {rss[0]:.0f} -> {rss[-1]:.0f} MB",
    )


def test_padding_changes_no_result():
    """A table and the same table with its rows in another order (so padding repeats
    another row) give the same optimum."""
    rng = np.random.default_rng(1)
    table = _table(13, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        a = fit_law(LAW, table, target="y", method=LeastSquares(starts=32, bootstrap=0))
        b = fit_law(
            LAW, table.iloc[::-1].reset_index(drop=True), target="y", method=LeastSquares(starts=32, bootstrap=0)
        )
    for name in LAW.parameters:
        assert a.params[name] == pytest.approx(b.params[name], rel=1e-6)
    assert a.value == pytest.approx(b.value, rel=1e-9)


def test_a_problems_bounds_are_read_only():
    """``Problem`` caches masks derived from its bounds, so the bounds cannot change under it:
    writing to them raises instead of leaving the maps stale (built, or read back from JSON)."""
    from scalefit.fitting.problem import Problem

    problem = Problem.build(LAW, bounds={"c": (0.0, 2.0)}, x={"x": np.geomspace(1e3, 1e7, 10)})
    for p in (problem, Problem.from_dict(LAW, problem.to_dict())):
        theta = p.theta_from_u(np.zeros(len(p.free)))
        for bound in (p.lo, p.hi):
            with pytest.raises(ValueError, match="read-only"):
                bound[0] = 1.0
        np.testing.assert_array_equal(p.theta_from_u(np.zeros(len(p.free))), theta)
