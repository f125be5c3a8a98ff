"""Benchmark: scalefit vs the fits users really run, on Epoch's Chinchilla data (issue 11).

Data: ``../shared/data/chinchilla_epoch/svg_extracted_data.csv`` (245 points read off
Hoffmann et al.'s Fig. 4), N = "Model Size", D = "Training FLOP" / (6 N), the 5 highest-loss
points dropped: 240 runs. Law: ``scalefit.chinchilla``, L = E + A N^-alpha + B D^-beta.
Objective, the same everywhere: Huber (delta 1e-3) of log-residuals, summed — Besiroglu et
al. 2024's replication (published optimum 1.01827e-3). Every method's result is scored by one
numpy function of its parameters, so objectives are comparable to the last digit.

Methods, side by side in one process (each timed warm: after one untimed call):

* scipy grid: Epoch's 4,500-point start grid in their internal form
  ``log L = LSE(a - alpha log N, b - beta log D, e)`` evaluated at once with numpy, the best
  5 polished with ``least_squares(loss="huber", f_scale=1e-3)`` (analytic Jacobian; also
  with the default finite differences), and with ``minimize(method="L-BFGS-B")`` as Epoch did;
* scipy random starts: ``least_squares`` (analytic Jacobian) once per start, from as many
  starts as scalefit's ``starts="auto"`` used, drawn from scalefit's own start distribution;
* lmfit ``brute`` over the same grid (Huber ``reduce_fcn``) + ``least_squares`` polish of
  the best 5 — if lmfit is installed (it is not a scalefit dependency);
* simple-scaling-laws (needs Python >= 3.12, run in a subprocess with ``--ssl-python``):
  its own objective (weighted least squares on the raw loss), so it does NOT reach this
  optimum — shown for its time only;
* scalefit ``fit_law(..., starts="auto")`` (the default) and with 64 and 1000 starts.

Reliability: each random-start method is run with R seeds (the grid methods are
deterministic: R = 1); a run "reaches the optimum" when its objective is within rtol 1e-6 of
the best any method found. Cold scalefit: a fresh process with an empty persistent cache
(``SCALEFIT_CACHE_DIR=<new dir>``), then a second fresh process with the same cache.
Bootstrap: scalefit ``bootstrap=B`` (fit with bootstrap minus fit without, warm) vs a scipy
loop of B case-resampled refits from the optimum (what simple-scaling-laws does).

    .venv/bin/python benchmarks/bench_fit.py [--quick] [--seeds 20] [--bootstrap 1000]
                                            [--ssl-python PATH]

Ratios are ``baseline / scalefit``: > 1 means scalefit is faster. Times are wall
(``time.perf_counter``) and CPU (``time.process_time``, all threads of the process).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy.optimize import least_squares, minimize

from scalefit import LeastSquares

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla_epoch" / "svg_extracted_data.csv"
DELTA = 1e-3
RTOL = 1e-6
PUBLISHED = dict(E=1.8172, A=477.84, B=2143.86, alpha=0.34731, beta=0.36718)  # objective 1.01827e-3
POLISH = 5  # the best grid points polished


# ----------------------------------------------------------------------------------------- data
def load_runs() -> pd.DataFrame:
    df = pd.read_csv(DATA)
    df["N"] = df["Model Size"]
    df["D"] = df["Training FLOP"] / (6 * df["N"])
    return df.sort_values("loss").iloc[:-5].reset_index(drop=True)


class Chinchilla:
    """Epoch's internal form p = (a, b, e, alpha, beta): log L = LSE(a - alpha log N, b - beta log D, e)."""

    def __init__(self, runs: pd.DataFrame):
        self.lN = np.log(runs["N"].to_numpy(float))
        self.lD = np.log(runs["D"].to_numpy(float))
        self.ly = np.log(runs["loss"].to_numpy(float))

    def terms(self, p, idx=None):
        a, b, e, al, be = p
        lN, lD = (self.lN, self.lD) if idx is None else (self.lN[idx], self.lD[idx])
        return np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])

    def residual(self, p, idx=None):
        t = self.terms(p, idx)
        top = t.max(axis=0)
        ly = self.ly if idx is None else self.ly[idx]
        return top + np.log(np.exp(t - top).sum(axis=0)) - ly

    def jacobian(self, p, idx=None):
        t = self.terms(p, idx)
        w = np.exp(t - t.max(axis=0))
        w /= w.sum(axis=0)
        lN, lD = (self.lN, self.lD) if idx is None else (self.lN[idx], self.lD[idx])
        return np.column_stack([w[0], w[1], w[2], -w[0] * lN, -w[1] * lD])

    def objective(self, p) -> float:
        with np.errstate(all="ignore"):
            v = huber(self.residual(np.asarray(p, float)))
        return float(v) if np.isfinite(v) else np.inf

    def grid_objectives(self, grid: np.ndarray) -> np.ndarray:
        """The objective at every grid point at once (numpy, no loop)."""
        a, b, e, al, be = (grid[:, i : i + 1] for i in range(5))
        pred = np.logaddexp(np.logaddexp(a - al * self.lN, b - be * self.lD), np.broadcast_to(e, (len(grid), 1)))
        return huber(pred - self.ly, axis=1)


