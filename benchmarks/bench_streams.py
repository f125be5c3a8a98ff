"""Benchmark: replicates in one stream or two (``scalefit.fitting.lsq.STREAMS``), in one process (issue 24).

Two workloads, each timed three times per setting, the settings interleaved after one untimed
call each (compilation and caches out of the way): 1,000 ``by=`` groups of the synthetic
curves of ``bench_groups.py`` (64 starts each: 64,000 exploring lanes), and Chinchilla's 240
runs (``--csv``, columns N, D, loss; default: Epoch's points as ``bench_fit.py`` reads them)
with 1,000 bootstrap replicates (refitted 250 at a time: one stream either way — a check that
nothing regresses).

    .venv/bin/python benchmarks/bench_streams.py [--csv chin.csv]

Prints each setting's three wall times and the ratio of medians (two streams / one: < 1 is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import scalefit
from scalefit import LeastSquares
from scalefit.fitting import lsq

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_fit import load_runs
    from bench_groups import make_table

    warnings.simplefilter("ignore", scalefit.ScalingWarning)
    law = scalefit.get_law("revisiting_m2")
    table = make_table(1000)
    runs = pd.read_csv(args.csv) if args.csv else load_runs()[["N", "D", "loss"]]

    def groups():
        scalefit.fit_groups(
            law, table, "curve", target="y", mapping={"x": "x"}, seed=0, method=LeastSquares(bootstrap=0)
        )

    def boot():
        scalefit.fit_law(scalefit.chinchilla, runs, target="loss", method=LeastSquares(bootstrap=1000))

    print(f"streams possible here: {len(lsq.streams(10_000, 256))}; load {__import__('os').getloadavg()[0]:.2f}")
    for name, fn in (("by= 1,000 groups", groups), ("Chinchilla + 1,000 bootstrap", boot)):
        times: dict[int, list[float]] = {1: [], 2: []}
        for k in (1, 2):  # untimed: compilation, caches
            lsq.STREAMS = k
            fn()
        for _ in range(3):
            for k in (1, 2):
                lsq.STREAMS = k
                w = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - w)
        ratio = statistics.median(times[2]) / statistics.median(times[1])
        shown = {k: " ".join(f"{x:.2f}" for x in v) for k, v in times.items()}
        print(f"{name:<30} one stream {shown[1]} s   two streams {shown[2]} s   ratio of medians {ratio:.2f}")


if __name__ == "__main__":
    main()
