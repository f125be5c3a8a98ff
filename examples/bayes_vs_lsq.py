"""Fit paper Eq. 1 both ways — least squares with bootstrap, and Bayesian with NUTS —
compare them, and watch the intervals widen as predictions move beyond the fitted runs.

    python examples/bayes_vs_lsq.py [--quick]

Data: the embedded SYNTHETIC table (paper Eq. 1, known parameters, 2% log-normal noise),
fitted on pre-training sets of 64K-1.28M images; predictions go out to 40M.
"""

import argparse
import warnings

import numpy as np
import pandas as pd

import scalefit
from scalefit import Constant, Law, LeastSquares, Power
from scalefit.datasets import example_provenance


def main(quick: bool = False) -> None:
    runs = scalefit.example_runs()
    truth = example_provenance()["truth"]
    sizes = dict(bootstrap=100, chains=2, draws=300, warmup=300) if quick else {}
    lsq = scalefit.fit_law(
        scalefit.paper_error, runs, target="error", method=LeastSquares(bootstrap=sizes.get("bootstrap", 1000))
    )
    nuts = scalefit.NUTS(**{k: v for k, v in sizes.items() if k != "bootstrap"})
    bayes = scalefit.fit_law(scalefit.paper_error, runs, target="error", method=nuts)
    print(bayes)

    both = pd.DataFrame(
        {
            "truth": pd.Series(truth),
            "lsq": pd.Series(lsq.params),
            "lsq 90%": lsq.summary(0.9).apply(lambda r: f"[{r.lower:.3g}, {r.upper:.3g}]", axis=1),
            "bayes": pd.Series(bayes.params),
            "bayes 90%": bayes.summary(0.9).apply(lambda r: f"[{r.lower:.3g}, {r.upper:.3g}]", axis=1),
        }
    ).loc[list(scalefit.paper_error.parameters)]
    print("\nparameters, both ways:\n", both)

    far = pd.DataFrame({"Dp": np.geomspace(1e5, 4e7, 7), "M": 38.8e6, "Df": 5e4})
    rows = []
    for name, fit in (("lsq", lsq), ("bayes", bayes)):
        p = fit.predict(far, interval=0.9)
        rows.append(pd.DataFrame({"Dp": far.Dp, "method": name, "mean": p["mean"],
                                  "ci width %": 100 * (p.ci_upper - p.ci_lower) / p["mean"],
                                  "pi width %": 100 * (p.pi_upper - p.pi_lower) / p["mean"],
                                  "extrapolated": p.extrapolated}))  # fmt: skip
    table = pd.concat(rows).sort_values(["Dp", "method"])
    table.insert(2, "truth", np.repeat(np.asarray(scalefit.paper_error.evaluate(truth, far)), 2))
    print("\nextrapolating in Dp (fitted up to 1.28M): 90% interval widths as % of the mean\n", table.round(4))

    # Which law do the data prefer? (Bayesian fits only: PSIS-LOO)
    without_m = Law(Constant("E_inf") + Power("Dp", "alpha", scale="lambda_p") + Power("Df", "gamma", scale="lambda_f"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        other = scalefit.fit_law(without_m, runs, target="error", method=nuts)
    # --quick samples too little to trust LOO; compare_laws refuses that unless forced
    table = scalefit.compare_laws({"eq1": bayes, "eq1 without M": other}, force=quick)
    print("\nlaw comparison by PSIS-LOO:\n", table)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    main(ap.parse_args().quick)
