"""Benchmark: one law fitted to many curves — scalefit's ``by=`` vs a loop vs scipy (issue 11).

Data: the 92 learning curves of Alabdulmohsin et al. 2022 ("Revisiting neural scaling laws"),
``../shared/data/revisiting_scaling_laws/benchmark.{vision,lang}.csv``: 72 vision curves and
20 language curves (that file repeats its rows; de-duplicated here), one curve per
(Domain, Task, Model), fitted on ``Training == 1`` (4,272 rows). Law M2,
y = e_inf + b x^-c with e_inf, b, c > 0, x = "Seen Examples", y = "Loss"; objective Huber
(delta 1e-3) of log-residuals, summed, with case-bootstrap intervals (B replicates).

Three methods, each in this one process, in this order:

(a) scalefit ``fit_law(M2, table, target="Loss", by="curve", bootstrap=B)`` — every curve's
    starts and every curve's replicates in one vectorised pass (timed warm: after one
    untimed call; the time including compilation comes from a fresh subprocess with an empty
    persistent cache, below);
(b) scalefit, one ``fit_law`` call per curve in a Python loop (timed from the first call
    onwards, in the process that already ran (a): it shows how often the loop compiles);
(c) the scipy loop a careful user would write: per curve, x divided by its geometric mean,
    a small start grid scaled to the curve (150 points: c in {0.05, ..., 2}, e_inf and b as
    fractions and multiples of the curve's losses) evaluated at once with numpy, the best 5
    polished with ``least_squares(loss="huber", f_scale=1e-3)`` (analytic Jacobian, c >= 0),
    then B refits from the optimum on case-resampled rows (``rng.integers``).

Without ``--quick`` it also reports (untimed against the others) how many curves scipy gets
right from Epoch's unscaled Chinchilla grid and with the best 10 polished.

For each: wall and CPU time, memory (peak RSS is a high-water mark of the whole process, so
current RSS is printed too) and the number of memory mappings before/after. Objectives are
scored per curve by one numpy function and compared between scalefit and scipy (rtol 1e-4).

    .venv/bin/python benchmarks/bench_many.py [--quick] [--bootstrap 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
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
from scipy.optimize import least_squares

from scalefit import LeastSquares

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "revisiting_scaling_laws"
FILES = [FOLDER / "benchmark.vision.csv", FOLDER / "benchmark.lang.csv"]
DELTA = 1e-3
RTOL = 1e-4
POLISH = 5


# ----------------------------------------------------------------------------------------- data
def load_table() -> pd.DataFrame:
    """One row per training point of every curve: curve, x, Loss (duplicates dropped)."""
    frames = [pd.read_csv(f).drop_duplicates() for f in FILES]
    df = pd.concat(frames, ignore_index=True)
    df = df[df["Training"] == 1]
    curve = df["Domain"] + " | " + df["Task"].astype(str) + " | " + df["Model"].astype(str)
    out = pd.DataFrame({"curve": curve, "x": df["Seen Examples"].astype(float), "Loss": df["Loss"].astype(float)})
    return out.sort_values(["curve", "x"]).reset_index(drop=True)


def huber(r, axis=None):
    a = np.abs(r)
    return np.sum(np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA)), axis=axis)


class Curve:
    """M2 in internal form p = (a, e, c): log y = LSE(a - c log(x / x0), e), e_inf = e^e,
    b = e^a x0^c. ``normalise``: x0 = the geometric mean of x (as a careful user writes it,
    and scalefit does internally), else x0 = 1. The objective does not depend on x0."""

    def __init__(self, x: np.ndarray, y: np.ndarray, normalise: bool = True):
        lx = np.log(x)
        self.lx0 = float(lx.mean()) if normalise else 0.0
        self.lx, self.ly = lx - self.lx0, np.log(y)

    def internal(self, params: dict) -> np.ndarray:
        """scalefit's paper-form {e_inf, b, c} in this curve's internal form."""
        with np.errstate(divide="ignore"):
            return np.array([np.log(params["b"]) - params["c"] * self.lx0, np.log(params["e_inf"]), params["c"]])

    def residual(self, p, idx=None):
        a, e, c = p
        lx, ly = (self.lx, self.ly) if idx is None else (self.lx[idx], self.ly[idx])
        return np.logaddexp(a - c * lx, e) - ly

    def jacobian(self, p, idx=None):
        a, e, c = p
        lx = self.lx if idx is None else self.lx[idx]
        t = a - c * lx
        w = 1.0 / (1.0 + np.exp(np.clip(e - t, -700, 700)))  # share of the power term
        return np.column_stack([w, 1.0 - w, -w * lx])

    def objective(self, p) -> float:
        with np.errstate(all="ignore"):
            v = float(huber(self.residual(np.asarray(p, float))))
        return v if np.isfinite(v) else np.inf


LOWER, UPPER = np.array([-np.inf, -np.inf, 0.0]), np.full(3, np.inf)


def user_grid(curve: Curve) -> np.ndarray:
    """150 starts scaled to the curve (x normalised by its geometric mean): c in {0.05, 0.1,
    0.25, 0.5, 1, 2}; e_inf = min(y) x {1e-4, 0.25, 0.5, 0.75, 0.95}; b = median(y) x
    e^{-4, -2, -1, 0, 1}."""
    cs = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0]
    es = curve.ly.min() + np.log([1e-4, 0.25, 0.5, 0.75, 0.95])
    amps = np.median(curve.ly) + np.array([-4.0, -2.0, -1.0, 0.0, 1.0])
    return np.array(list(itertools.product(amps, es, cs)))


def epoch_grid(curve: Curve) -> np.ndarray:
    """Epoch's Chinchilla grid, unscaled: log b in {0, 5, ..., 25}, log e_inf in {-1, ..., 1}, c in {0, ..., 2}."""
    return np.array(list(itertools.product(np.arange(0, 25.1, 5), np.arange(-1, 1.01, 0.5), np.arange(0, 2.01, 0.5))))


