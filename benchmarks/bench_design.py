"""Simulation study of ``suggest_runs``: locating the upper crossing of a plain and a distilled law.

    .venv/bin/python benchmarks/bench_design.py [--seeds 10] [--budget 60] [--max-steps 30] [--bootstrap 400]
    .venv/bin/python benchmarks/bench_design.py --cost runs --budget 16   # every run costs 1

A known pair of laws along pre-training data ``Dp`` (the paper's Eq. 1 and Eq. 4 with the
other variables held, so each is ``E + Dp^-a / lambda``)::

    plain    E = 0.10 + Dp^-0.25 / 1.0
    distill  E' = 0.12 + Dp^-0.50 / (1/3)

cross twice: at ``D**_p`` = 105.6 (below it the plain model wins), and at 4.795e6 (above it
the plain model wins again, by its lower floor); distillation wins in between. The goal is
the **upper** crossing. Runs are simulated with 2% log-normal noise.

Every seed starts from the same small grid — 5 runs per law at ``Dp`` = 1e2, 1e3, ..., 1e6
(below the upper crossing: it is an extrapolation at the start) — and then each strategy
spends the same budget in steps of (at most) two runs, chosen among the same candidates
(``Dp`` at 25 log-spaced values in [1e2, 1e8], for either law; no run is repeated; only
runs that still fit the budget):

* ``suggest``: ``scalefit.suggest_runs(fits, candidates, cost=..., goal="crossing",
  which="upper", budget=<what is left>, method=--method)``, of whose plan the first two
  runs are made before refitting and asking again;
* ``random``: two candidates drawn uniformly at random;
* ``grid``: the uniform grid extended — the next point of a base-2 van der Corput sequence
  over log ``Dp`` in [1e2, 1e8] (1e5, 3.2e3, 3.2e6, ...), snapped to the candidate grid, run
  for both laws.

Cost of a run (``--cost samples``, the default; millions of samples seen, with a fixed
overhead of 1e4 samples per run): plain ``(Dp + 1e4) / 1e6``, distilled ``(1.5 Dp + 1e4) /
1e6`` (the teacher's forward passes); a run at Dp = 1e2 costs 0.01, one at 1e7 costs 10.
``--cost runs``: every run costs 1, so the budget is a number of runs.

After every step each law that received runs is refitted (``fit_law``, least squares,
case bootstrap ``--bootstrap`` replicates, seeded) and the 90% interval of the upper crossing
is taken over the pairs of bootstrap replicates (``crossover(...).draws``; in each pair the
upper crossing is the one above the pair's stationary point ``D*_p``; pairs without one are
left out, and if fewer than half have one the width counts as infinite and as not covering).
Recorded: the width ``upper - lower`` in ``Dp`` and whether the interval covers 4.795e6.

Printed: the median width over seeds after spending each cost; per strategy the spend,
final width and coverage; per seed, the cost at which each strategy first reaches the
uniform grid's final width (and, for ``suggest``, from which cost it stays at or below it),
as a ratio to the grid's final cost — the target is <= 0.5 for ``suggest`` with coverage
>= 85% — and the same on the median curves. The widths are noisy (a case bootstrap of 10-40
runs), so a single dip below the target counts as "reaching" it; the "stays" figures are the
stricter reading.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import scalefit as sf
from scalefit import Constant, Law, Power

PLAIN = Law(Constant("E_inf") + Power("Dp", "alpha", scale="lambda_p"), name="plain_dp", metric="error_rate")
DISTILL = Law(
    Constant("E_inf_prime") + Power("Dp", "alpha_prime", scale="lambda_p_prime"),
    name="distill_dp",
    metric="error_rate",
)
TRUE = {
    "plain": {"E_inf": 0.10, "alpha": 0.25, "lambda_p": 1.0},
    "distill": {"E_inf_prime": 0.12, "alpha_prime": 0.50, "lambda_p_prime": 1 / 3},
}
LAWS = {"plain": PLAIN, "distill": DISTILL}
NOISE = 0.02
START = np.geomspace(1e2, 1e6, 5)
CANDIDATE_DP = np.geomspace(1e2, 1e8, 25)
DOMAIN = (10.0, 1e12)  # where crossings are searched
COST = {"plain": "(Dp + 1e4) / 1e6", "distill": "(1.5*Dp + 1e4) / 1e6"}
INTERVAL = 0.9
STRATEGIES = ("suggest", "random", "grid")
errors: list[str] = []  # why suggest_runs refused a step (the step is then random)
METHOD = ["auto"]  # suggest_runs(method=...), set by --method


def cost_of(fit: str, dp: float) -> float:
    if COST["plain"] == "1":
        return 1.0
    return ((1.5 if fit == "distill" else 1.0) * dp + 1e4) / 1e6


def truth() -> float:
    a = sf.Fit.from_params(PLAIN, TRUE["plain"])
    b = sf.Fit.from_params(DISTILL, TRUE["distill"])
    return float(sf.crossover(a, b, axis="Dp", at={}, domain=DOMAIN, names=("plain", "distill")).crossings[-1])


def simulate(fit: str, dp: np.ndarray, rng) -> np.ndarray:
    mean = np.asarray(LAWS[fit].evaluate(TRUE[fit], {"Dp": np.asarray(dp, dtype=float)}), dtype=float)
    return mean * np.exp(NOISE * rng.standard_normal(len(mean)))


def refit(fit: str, runs: pd.DataFrame, bootstrap: int, seed: int) -> sf.Fit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sf.fit_law(LAWS[fit], runs, target="error", method=sf.LeastSquares(bootstrap=bootstrap), seed=seed)


def upper_interval(fits: dict[str, sf.Fit]) -> tuple[float, float, float]:
    """(lower, upper, share of pairs with an upper crossing) of the 90% interval over the draws."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = sf.crossover(fits["plain"], fits["distill"], axis="Dp", at={}, domain=DOMAIN, names=("plain", "distill"))
    d = c.draws
    cols = [k for k in d.columns if k.startswith("crossing_")]
    xs = d[cols].to_numpy(dtype=float)
    stat = d["stationary"].to_numpy(dtype=float)
    above = np.where(np.isfinite(xs) & (xs > stat[:, None]), xs, np.nan)
    up = np.nanmin(np.where(np.isnan(above), np.inf, above), axis=1)
    up = up[np.isfinite(up)]
    share = len(up) / len(d)
    if share < 0.5:
        return np.nan, np.nan, share
    tail = (1 - INTERVAL) / 2
    lo, hi = np.quantile(up, [tail, 1 - tail])
    return float(lo), float(hi), share


