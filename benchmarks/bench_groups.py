"""Benchmark: the first ``fit_law(..., by=...)`` call in a fresh process, 10 / 100 / 1,000 groups (issue 24).

Table: SYNTHETIC learning curves of law M2 (``y = e_inf + b x^-c``, ``scalefit.get_law("revisiting_m2")``),
one curve per group, 12 points each (x = 2^10 ... 2^21), parameters drawn per curve (e_inf
U(0.05, 0.5), b U(1, 20), c U(0.2, 0.8)), 2% log-normal noise, seed 0. Each group count runs
in its own fresh process. ``--cache off`` (default): the persistent caches off
(``SCALEFIT_CACHE_DIR=off``), so the time is what a machine's very first call costs —
compilation plus work — import excluded. ``--cache warm``: a temporary cache directory, filled
by one untimed run of the same group count, then the timed run — what every later process pays
(the work, and reading the programs back).

    .venv/bin/python benchmarks/bench_groups.py [--groups 10 100 1000] [--bootstrap 0] [--cache off|warm]

The issue's target: the 1,000-group first call at most 1.5x the 10-group one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from scalefit import LeastSquares


def make_table(groups: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = 2.0 ** np.arange(10, 22)
    parts = []
    for g in range(groups):
        e, b, c = rng.uniform(0.05, 0.5), rng.uniform(1, 20), rng.uniform(0.2, 0.8)
        y = (e + b * x**-c) * np.exp(rng.normal(0, 0.02, len(x)))
        parts.append(pd.DataFrame({"curve": f"c{g:04d}", "x": x, "y": y}))
    return pd.concat(parts, ignore_index=True)


def child(groups: int, bootstrap: int) -> None:
    import warnings

    import scalefit

    warnings.simplefilter("ignore", scalefit.ScalingWarning)
    law = scalefit.get_law("revisiting_m2")
    table = make_table(groups)
    w0, c0 = time.perf_counter(), time.process_time()
    fits = scalefit.fit_groups(
        law, table, "curve", target="y", mapping={"x": "x"}, seed=0, method=LeastSquares(bootstrap=bootstrap)
    )
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    ok = sum(f.status.converged for f in fits.values())
    print(json.dumps(dict(wall=wall, cpu=cpu, converged=ok, groups=len(fits))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--bootstrap", type=int, default=0)
    ap.add_argument("--cache", choices=("off", "warm"), default="off")
    args = ap.parse_args()
    command = " ".join([os.path.basename(sys.executable), *sys.argv])
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; command: {command}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    scratch = tempfile.TemporaryDirectory()
    env = {**os.environ, "SCALEFIT_CACHE_DIR": "off" if args.cache == "off" else scratch.name}
    first = None
    for g in args.groups:
        for _ in range(1 if args.cache == "off" else 2):  # warm: the first run fills the cache
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(g), str(args.bootstrap)], capture_output=True, text=True,
                env=env,
            )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        first = first or r["wall"]
        print(f"{g:>5} groups  first call wall {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  "
              f"converged {r['converged']}/{r['groups']}  ratio to the first row {r['wall'] / first:.2f}x")  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
