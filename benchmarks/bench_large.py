"""Benchmark: ``paper_error`` on large synthetic tables, scalefit vs scipy (issue 24).

Table: SYNTHETIC runs of paper Eq. 1 (``scalefit.paper_error``) with the truth of the
shipped ``synthetic_eq1`` example (E_inf 0.05, alpha 0.4, lambda_p 0.1, beta 0.5,
lambda_m 0.006, gamma 0.35, lambda_f 0.25), Dp, M, Df drawn log-uniform over that example's
ranges (Dp 64k-1.28M, M 2.6M-38.8M, Df 2.5k-50k), 2% log-normal noise, seed 0.

Cases, each in its own fresh process (so its peak resident memory, ``ru_maxrss`` of the
child, is its own; XLA's buffers are invisible to tracemalloc):

* ``scipy``: ``scipy.optimize.least_squares(loss="huber", f_scale=1e-3)`` on log residuals
  (the same objective as scalefit's default: Huber, delta 1e-3, of log-residuals, summed),
  analytic Jacobian, exponents bounded below by 0 (``method="trf"``), from 16 random starts
  drawn from scalefit's own start distribution; the best objective kept.
* ``scalefit``: ``fit_law(paper_error, runs, target="error", bootstrap=0)`` — the default
  ``starts="auto"``. Timed twice in the process: the first call (with XLA compilation) and
  a second, warm call with another seed (``--warm``). Its imports (the fitting modules and
  JAX) are done before the clock starts, as the scipy case's imports are.
* ``boot``: the default fit with its bootstrap (``bootstrap=B``), first call in the process.

Every case runs with ``OPENBLAS_NUM_THREADS=1`` (unless set): on a loaded 2-core machine
OpenBLAS's threads make scipy's per-iteration SVD 20x slower (3,000 rows: 10.7 s instead of
0.48 s, the same 716 evaluations) — one thread is scipy's best here, and scalefit's solver
does not use OpenBLAS.

Both optima are scored by one numpy function of the paper-form parameters, so objectives
compare to the last digit; "same optimum" is a relative difference below 1e-6.

    .venv/bin/python benchmarks/bench_large.py [--rows 3000 100000] [--cases scipy scalefit]
                                               [--warm] [--bootstrap 1000]

Ratios are ``scipy / scalefit``: > 1 means scalefit is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from scalefit import LeastSquares

TRUTH = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
RANGES = dict(Dp=(64058.0, 1281167.0), M=(2.6e6, 38.8e6), Df=(2500.0, 50000.0))
DELTA = 1e-3
SCIPY_STARTS = 16


def make_runs(n: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = {v: np.exp(rng.uniform(np.log(lo), np.log(hi), n)) for v, (lo, hi) in RANGES.items()}
    t = TRUTH
    mean = t["E_inf"] + x["Dp"] ** -t["alpha"] / t["lambda_p"] + x["M"] ** -t["beta"] / t["lambda_m"]
    mean = mean + x["Df"] ** -t["gamma"] / t["lambda_f"]
    return pd.DataFrame({**x, "error": mean * np.exp(rng.normal(0.0, 0.02, n))})


def objective(params: dict, runs) -> float:
    """Huber(1e-3) of log residuals, summed: the one score of every method's parameters."""
    p = params
    pred = p["E_inf"] + runs["Dp"].to_numpy() ** -p["alpha"] / p["lambda_p"]
    pred = (
        pred + runs["M"].to_numpy() ** -p["beta"] / p["lambda_m"] + runs["Df"].to_numpy() ** -p["gamma"] / p["lambda_f"]
    )
    r = np.log(pred) - np.log(runs["error"].to_numpy())
    a = np.abs(r)
    return float(np.sum(np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA))))


# ------------------------------------------------------------------------------------ cases
def case_scipy(n: int, seed: int) -> dict:
    """16 random starts, each polished by least_squares; internal form p = (log E, alpha, a_p,
    beta, a_m, gamma, a_f) with log f = LSE(log E, a_p - alpha lDp, ...) on centred logs."""
    from scipy.optimize import least_squares

    from scalefit import paper_error
    from scalefit.fitting.lsq import random_starts
    from scalefit.fitting.problem import Problem

    runs = make_runs(n)
    w0, c0 = time.perf_counter(), time.process_time()
    logs = {v: np.log(runs[v].to_numpy()) for v in RANGES}
    centre = {v: float(a.mean()) for v, a in logs.items()}
    L = np.stack([logs[v] - centre[v] for v in ("Dp", "M", "Df")])  # 3 x n
    ly = np.log(runs["error"].to_numpy())

    def parts(p):
        z = np.stack([np.full(n, p[0]), p[2] - p[1] * L[0], p[4] - p[3] * L[1], p[6] - p[5] * L[2]])
        m = z.max(axis=0)
        e = np.exp(z - m)
        s = e.sum(axis=0)
        return m + np.log(s), e / s

    def residual(p):
        return parts(p)[0] - ly

    def jacobian(p):
        _, s = parts(p)
        return np.column_stack([s[0], -s[1] * L[0], s[1], -s[2] * L[1], s[2], -s[3] * L[2], s[3]])

    # scalefit's own start distribution, converted to this form
    x = {v: runs[v].to_numpy() for v in RANGES}
    problem = Problem.build(paper_error, x=x)
    paper = problem.paper(
        random_starts(problem, x, runs["error"].to_numpy(), SCIPY_STARTS, np.random.default_rng(seed))
    )
    starts = np.column_stack([
        np.log(paper["E_inf"]),
        paper["alpha"], -paper["alpha"] * centre["Dp"] - np.log(paper["lambda_p"]),
        paper["beta"], -paper["beta"] * centre["M"] - np.log(paper["lambda_m"]),
        paper["gamma"], -paper["gamma"] * centre["Df"] - np.log(paper["lambda_f"]),
    ])  # fmt: skip
    lower = np.array([-np.inf, 0, -np.inf, 0, -np.inf, 0, -np.inf])
    best, best_p, nfev = np.inf, None, 0
    for s in starts:
        s = np.where(np.isfinite(s), s, 0.0)
        s = np.maximum(s, lower + 1e-9)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = least_squares(residual, s, jac=jacobian, bounds=(lower, np.inf), loss="huber", f_scale=DELTA)
            except (ValueError, np.linalg.LinAlgError):
                continue
        nfev += res.nfev
        if res.cost < best:
            best, best_p = res.cost, res.x
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    p = best_p
    params = dict(
        E_inf=float(np.exp(p[0])), alpha=p[1], lambda_p=float(np.exp(-(p[2] + p[1] * centre["Dp"]))),
        beta=p[3], lambda_m=float(np.exp(-(p[4] + p[3] * centre["M"]))),
        gamma=p[5], lambda_f=float(np.exp(-(p[6] + p[5] * centre["Df"]))),
    )  # fmt: skip
    params = {k: float(v) for k, v in params.items()}
    return dict(wall=wall, cpu=cpu, objective=objective(params, runs), params=params, nfev=nfev)