def scipy_curve(curve: Curve, B: int, rng, grid=user_grid, polish=POLISH):
    """The grid evaluated at once, the best ``polish`` points polished with least_squares,
    then B bootstrap refits from the optimum. Returns (optimum, objective, draws, converged)."""
    starts = grid(curve)
    a, e, c = (starts[:, i : i + 1] for i in range(3))
    with np.errstate(all="ignore"):
        f = huber(np.logaddexp(a - c * curve.lx, e) - curve.ly, axis=1)
    best, best_x = np.inf, None
    for s in starts[np.argsort(f, kind="stable")[:polish]]:
        res = least_squares(curve.residual, s, jac=curve.jacobian, bounds=(LOWER, UPPER), loss="huber", f_scale=DELTA)
        v = curve.objective(res.x)
        if v < best:
            best, best_x = v, res.x
    n, draws, ok = len(curve.ly), np.empty((B, 3)), 0
    for i in range(B):
        idx = rng.integers(0, n, n)
        res = least_squares(
            curve.residual, best_x, jac=curve.jacobian, bounds=(LOWER, UPPER), loss="huber", f_scale=DELTA,
            args=(idx,),
        )  # fmt: skip
        draws[i] = res.x
        ok += res.success
    return best_x, best, draws, ok


# --------------------------------------------------------------------------------------- memory
def memory() -> dict:
    status = Path("/proc/self/status")
    out = {"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # KiB on Linux
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = int(line.split()[1]) / 1024
        out["maps"] = sum(1 for _ in open("/proc/self/maps"))  # noqa: SIM115
    return out


def fmt_mem(d: dict) -> str:
    return f"RSS {d.get('rss_mib', float('nan')):.0f} MiB, peak {d['peak_mib']:.0f} MiB, maps {d.get('maps', '?')}"


def show_memory(before: dict, after: dict) -> str:
    return f"before: {fmt_mem(before)}  ->  after: {fmt_mem(after)}"


class Measure:
    def __enter__(self):
        self.mem0 = memory()
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0
        self.mem1 = memory()


# ------------------------------------------------------------------------------------- cold run
COLD = textwrap.dedent(
    """
    import json, sys, time, warnings
    w0, c0 = time.perf_counter(), time.process_time()
    import pandas as pd
    import scalefit
    law = scalefit.Law(scalefit.Constant("e_inf") + scalefit.Power("x", "c", amplitude="b"), name="M2")
    fit_law = scalefit.fit_law
    w1 = time.perf_counter()
    warnings.simplefilter("ignore", scalefit.ScalingWarning)
    table = pd.read_parquet(sys.argv[1])
    w2 = time.perf_counter()
    fits = fit_law(law, table, target="Loss", by="curve", bootstrap=int(sys.argv[2]), seed=0)
    w3 = time.perf_counter()
    print(json.dumps(dict(import_s=w1 - w0, fit_s=w3 - w2, total_s=w3 - w0, cpu_s=time.process_time() - c0,
                          curves=len(fits))))
    """
)


def cold_by(table: pd.DataFrame, B: int) -> tuple[dict, float]:
    tmp = Path(tempfile.mkdtemp(prefix="scalefit-bench-many-"))
    try:
        path = tmp / "table.parquet"
        table.to_parquet(path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
        env["SCALEFIT_CACHE_DIR"] = str(tmp / "cache")
        w0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", COLD, str(path), str(B)], capture_output=True, text=True, env=env, check=False
        )
        wall = time.perf_counter() - w0
        if proc.returncode != 0:
            raise RuntimeError(f"cold subprocess failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1]), wall
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------------------- main
def main() -> bool:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="bootstrap 20: a ~1-minute smoke run")
    ap.add_argument("--bootstrap", type=int, default=None, help="replicates per curve (default 200; quick 20)")
    args = ap.parse_args()
    missing = [str(f) for f in FILES if not f.exists()]
    if missing:
        print(f"bench_many: skipped ({', '.join(missing)} not present; the shared data folder is optional)")
        return False
    B = args.bootstrap or (20 if args.quick else 200)

    import jax

    import scalefit

    warnings.simplefilter("ignore", scalefit.ScalingWarning)
    law = scalefit.Law(scalefit.Constant("e_inf") + scalefit.Power("x", "c", amplitude="b"), name="M2")
    table = load_table()
    groups = {k: g for k, g in table.groupby("curve", sort=True)}
    curves = {k: Curve(g["x"].to_numpy(), g["Loss"].to_numpy()) for k, g in groups.items()}
    sizes = np.array([len(g) for g in groups.values()])

    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(
        f"versions: scalefit {scalefit.__version__}, jax {jax.__version__} ({jax.default_backend()}), "
        f"numpy {np.__version__}, scipy {scipy.__version__}"
    )
    print(f"load average at start (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"problem: law M2 (y = e_inf + b x^-c) on {len(groups)} curves "
        f"({sum(k.startswith('IC') for k in groups)} vision + {sum(not k.startswith('IC') for k in groups)} "
        f"language), {len(table)} training rows ({sizes.min()}-{sizes.max()} per curve); "
        f"Huber(delta={DELTA:g}) of log-residuals; bootstrap B={B} per curve\n"
    )

    def score(key, fit) -> float:
        return curves[key].objective(curves[key].internal(fit.params))

    results = {}
    mem_start = memory()

    # (a) one call, every curve
    def by_call():
        return scalefit.fit_groups(law, table, "curve", target="Loss", seed=0, method=LeastSquares(bootstrap=B))

    with Measure() as m_warm:
        by_call()  # warm-up: compiles (or reads the persistent cache)
    with Measure() as ma:
        fits = by_call()
    results["a"] = {k: score(k, f) for k, f in fits.items()}
    conv_a = np.mean([f.bootstrap.converged for f in fits.values()])

    # (b) one call per curve
    per_call = []
    with Measure() as mb:
        loop_fits = {}
        for k, g in groups.items():
            t0 = time.perf_counter()
            loop_fits[k] = scalefit.fit_law(law, g, target="Loss", seed=0, method=LeastSquares(bootstrap=B))
            per_call.append(time.perf_counter() - t0)
    results["b"] = {k: score(k, f) for k, f in loop_fits.items()}
    conv_b = np.mean([f.bootstrap.converged for f in loop_fits.values()])

    # (c) the scipy loop
    rng = np.random.default_rng(0)
    with Measure() as mc:
        scipy_out = {k: scipy_curve(c, B, rng) for k, c in curves.items()}
    results["c"] = {k: v[1] for k, v in scipy_out.items()}
    conv_c = np.mean([v[3] / B for v in scipy_out.values()])

    print(f"{'method':66}{'wall s':>9}{'CPU s':>9}{'boot conv.':>11}")
    for label, m, conv in (
        ("(a) scalefit fit_law(..., by='curve'), one call (warm)", ma, conv_a),
        (f"(b) scalefit fit_law per curve, loop of {len(groups)} calls", mb, conv_b),
        ("(c) scipy: grid + least_squares best 5 + bootstrap loop, per curve", mc, conv_c),
    ):
        print(f"{label:66}{m.wall:9.2f}{m.cpu:9.2f}{conv:11.1%}")
    print(f"(a)'s untimed warm-up call, this process: {m_warm.wall:.2f} s wall, {m_warm.cpu:.2f} s CPU")
    order = np.argsort(per_call)[::-1]
    slow = np.asarray(per_call) > 5 * np.median(per_call)
    print(
        f"(b) per call: median {np.median(per_call):.3f} s; {slow.sum()} of {len(per_call)} calls took > 5x the "
        f"median (new shapes: compiles) and {np.sum(np.asarray(per_call)[slow]):.2f} s together; slowest: "
        + ", ".join(f"#{i + 1} {per_call[i]:.2f} s ({sizes[i]} rows)" for i in order[:6])
    )

    print("\nmemory (peak RSS is the process's high-water mark: it never goes down; maps = /proc/self/maps lines):")
    print(f"  after imports        {fmt_mem(mem_start)}")
    for label, m in (("(a) warm-up", m_warm), ("(a)", ma), ("(b)", mb), ("(c)", mc)):
        print(f"  {label:12} {show_memory(m.mem0, m.mem1)}")

    # agreement of optima
    print(f"\nsame optimum per curve (objectives scored by one numpy function, within rtol {RTOL:g}):")
    for x, y, name in (("a", "c", "scalefit (a) vs scipy (c)"), ("a", "b", "scalefit (a) vs scalefit (b)")):
        agreement(name, results[x], results[y], x, y)
    sd = np.array(
        [fits[k].draws["c"].std() / np.std(scipy_out[k][2][:, 2]) for k in groups if np.std(scipy_out[k][2][:, 2]) > 0]
    )
    print(
        f"  bootstrap SD of the exponent c, scalefit (a) / scipy (c): median {np.median(sd):.2f} over curves "
        f"(quartiles {np.quantile(sd, 0.25):.2f}-{np.quantile(sd, 0.75):.2f})"
    )

    print("\nratios scipy (c) / scalefit (> 1: scalefit faster):")
    print(f"  (a) one call:  wall {mc.wall / ma.wall:6.2f}x   CPU {mc.cpu / ma.cpu:6.2f}x")
    print(f"  (b) loop:      wall {mc.wall / mb.wall:6.2f}x   CPU {mc.cpu / mb.cpu:6.2f}x")

    cold, wall = cold_by(table, B)
    print(
        f"\n(a) in a fresh process with an EMPTY persistent cache: import {cold['import_s']:.2f} s, "
        f"fit_law(by='curve') {cold['fit_s']:.2f} s (includes compilation), import->result {cold['total_s']:.2f} s "
        f"(CPU {cold['cpu_s']:.2f} s), whole process {wall:.2f} s; {cold['curves']} curves"
    )
    print(
        f"  ratio scipy (c) / scalefit (a) cold: wall {mc.wall / cold['fit_s']:.2f}x (fit only), "
        f"{mc.wall / cold['total_s']:.2f}x (import->result)"
    )

    if not args.quick:  # how much the scipy optimum depends on the start grid (no bootstrap)
        print("\nscipy start-grid variants (optimum only, no bootstrap), vs scalefit (a):")
        raw = {k: Curve(g["x"].to_numpy(), g["Loss"].to_numpy(), normalise=False) for k, g in groups.items()}
        for label, cs, kw in (
            ("Epoch's grid, unscaled x, best 5", raw, dict(grid=epoch_grid)),
            ("curve-scaled grid, best 5 (= (c))", curves, {}),
            ("curve-scaled grid, best 10", curves, dict(polish=10)),
        ):
            w0 = time.perf_counter()
            found = {k: scipy_curve(c, 0, rng, **kw)[1] for k, c in cs.items()}
            agreement(f"{label} ({time.perf_counter() - w0:.1f} s)", results["a"], found, "a", "scipy", show=3)
    return True


def agreement(name: str, first: dict, second: dict, x: str, y: str, show: int | None = None) -> None:
    bad = [(k, first[k], second[k]) for k in first if not np.isclose(first[k], second[k], rtol=RTOL, atol=0)]
    print(f"  {name}: {len(first) - len(bad)} of {len(first)} agree")
    for k, u, v in bad[:show]:
        lower = x if u < v else y
        print(f"    {k:42} {x}: {u:.10g}  {y}: {v:.10g}  ({lower} lower by {abs(u - v) / max(u, v):.2%})")
    if show is not None and len(bad) > show:
        print(f"    ... and {len(bad) - show} more")


def print_load() -> None:
    print(f"\nload average at end (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    if main():
        print_load()