def huber(r, axis=None):
    a = np.abs(r)
    return np.sum(np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA)), axis=axis)


def internal(params: dict) -> np.ndarray:
    """Paper form {E, A, B, alpha, beta} -> Epoch's (a, b, e, alpha, beta)."""
    with np.errstate(divide="ignore"):
        return np.array(
            [np.log(params["A"]), np.log(params["B"]), np.log(params["E"]), params["alpha"], params["beta"]]
        )


def epoch_grid() -> np.ndarray:
    exps = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    amps = np.arange(0.0, 25.1, 5.0)
    return np.array(list(itertools.product(amps, amps, es, exps, exps)))  # (a, b, e, alpha, beta)


# ------------------------------------------------------------------------------------ timing
def timed(fn, repeats: int = 1, warmup: bool = True):
    """Median wall and CPU seconds of ``repeats`` calls (after one untimed call), and the last result."""
    if warmup:
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus)), out


class Row:
    """One method: median warm wall/CPU time per fit, objective of each seed's result."""

    def __init__(self, name, wall, cpu, values, note="", same_objective=True):
        self.name, self.wall, self.cpu, self.values, self.note = name, wall, cpu, list(values), note
        self.same_objective = same_objective


# ----------------------------------------------------------------------------------- methods
def scipy_polish(model: Chinchilla, starts, jac=True) -> tuple[np.ndarray, float]:
    best, best_x = np.inf, None
    for s in starts:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = least_squares(
                    model.residual, s, jac=model.jacobian if jac else "2-point", loss="huber", f_scale=DELTA
                )
            except (ValueError, np.linalg.LinAlgError):  # non-finite residuals at a start
                continue
        v = model.objective(res.x)
        if v < best:
            best, best_x = v, res.x
    return best_x, best


def scipy_grid(model: Chinchilla, grid: np.ndarray, polisher: str):
    f = model.grid_objectives(grid)
    top = grid[np.argsort(f, kind="stable")[:POLISH]]
    if polisher == "lbfgs":
        best, best_x = np.inf, None
        for s in top:
            with np.errstate(all="ignore"):
                res = minimize(model.objective, s, method="L-BFGS-B")
            if res.fun < best:
                best, best_x = res.fun, res.x
        return best_x, model.objective(best_x)
    return scipy_polish(model, top, jac=polisher == "jac")


def lmfit_brute(model: Chinchilla, lmfit):
    """lmfit's brute over Epoch's grid (upper limits half a step past the last value, since
    lmfit's ranges exclude the end) with a Huber ``reduce_fcn``, then ``least_squares`` from
    the best 5 candidates (lmfit's default finite-difference Jacobian)."""
    params = lmfit.Parameters()
    for name, lo, hi, step in (("a", 0, 27.5, 5), ("b", 0, 27.5, 5), ("e", -1, 1.25, 0.5)):
        params.add(name, value=lo, min=lo, max=hi, brute_step=step)
    for name in ("alpha", "beta"):
        params.add(name, value=0, min=0, max=2.25, brute_step=0.5)

    def residual(p):
        v = p.valuesdict()
        return model.residual((v["a"], v["b"], v["e"], v["alpha"], v["beta"]))

    with np.errstate(all="ignore"):
        mini = lmfit.Minimizer(residual, params, reduce_fcn=huber)
        brute = mini.minimize(method="brute", keep=POLISH)
        best, best_x = np.inf, None
        for cand in brute.candidates:
            res = mini.minimize(method="least_squares", params=cand.params, loss="huber", f_scale=DELTA)
            v = res.params.valuesdict()
            x = np.array([v["a"], v["b"], v["e"], v["alpha"], v["beta"]])
            if model.objective(x) < best:
                best, best_x = model.objective(x), x
    return best_x, best, brute.brute_Jout.size