def van_der_corput(k: int) -> float:
    out, denom = 0.0, 1.0
    while k:
        denom *= 2
        k, r = divmod(k, 2)
        out += r / denom
    return out


def run_seed(seed: int, budget: float, max_steps: int, bootstrap: int, x_true: float) -> list[dict]:
    rows = []
    for strategy in STRATEGIES:
        rng = np.random.default_rng([seed, 0])  # same start data for every strategy
        runs = {f: pd.DataFrame({"Dp": START, "error": simulate(f, START, rng)}) for f in LAWS}
        rng = np.random.default_rng([seed, 1 + STRATEGIES.index(strategy)])
        fits = {f: refit(f, runs[f], bootstrap, seed) for f in LAWS}
        spent, fallback, k, rules = 0.0, 0, 0, []
        used = {(f, float(x)) for f in LAWS for x in START}
        for step in range(max_steps + 1):
            lo, hi, share = upper_interval(fits)
            ok = np.isfinite(lo)
            rows.append({
                "seed": seed, "strategy": strategy, "step": step, "cost": spent,
                "runs": sum(len(r) for r in runs.values()),
                "width": hi - lo if ok else np.inf, "factor": hi / lo if ok else np.inf,
                "covers": bool(ok and lo <= x_true <= hi), "p_exists": share, "fallback": fallback,
                "plain_rule": rules.count("largest_reduction"),
            })  # fmt: skip
            left = budget - spent
            free = [(f, float(x)) for f in LAWS for x in CANDIDATE_DP
                    if (f, float(x)) not in used and cost_of(f, x) <= left]  # fmt: skip
            if step == max_steps or not free:
                break
            picks: list[tuple[str, float]] = []
            if strategy == "suggest":
                cand = pd.DataFrame({"fit": [f for f, _ in free], "Dp": [x for _, x in free]})
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        s = sf.suggest_runs(fits, cand, cost=COST, goal="crossing", axis="Dp", at={}, domain=DOMAIN,
                                            which="upper", budget=left, method=METHOD[0])  # fmt: skip
                    picks = list(zip(s.runs["fit"], s.runs["Dp"].astype(float), strict=True))[:2]
                    rules.append(s.rule)
                except sf.ScalefitError as exc:  # e.g. the best fits do not cross twice: a random step instead
                    fallback += 1
                    errors.append(str(exc)[:100])
                    picks = [free[i] for i in rng.choice(len(free), min(2, len(free)), replace=False)]
            elif strategy == "random":
                picks = [free[i] for i in rng.choice(len(free), min(2, len(free)), replace=False)]
            else:
                affordable = {x for f, x in free if f == "plain"} & {x for f, x in free if f == "distill"}
                if not affordable:
                    break
                while True:
                    k += 1
                    u = np.log(CANDIDATE_DP[0]) + van_der_corput(k) * np.log(CANDIDATE_DP[-1] / CANDIDATE_DP[0])
                    x = float(CANDIDATE_DP[np.argmin(np.abs(np.log(CANDIDATE_DP) - u))])
                    if x in affordable:
                        picks = [("plain", x), ("distill", x)]
                        break
            while sum(cost_of(f, x) for f, x in picks) > left:  # the second pick may not fit the budget
                picks = picks[:-1]
            changed = set()
            for f, x in picks:
                used.add((f, x))
                spent += cost_of(f, x)
                runs[f] = pd.concat([runs[f], pd.DataFrame({"Dp": [x], "error": simulate(f, [x], rng)})])
                changed.add(f)
            for f in changed:
                fits[f] = refit(f, runs[f].reset_index(drop=True), bootstrap, seed)
    return rows


