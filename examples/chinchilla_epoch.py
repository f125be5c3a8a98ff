"""Reproduce Epoch AI's refit of Chinchilla (Besiroglu et al. 2024, arXiv:2404.10102).

    python examples/chinchilla_epoch.py [--bootstrap 1000]

Reads ``../shared/data/chinchilla_epoch/svg_extracted_data.csv`` (245 points read off
Hoffmann et al.'s Fig. 4; not shipped with scalefit), drops the 5 highest losses as Epoch
did, and fits ``L = E + A N^-alpha + B D^-beta`` with a Huber loss (delta 1e-3) on
log-residuals. Epoch's grid-start replication: A 477.84, B 2143.86, E 1.8172,
alpha 0.34731, beta 0.36718 (objective 1.01827e-3); their bootstrap standard errors:
A 124.5, B 1293, E 0.026, alpha 0.015, beta 0.021.
"""

import argparse
from pathlib import Path

import pandas as pd

import scalefit
from scalefit import LeastSquares

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla_epoch" / "svg_extracted_data.csv"
EPOCH = {"A": 477.84, "B": 2143.86, "E": 1.8172, "alpha": 0.34731, "beta": 0.36718}
EPOCH_SE = {"A": 124.5, "B": 1293, "E": 0.026, "alpha": 0.015, "beta": 0.021}


def main(bootstrap: int = 1000):
    if not DATA.exists():
        print(f"skipping: {DATA} is not present")
        return None
    df = pd.read_csv(DATA)
    df["N"] = df["Model Size"]
    df["D"] = df["Training FLOP"] / (6 * df["N"])
    df = df.sort_values("loss").iloc[:-5]
    fit = scalefit.fit_law(scalefit.chinchilla, df, target="loss", method=LeastSquares(bootstrap=bootstrap))
    print(fit)
    table = fit.summary()
    table["epoch"] = pd.Series(EPOCH)
    table["epoch_se"] = pd.Series(EPOCH_SE)
    table["rel_diff"] = table["estimate"] / table["epoch"] - 1
    print("\nscalefit vs Epoch:\n", table)
    return fit


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = ap.parse_args()
    main(50 if args.quick else args.bootstrap)
