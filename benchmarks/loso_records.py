"""Stage 1 of the leave-one-source-out protocol (issue 19): fit every candidate law to every
curve of the development corpus (``corpus.py``) and record what the later stages score.

Two record tables, written as CSV (the expensive part; stage 2, ``bench_loso.py``, only
reads them):

* ``points.csv`` — one row per (law, curve, held-out point) from a fit to the curve's whole
  training part with ``B`` bootstrap replicates: the prediction, the truth, the bootstrap 90%
  prediction interval, and what the library's extrapolation model reads from a fit
  (`ExtrapolationModel.features`: the log-distance beyond the fitted runs, the law's
  local log-slope at their edge, the fit's residual scale).
* ``rollout.csv`` — one row per (law, curve, rollout split) from fits to the training part
  cut at each of ``SPLITS`` cuts (the cuts ``select_law`` makes by default), scored on the
  rest of the *training* part: what a law choice may look at.

Every law is fitted to every curve in one ``fit_law(..., by="curve")`` call (the library's
defaults otherwise); a curve a law cannot be fitted to is recorded as failed.

    .venv/bin/python benchmarks/loso_records.py --out /tmp/loso   # ~15 min on 2 cores
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
from corpus import Curve, load_corpus  # noqa: E402

#: candidate laws (catalogue names); the first is the baseline a choice must beat
CANDIDATES = ("revisiting_m2", "revisiting_m1", "revisiting_m3", "revisiting_m4")
BOOTSTRAP = 200
INTERVAL = 0.9
SEED = 0
#: rollout splits (select_law's default)
SPLITS = 5


def _table(curves: list[Curve], masks: list[np.ndarray]) -> pd.DataFrame:
    return pd.concat(
        [pd.DataFrame({"curve": c.key, "x": c.x[m], "y": c.y[m]}) for c, m in zip(curves, masks, strict=True)],
        ignore_index=True,
    )


def _law(name: str):
    """A candidate by name; ``name@objective`` fits it with that objective instead of the default."""
    import scalefit

    base, _, objective = name.partition("@")
    return scalefit.get_law(base), ({"objective": objective} if objective else {})


def _fit_all(name: str, table: pd.DataFrame, bootstrap: int):
    import scalefit

    law, options = _law(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scalefit.fit_groups(
            law,
            table,
            "curve",
            target="y",
            mapping={law.variables[0]: "x"},
            method=scalefit.LeastSquares(bootstrap=bootstrap),
            seed=SEED,
            **options,
        )


def points(curves: list[Curve], names) -> pd.DataFrame:
    import scalefit

    rows = []
    train = _table(curves, [c.train for c in curves])
    for name in names:
        t0 = time.perf_counter()
        fits = _fit_all(name, train, BOOTSTRAP)
        for c in curves:
            test = pd.DataFrame({"x": c.x[~c.train]})
            y = c.y[~c.train]
            base = {"law": name, "curve": c.key, "source": c.source, "family": c.family}
            try:
                fit = fits[c.key]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p = fit.predict(test, INTERVAL, extrapolation=None)
                    feats = scalefit.ExtrapolationModel.features(
                        fit.law, fit.params, fit.runs.ranges, fit.log_residual_scale, {fit.law.variables[0]: test["x"]}
                    )
            except (KeyError, scalefit.ScalefitError) as exc:
                rows.append(pd.DataFrame({**base, "x": test["x"], "y": y, "error": str(exc)[:120]}))
                continue
            rows.append(
                pd.DataFrame(
                    {
                        **base,
                        "x": test["x"].to_numpy(),
                        "y": y,
                        "mean": p["mean"].to_numpy(float),
                        "pi_lower": p["pi_lower"].to_numpy(float),
                        "pi_upper": p["pi_upper"].to_numpy(float),
                        "distance": feats["distance"],
                        "slope_distance": feats["slope_distance"],
                        "sigma": feats["sigma"],
                        "converged": fit.status.converged,
                        "error": "",
                    }
                )
            )
        print(f"  points {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return pd.concat(rows, ignore_index=True)


def rollout(curves: list[Curve], names) -> pd.DataFrame:
    """Each curve's training part cut as select_law cuts it by default (its rollout cuts
    with min_levels one more than the largest candidate's parameters, SPLITS splits)."""
    import scalefit
    from scalefit.evaluate.backtest import rollout_cuts  # the cuts select_law makes, not a public name

    rows = []
    levels = max(3, max(len(_law(n)[0].parameters) for n in names) + 1)
    cuts = {c.key: rollout_cuts(c.x[c.train], levels, SPLITS) for c in curves}
    curves = [c for c in curves if cuts[c.key]]
    most = max(len(v) for v in cuts.values())
    for name in names:
        t0 = time.perf_counter()
        for j in range(most):
            part = [c for c in curves if j < len(cuts[c.key])]
            masks = [c.train & (c.x <= cuts[c.key][j]) for c in part]
            fits = _fit_all(name, _table(part, masks), 0)
            for c, m in zip(part, masks, strict=True):
                held = c.train & ~m
                base = {"law": name, "curve": c.key, "source": c.source, "split": j, "cut": cuts[c.key][j]}
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pred = (
                            fits[c.key]
                            .predict(pd.DataFrame({"x": c.x[held]}), None, extrapolation=None)["mean"]
                            .to_numpy(float)
                        )
                    err = np.log(pred) - np.log(c.y[held])
                    rmse = float(np.sqrt(np.mean(err**2))) if np.all(np.isfinite(err)) else np.nan
                except (KeyError, scalefit.ScalefitError):
                    rmse = np.nan
                rows.append({**base, "train_runs": int(m.sum()), "held_out": int(held.sum()), "rmse_log": rmse})
        print(f"  rollout {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return pd.DataFrame(rows)


def _naive(x: np.ndarray, y: np.ndarray):
    """What a user writes first: ``scipy.optimize.curve_fit`` of ``E + A x^-a`` on log y from
    a data-derived start (E at half the smallest y, a = 0.5, A through the first point)."""
    from scipy.optimize import curve_fit

    def f(x, log_e, log_a, a):
        return np.log(np.exp(log_e) + np.exp(log_a) * x ** (-a))

    x0 = float(x.min())
    start = [np.log(0.5 * y.min()), np.log(max(y[np.argmin(x)] - 0.5 * y.min(), 1e-12)) + 0.5 * np.log(x0), 0.5]
    popt, _ = curve_fit(f, x, np.log(y), p0=start, maxfev=20000)
    return lambda z: np.exp(f(np.asarray(z, float), *popt))


def reference(curves: list[Curve]) -> pd.DataFrame:
    """Per curve: held-out RMSE of log predictions of the paper's reference M4 procedure
    (``bench_extrapolation.fit_m4``, e_0 settings by metric as the paper sets them per
    domain) and of the naive ``curve_fit``."""
    from bench_extrapolation import M4_E0, fit_m4, rmse_log

    rows = []
    t0 = time.perf_counter()
    for c in curves:
        x, y = c.x[c.train], c.y[c.train]
        xt, yt = c.x[~c.train], c.y[~c.train]
        start, upper = M4_E0["IC" if c.metric == "error_rate" else "LM"]
        row = {"curve": c.key, "source": c.source, "family": c.family}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                row["paper_m4"] = rmse_log(fit_m4(x, y, e0_start=start, e0_upper=upper).predict(xt), yt)
            except Exception:  # noqa: BLE001 - a reference that fails scores as failed
                row["paper_m4"] = np.inf
            try:
                row["naive"] = rmse_log(_naive(x, y)(xt), yt)
            except Exception:  # noqa: BLE001
                row["naive"] = np.inf
        rows.append(row)
    print(f"  reference: {time.perf_counter() - t0:.1f} s", flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for points.csv and rollout.csv")
    ap.add_argument("--laws", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--only", choices=["points", "rollout", "reference"], default=None, help="one table only")
    args = ap.parse_args(argv)
    curves = load_corpus()
    if not curves:
        print("no source of the corpus is present (../shared/data is absent)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{len(curves)} curves from {len({c.source for c in curves})} sources; laws {args.laws}", flush=True)
    t0 = time.time()
    if args.only in (None, "points"):
        points(curves, args.laws).to_csv(args.out / "points.csv", index=False)
    if args.only in (None, "rollout"):
        rollout(curves, args.laws).to_csv(args.out / "rollout.csv", index=False)
    if args.only in (None, "reference"):
        reference(curves).to_csv(args.out / "reference.csv", index=False)
    print(f"records in {args.out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
