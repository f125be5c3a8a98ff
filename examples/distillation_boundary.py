"""Recover a known distillation boundary from noisy runs, with its uncertainty.

    python examples/distillation_boundary.py [--quick]

A plain law (paper Eq. 1) and a distilled law (Eq. 4) are chosen so that distillation
wins only between two crossings, ~35K and ~2.9M pre-training images (at M = 22M,
Df = 50K, teacher 10M). SYNTHETIC runs are drawn from both with 1% log-normal noise, each
law is fitted with a case bootstrap, and the boundary is recovered: D*_p (closed form),
both crossings, the regimes, the paper's Eq. 6 conditions, and 90% intervals.
"""

import argparse
import warnings

import numpy as np
import pandas as pd

import scalefit
from scalefit import Fit, distillation_boundary

AT = {"M": 22e6, "Df": 5e4, "Mt": 10e6}
PLAIN = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
DISTILLED = dict(
    E_inf_prime=0.0615, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.55, lambda_m_prime=0.006,
    gamma_prime=0.33, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=100.0,
)  # fmt: skip


def runs(rng, noise=0.01):
    grid = pd.MultiIndex.from_product(
        [np.geomspace(1e4, 1e8, 9), [5e6, 1e7, 2.2e7, 4e7], [1e4, 3e4, 1e5], [2e6, 1e7, 2e7]],
        names=["Dp", "M", "Df", "Mt"],
    ).to_frame(index=False)
    grid["plain_error"] = scalefit.paper_error.evaluate(PLAIN, grid) * np.exp(rng.normal(0, noise, len(grid)))
    grid["distilled_error"] = scalefit.paper_distilled.evaluate(DISTILLED, grid) * np.exp(
        rng.normal(0, noise, len(grid))
    )
    return grid


def main(quick: bool = False, seed: int = 0, verbose: bool = True):
    rng = np.random.default_rng(seed)
    table = runs(rng)
    plain_truth = Fit.from_params(scalefit.paper_error, PLAIN)
    truth = distillation_boundary(
        plain_truth, Fit.from_params(scalefit.paper_distilled, DISTILLED), at=AT, domain=(1e4, 1e8)
    )
    size = dict(
        method=scalefit.LeastSquares(starts=100 if quick else 1000, bootstrap=100 if quick else 1000), seed=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        plain = scalefit.fit_law(scalefit.paper_error, table, target="plain_error", **size)
        distilled = scalefit.fit_law(scalefit.paper_distilled, table, target="distilled_error", **size)
    b = distillation_boundary(plain, distilled, at=AT, domain=(1e4, 1e8))
    if verbose:
        print(f"SYNTHETIC runs: {len(table)} configurations, each trained plainly and distilled (1% noise)\n")
        print("true boundary:\n", truth, "\n", sep="")
        print("recovered from the fits:\n", b, sep="")
        print("\n90% intervals over pairs of bootstrap replicates:\n", b.intervals(0.9))
        dp = np.geomspace(1e4, 1e8, 9)
        print("\nP(distillation wins) along Dp:\n", pd.Series(b.p_distill_wins(dp), index=dp.round()).round(3))
    return truth, b


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    main(ap.parse_args().quick)
