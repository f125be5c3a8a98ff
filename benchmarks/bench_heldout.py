"""Held-out coverage of scalefit's 90% intervals on REAL scaling data.

    .venv/bin/python benchmarks/bench_heldout.py [--bootstrap 1000] [--seed 0] [--starts 1000]

For each case: fit a law with ``scalefit.fit_law`` (least squares, Huber on log-residuals,
case bootstrap) on the training runs, call ``Fit.predict(test, interval=0.9)`` on the
held-out runs and report the share of held-out runs whose observed target lies inside
``[pi_lower, pi_upper]`` (prediction interval of a new run: the target is 80-95%, see
``design/uncertainty.md`` in the shared folder) and inside ``[ci_lower, ci_upper]`` (interval of
the mean law; expected to cover less, as it leaves out run-to-run scatter), the median
``|log(mean / observed)|`` and the number of held-out runs. In ``mikami`` and ``fmnist_mnist``
every held-out run lies beyond the training runs in Dp (an extrapolation); in ``datablations``
most lie inside the training range of N and D and differ in what the law does not see, the
number of epochs. Only the public API is used.

Data come from ``../shared/data/`` next to the repository (published tables, never copied
into the repository); a case whose folder is absent is skipped with ``skipped: <path> absent``.

Cases and the choices made
--------------------------
1. ``datablations`` — ``datablations/datablations_contour_losses.csv`` (Muennighoff et al.
   2023; 229 final C4 losses of GPT-2-style models, 7M-8.7B parameters).
   Law ``scalefit.chinchilla`` ``L = E + A N^-alpha + B D^-beta``; target ``openLM_loss``;
   mapping ``N <- num_params``, ``D <- token_num`` (total tokens trained, repeats included).
   Train: the 33 runs with ``epochs <= 1`` (every one is exactly 1 epoch: unique tokens =
   tokens seen). Held out: the 196 runs with ``epochs > 1``. The column ``tokens_per_epoch``
   is a constant 1.5e9 in this table and disagrees with ``epochs``; the unique-token count is
   ``token_num / epochs`` (it matches the run names, e.g. ``2b855b4b`` = 2.8B params, 55B tokens,
   4B unique), and is not used by the law. Nothing is dropped, including the heavily repeated
   runs whose loss rises again (up to 11.0 at 660 epochs): Chinchilla in total tokens has no
   term for repetition, so this case measures how an honest interval fares when the law's
   assumption (fresh data) breaks; the breakdown by epochs shows where. Up to ~4 epochs
   repeated tokens are nearly as good as fresh ones (the paper's finding), so coverage there is
   the fair test.
2. ``mikami`` — ``mikami_cg_transfer/results_finetune.csv`` (Mikami et al. 2022,
   synthetic-to-real transfer). One coherent setting: multi-class pre-training (``ptask
   mulclass``) on the synthetic ``bop`` images at ``pscale 64k``, fine-tuned for single-label
   classification on ImageNet (``fdata imagenet``, ``ftask sinclass``): 136 runs (last
   ``n_eval`` of each run = its result; every run ends at n_eval 450411), with pre-training
   images 1k-64k (and 0), 5 ResNets (r18-r152) and fine-tuning ratios 1-100% (all 9 ratios for
   r50; 1% and 10% for the others). ``value`` is top-1 accuracy, error = 1 - value: every
   error used lies in (0, 1), 0.23-0.90 (checked at run time; a run outside would be dropped
   with a note). The 17 from-scratch runs (``pretrain.data == 0``) are dropped (Dp must be
   > 0): 119 runs. Law ``scalefit.paper_error``;
   ``Dp <- pretrain.data`` (synthetic images), ``M <- params`` (= ``nparam`` x 1e6),
   ``Df <- finetune_images`` (= ``fratio`` / 100 x 1,281,167 ImageNet training images). Train:
   Dp 1k-32k (102 runs); held out: Dp = 64k (17 runs). The ``pscale 1280k`` setting (Dp up to
   1.28M) has only fratio 1 and 10 and three models, so it is not used. ``results_pretrain.csv``
   (pre-training accuracy) is not needed.
3. ``fmnist_mnist`` — this repository's ``examples/data/fmnist_mnist_runs.csv`` (real runs
   collected by ``scalefit collect fmnist-mnist``), as ``scalefit demo`` fits it: the 100 plain
   fine-tuning runs (``stage == "finetune"``), target ``error``, columns ``Dp``/``M``/``Df``
   used as they are (no mapping). Law ``scalefit.paper_error``. Train: Dp < 60,000 (80 runs);
   held out: Dp = 60,000 (20 runs).

:func:`cases` yields ``(name, law, train_df, test_df, fit_kwargs)`` for reuse (e.g. by a
test); ``fit_kwargs`` holds ``target`` and ``mapping`` only, the caller adds ``bootstrap``,
``seed``, ``starts``. ``test_df`` carries a ``group`` column used only for the breakdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

import scalefit

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FMNIST = REPO / "examples" / "data" / "fmnist_mnist_runs.csv"
INTERVAL = 0.9
IMAGENET_TRAIN = 1_281_167  # images in the ImageNet-1k training set (fratio is a percent of it)


def _absent(path: Path, skip: Callable[[str], None]) -> bool:
    if path.exists():
        return False
    skip(f"skipped: {path} absent")
    return True


def datablations_case(data: Path = DATA, skip: Callable[[str], None] = print):
    folder = data / "datablations"
    if _absent(folder, skip):
        return None
    df = pd.read_csv(folder / "datablations_contour_losses.csv")
    df["unique_tokens"] = df["token_num"] / df["epochs"]
    train = df[df["epochs"] <= 1].copy()
    test = df[df["epochs"] > 1].copy()
    test["group"] = pd.cut(test["epochs"], [1, 4, 40, np.inf], labels=["epochs 1-4", "epochs 4-40", "epochs >40"])
    kwargs = dict(target="openLM_loss", mapping={"N": "num_params", "D": "token_num"})
    return "datablations", scalefit.chinchilla, train, test, kwargs


def mikami_last(path: Path) -> pd.DataFrame:
    """One row per run of a cg-transfer results table: its last ``n_eval``."""
    df = pd.read_csv(path)
    keys = [c for c in df.columns if c not in ("n_eval", "value")]
    last = df.loc[df.groupby(keys, dropna=False)["n_eval"].idxmax()]
    return last.reset_index(drop=True)


def mikami_case(data: Path = DATA, skip: Callable[[str], None] = print):
    folder = data / "mikami_cg_transfer"
    if _absent(folder, skip):
        return None
    last = mikami_last(folder / "results_finetune.csv")
    setting = (
        (last["ptask"] == "mulclass")
        & (last["pdata"] == "bop")
        & (last["pscale"] == "64k")
        & (last["fdata"] == "imagenet")
        & (last["ftask"] == "sinclass")
    )
    runs = last[setting & (last["pretrain.data"] > 0)].copy()
    runs["error"] = 1.0 - runs["value"]
    bad = ~runs["error"].between(0, 1, inclusive="neither")
    if bad.any():
        print(f"note: mikami: {int(bad.sum())} runs have error outside (0, 1); they are dropped")
        runs = runs[~bad]
    runs["params"] = runs["nparam"] * 1e6
    runs["finetune_images"] = runs["fratio"] / 100 * IMAGENET_TRAIN
    top = runs["pretrain.data"].max()
    train = runs[runs["pretrain.data"] < top].copy()
    test = runs[runs["pretrain.data"] == top].copy()
    test["group"] = np.where(test["fratio"] <= 10, "fratio <= 10%", "fratio > 10%")
    kwargs = dict(target="error", mapping={"Dp": "pretrain.data", "M": "params", "Df": "finetune_images"})
    return "mikami", scalefit.paper_error, train, test, kwargs


def fmnist_case(path: Path = FMNIST, skip: Callable[[str], None] = print):
    if _absent(path, skip):
        return None
    runs = pd.read_csv(path)
    plain = runs[runs["stage"] == "finetune"]
    top = plain["Dp"].max()
    train = plain[plain["Dp"] < top].copy()
    test = plain[plain["Dp"] == top].copy()
    test["group"] = "Df " + test["Df"].astype(int).astype(str).str.rjust(4)
    return "fmnist_mnist", scalefit.paper_error, train, test, dict(target="error")


def cases(data: Path = DATA, skip: Callable[[str], None] = print) -> Iterator[tuple]:
    """Yield ``(name, law, train_df, test_df, fit_kwargs)`` for every case whose data are present."""
    makers = (lambda: datablations_case(data, skip), lambda: mikami_case(data, skip), lambda: fmnist_case(skip=skip))
    for make in makers:
        case = make()
        if case is not None:
            yield case


def score(fit: scalefit.Fit, test: pd.DataFrame, target: str, interval: float = INTERVAL) -> pd.DataFrame:
    """Per held-out run: observed, predicted mean, inside PI, inside CI, |log(pred/obs)|, extrapolated."""
    pred = fit.predict(test, interval=interval)
    obs = test[target].to_numpy(float)
    out = pd.DataFrame(
        {
            "observed": obs,
            "mean": pred["mean"].to_numpy(),
            "in_pi": (obs >= pred["pi_lower"].to_numpy()) & (obs <= pred["pi_upper"].to_numpy()),
            "in_ci": (obs >= pred["ci_lower"].to_numpy()) & (obs <= pred["ci_upper"].to_numpy()),
            "abs_log_err": np.abs(np.log(pred["mean"].to_numpy() / obs)),
            "pi_width_log": np.log(pred["pi_upper"].to_numpy() / pred["pi_lower"].to_numpy()),
            "extrapolated": pred["extrapolated"].to_numpy(),
        },
        index=test.index,
    )
    if "group" in test.columns:
        out["group"] = test["group"].astype(str).to_numpy()
    return out


def _brief(w: warnings.WarningMessage, width: int = 150) -> str:
    text = " ".join(str(w.message).split())
    return f"{w.category.__name__}: {text[:width]}{'...' if len(text) > width else ''}"


def run_case(name, law, train, test, kwargs, *, bootstrap: int, seed: int, starts: int) -> dict:
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = scalefit.fit_law(
            law, train, method=scalefit.LeastSquares(bootstrap=bootstrap, starts=starts), seed=seed, **kwargs
        )
        per_run = score(fit, test, kwargs["target"])
    wall = time.perf_counter() - t0
    return dict(
        name=name,
        law=law.name,
        fit=fit,
        n_train=len(train),
        per_run=per_run,
        wall=wall,
        warnings=Counter(_brief(w) for w in caught),
    )


def row(r: dict) -> dict:
    p = r["per_run"]
    return {
        "case": r["name"],
        "law": r["law"],
        "n_train": r["n_train"],
        "n_heldout": len(p),
        "PI cov": f"{p['in_pi'].mean():.1%}",
        "CI cov": f"{p['in_ci'].mean():.1%}",
        "med |log err|": f"{p['abs_log_err'].median():.4f}",
        "med PI width (log)": f"{p['pi_width_log'].median():.3f}",
        "wall s": f"{r['wall']:.1f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", type=int, default=1000, help="case-bootstrap replicates per fit (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the starts and the bootstrap (default 0)")
    ap.add_argument("--starts", type=int, default=1000, help="random starting points per fit (default 1000)")
    args = ap.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"scalefit {scalefit.__version__}; data from {DATA}")
    print(
        f"fit_law(..., starts={args.starts}, bootstrap={args.bootstrap}, seed={args.seed}); "
        f"predict(test, interval={INTERVAL}) on held-out runs\n"
    )
    results = []
    for name, law, train, test, kwargs in cases():
        print(f"[{name}] {law.name}: {len(train)} training runs -> {len(test)} held-out runs ...", flush=True)
        r = run_case(name, law, train, test, kwargs, bootstrap=args.bootstrap, seed=args.seed, starts=args.starts)
        fit = r["fit"]
        params = ", ".join(f"{k}={v:.4g}" for k, v in fit.params.items())
        conv = "n/a" if fit.bootstrap.converged is None else f"{fit.bootstrap.converged:.0%}"
        print(f"  {r['wall']:.1f} s; fit: {params}; bootstrap converged {conv}")
        print(f"  held-out runs flagged extrapolated: {r['per_run']['extrapolated'].mean():.0%}")
        for msg, n in r["warnings"].items():
            print(f"  warning{f' (x{n})' if n > 1 else ''}: {msg}")
        results.append(r)

    if not results:
        print("no case ran: every data folder is absent")
        return
    print(f"\nheld-out coverage of {INTERVAL:.0%} intervals (target for PI: 80-95%)")
    table = pd.DataFrame([row(r) for r in results])
    print(table.to_string(index=False))

    parts = []
    for r in results:
        p = r["per_run"]
        if "group" in p:
            g = p.groupby("group", sort=True).agg(
                n=("in_pi", "size"),
                PI_cov=("in_pi", "mean"),
                CI_cov=("in_ci", "mean"),
                med_abs_log_err=("abs_log_err", "median"),
            )
            parts.append(g.set_index(pd.Index([r["name"]] * len(g), name="case"), append=True).swaplevel())
    if parts:
        print("\nbreakdown of the held-out runs:")
        with pd.option_context("display.float_format", "{:.3f}".format):
            print(pd.concat(parts).to_string())
    print(f"\ntotal wall time {sum(r['wall'] for r in results):.1f} s")


if __name__ == "__main__":
    main()
