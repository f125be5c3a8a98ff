"""A fresh process: ``scalefit fit`` against the 25-line scipy script users would write (issue 24).

    .venv/bin/python benchmarks/bench_cold.py [--runs 7] [--csv chin.csv]

Whole processes, timed from outside (wall: a monotonic clock around ``subprocess.run``; CPU:
the finished children's user + system seconds), A and B interleaved (A B A B ...) after one
warm-up each, the ratio taken pair by pair; medians with (min-max). Cases:

1. point fit: ``python -m scalefit fit chin.csv --law chinchilla --target loss --bootstrap 0``
   vs ``python benchmarks/cold_scipy.py chin.csv`` (Epoch's 4,500-point start grid with
   numpy, the best 5 polished by ``least_squares``, Huber 1e-3 on log-residuals);
2. the default CLI fit (1,000 case-bootstrap replicates) vs the scipy script plus 1,000
   refits from its optimum (``--refits 1000``);
3. the first ``fit_law`` in a fresh Python, beyond ``import jax`` (measured inside the child:
   from after ``import jax`` to the fit's return, scalefit's and pandas' imports included).

Each case runs with scalefit's caches as a user meets them: ``warm`` — the default cache
directory already holds this law's programs (every process after a machine's first); ``first``
— an empty cache directory each time (a machine's very first fit: compiles, exports and
writes); ``off`` — ``SCALEFIT_CACHE_DIR=off`` (compiles every time). ``chin.csv``: Epoch's
Chinchilla points as ``bench_fit.py`` reads them (240 runs; columns N, D, loss), written to a
temporary directory unless ``--csv`` names one.

Bytecode: scalefit's modules are compiled to ``__pycache__`` first (``compileall``), as
``pip install`` does for an installed package and as Python does on a first import unless
``PYTHONDONTWRITEBYTECODE`` is set (it is on the dev machine: without this step every timed
process compiled scalefit's ~60 modules from source, 0.1 s that no user pays, while numpy,
pandas and scipy were read from their installed bytecode).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable

FIRST_FIT = """
import sys, time
import jax
t = time.perf_counter()
import pandas as pd
import scalefit
fit = scalefit.fit_law(scalefit.chinchilla, pd.read_csv(sys.argv[1]), target="loss",
                       method=scalefit.LeastSquares(bootstrap=0))
print("SECONDS", time.perf_counter() - t)
"""


def _run(cmd: list[str], env: dict) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def _env(cache: str, tmp: Path) -> dict:
    env = dict(os.environ)
    if cache == "off":
        env["SCALEFIT_CACHE_DIR"] = "off"
    elif cache == "first":
        env["SCALEFIT_CACHE_DIR"] = tempfile.mkdtemp(dir=tmp)  # a new empty one each run
    else:
        env["SCALEFIT_CACHE_DIR"] = str(tmp / "warm-cache")
    return env


def _summary(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.2f} ({min(xs):.2f}-{max(xs):.2f})"


def paired(name: str, a: list[str], b: list[str], cache: str, runs: int, tmp: Path) -> None:
    _run(a, _env(cache, tmp))  # warm-up: fills the warm cache; the OS's file cache for both
    _run(b, _env(cache, tmp))
    aw, bw, ac, bc = [], [], [], []
    for _ in range(runs):
        w, c, _out = _run(a, _env(cache, tmp))
        aw.append(w), ac.append(c)
        w, c, _out = _run(b, _env(cache, tmp))
        bw.append(w), bc.append(c)
    ratio = [x / y for x, y in zip(aw, bw, strict=True)]
    cpu_ratio = [x / y for x, y in zip(ac, bc, strict=True)]
    print(
        f"{name:<34} cache {cache:<5}  scalefit wall {_summary(aw)} s  baseline wall {_summary(bw)} s  "
        f"ratio wall {_summary(ratio)}  cpu {_summary(cpu_ratio)}",
        flush=True,
    )


def first_fit(cache: str, runs: int, tmp: Path, csv: Path) -> None:
    _run([PY, "-c", FIRST_FIT, str(csv)], _env(cache, tmp))
    secs = []
    for _ in range(runs):
        out = _run([PY, "-c", FIRST_FIT, str(csv)], _env(cache, tmp))[2]
        secs.append(float(out.split("SECONDS")[-1]))
    print(f"{'first fit_law beyond import jax':<34} cache {cache:<5}  {_summary(secs)} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--cases", default="point,bootstrap,first", help="comma-separated subset")
    ap.add_argument("--caches", default="warm,first,off", help="comma-separated subset")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        csv = args.csv
        if csv is None:
            sys.path.insert(0, str(HERE))
            from bench_fit import load_runs

            csv = tmp / "chin.csv"
            load_runs()[["N", "D", "loss"]].to_csv(csv, index=False)
        fit = [PY, "-m", "scalefit", "fit", str(csv), "--law", "chinchilla", "--target", "loss"]
        scipy = [PY, str(HERE / "cold_scipy.py"), str(csv)]
        import scalefit

        compiled = compileall.compile_dir(Path(scalefit.__file__).parent, quiet=1)
        load = os.getloadavg()[0]
        print(f"scalefit bytecode compiled: {bool(compiled)}")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {load:.2f}; runs {args.runs}")
        for cache in args.caches.split(","):
            if "point" in args.cases:
                paired("point fit (--bootstrap 0)", [*fit, "--bootstrap", "0"], scipy, cache, args.runs, tmp)
            if "bootstrap" in args.cases:
                paired("default fit (1,000 replicates)", fit, [*scipy, "--refits", "1000"], cache, args.runs, tmp)
            if "first" in args.cases:
                first_fit(cache, args.runs, tmp, csv)
        print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
