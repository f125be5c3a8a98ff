"""Benchmark: scalefit's vectorised multi-start fit vs scipy.optimize.least_squares in a loop.

Both minimise the same objective — Huber (delta 1e-3) of log-residuals of paper Eq. 1,
summed — on the embedded 7 x 4 x 7 grid (196 synthetic runs), from the same 1000
starting points. scipy gets what a user would hand-write: a numpy residual function (the
same log-sum-exp form scalefit uses), ``loss="huber", f_scale=delta``, default ``trf``
with finite-difference Jacobians, one call per start; the best start wins.

    python benchmarks/bench_fit.py [--starts 1000] [--bootstrap 1000]

Prints wall times (scalefit's first call includes JIT compilation), the ratios, the best
objective each reached, and the time of 1000 bootstrap replicates.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import jax
import numpy as np
import pandas as pd
import scipy
from scipy.optimize import least_squares

import scalefit
from scalefit._lsq import random_starts
from scalefit._problem import Problem

DELTA = 1e-3


def huber_sum(r: np.ndarray) -> float:
    a = np.abs(r)
    return float(np.sum(np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starts", type=int, default=1000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    warnings.simplefilter("ignore", scalefit.ScalingWarning)

    law = scalefit.paper_error
    runs = scalefit.example_runs()
    x = {v: runs[v].to_numpy(float) for v in law.variables}
    y = runs["error"].to_numpy(float)
    logx = {v: np.log(a) for v, a in x.items()}
    logy = np.log(y)

    problem = Problem.build(law)
    theta0 = random_starts(problem, x, y, args.starts, np.random.default_rng(0))
    starts = pd.DataFrame(problem.paper(theta0))  # the same starts, in paper form, for scalefit

    def residual(theta):  # internal form, as a careful user would write it
        e, a, lp, b, lm, g, lf = theta
        terms = np.stack([np.full_like(logy, e), lp - a * logx["Dp"], lm - b * logx["M"], lf - g * logx["Df"]])
        top = terms.max(axis=0)
        return top + np.log(np.exp(terms - top).sum(axis=0)) - logy

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}")
    print(f"versions: scalefit {scalefit.__version__}, jax {jax.__version__}, scipy {scipy.__version__}")
    print(f"problem: paper Eq. 1, {len(y)} runs, {args.starts} starts, Huber(delta={DELTA}) on log-residuals\n")

    def run_scalefit():
        t0 = time.perf_counter()
        fit = scalefit.fit_law(law, runs, target="error", starts=starts, bootstrap=0)
        return time.perf_counter() - t0, fit

    t_first, fit = run_scalefit()
    t_second, fit = run_scalefit()

    t0 = time.perf_counter()
    best_scipy, nfev = np.inf, 0
    for th in theta0:
        res = least_squares(residual, th, loss="huber", f_scale=DELTA)
        nfev += res.nfev
        best_scipy = min(best_scipy, huber_sum(residual(res.x)))
    t_scipy = time.perf_counter() - t0

    print(f"{'':34}{'wall s':>10}{'best objective':>20}")
    print(
        f"{'scipy least_squares, looped':34}{t_scipy:10.2f}{best_scipy:20.10g}   ({nfev / len(theta0):.0f} nfev/start)"
    )
    print(f"{'scalefit, first call (+compile)':34}{t_first:10.2f}{fit.value:20.10g}")
    print(f"{'scalefit, second call':34}{t_second:10.2f}{fit.value:20.10g}")
    print(f"\nspeed-up incl. compile: {t_scipy / t_first:6.1f}x   (target >= 20x)")
    print(f"speed-up second call:   {t_scipy / t_second:6.1f}x   (target >= 100x)")
    print(f"objective scalefit - scipy: {fit.value - best_scipy:+.3e}  (target <= 0 up to rounding)")

    t0 = time.perf_counter()
    boot = scalefit.fit_law(law, runs, target="error", starts=starts, bootstrap=args.bootstrap)
    t_boot = time.perf_counter() - t0
    print(
        f"\nfit + {args.bootstrap} bootstrap replicates: {t_boot:.2f} s (target < 30 s); "
        f"{boot.bootstrap_converged:.0%} of replicates converged"
    )


if __name__ == "__main__":
    main()
