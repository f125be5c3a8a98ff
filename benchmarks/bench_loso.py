"""Leave-one-source-out: scalefit's extrapolation layer scored only on sources it was not tuned on (issue 19).

The protocol (``RESULTS.md`` reports its output):

1. ``loso_records.py`` fits every candidate law to every curve of the development corpus
   (``corpus.py``: real curves from ``../shared/data``, split by *source*) and records each
   held-out point's prediction, bootstrap interval and extrapolation features, each rollout
   split's error inside the training part, and two references (the paper's M4 procedure,
   a naive ``curve_fit``).
2. This script. For every source k (the *outer* fold), every knob is chosen on the other
   sources only, by an *inner* leave-one-source-out over them, then frozen and scored on k:

   * the extrapolation model's scale terms (``TERM_SETS``, from
     ``scalefit.results.extrapolation.TERMS``), chosen by the inner sources' squared distance of 90%
     coverage from 0.9; the model is then
     calibrated on all the other sources (every source weighing the same; every candidate
     law's errors pooled, each law weighing the same);
   * the law-choice rule (``RULES``: always the baseline M2; the lowest rollout score; the
     lowest score only when a paired test across rollout splits separates it from the
     baseline by ``tau`` standard errors; the average of the candidates), chosen by the
     inner sources' mean log ratio of median held-out RMSE to the baseline's.

   Only the scores on k are reported. Intervals come from resampling whole families of
   curves (within a source; sources kept as strata). The shipped model and the library's
   default rule are the same procedure run on *all* sources (``--write-model``).
3. ``--check-default N``: the README's default calls themselves (``fit_law`` + ``predict``;
   ``select_law``), run on N curves per source with the fold's model passed as
   ``predict(extrapolation=...)``, to confirm that stage 2 scores what users get.

    .venv/bin/python benchmarks/loso_records.py --out /tmp/loso
    .venv/bin/python benchmarks/bench_loso.py --records /tmp/loso [--write-model] [--check-default 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scalefit import ExtrapolationModel  # noqa: E402

#: the extrapolation model's scale terms tried (scalefit.results.extrapolation.TERMS)
TERM_SETS = (
    ("spread",),
    ("spread", "slope_distance"),
    ("spread", "slope_distance", "sigma"),
    ("spread", "slope_distance", "sigma", "distance"),
    ("slope_distance", "sigma"),
)

BASELINE = "revisiting_m2"
#: the candidates of the README's default select_law call, baseline first
CANDIDATES = ("revisiting_m2", "revisiting_m1", "revisiting_m3")
LEVEL = 0.9
TAUS = (0.0, 1.0, 2.0, 3.0)
RULES = ("baseline", "lowest", *(f"paired_{t:g}" for t in TAUS), "average")
#: the existing ranking's weight power and failed-fit penalty (scalefit.evaluate.backtest)
LATE_POWER = 4
RESAMPLES = 1000
ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = ROOT / "src" / "scalefit" / "datasets" / "extrapolation_model.json"


# ---------------------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------------------


def point_weights(p: pd.DataFrame) -> np.ndarray:
    """Each source weighs 1, split evenly over its laws, then curves, then points."""
    laws = p.groupby("source")["law"].transform("nunique")
    curves = p.groupby(["source", "law"])["curve"].transform("nunique")
    pts = p.groupby(["law", "curve"])["curve"].transform("size")
    return (1.0 / (laws * curves * pts)).to_numpy(float)


def usable(p: pd.DataFrame) -> pd.DataFrame:
    """Points whose fit succeeded with a finite positive prediction."""
    p = p[p["error"].isna() | (p["error"] == "")]
    return p[np.isfinite(p["mean"]) & (p["mean"] > 0) & np.isfinite(p["distance"])].copy()


def features(p: pd.DataFrame) -> dict:
    out = {k: p[k].to_numpy(float) for k in ("distance", "slope_distance", "sigma")}
    out["spread"] = 0.5 * np.log(p["pi_upper"].to_numpy(float) / p["pi_lower"].to_numpy(float))
    return out


def calibrate(p: pd.DataFrame, terms: tuple[str, ...]) -> ExtrapolationModel:
    err = np.log(p["y"].to_numpy(float)) - np.log(p["mean"].to_numpy(float))
    return ExtrapolationModel.calibrate(err, features(p), point_weights(p), terms=tuple(terms))


def covered(p: pd.DataFrame, model: ExtrapolationModel | None) -> tuple[np.ndarray, np.ndarray]:
    """Inside the interval of ``Fit.predict`` (the union of bootstrap and model), and its
    log width."""
    mean, y = p["mean"].to_numpy(float), p["y"].to_numpy(float)
    lo, hi = p["pi_lower"].to_numpy(float), p["pi_upper"].to_numpy(float)
    if model is not None:
        lower, upper = model.limits(features(p), LEVEL)
        beyond = p["distance"].to_numpy(float) > 0
        lo = np.where(beyond, np.fmin(lo, mean * np.exp(lower)), lo)
        hi = np.where(beyond, np.fmax(hi, mean * np.exp(upper)), hi)
    with np.errstate(all="ignore"):
        return (lo <= y) & (y <= hi), np.log(hi / lo)


def coverage(p: pd.DataFrame, model) -> float:
    """Share of held-out points inside, pooled over points (each curve weighing by its points)."""
    inside, _ = covered(p, model)
    return float(np.mean(inside)) if len(p) else np.nan


def choose_scale(p: pd.DataFrame) -> tuple[str, ...]:
    """The scale terms whose inner leave-one-source-out coverage is closest to LEVEL (mean
    square over the inner sources)."""
    sources = sorted(p["source"].unique())
    best, best_loss = None, np.inf
    for scale in TERM_SETS:
        loss = []
        for j in sources:
            inner = p[p["source"] != j]
            model = calibrate(inner, scale)
            part = p[p["source"] == j]
            cov = np.mean([coverage(g, model) for _, g in part.groupby("law")])
            loss.append((cov - LEVEL) ** 2)
        if np.mean(loss) < best_loss - 1e-12:
            best, best_loss = scale, float(np.mean(loss))
    return best


# ---------------------------------------------------------------------------------------
# law choice
# ---------------------------------------------------------------------------------------


def test_rmse(p: pd.DataFrame) -> pd.DataFrame:
    """Held-out RMSE of log predictions, (curve x law); inf where a fit failed."""

    def one(g):
        e = np.log(g["mean"].to_numpy(float)) - np.log(g["y"].to_numpy(float))
        return float(np.sqrt(np.mean(e**2))) if np.all(np.isfinite(e)) else np.inf

    t = p.groupby(["curve", "law"]).apply(one, include_groups=False).unstack("law")
    p = p[p["law"].isin(CANDIDATES)]
    avg = p.assign(logm=np.log(p["mean"])).groupby(["curve", "x", "y"])["logm"].agg(["mean", "size"])
    n = p["law"].nunique()
    avg = avg[avg["size"] == n].reset_index()
    avg["e2"] = (avg["mean"] - np.log(avg["y"])) ** 2
    t["average"] = np.sqrt(avg.groupby("curve")["e2"].mean()).reindex(t.index).fillna(np.inf)
    return t


def rollout_choice(r: pd.DataFrame, rule: str) -> pd.Series:
    """The law each curve's rollout picks under ``rule`` (curves with no rollout: baseline)."""
    r = r.copy()
    worst = r.groupby(["curve", "split"])["rmse_log"].transform("max")
    r["scored"] = r["rmse_log"].fillna(10.0 * worst)
    r = r[np.isfinite(r["scored"]) & (r["scored"] > 0)]
    r["w"] = r["train_runs"].astype(float) ** LATE_POWER
    r["wlog"] = r["w"] * np.log(r["scored"])
    g = r.groupby(["curve", "law"])
    score = (g["wlog"].sum() / g["w"].sum()).unstack("law")
    picks = {}
    for curve, row in score.iterrows():
        row = row.dropna()
        if row.empty or BASELINE not in row:
            picks[curve] = BASELINE
            continue
        best = str(row.idxmin())
        if rule == "lowest" or best == BASELINE:
            picks[curve] = best
            continue
        tau = float(rule.split("_")[1])
        a = r[(r["curve"] == curve) & (r["law"] == best)].set_index("split")["scored"]
        b = r[(r["curve"] == curve) & (r["law"] == BASELINE)].set_index("split")["scored"]
        d = (np.log(a) - np.log(b)).dropna()
        if len(d) < 2:
            picks[curve] = BASELINE
            continue
        se = float(d.std(ddof=1)) / np.sqrt(len(d))
        t = float(d.mean()) / se if se > 0 else (-np.inf if d.mean() < 0 else np.inf)
        picks[curve] = best if (d.mean() < 0 and t < -tau) else BASELINE
    return pd.Series(picks, name=rule)


