"""Held-out tasks in the style of public scaling-law benchmarks: fit on the smaller models, predict
the largest; scalefit's default fit against a benchmark-style fitter (issue 23's check, measured
on the REAL tables we have; the issue's own tasks are not available offline).

    .venv/bin/python benchmarks/bench_tasks.py [--bootstrap 1000] [--restarts 20] [--clusters N]

For each task: ``fit_law(law, train, target=..., seed=0)`` with scalefit's defaults (Huber on
log-residuals, ``starts="auto"``, case bootstrap), ``Fit.predict(test, interval=0.9)``; scored on
the held-out runs by R^2 of the raw target (``1 - SSE / SST`` over the test runs, as such
benchmarks score), the share of held-out runs inside the 90% prediction interval (target 80-95%),
the interval's median relative width, and the share of held-out runs ``predict`` marks
``supported=False`` (beyond what its extrapolation model was calibrated on, or beyond a variable
the runs hold at fewer than 4 values). The baseline fitter is what such benchmarks ship:
random restarts (``--restarts``, uniform draws: exponents in [0, 1], every other parameter's
log10 in [-1, 4]) of L-BFGS-B on the mean squared error of the raw target, the law evaluated by
``Law.evaluate`` (exponents raw, other parameters as log10; gradients by finite differences),
the best restart kept. Nothing in scalefit was chosen by these scores. ``--clusters N``: the
scalefit fit resamples N's values whole in its bootstrap (``LeastSquares(clusters="N")``), as a
user would for runs that are many token counts or checkpoints of a few model sizes.

Tasks (data from ``../shared/data/``; a task whose file is absent is skipped):

1. ``chinchilla`` — Epoch's Chinchilla points (240 runs, ``bench_fit.load_runs``); law
   ``chinchilla``; train the runs with N at or below the 80th percentile of N, test the rest.
2. ``opt`` — ColPret's OPT trajectories (``colpret/opt_trajectories.csv``): loss = log
   perplexity, D = 10^num_token >= 1e10, N from the model size (125m ... 175b); law
   ``chinchilla``; train 125m-30b, test 175b (ColPret's protocol: predict the largest model).
3. ``t5`` — ColPret's Pile-T5 (``colpret/t5_pile.csv``): loss = log val perplexity, D = steps x
   1e6 >= 1e10, N = 0.25e9 / 0.78e9 / 3e9 / 11e9 (T5 v1.1 base/large/xl/xxl); law ``chinchilla``;
   train base-xl, test xxl.
4. ``datablations`` — Muennighoff et al.'s 229 C4 runs (``datablations_contour_losses.csv``):
   N = num_params, D = token_num, U = token_num / epochs; law ``muennighoff_full`` (repeated
   data and excess parameters); train N < 2.5e9, test the larger models.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import scalefit
from scalefit import LeastSquares

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
OPT_SIZES = {"125m": 125e6, "1.3b": 1.3e9, "6.7b": 6.7e9, "13b": 13e9, "30b": 30e9, "175b": 175e9}
T5_SIZES = {"base": 0.25e9, "large": 0.78e9, "xl": 3e9, "xxl": 11e9}
MIN_TOKENS = 1e10


def tasks():
    """Yields ``(name, law, train, test, target)``."""
    if (DATA / "chinchilla_epoch" / "svg_extracted_data.csv").exists():
        sys.path.insert(0, str(HERE))
        from bench_fit import load_runs

        df = load_runs()[["N", "D", "loss"]]
        cut = np.quantile(df["N"], 0.8)
        yield "chinchilla", scalefit.chinchilla, df[df["N"] <= cut], df[df["N"] > cut], "loss"
    f = DATA / "colpret" / "opt_trajectories.csv"
    if f.exists():
        df = pd.read_csv(f)
        df = pd.DataFrame(
            {"N": df["model_size"].map(OPT_SIZES), "D": 10.0 ** df["num_token"], "loss": np.log(df["ppl"])}
        )
        df = df[df["D"] >= MIN_TOKENS]
        yield "opt", scalefit.chinchilla, df[df["N"] < 175e9], df[df["N"] == 175e9], "loss"
    f = DATA / "colpret" / "t5_pile.csv"
    if f.exists():
        df = pd.read_csv(f, usecols=["model_name", "steps", "val_perplexity"])
        df = pd.DataFrame(
            {"N": df["model_name"].map(T5_SIZES), "D": df["steps"] * 1e6, "loss": np.log(df["val_perplexity"])}
        )
        df = df[(df["D"] >= MIN_TOKENS) & np.isfinite(df["loss"])]
        yield "t5", scalefit.chinchilla, df[df["N"] < 11e9], df[df["N"] == 11e9], "loss"
    f = DATA / "datablations" / "datablations_contour_losses.csv"
    if f.exists():
        df = pd.read_csv(f)
        unique = df["token_num"] / df["epochs"]
        df = pd.DataFrame({"N": df["num_params"], "D": df["token_num"], "U": unique, "loss": df["openLM_loss"]})
        law = scalefit.get_law("muennighoff_full")
        yield "datablations", law, df[df["N"] < 2.5e9], df[df["N"] >= 2.5e9], "loss"


def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1.0 - np.sum((y - p) ** 2) / np.sum((y - np.mean(y)) ** 2))


def baseline(law, train: pd.DataFrame, target: str, restarts: int, seed: int = 0):
    """Random restarts of L-BFGS-B on the raw mean squared error; returns a predictor."""
    names = list(law.specs)
    exponent = np.array([law.specs[n].role == "exponent" for n in names])
    x = {v: train[v].to_numpy(float) for v in law.variables}
    y = train[target].to_numpy(float)

    def params(p):
        return {n: (v if e else 10.0**v) for n, v, e in zip(names, p, exponent, strict=True)}

    def mse(p):
        with np.errstate(all="ignore"):
            pred = np.asarray(law.evaluate(params(p), x), dtype=float)
        v = float(np.mean((pred - y) ** 2))
        return v if np.isfinite(v) else 1e300

    rng = np.random.default_rng(seed)
    bounds = [(0.0, 3.0) if e else (-6.0, 15.0) for e in exponent]
    best = None
    for _ in range(restarts):
        p0 = np.where(exponent, rng.uniform(0, 1, len(names)), rng.uniform(-1, 4, len(names)))
        res = minimize(mse, p0, method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best.fun:
            best = res
    fitted = params(best.x)
    return lambda d: np.asarray(law.evaluate(fitted, {v: d[v].to_numpy(float) for v in law.variables}), dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--restarts", type=int, default=20)
    ap.add_argument("--clusters", default=None, help="a law variable the bootstrap resamples whole (e.g. N)")
    args = ap.parse_args()
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; scalefit {scalefit.__version__}"
          f"; bootstrap {args.bootstrap}, clusters {args.clusters}")  # fmt: skip
    header = f"{'task':<13} {'law':<17} {'train':>5} {'test':>4}  {'R2 scalefit':>11} {'R2 baseline':>11}"
    print(header + f"  {'90% PI covers':>13} {'median PI width':>15} {'unsupported':>11}  fit s")
    for name, law, train, test, target in tasks():
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            method = LeastSquares(bootstrap=args.bootstrap, clusters=args.clusters)
            fit = scalefit.fit_law(law, train, target=target, seed=0, method=method)
            pred = fit.predict(test, interval=0.9)
        seconds = time.perf_counter() - t
        y = test[target].to_numpy(float)
        inside = (y >= pred["pi_lower"].to_numpy()) & (y <= pred["pi_upper"].to_numpy())
        width = np.median((pred["pi_upper"] - pred["pi_lower"]).to_numpy() / np.abs(pred["mean"].to_numpy()))
        base = r2(y, baseline(law, train, target, args.restarts)(test))
        unsupported = 1.0 - float(pred["supported"].mean())
        print(
            f"{name:<13} {law.name:<17} {len(train):>5} {len(test):>4}  {r2(y, pred['mean'].to_numpy()):>11.3f} "
            f"{base:>11.3f}  {inside.mean():>13.2f} {width:>15.3f} {unsupported:>11.2f}  {seconds:5.1f}",
            flush=True,
        )
        notes = sorted({str(w.message).split(";")[0][:110] for w in caught})
        for n in notes[:3]:
            print(f"{'':<13} note: {n}")


if __name__ == "__main__":
    main()
