"""Replicates run as concurrent streams (issue 24): each stream a fixed share of the lanes, in
JAX's 64-bit mode of the caller. A bootstrap and a by= fit give the same numbers with one stream
or two — to rounding: a lane's last bits can depend on which lanes share its batch (XLA's
vector and scalar loops), as they already did when stragglers moved to a smaller batch — and
the same numbers, to the bit, every time with the same count."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Law, LeastSquares, Power, fit_groups, fit_law
from scalefit.fitting import lsq

LAW = Law(Constant("e_inf") + Power("x", "c", amplitude="b"), name="M2")


@pytest.fixture
def two_cpus(monkeypatch):
    """Streams need at least two CPUs; this machine's count must not decide what is tested."""
    monkeypatch.setattr(lsq.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(lsq.os, "cpu_count", lambda: 2)


def _curves(groups: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e3, 1e7, 10)
    parts = []
    for g in range(groups):
        e, b, c = rng.uniform(0.05, 0.5), rng.uniform(1, 20), rng.uniform(0.2, 0.8)
        y = (e + b * x**-c) * np.exp(rng.normal(0, 0.02, x.size))
        parts.append(pd.DataFrame({"curve": f"c{g:02d}", "x": x, "y": y}))
    return pd.concat(parts, ignore_index=True)


def _with_streams(monkeypatch, k: int, fn):
    monkeypatch.setattr(lsq, "STREAMS", k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        return fn()


def test_streams_split_many_replicates_in_fixed_contiguous_shares(two_cpus):
    assert [p.tolist() for p in lsq.streams(5, 4)] == [[0, 1, 2, 3, 4]]  # too few to fill two batches
    parts = lsq.streams(1001, 256)
    assert len(parts) == 2
    assert np.array_equal(np.concatenate(parts), np.arange(1001))
    assert abs(len(parts[0]) - len(parts[1])) <= 1


def test_one_cpu_runs_one_stream(monkeypatch):
    monkeypatch.setattr(lsq.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(lsq.os, "cpu_count", lambda: 1)
    assert len(lsq.streams(10_000, 256)) == 1


def test_a_bootstrap_is_the_same_with_one_stream_or_two(monkeypatch, two_cpus):
    runs = _curves(1)
    method = LeastSquares(bootstrap=600, bootstrap_rtol=0)  # every replicate in one call: two streams

    def fit():
        return fit_law(LAW, runs, target="y", seed=3, method=method)

    one = _with_streams(monkeypatch, 1, fit)
    two = _with_streams(monkeypatch, 2, fit)
    again = _with_streams(monkeypatch, 2, fit)
    assert len(lsq.streams(600, 256)) == 2  # the case tested really ran two streams
    a, b = np.asarray(one.draws, dtype=float), np.asarray(two.draws, dtype=float)
    assert a.shape == b.shape and a.shape[0] >= 500
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=0)  # 32-bit threads would miss this by 1e-7
    assert np.array_equal(np.asarray(again.draws, dtype=float), b)  # reproducible
    assert one.params == two.params


def test_a_by_fit_is_the_same_with_one_stream_or_two(monkeypatch, two_cpus):
    runs = _curves(12)  # 12 groups x 64 starts: 768 exploring lanes, two streams

    def fit():
        return fit_groups(LAW, runs, "curve", target="y", seed=0, method=LeastSquares(bootstrap=0))

    one = _with_streams(monkeypatch, 1, fit)
    two = _with_streams(monkeypatch, 2, fit)
    assert list(one) == list(two)
    for key in one:
        for name, value in one[key].params.items():
            assert two[key].params[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
        assert two[key].value == pytest.approx(one[key].value, rel=1e-12)


@pytest.mark.parametrize("failing", [0, 1])
def test_an_error_in_either_stream_stops_the_other_and_is_raised(monkeypatch, two_cpus, failing):
    """The stream that fails (on its first call) raises in the caller, and the other stream
    stops at its next round instead of running its whole share, whichever of the two failed."""
    import threading

    n = 4096
    calls = {"n": 0}
    lock = threading.Lock()

    def advance(u0s, logx, target, W, *, steps, shared=False):
        with lock:
            calls["n"] += 1
        if (u0s[0, 0] >= n // 2) == bool(failing):  # u0s[:, 0] holds each replicate's index
            raise RuntimeError(f"stream {failing} failed")
        k = len(u0s)
        return lsq.Solution(u0s, np.ones(k), np.ones(k), np.ones(k, dtype=int), np.full(k, lsq.MAX_STEPS))

    data = [lsq.FitData({"x": np.zeros(4)}, np.zeros(4), 4)]
    u0s = np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1)
    with pytest.raises(RuntimeError, match=f"stream {failing} failed"):
        lsq.run_replicates(advance, u0s, np.zeros(n, dtype=int), data, np.ones((n, 4)), 10_000)
    # each stream: 2,048 replicates in 256 lanes, 1 step a round, 10,000 steps each: 80,000
    # rounds had it run on; it stops within the rounds it ran before the other one started
    assert calls["n"] < 5_000


def test_each_stream_runs_with_the_callers_jax_settings(monkeypatch, two_cpus):
    """JAX keeps ``with jax.debug_nans(True)`` and the like per thread: the streams' threads
    see the caller's values, not the process's defaults."""
    import jax

    seen = []

    def advance(u0s, logx, target, W, *, steps, shared=False):
        seen.append((jax.config.jax_enable_x64, jax.config.jax_debug_nans))
        k = len(u0s)
        return lsq.Solution(u0s, np.ones(k), np.ones(k), np.ones(k, dtype=int), np.zeros(k, dtype=int))

    n = 1024
    data = [lsq.FitData({"x": np.zeros(4)}, np.zeros(4), 4)]
    with jax.enable_x64(True), jax.debug_nans(True):
        lsq.run_replicates(advance, np.zeros((n, 2)), np.zeros(n, dtype=int), data, np.ones((n, 4)), 100)
    assert len(seen) >= 4  # two streams, two full batches each
    assert set(seen) == {(True, True)}


def test_a_table_too_large_for_full_batches_runs_one_stream(monkeypatch, two_cpus):
    """Two batches in flight would double the memory where it is largest: a table whose rows
    allow only narrow batches runs them one at a time, in the calling thread."""
    import threading

    threads = set()

    def advance(u0s, logx, target, W, *, steps, shared=False):
        threads.add(threading.get_ident())
        k = len(u0s)
        return lsq.Solution(u0s, np.ones(k), np.ones(k), np.ones(k, dtype=int), np.zeros(k, dtype=int))

    rows = lsq.LANE_ROWS // 16  # full batches of 16 lanes only
    data = [lsq.FitData({"x": np.zeros(rows)}, np.zeros(rows), rows)]
    n = 1024
    lsq.run_replicates(advance, np.zeros((n, 2)), np.zeros(n, dtype=int), data, np.ones((n, rows)), 100)
    assert threads == {threading.get_ident()}
