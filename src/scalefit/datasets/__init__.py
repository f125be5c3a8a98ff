"""Example runs tables shipped with scalefit.

``fmnist_mnist`` is REAL: 190 training runs collected on a 2-core CPU with
``scalefit collect fmnist-mnist`` (DeiTs pre-trained on Fashion-MNIST fractions, fine-tuned
— plainly, distilled, or with label smoothing — on MNIST digits); the file is
``examples/data/fmnist_mnist_runs.csv`` in the repository, whose README gives the command,
machine, date and versions. ``synthetic_eq1`` is SYNTHETIC (generated from paper Eq. 1 with
known parameters; see :mod:`scalefit.datasets.make_synthetic`); its provenance, true
parameters included, is ``example_provenance("synthetic_eq1")``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scalefit.errors import ScalefitError

HERE = Path(__file__).resolve().parent
EXAMPLES = ("synthetic_eq1", "fmnist_mnist")


def _check(name: str) -> None:
    if name not in EXAMPLES:
        raise ScalefitError(f"unknown example table {name!r}; available: {list(EXAMPLES)}")


def example_runs(name: str = "synthetic_eq1") -> pd.DataFrame:
    """An embedded runs table (a copy; changing it changes nothing on disk): ``synthetic_eq1`` or ``fmnist_mnist``.

    Parameters
    ----------
    name : {"synthetic_eq1", "fmnist_mnist"}
        ``synthetic_eq1``: generated from paper Eq. 1 with known parameters.
        ``fmnist_mnist``: 190 real runs (DeiTs pre-trained on Fashion-MNIST, fine-tuned on
        MNIST), collected with ``scalefit collect fmnist-mnist``.

    Returns
    -------
    DataFrame
    """
    _check(name)
    return pd.read_csv(HERE / f"{name}.csv")


def example_provenance(name: str = "synthetic_eq1") -> dict:
    """Where an example table came from: command, machine, versions; for synthetic ones seed, noise and truth."""
    _check(name)
    return json.loads((HERE / f"{name}.json").read_text())