def case_scalefit(n: int, seed: int, warm: bool, bootstrap: int = 0) -> dict:
    import scalefit

    warnings.simplefilter("ignore", scalefit.ScalingWarning)
    runs = make_runs(n)
    fit_law = scalefit.fit_law  # imports the fitting modules (and JAX) untimed, as scipy's case imports its own
    out = {}
    for label, s in (("first", seed), ("warm", seed + 1))[: 2 if warm else 1]:
        w0, c0 = time.perf_counter(), time.process_time()
        fit = fit_law(
            scalefit.paper_error, runs, target="error", seed=s, method=LeastSquares(bootstrap=bootstrap)
        )
        out[f"{label}_wall"] = time.perf_counter() - w0
        out[f"{label}_cpu"] = time.process_time() - c0
        out[f"{label}_objective"] = objective(fit.params, runs)
        out[f"{label}_starts"] = fit.starts.n_starts
        out[f"{label}_polished"] = fit.starts.n_polished
    out["wall"], out["cpu"], out["objective"] = out["first_wall"], out["first_cpu"], out["first_objective"]
    out["params"] = fit.params
    if bootstrap:
        s = fit.summary()
        out["interval"] = {k: [float(s.loc[k, c]) for c in s.columns[1:3]] for k in s.index}
        out["replicates"] = 0 if fit.draws is None else len(fit.draws)
        out["boot_note"] = getattr(fit, "bootstrap_mc", None)
    return out


def run_case(case: str, n: int, seed: int, warm: bool, bootstrap: int) -> dict:
    """One case in a fresh process; its result and the child's peak resident memory."""
    cmd = [sys.executable, __file__, "--child", case, str(n), str(seed), str(int(warm)), str(bootstrap)]
    w0 = time.perf_counter()
    env = {"OPENBLAS_NUM_THREADS": "1", **os.environ}  # see the module docstring
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"case {case} {n} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall"] = time.perf_counter() - w0
    return out


def child(case: str, n: str, seed: str, warm: str, bootstrap: str) -> None:
    if case == "scipy":
        out = case_scipy(int(n), int(seed))
    else:
        out = case_scalefit(int(n), int(seed), bool(int(warm)), int(bootstrap))
    out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out, default=float))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[3000, 100_000])
    ap.add_argument("--cases", nargs="+", default=["scipy", "scalefit"], choices=["scipy", "scalefit", "boot"])
    ap.add_argument("--warm", action="store_true", help="scalefit: also time a second call in the same process")
    ap.add_argument("--bootstrap", type=int, default=1000, help="replicates of the 'boot' case")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; Python {platform.python_version()}; "
          f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
    for n in args.rows:
        res = {}
        for case in args.cases:
            res[case] = r = run_case(case, n, args.seed, args.warm, args.bootstrap if case == "boot" else 0)
            extra = ""
            if case != "scipy":
                extra = f" starts {r['first_starts']} polished {r['first_polished']}"
                if "warm_wall" in r:
                    extra += f"; warm call {r['warm_wall']:.2f} s (objective {r['warm_objective']:.10g})"
                if "replicates" in r:
                    extra += f"; replicates kept {r['replicates']} {r.get('boot_note') or ''}"
            print(f"{n:>7} rows  {case:<9} wall {r['wall']:7.2f} s  cpu {r['cpu']:7.2f} s  "
                  f"objective {r['objective']:.10g}  peak RSS {r['maxrss_mib']:7.0f} MiB{extra}")  # fmt: skip
        if "scipy" in res and "scalefit" in res:
            a, b = res["scipy"], res["scalefit"]
            rel = abs(a["objective"] - b["objective"]) / abs(a["objective"])
            ratio = f"scipy/scalefit wall {a['wall'] / b['wall']:.2f}x (first call)"
            if "warm_wall" in b:
                ratio += f", {a['wall'] / b['warm_wall']:.2f}x (warm)"
            print(f"{n:>7} rows  {ratio}; objectives differ by {rel:.1e} (relative): "
                  f"{'same optimum' if rel < 1e-6 else 'DIFFERENT'}")  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        main()