def scalefit_random_starts(scalefit, runs: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """``n`` starts from scalefit's own start distribution, in Epoch's internal form."""
    from scalefit.fitting.lsq import random_starts
    from scalefit.fitting.problem import Problem

    law = scalefit.chinchilla
    x = {"N": runs["N"].to_numpy(float), "D": runs["D"].to_numpy(float)}
    y = runs["loss"].to_numpy(float)
    problem = Problem.build(law, x=x)
    paper = problem.paper(random_starts(problem, x, y, n, np.random.default_rng(seed)))
    return np.column_stack([np.log(paper["A"]), np.log(paper["B"]), np.log(paper["E"]), paper["alpha"], paper["beta"]])


# ------------------------------------------------------------------------------ subprocesses
COLD = textwrap.dedent(
    """
    import json, sys, time
    w0, c0 = time.perf_counter(), time.process_time()
    import warnings
    import pandas as pd
    import scalefit
    fit_law, law, LeastSquares = scalefit.fit_law, scalefit.chinchilla, scalefit.LeastSquares  # loaded lazily
    w1 = time.perf_counter()
    warnings.simplefilter("ignore", scalefit.ScalingWarning)
    df = pd.read_csv(sys.argv[1])
    df["N"] = df["Model Size"]
    df["D"] = df["Training FLOP"] / (6 * df["N"])
    df = df.sort_values("loss").iloc[:-5].reset_index(drop=True)
    w2 = time.perf_counter()
    fit = fit_law(law, df, target="loss", method=LeastSquares(starts="auto", bootstrap=0), seed=0)
    w3 = time.perf_counter()
    print(json.dumps(dict(import_s=w1 - w0, fit_s=w3 - w2, total_s=w3 - w0, cpu_s=time.process_time() - c0,
                          params=fit.params, n_starts=fit.starts.n_starts)))
    """
)

SSL = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import polars as pl
    import simple_scaling_laws as ssl
    path, draws = sys.argv[1], int(sys.argv[2])
    df = pl.read_csv(path).with_columns((pl.col("Training FLOP") / (6 * pl.col("Model Size"))).alias("D"))
    df = df.sort("loss").head(df.height - 5)
    frame = pl.DataFrame({"training_run_id": [f"r{i}" for i in range(df.height)],
                          "model_size__n_params": df["Model Size"], "dataset_size__n_tokens": df["D"],
                          "test_loss__loss": df["loss"]})
    out = {"version": ssl.__version__}
    for label, n in (("fit", 1), ("fit_boot", draws)):
        ssl.fit(frame, law="separable-power", n_draws=n, seed=0)  # warm-up
        w0, c0 = time.perf_counter(), time.process_time()
        m = ssl.fit(frame, law="separable-power", n_draws=n, seed=0)
        out[label] = [time.perf_counter() - w0, time.process_time() - c0]
    points = m.prepare_points(frame.select(["model_size__n_params", "dataset_size__n_tokens"]))
    pred = m.law.evaluate(m.fits["test_loss__loss"].params, m.fitting_predictors(points))
    r = np.log(pred) - np.log(frame["test_loss__loss"].to_numpy())
    a = np.abs(r)
    out["objective"] = float(np.sum(np.where(a <= 1e-3, 0.5 * r * r, 1e-3 * (a - 0.5e-3))))
    out["params"] = m.params("test_loss__loss")
    print(json.dumps(out))
    """
)


def run_json(cmd, env=None):
    w0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - w0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def cold_scalefit(model: Chinchilla) -> list[tuple[str, dict, float, int]]:
    cache = Path(tempfile.mkdtemp(prefix="scalefit-bench-cache-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env["SCALEFIT_CACHE_DIR"] = str(cache)
    out = []
    try:
        for label in ("fresh process, EMPTY cache", "fresh process, cache from the first"):
            res, wall = run_json([sys.executable, "-c", COLD, str(DATA)], env)
            res["objective"] = model.objective(internal(res["params"]))
            out.append((label, res, wall, sum(1 for p in cache.rglob("*") if p.is_file())))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def find_ssl_python(given: str | None) -> tuple[str | None, str]:
    """An interpreter with simple-scaling-laws, or None and why not."""
    candidates = [given] if given else [shutil.which(n) for n in ("python3.14", "python3.13", "python3.12")]
    found_py = False
    for exe in filter(None, candidates):
        ok = subprocess.run([exe, "-c", "import sys; assert sys.version_info >= (3, 12)"], capture_output=True)
        if ok.returncode != 0:
            continue
        found_py = True
        has = subprocess.run([exe, "-c", "import simple_scaling_laws"], capture_output=True)
        if has.returncode == 0:
            return exe, ""
    if found_py:
        return None, f"skipped (a Python >= 3.12 was found but has no simple-scaling-laws: {candidates})"
    return None, "skipped (needs Python >= 3.12; not available here)"


# -------------------------------------------------------------------------------------- main
def main() -> bool:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 seeds, bootstrap 100: a ~1-minute smoke run")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per random-start method (default 20; quick 2)")
    ap.add_argument("--bootstrap", type=int, default=None, help="replicates (default 1000; quick 100)")
    ap.add_argument(
        "--ssl-python",
        default=os.environ.get("SCALEFIT_BENCH_SSL_PYTHON"),
        help="a Python >= 3.12 with simple-scaling-laws installed (default: $SCALEFIT_BENCH_SSL_PYTHON, "
        "else python3.12+ on PATH)",
    )
    args = ap.parse_args()
    if not DATA.exists():
        print(f"bench_fit: skipped ({DATA} not present; the shared data folder is optional)")
        return False
    R = args.seeds or (2 if args.quick else 20)
    B = args.bootstrap or (100 if args.quick else 1000)
    repeats = 1 if args.quick else 3

    import jax

    import scalefit

    warnings.simplefilter("ignore", scalefit.ScalingWarning)
    try:
        import lmfit
    except ImportError:
        lmfit = None
    runs = load_runs()
    model = Chinchilla(runs)
    grid = epoch_grid()

    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}; "
        f"Python {platform.python_version()}"
    )
    print(
        f"versions: scalefit {scalefit.__version__}, jax {jax.__version__} ({jax.default_backend()}), "
        f"numpy {np.__version__}, scipy {scipy.__version__}, lmfit {getattr(lmfit, '__version__', '-')}"
    )
    print(
        f"problem: Chinchilla (Epoch's svg data), {len(runs)} runs, law scalefit.chinchilla; "
        f"Huber(delta={DELTA:g}) of log-residuals, summed; seeds R={R}; bootstrap B={B}"
    )
    print(f"load average at start (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"published optimum (Besiroglu et al. 2024), scored here: {model.objective(internal(PUBLISHED)):.10g}\n")

    rows: list[Row] = []

    # --- scalefit, warm (one untimed call compiles; its persistent cache may already hold it)
    def sf(starts, seed):
        fit = scalefit.fit_law(
            scalefit.chinchilla, runs, target="loss", seed=seed, method=LeastSquares(starts=starts, bootstrap=0)
        )
        return fit

    sf_rows = {}
    auto_starts = []
    for starts in ("auto", 64, 1000):
        sf(starts, 0)  # warm-up
        walls, cpus, values = [], [], []
        for seed in range(R):
            w, c, fit = timed(lambda s=starts, k=seed: sf(s, k), warmup=False)
            walls.append(w)
            cpus.append(c)
            values.append(model.objective(internal(fit.params)))
            if starts == "auto":
                auto_starts.append(fit.starts.n_starts)
        note = f"starts used: {min(auto_starts)}-{max(auto_starts)}" if starts == "auto" else ""
        sf_rows[starts] = Row(
            f"scalefit starts={starts!r}" + (" (default)" if starts == "auto" else ""),
            float(np.median(walls)),
            float(np.median(cpus)),
            values,
            note,
        )
    n_auto = auto_starts[0]

    # --- scipy from Epoch's grid (deterministic: R = 1)
    w, c, (x_grid, v) = timed(lambda: scipy_grid(model, grid, "jac"), repeats)
    rows.append(Row("scipy grid 4500 + least_squares best 5 (analytic J)", w, c, [v]))
    w, c, (_, v) = timed(lambda: scipy_grid(model, grid, "2-point"), repeats)
    rows.append(Row("scipy grid 4500 + least_squares best 5 (finite-diff J)", w, c, [v]))
    w, c, (_, v) = timed(lambda: scipy_grid(model, grid, "lbfgs"), 1, warmup=False)
    rows.append(Row("scipy grid 4500 + L-BFGS-B best 5 (Epoch's optimiser)", w, c, [v], "timed once"))

    # --- scipy from random starts, as many as scalefit's auto used (seed 0), R seeds
    walls, cpus, values = [], [], []
    for seed in range(R):
        starts = scalefit_random_starts(scalefit, runs, n_auto, seed)
        w, c, (_, v) = timed(lambda s=starts: scipy_polish(model, s), warmup=False)
        walls.append(w)
        cpus.append(c)
        values.append(v)
    rows.append(
        Row(
            f"scipy least_squares x {n_auto} random starts (analytic J)",
            float(np.median(walls)),
            float(np.median(cpus)),
            values,
            "scalefit's start distribution",
        )
    )

    # --- lmfit
    if lmfit is None:
        print("lmfit: skipped (not installed)")
    else:
        w, c, (_, v, npts) = timed(lambda: lmfit_brute(model, lmfit), repeats)
        rows.append(Row(f"lmfit brute {npts} + least_squares best 5", w, c, [v]))

    # --- simple-scaling-laws (its own objective)
    ssl_python, why = find_ssl_python(args.ssl_python)
    ssl = None
    if ssl_python is None:
        print(f"simple-scaling-laws: {why}")
    else:
        ssl, _ = run_json([ssl_python, "-c", SSL, str(DATA), str(B)])
        rows.append(
            Row(
                f"simple-scaling-laws {ssl['version']} fit (n_draws=1)",
                ssl["fit"][0],
                ssl["fit"][1],
                [ssl["objective"]],
                "OWN objective (weighted LSQ, raw loss)",
                same_objective=False,
            )
        )

    rows.extend(sf_rows.values())
    best = min(min(r.values) for r in rows if r.same_objective)

    def reached(r):
        return sum(v <= best * (1 + RTOL) for v in r.values)

    print(f"best objective found (any method): {best:.13g}; 'reached' = within rtol {RTOL:g} of it\n")
    print(f"{'method':58}{'wall s':>9}{'CPU s':>9}{'objective (worst seed)':>24}{'reached':>9}  note")
    for r in rows:
        share = f"{reached(r)}/{len(r.values)}" if r.same_objective else "n/a"
        print(f"{r.name:58}{r.wall:9.3f}{r.cpu:9.3f}{max(r.values):24.13g}{share:>9}  {r.note}")
    print("(times: median over seeds/repeats of one warm fit; 'reached' counts seeds, or 1 for deterministic grids)")

    # --- cold scalefit: fresh processes
    print(
        "\nscalefit cold (fresh `python -c` process: import scalefit (+ its lazily loaded JAX and modules), "
        "then one fit_law(starts='auto'), seed 0):"
    )
    cold = cold_scalefit(model)
    for label, res, wall, files in cold:
        print(
            f"  {label:40} import {res['import_s']:6.2f} s, first fit {res['fit_s']:6.2f} s, "
            f"import->result {res['total_s']:6.2f} s (CPU {res['cpu_s']:6.2f} s), whole process {wall:6.2f} s; "
            f"objective {res['objective']:.13g}; cache files after: {files}"
        )

    # --- bootstrap
    print(f"\nbootstrap, {B} case-resampled replicates (warm):")

    def sf_boot(b):
        return scalefit.fit_law(scalefit.chinchilla, runs, target="loss", seed=0, method=LeastSquares(bootstrap=b))

    w_b, c_b, fit_b = timed(lambda: sf_boot(B), repeats)
    w_0, c_0, _ = timed(lambda: sf_boot(0), repeats)
    sf_bw, sf_bc = w_b - w_0, c_b - c_0

    def scipy_boot():
        rng = np.random.default_rng(0)
        n, draws, ok = len(model.ly), [], 0
        for _ in range(B):
            idx = rng.integers(0, n, n)
            res = least_squares(model.residual, x_grid, jac=model.jacobian, loss="huber", f_scale=DELTA, args=(idx,))
            ok += res.success
            draws.append(res.x)
        return np.array(draws), ok

    sp_bw, sp_bc, (sp_draws, sp_ok) = timed(scipy_boot, 1, warmup=False)
    sp_frame = pd.DataFrame({"E": np.exp(sp_draws[:, 2]), "alpha": sp_draws[:, 3], "beta": sp_draws[:, 4]})
    print(
        f"  scalefit bootstrap={B}: fit+bootstrap {w_b:.3f} s wall / {c_b:.3f} s CPU, fit alone {w_0:.3f} / "
        f"{c_0:.3f}; bootstrap alone {sf_bw:.3f} s wall / {sf_bc:.3f} s CPU; "
        f"{fit_b.bootstrap.converged:.1%} converged"
    )
    print(
        f"  scipy loop of {B} least_squares refits from the optimum (analytic J): {sp_bw:.3f} s wall / "
        f"{sp_bc:.3f} s CPU; {sp_ok / B:.1%} converged"
    )
    sds = "; ".join(f"{k} {fit_b.draws[k].std():.4f} vs {sp_frame[k].std():.4f}" for k in ("E", "alpha", "beta"))
    print(f"  bootstrap SDs, scalefit vs scipy: {sds}  (Epoch, 4000 resamples: E 0.026, alpha 0.015, beta 0.021)")
    if ssl is not None:
        ssl_bw, ssl_bc = ssl["fit_boot"][0] - ssl["fit"][0], ssl["fit_boot"][1] - ssl["fit"][1]
        print(
            f"  simple-scaling-laws n_draws={B}: {ssl['fit_boot'][0]:.3f} s wall / {ssl['fit_boot'][1]:.3f} s CPU; "
            f"draws alone {ssl_bw:.3f} / {ssl_bc:.3f} (its own objective)"
        )
    print(f"  ratio scipy loop / scalefit (bootstrap alone): wall {sp_bw / sf_bw:.1f}x, CPU {sp_bc / sf_bc:.1f}x")

    # --- final ratios
    auto = sf_rows["auto"]
    c_empty, c_cache = cold[0][1]["fit_s"], cold[1][1]["fit_s"]
    print("\nratios baseline / scalefit (> 1: scalefit faster); 'cold' = scalefit's first fit in a fresh process")
    print(
        f"{'baseline':58}{'wall/warm':>11}{'CPU/warm':>10}{'wall/cold':>11}{'wall/cold+cache':>17}   "
        f"(scalefit auto: warm {auto.wall:.3f} s wall, {auto.cpu:.3f} s CPU; cold {c_empty:.2f} s, "
        f"with cache {c_cache:.2f} s)"
    )
    for r in rows:
        if r.name.startswith("scalefit"):
            continue
        tag = "" if r.same_objective else "   (different objective)"
        print(
            f"{r.name:58}{r.wall / auto.wall:10.2f}x{r.cpu / auto.cpu:9.2f}x{r.wall / c_empty:10.2f}x"
            f"{r.wall / c_cache:16.2f}x{tag}"
        )
    for key in (64, 1000):
        r = sf_rows[key]
        print(f"{'(scalefit starts=' + str(key) + ')':58}{r.wall / auto.wall:10.2f}x{r.cpu / auto.cpu:9.2f}x")
    print(f"{f'bootstrap {B}: scipy loop (bootstrap alone)':58}{sp_bw / sf_bw:10.2f}x{sp_bc / sf_bc:9.2f}x")
    return True


def print_load() -> None:
    print(f"\nload average at end (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    if main():
        print_load()
