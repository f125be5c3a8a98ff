"""Fit paper Eq. 1 to the embedded SYNTHETIC table, compare with the truth, predict unseen runs.

    python examples/fit_synthetic.py [--bootstrap 1000]

The table was generated from known parameters with 2% log-normal noise
(``python -m scalefit.datasets.make_synthetic``), so every estimate can be checked.
"""

import argparse

import pandas as pd

import scalefit
from scalefit import LeastSquares
from scalefit.datasets import example_provenance


def main(bootstrap: int = 1000) -> scalefit.Fit:
    runs = scalefit.example_runs()
    truth = example_provenance()["truth"]
    fit = scalefit.fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(bootstrap=bootstrap))
    print(fit)

    table = fit.summary(interval=0.9)
    table.insert(0, "truth", pd.Series(truth))
    table["covers truth"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
    print("\n90% intervals vs the truth:\n", table)

    # Intervals widen as we extrapolate in pre-training data beyond the fitted 1.28M images.
    unseen = pd.DataFrame({"Dp": [1e6, 3e6, 1e7, 3e7], "M": 38.8e6, "Df": 5e4})
    print("\nextrapolating in Dp:\n", fit.predict(unseen, interval=0.9).round(4))
    return fit


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = ap.parse_args()
    main(50 if args.quick else args.bootstrap)
