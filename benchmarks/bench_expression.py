"""Benchmark: the general expression path vs the log-space path on a law both can express (issue 23).

Law: Chinchilla, ``L = E + A N^-alpha + B D^-beta``, once parsed on the fast path
(``parse_law(...)``: a log-sum-exp of log-terms, variables normalised) and once forced onto
the general path (``parse_law(..., general=True)``: an :class:`~scalefit.Expression`
evaluated in linear space, variables in the user's units). Data: Epoch's 240 Chinchilla
points (``../shared/data/chinchilla_epoch/svg_extracted_data.csv``, the 5 highest-loss points
dropped), or, where that folder is absent, 240 synthetic points from Epoch's fit with 1%
log-normal noise. Same objective (Huber, delta 1e-3, on log-residuals), same seeds.

Timed per path: the first fit in the process (compilation included), then ``--repeats``
warm fits (``starts="auto"``, ``bootstrap=--bootstrap``) with different seeds; the median
is reported with the ratio ``general / log-space`` (> 1: the general path is slower) and
each path's best objective (they should agree: the same law and data).

    .venv/bin/python benchmarks/bench_expression.py [--repeats 5] [--bootstrap 200]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import scalefit
from scalefit import LeastSquares, ScalingWarning, fit_law, parse_law

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla_epoch" / "svg_extracted_data.csv"


def runs() -> tuple[pd.DataFrame, str]:
    if DATA.exists():
        raw = pd.read_csv(DATA)
        raw = raw.sort_values("loss").iloc[:-5]
        n = raw["Model Size"].to_numpy(float)
        return pd.DataFrame({"N": n, "D": raw["Training FLOP"].to_numpy(float) / (6 * n), "L": raw["loss"]}), str(DATA)
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), 240))
    d = n * np.exp(rng.uniform(np.log(5), np.log(300), 240))
    truth = dict(E=1.8169, A=482.01, alpha=0.34781, B=2085.43, beta=0.36585)
    y = scalefit.chinchilla.evaluate(truth, N=n, D=d) * np.exp(rng.normal(0, 0.01, 240))
    return pd.DataFrame({"N": n, "D": d, "L": y}), "synthetic (shared data absent)"


def timed(law, table, seed: int, bootstrap: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        t = time.perf_counter()
        fit = fit_law(law, table, target="L", seed=seed, method=LeastSquares(bootstrap=bootstrap))
        return time.perf_counter() - t, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()
    table, source = runs()
    formula = "E + A*N^-alpha + B*D^-beta"
    laws = {"log-space": parse_law(formula), "general": parse_law(formula, general=True)}
    assert type(laws["general"].expr).__name__ == "Expression" and type(laws["log-space"].expr).__name__ == "Sum"
    print(f"data: {source} ({len(table)} runs); {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, scalefit {scalefit.__version__}")  # fmt: skip
    print(f"fit_law(starts='auto', bootstrap={args.bootstrap}); {args.repeats} warm repeats (seeds 1..)")
    results = {}
    for name, law in laws.items():
        first, fit = timed(law, table, 0, args.bootstrap)
        warm, values, starts = [], [], []
        for seed in range(1, args.repeats + 1):
            dt, f = timed(law, table, seed, args.bootstrap)
            warm.append(dt)
            values.append(f.value)
            starts.append(f.starts.n_starts)
        results[name] = (first, float(np.median(warm)), min(values), int(np.median(starts)), fit)
        print(f"{name:10s} first {first:7.2f} s   warm median {np.median(warm):6.3f} s "
              f"(min {min(warm):.3f}, max {max(warm):.3f})   best objective {min(values):.6e}   "
              f"starts {int(np.median(starts))}   converged {fit.status.converged}")  # fmt: skip
    a, b = results["log-space"], results["general"]
    print(
        f"ratio general / log-space: warm {b[1] / a[1]:.2f}x, first (with compilation) {b[0] / a[0]:.2f}x; "
        f"objectives differ by {abs(b[2] - a[2]) / a[2]:.1e} (relative)"
    )
    print("params log-space:", {k: round(v, 4) for k, v in a[4].params.items()})
    print("params general:  ", {k: round(v, 4) for k, v in b[4].params.items()})


if __name__ == "__main__":
    main()