def cost_to_stay(g: pd.DataFrame, width: float) -> float:
    """Cumulative cost from which the width stays <= ``width`` at every later step (after the start)."""
    w = g["width"].to_numpy()
    above = np.flatnonzero(w > width)
    if len(above) and above[-1] == len(w) - 1:
        return np.inf
    first = (above[-1] + 1) if len(above) else 1
    return float(g["cost"].to_numpy()[max(first, 1)])


def curve(g: pd.DataFrame, costs: np.ndarray) -> np.ndarray:
    """Width after spending each of ``costs``: the last step whose cumulative cost is <= it."""
    idx = np.searchsorted(g["cost"].to_numpy(), costs, side="right") - 1
    return g["width"].to_numpy()[idx]


def cost_to_reach(g: pd.DataFrame, width: float) -> float:
    """Cumulative cost at the first step after the start whose width is <= ``width``."""
    hit = g[(g["step"] > 0) & (g["width"] <= width)]
    return float(hit["cost"].iloc[0]) if len(hit) else np.inf


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--bootstrap", type=int, default=400)
    p.add_argument("--method", default="auto", choices=["auto", "draws", "fisher", "reweight"])
    p.add_argument("--cost", default="samples", choices=["samples", "runs"],
                   help="samples: the cost above; runs: every run costs 1 (--budget: a number of runs)")  # fmt: skip
    args = p.parse_args()
    METHOD[0] = args.method
    if args.cost == "runs":
        COST.update(plain="1", distill="1")
    x_true = truth()
    t0 = time.time()
    rows = []
    for seed in range(args.seeds):
        rows += run_seed(seed, args.budget, args.max_steps, args.bootstrap, x_true)
        print(f"seed {seed} done ({time.time() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    print(f"\ntrue upper crossing D**_p = {x_true:.4g}; suggest_runs(method={args.method!r}); cost {args.cost}; "
          f"{args.seeds} seeds, budget {args.budget:g} per strategy "
          f"(steps of 2 runs, at most {args.max_steps}), bootstrap {args.bootstrap}; "
          f"{time.time() - t0:.0f} s\n")  # fmt: skip

    grid = np.geomspace(0.01, args.budget, 25) if args.cost == "samples" else np.arange(1.0, args.budget + 1)
    print("Median over seeds of the 90% interval width of the upper crossing after spending a given cost:\n")
    print("| cost | " + " | ".join(STRATEGIES) + " |")
    print("|---:|" + "---:|" * len(STRATEGIES))
    med = {s: np.median([curve(g, grid) for _, g in df[df["strategy"] == s].groupby("seed")], axis=0)
           for s in STRATEGIES}  # fmt: skip
    for i, c in enumerate(grid):
        print(f"| {c:.3g} | " + " | ".join(f"{med[s][i]:.3g}" for s in STRATEGIES) + " |")

    print("\n| strategy | steps (median) | runs added (median) | cost spent (median) | final median width | "
          "coverage, all steps after the start | coverage, last step |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in STRATEGIES:
        g = df[df["strategy"] == s]
        last = g.groupby("seed").tail(1)
        after = g[g["step"] > 0]
        print(f"| {s} | {last['step'].median():g} | {(last['runs'] - 2 * len(START)).median():g} "
              f"| {last['cost'].median():.3g} | {last['width'].median():.3g} | {after['covers'].mean():.0%} "
              f"({int(after['covers'].sum())}/{len(after)}) | {last['covers'].mean():.0%} |")  # fmt: skip

    print("\nCost to reach the uniform grid's final width (per seed; first step after the start at or below it):\n")
    print("| seed | grid final width | grid final cost | suggest: cost (ratio) | random: cost (ratio) "
          "| suggest: stays below from (ratio) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    ratios = {"suggest": [], "random": []}
    stays = []
    for seed, g in df.groupby("seed"):
        gg = g[g["strategy"] == "grid"]
        w, c = float(gg["width"].iloc[-1]), float(gg["cost"].iloc[-1])
        cells = []
        for s in ("suggest", "random"):
            reach = cost_to_reach(g[g["strategy"] == s], w)
            ratios[s].append(reach / c)
            cells.append(f"{reach:.3g} ({reach / c:.2f})" if np.isfinite(reach) else "not reached")
        stay = cost_to_stay(g[g["strategy"] == "suggest"], w)
        stays.append(stay / c)
        cells.append(f"{stay:.3g} ({stay / c:.2f})" if np.isfinite(stay) else "not at the end")
        print(f"| {seed} | {w:.3g} | {c:.3g} | {cells[0]} | {cells[1]} | {cells[2]} |")
    print()
    target = float(np.median(df[df["strategy"] == "grid"].groupby("seed").tail(1)["width"]))
    spent = float(np.median(df[df["strategy"] == "grid"].groupby("seed").tail(1)["cost"]))
    print(f"Median curves: the grid ends at median width {target:.3g} for median cost {spent:.3g}; the median "
          "curve first reaches that width at cost:")  # fmt: skip
    for s in STRATEGIES:
        hit = np.flatnonzero(med[s] <= target)
        above = np.flatnonzero(med[s] > target)
        stay = (above[-1] + 1) if len(above) else 0
        print(f"  {s}: " + (f"{grid[hit[0]]:.3g} ({grid[hit[0]] / spent:.2f} of the grid's)" if len(hit) else
                            "not reached within the budget")
              + (f"; stays at or below it from {grid[stay]:.3g} ({grid[stay] / spent:.2f})" if stay < len(grid)
                 else ""))  # fmt: skip
    if errors:
        print(f"suggest_runs refused {len(errors)} step(s) (a random step was taken instead): e.g. {errors[0]!r}")
    st = np.array(stays)
    print(f"suggest, per seed, staying at or below the grid's final width from then on: median cost ratio "
          f"{np.median(st):.2f} (<= 0.5 in {(st <= 0.5).sum()} of {len(st)} seeds)")  # fmt: skip
    for s in ("suggest", "random"):
        r = np.array(ratios[s])
        print(f"{s}, per seed: median cost ratio {np.median(r):.2f} (reached in {np.isfinite(r).sum()} of {len(r)} "
              f"seeds; <= 0.5 in {(r <= 0.5).sum()})"
              + (f"; random fallbacks {int(df[df['strategy'] == s].groupby('seed')['fallback'].max().sum())}; "
                 f"steps planned by the largest-reduction rule "
                 f"{int(df[df['strategy'] == s].groupby('seed')['plain_rule'].max().sum())} of "
                 f"{int((df[df['strategy'] == s]['step'] > 0).sum())}" if s == "suggest" else ""))  # fmt: skip


if __name__ == "__main__":
    main()
