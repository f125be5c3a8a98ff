"""Slow statistical check: bootstrap intervals cover the truth as often as they claim.

Run with ``python -m pytest -m slow tests/test_coverage.py -s`` (about 5 minutes on 2 cores);
the measured coverage is printed and recorded in benchmarks/RESULTS.md.
"""

import warnings

import pytest

import scalefit
from scalefit import ScalingWarning, fit_law

from .conftest import noisy_runs

REPETITIONS = 100
SIGMA = 0.02
LEVEL = 0.95


@pytest.mark.slow
def test_bootstrap_95_intervals_cover_truth_in_90_percent(truth):
    hits = {name: 0 for name in truth}
    for rep in range(REPETITIONS):
        runs = noisy_runs(truth, SIGMA, seed=1000 + rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingWarning)
            fit = fit_law(scalefit.paper_error, runs, target="error", starts=200, bootstrap=1000, seed=rep)
        table = fit.summary(interval=LEVEL)
        for name, value in truth.items():
            hits[name] += bool(table.loc[name, "lower"] <= value <= table.loc[name, "upper"])
    coverage = {name: h / REPETITIONS for name, h in hits.items()}
    print(f"\n{LEVEL:.0%} case-bootstrap interval coverage over {REPETITIONS} data sets (sigma={SIGMA}):")
    for name, c in coverage.items():
        print(f"  {name:>10}: {c:.2f}")
    assert all(c >= 0.90 for c in coverage.values()), coverage
