"""Shared fixtures: small synthetic tables with known truth, and the shared real data."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit.datasets.make_synthetic import TRUTH, grid

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def truth():
    return dict(TRUTH)


@pytest.fixture(scope="session")
def noise_free_runs(truth):
    runs = grid()
    runs["error"] = scalefit.paper_error.evaluate(truth, runs)
    return runs


@pytest.fixture
def runs():
    """The embedded synthetic table (a fresh copy per test)."""
    return scalefit.example_runs()


def noisy_runs(truth, sigma, seed):
    runs = grid()
    rng = np.random.default_rng(seed)
    runs["error"] = scalefit.paper_error.evaluate(truth, runs) * np.exp(rng.normal(0, sigma, len(runs)))
    return runs


@pytest.fixture(scope="session")
def chinchilla_runs():
    path = SHARED_DATA / "chinchilla_epoch" / "svg_extracted_data.csv"
    if not path.exists():
        pytest.skip(f"{path} not present (the shared data folder is optional)")
    df = pd.read_csv(path)
    df["N"] = df["Model Size"]
    df["D"] = df["Training FLOP"] / (6 * df["N"])
    return df.sort_values("loss").iloc[:-5].reset_index(drop=True)


def coverage_band(p: float, n: int, below: float = 3.0, above: float = 2.5) -> tuple[float, float]:
    """Coverage a correct ``p`` interval shows over ``n`` independent repetitions: ``below``
    binomial sd under ``p`` to ``above`` over it (a correct interval falls outside with
    probability ~0.2%; ``above`` is the smaller so that full coverage, the mark of an interval
    too wide, is outside the band where ``n`` allows it)."""
    sd = math.sqrt(p * (1 - p) / n)
    return p - below * sd, p + above * sd


def width_ratio(widths, estimates, level: float) -> float:
    """Median interval width over the width a normal interval at the estimates' own spread
    across repetitions would have (1 for an interval exactly as wide as it must be).

    The spread of ``n`` estimates is itself uncertain by about ``1/sqrt(2n)`` (~7-10% at
    50-100 repetitions); percentile and profile intervals of skewed estimates differ from the
    normal one by some percent more, so callers accept 0.7-1.4: an interval twice too wide or
    too narrow fails."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    spread = np.std(np.asarray(estimates, dtype=float), ddof=1)
    return float(np.median(np.asarray(widths, dtype=float)) / (2 * z * spread))
