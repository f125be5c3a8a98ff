"""Example runs tables shipped with scalefit.

``synthetic_eq1`` is SYNTHETIC (generated from paper Eq. 1 with known parameters; see
:mod:`scalefit.datasets.make_synthetic`); its provenance, true parameters included, is
``example_provenance("synthetic_eq1")``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .._errors import ScalefitError

HERE = Path(__file__).resolve().parent
EXAMPLES = ("synthetic_eq1",)


def _check(name: str) -> None:
    if name not in EXAMPLES:
        raise ScalefitError(f"unknown example table {name!r}; available: {list(EXAMPLES)}")


def example_runs(name: str = "synthetic_eq1") -> pd.DataFrame:
    """An embedded runs table (a copy; changing it changes nothing on disk)."""
    _check(name)
    return pd.read_csv(HERE / f"{name}.csv")


def example_provenance(name: str = "synthetic_eq1") -> dict:
    """Where an example table came from: generator, seed, noise and (if synthetic) the truth."""
    _check(name)
    return json.loads((HERE / f"{name}.json").read_text())
