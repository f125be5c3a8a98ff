"""Shared fixtures: small synthetic tables with known truth, and the shared real data."""

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