def choice_rmse(rm: pd.DataFrame, picks: dict[str, pd.Series], rule: str) -> pd.Series:
    if rule == "baseline":
        return rm[BASELINE]
    if rule == "average":
        return rm["average"]
    pick = picks[rule].reindex(rm.index).fillna(BASELINE)
    return pd.Series([rm.loc[c, law] for c, law in pick.items()], index=rm.index)


def choose_rule(rm: pd.DataFrame, picks, src: pd.Series) -> str:
    """The rule with the lowest mean (over sources) log ratio of its median RMSE to the baseline's."""
    best, best_loss = "baseline", 0.0
    for rule in RULES:
        e = choice_rmse(rm, picks, rule)
        ratio = [np.log(e[src == s].median() / rm[BASELINE][src == s].median()) for s in src.unique()]
        if np.mean(ratio) < best_loss - 1e-12:
            best, best_loss = rule, float(np.mean(ratio))
    return best


# ---------------------------------------------------------------------------------------
# the protocol
# ---------------------------------------------------------------------------------------


def _win(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 where a < b, 0.5 on a tie, NaN where b is missing."""
    if np.all(np.isnan(b)):
        return np.full(len(a), np.nan)
    tie = np.isclose(a, b, rtol=0, atol=1e-12) | (np.isinf(a) & np.isinf(b))
    return np.where(tie, 0.5, (a < b).astype(float))


def loso(p: pd.DataFrame, r: pd.DataFrame, ref: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-curve left-out results and the knob chosen in each fold."""
    p = usable(p)
    rm = test_rmse(p)
    p = p[p["law"].isin(CANDIDATES)]
    src = p.groupby("curve")["source"].first().reindex(rm.index)
    fam = p.groupby("curve")["family"].first().reindex(rm.index)
    picks = {rule: rollout_choice(r, rule) for rule in RULES if rule not in ("baseline", "average")}
    rows, knobs = [], []
    for k in sorted(src.unique()):
        train_p = p[p["source"] != k]
        scale = choose_scale(train_p)
        model = calibrate(train_p, scale)
        inner = src != k
        rule = choose_rule(rm[inner], picks, src[inner])
        knobs.append({"left_out": k, "scale": "+".join(scale), "rule": rule})
        held = p[p["source"] == k]
        chosen = choice_rmse(rm[~inner], picks, rule)
        pick = (
            picks[rule].reindex(rm.index[~inner]).fillna(BASELINE)
            if rule in picks
            else pd.Series(BASELINE, index=rm.index[~inner])
        )
        for curve in rm.index[~inner]:
            law = BASELINE if rule == "average" else pick[curve]  # average: the baseline's interval
            default_pts = held[(held["curve"] == curve) & (held["law"] == BASELINE)]
            chosen_pts = held[(held["curve"] == curve) & (held["law"] == law)]
            d_in, d_w = covered(default_pts, model)
            c_in, c_w = covered(chosen_pts, model)
            b_in, _ = covered(default_pts, None)
            rows.append(
                {
                    "source": k,
                    "family": fam[curve],
                    "curve": curve,
                    "choice_law": law if rule != "average" else "average",
                    "choice": float(chosen[curve]),
                    **{f"sf_{n}": float(rm.loc[curve, n]) for n in rm.columns},
                    "points": len(default_pts),
                    "cov_default": int(d_in.sum()),
                    "cov_choice": int(c_in.sum()),
                    "cov_bootstrap": int(b_in.sum()),
                    "width_default": float(np.median(d_w)) if len(d_w) else np.nan,
                    "below_default": int((default_pts["y"].to_numpy() < default_pts["mean"].to_numpy()).sum()),
                }
            )
    out = pd.DataFrame(rows).merge(ref[["curve", "paper_m4", "naive"]], on="curve", how="left")
    return out, pd.DataFrame(knobs)


def _resample(df: pd.DataFrame, stat, rng, n=RESAMPLES) -> tuple[float, float]:
    """95% interval of ``stat`` over resamples of whole families (within each source)."""
    groups = {s: [g for _, g in part.groupby("family")] for s, part in df.groupby("source")}
    vals = []
    for _ in range(n):
        parts = []
        for fams in groups.values():
            idx = rng.integers(0, len(fams), len(fams))
            parts += [fams[i] for i in idx]
        vals.append(stat(pd.concat(parts)))
    return tuple(np.nanpercentile(vals, [2.5, 97.5]))


def report(res: pd.DataFrame, knobs: pd.DataFrame) -> str:
    rng = np.random.default_rng(0)
    lines = ["knobs chosen in each outer fold (on the other sources only):", knobs.to_string(index=False), ""]
    laws = [c for c in res.columns if c.startswith("sf_")]
    head = f"{'left-out source':16}{'curves':>7}{'choice':>8}" + "".join(
        f"{c[3:].replace('revisiting_', '').replace('@squared_log', '@sq'):>9}" for c in laws
    )
    head += f"{'naive':>8}{'paperM4':>8}{'win/M4':>8}{'cov M2':>8}{'cov ch':>8}{'boot':>7}{'width':>7}"
    lines += ["median RMSE of log predictions, win rate vs paper M4, 90% coverage (pooled points), left out:", head]
    for s, g in [*res.groupby("source"), ("ALL (pooled)", res)]:
        cells = f"{s:16}{len(g):>7}{g['choice'].median():>8.4f}" + "".join(f"{g[c].median():>9.4f}" for c in laws)
        cells += f"{g['naive'].median():>8.4f}{g['paper_m4'].median():>8.4f}"
        cells += f"{_win(g['choice'].to_numpy(), g['paper_m4'].to_numpy()).mean():>8.2f}"
        cells += f"{g['cov_default'].sum() / g['points'].sum():>8.3f}{g['cov_choice'].sum() / g['points'].sum():>8.3f}"
        cells += f"{g['cov_bootstrap'].sum() / g['points'].sum():>7.3f}{g['width_default'].median():>7.3f}"
        lines.append(cells)
    lines.append("")
    lines.append("family-resampled 95% intervals (all left-out curves):")
    stats = {
        "choice median RMSE": lambda d: d["choice"].median(),
        "M2 median RMSE": lambda d: d[f"sf_{BASELINE}"].median(),
        "naive curve_fit median RMSE": lambda d: d["naive"].median(),
        "paper M4 median RMSE": lambda d: d["paper_m4"].median(),
        "choice wins vs paper M4": lambda d: _win(d["choice"].to_numpy(), d["paper_m4"].to_numpy()).mean(),
        "choice wins vs naive": lambda d: _win(d["choice"].to_numpy(), d["naive"].to_numpy()).mean(),
        "M2 default coverage": lambda d: d["cov_default"].sum() / d["points"].sum(),
        "choice coverage": lambda d: d["cov_choice"].sum() / d["points"].sum(),
        "mean of per-source coverage (M2)": lambda d: (
            d.groupby("source")["cov_default"].sum() / d.groupby("source")["points"].sum()
        ).mean(),
    }
    for name, f in stats.items():
        lo, hi = _resample(res, f, rng)
        lines.append(f"  {name:34} {f(res):.4f}  [{lo:.4f}, {hi:.4f}]")
    lines.append("")
    lines.append("per-source 90% coverage, family-resampled 95% interval: M2 default | choice")
    for s, g in res.groupby("source"):
        cells = []
        for col in ("cov_default", "cov_choice"):
            lo, hi = _resample(g, lambda d, col=col: d[col].sum() / d["points"].sum(), rng, 300)
            cells.append(f"{g[col].sum() / g['points'].sum():.3f} [{lo:.3f}, {hi:.3f}]")
        lines.append(f"  {s:16} {cells[0]:>22} | {cells[1]}")
    below = res["below_default"].sum() / res["points"].sum()
    lines.append(f"\nshare of held-out points below the M2 prediction: {below:.3f}")
    return "\n".join(lines)


def write_model(p: pd.DataFrame, r: pd.DataFrame) -> tuple[ExtrapolationModel, str]:
    """The shipped model and the default rule: the same procedure on every source."""
    p = usable(p)
    rm = test_rmse(p)
    p = p[p["law"].isin(CANDIDATES)]
    scale = choose_scale(p)
    src = p.groupby("curve")["source"].first().reindex(rm.index)
    picks = {rule: rollout_choice(r, rule) for rule in RULES if rule not in ("baseline", "average")}
    rule = choose_rule(rm, picks, src)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    counts = p.groupby("source")["curve"].nunique().to_dict()
    provenance = {
        "method": "split-conformal scores pooled across curves (exchangeable across curves, not within one)",
        "score": "(log y - log y_hat) / u, log u linear in log(" + ", ".join(scale) + ")",
        "sources": {k: int(v) for k, v in counts.items()},
        "laws": sorted(p["law"].unique()),
        "points": int(len(p)),
        "weights": "every source weighs the same, split evenly over laws, curves, points",
        "scale_chosen_by": "leave-one-source-out over the sources (mean squared distance of 90% coverage from 0.9)",
        "built_by": "benchmarks/loso_records.py + benchmarks/bench_loso.py --write-model",
        "commit": commit.stdout.strip(),
        "date": datetime.date.today().isoformat(),
        "data": "../shared/data (public tables; see its README for each source)",
    }
    model = calibrate(p, scale)
    model = ExtrapolationModel(
        model.terms, model.coefficients, model.probabilities, model.quantiles, model.max_distance, provenance
    )
    tmp = MODEL_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    os.replace(tmp, MODEL_FILE)
    return model, rule


def check_default(p: pd.DataFrame, knobs: pd.DataFrame, res: pd.DataFrame, per_source: int) -> str:
    """Run the README's default calls on a few curves per source, with each source's
    left-out model, and compare with the records."""
    from corpus import load_corpus

    import scalefit

    curves = load_corpus()
    lines = ["default calls (fit_law + predict; select_law) on left-out curves, with that fold's model:"]
    got = []
    by_source = {}
    for c in curves:
        by_source.setdefault(c.source, []).append(c)
    for source, cs in sorted(by_source.items()):
        fold = knobs.set_index("left_out").loc[source]
        train_p = usable(p)
        train_p = train_p[train_p["law"].isin(CANDIDATES) & (train_p["source"] != source)]
        model = calibrate(train_p, tuple(fold["scale"].split("+")))
        for c in cs[:: max(1, len(cs) // per_source)][:per_source]:
            train = pd.DataFrame({"x": c.x[c.train], "y": c.y[c.train]})
            test = pd.DataFrame({"x": c.x[~c.train]})
            y = c.y[~c.train]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = scalefit.fit_law(scalefit.revisiting_m2, train, target="y")
                a = fit.predict(test, LEVEL, extrapolation=model)
                sel = scalefit.select_law([scalefit.get_law(n) for n in CANDIDATES], train, target="y", holdout="x")
                b = sel.fit.predict(test, LEVEL, extrapolation=model)
            row = {"source": source, "curve": c.key, "choice_law": sel.law}
            simulated = res.set_index("curve").loc[c.key]
            row["sim_rmse_M2"] = simulated[f"sf_{BASELINE}"]
            row["sim_cov_M2"] = simulated["cov_default"] / simulated["points"]
            for tag, t in (("default", a), ("select", b)):
                e = np.log(t["mean"].to_numpy(float)) - np.log(y)
                row[f"rmse_{tag}"] = float(np.sqrt(np.mean(e**2)))
                row[f"cov_{tag}"] = float(np.mean((t["pi_lower"] <= y) & (y <= t["pi_upper"])))
            got.append(row)
    g = pd.DataFrame(got)
    lines.append(g.to_string(index=False, float_format="{:.4f}".format))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=Path, required=True, help="folder written by loso_records.py")
    ap.add_argument("--reference", type=Path, default=None, help="reference.csv if not in --records")
    ap.add_argument("--write-model", action="store_true", help="rebuild the shipped model from every source")
    ap.add_argument("--check-default", type=int, default=0, metavar="N")
    ap.add_argument("--out", type=Path, default=None, help="per-curve left-out results (CSV)")
    args = ap.parse_args(argv)
    p = pd.read_csv(args.records / "points.csv", keep_default_na=True)
    r = pd.read_csv(args.records / "rollout.csv")
    ref = pd.read_csv(args.reference or args.records / "reference.csv")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; command: python {' '.join(sys.argv)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(f"records: {p['curve'].nunique()} curves, {p['source'].nunique()} sources, laws {sorted(p['law'].unique())}")
    res, knobs = loso(p, r, ref)
    if args.out:
        res.to_csv(args.out, index=False)
    print(report(res, knobs))
    if args.write_model:
        model, rule = write_model(p, r)
        print(f"\nshipped model (all sources): {model!r}; default rule on all sources: {rule}")
    if args.check_default:
        print()
        print(check_default(p, knobs, res, args.check_default))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
