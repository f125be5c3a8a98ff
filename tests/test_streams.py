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


def test_an_error_in_one_stream_stops_the_other_and_is_raised(monkeypatch, two_cpus):
    """A stream that fails (here: its second call) raises in the caller, and the other stream
    stops at its next round instead of running its whole share."""
    import threading

    calls = {"n": 0}
    lock = threading.Lock()

    def advance(u0s, logx, target, W, *, steps, shared=False):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 2:
            raise RuntimeError("stream failed")
        k = len(u0s)
        return lsq.Solution(u0s, np.ones(k), np.ones(k), np.ones(k, dtype=int), np.full(k, lsq.MAX_STEPS))

    data = [lsq.FitData({"x": np.zeros(4)}, np.zeros(4), 4)]
    n = 4096
    with pytest.raises(RuntimeError, match="stream failed"):
        lsq.run_replicates(advance, np.zeros((n, 2)), np.zeros(n, dtype=int), data, np.ones((n, 4)), 10_000)
    # two streams of 2048 replicates, 256 lanes, 1 step a round: ~8,000 rounds each had they run on
    assert calls["n"] < 100
