"""How should a backtest rank candidate laws? 20 rules scored on the 92 Revisiting curves.

For each curve of the Revisiting Neural Scaling Laws benchmark (``bench_extrapolation.py``),
one rollout backtest of the catalogue candidates on the curve's *training part* (along x,
over the last half of its training levels, 5 splits, as ``select_law`` runs it), then each
rule picks a law from that backtest alone, and the pick is scored by the benchmark's
held-out RMSE of that law (read from a per-curve CSV written by ``bench_extrapolation.py
--out``). Reported per domain: the median held-out RMSE of the picks and their win rate
against the paper's M4 (ties count half).

Caveat, stated where the numbers are used: choosing *the rule* by these scores uses the
benchmark's held-out points once, for the whole procedure (no curve's own pick sees them);
the honest test of the chosen rule is on curves it has not seen.

    .venv/bin/python benchmarks/bench_selection_rules.py --per-curve /tmp/bench/per_curve.csv
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_extrapolation as be  # noqa: E402

from scalefit import LeastSquares

NAMES = ["revisiting_m1", "revisiting_m2", "revisiting_m3", "revisiting_m4", "bnsl"]
SPLITS = 5


def backtests(names) -> pd.DataFrame:
    import scalefit

    laws = [scalefit.get_law(n) for n in names]
    rows, t0 = [], time.time()
    for i, (key, g) in enumerate(be.load_curves(list(be.DOMAINS))):
        train = g[g.Training == 1]
        distinct = train["x"].nunique()
        levels = max(max(len(law.parameters) for law in laws) + 1, distinct // 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = scalefit.backtest(
                laws,
                train,
                target="Loss",
                holdout="x",
                rollout=True,
                min_levels=min(levels, distinct - 1),
                splits=SPLITS,
                interval=None,
                seed=0,
                method=LeastSquares(bootstrap=0),
            )
        rows.append(bt.table.assign(curve=i, key=str(key)))
        print(f"[{i + 1}] {key} {time.time() - t0:.0f}s", flush=True)
    return pd.concat(rows, ignore_index=True)


def _ordered(s: pd.Series, cands) -> str:
    return s.reindex([n for n in cands if n in s.index]).idxmin()


def by_stat(stat):
    return lambda t, c: _ordered(t.groupby("law", sort=False)["rmse_log"].agg(stat), c)


def gmean(t, c):
    return _ordered(
        t.groupby("law", sort=False)["rmse_log"].apply(lambda r: np.exp(np.log(np.maximum(r, 1e-6)).mean())), c
    )


def last_k(k, stat="mean"):
    def rule(t, c):
        keep = sorted(t.train_runs.unique())[-k:]
        return _ordered(t[t.train_runs.isin(keep)].groupby("law", sort=False)["rmse_log"].agg(stat), c)

    return rule


def weighted(p):
    def rule(t, c):
        w = t.train_runs.astype(float) ** p
        t = t.assign(w=w, wl=w * np.log(np.maximum(t.rmse_log, 1e-6)))
        g = t.groupby("law", sort=False)
        return _ordered(g.wl.sum() / g.w.sum(), c)

    return rule


def simplest_within(tol, npar):
    def rule(t, c):
        med = t.groupby("law", sort=False)["rmse_log"].median()
        ok = [n for n in c if n in med.index and med[n] <= med.min() * tol]
        return min(ok, key=lambda n: npar[n])

    return rule


def mean_rank(t, c):
    t = t.assign(r=t.groupby("split")["rmse_log"].rank())
    return _ordered(t.groupby("law", sort=False)["r"].mean(), c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-curve", type=Path, required=True, help="CSV from bench_extrapolation.py --out")
    ap.add_argument("--backtests", type=Path, default=None, help="reuse (or write) the backtest table here")
    args = ap.parse_args()
    import scalefit

    if args.backtests is not None and args.backtests.exists():
        bt = pd.read_csv(args.backtests)
    else:
        bt = backtests(NAMES)
        if args.backtests is not None:
            bt.to_csv(args.backtests, index=False)
    pc = pd.read_csv(args.per_curve)
    n = bt.curve.nunique()
    pc = pc.iloc[:n].reset_index(drop=True)
    npar = {name: len(scalefit.get_law(name).parameters) for name in NAMES}
    rules = {
        "median": (by_stat("median"), NAMES), "mean": (by_stat("mean"), NAMES), "geometric mean": (gmean, NAMES),
        "max": (by_stat("max"), NAMES), "simplest within 10% of best median": (simplest_within(1.1, npar), NAMES),
        "last split only": (last_k(1), NAMES), "last 2 splits, mean": (last_k(2), NAMES),
        "last 2 splits, max": (last_k(2, "max"), NAMES), "last 3 splits, mean": (last_k(3), NAMES),
        "mean rank over splits": (mean_rank, NAMES),
        "weighted log-mean, (train runs)^4  [scalefit]": (weighted(4), NAMES),
        "weighted log-mean, (train runs)^10": (weighted(10), NAMES),
        "weighted log-mean, (train runs)^20": (weighted(20), NAMES),
        "median, no bnsl": (by_stat("median"), NAMES[:4]), "mean, no bnsl": (by_stat("mean"), NAMES[:4]),
        "geometric mean, no bnsl": (gmean, NAMES[:4]), "last split, no bnsl": (last_k(1), NAMES[:4]),
        "median of m3, m4": (by_stat("median"), NAMES[2:4]), "m4 only": (by_stat("median"), NAMES[3:4]),
        "geometric mean of m2, m3, m4": (gmean, NAMES[1:4]),
    }  # fmt: skip
    out = []
    for name, (rule, cands) in rules.items():
        picks = []
        for i in range(n):
            t = bt[(bt.curve == i) & bt.law.isin(cands)].copy()
            t["rmse_log"] = t["rmse_log"].fillna(np.inf)
            picks.append(rule(t, cands))
        got = np.array([pc.loc[i, f"sf_{p}"] for i, p in enumerate(picks)])
        row = {"rule": name}
        for d in be.DOMAINS:
            m = (pc.domain == d).to_numpy()
            if m.any():
                ref = pc.paper_M4.to_numpy()[m]
                win = (got[m] < ref) + 0.5 * np.isclose(got[m], ref, rtol=0, atol=1e-12)
                row[f"{d} median"], row[f"{d} win vs M4"] = float(np.median(got[m])), float(np.mean(win))
        out.append(row)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(pd.DataFrame(out).set_index("rule").to_string())


if __name__ == "__main__":
    main()
