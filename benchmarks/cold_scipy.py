"""The 25-line scipy script a fresh `scalefit fit` is compared with (issue 24): Chinchilla's
L = E + A N^-alpha + B D^-beta, Huber(1e-3) of log-residuals, Epoch's 4,500-point start grid
evaluated with numpy, the best 5 polished with least_squares; ``--refits B``: then B
case-bootstrap refits from the optimum. Usage: python cold_scipy.py chin.csv [--refits 1000]"""

# ruff: noqa: E302, E305, B023, B905
# fmt: off
import sys

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

df = pd.read_csv(sys.argv[1])
lN, lD, ly = np.log(df["N"].to_numpy()), np.log(df["D"].to_numpy()), np.log(df["loss"].to_numpy())
def lse(p, i=slice(None)):  # p = (a, b, e, alpha, beta): log L = LSE(a - alpha lN, b - beta lD, e)
    return np.logaddexp(np.logaddexp(p[0] - p[3] * lN[i], p[1] - p[4] * lD[i]), p[2])
def huber(r):
    a = np.abs(r)
    return np.where(a <= 1e-3, 0.5 * r * r, 1e-3 * (a - 0.5e-3)).sum(axis=-1)
grid = np.array(np.meshgrid(np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
                            np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5))).reshape(5, -1).T
f = [huber(lse(p) - ly) for p in grid]
fits = [least_squares(lambda p: lse(p) - ly, s, loss="huber", f_scale=1e-3) for s in grid[np.argsort(f)[:5]]]
best = min(fits, key=lambda r: r.cost).x
refits = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--refits" else 0
rng, boot = np.random.default_rng(0), []
for _ in range(refits):
    i = rng.integers(0, len(ly), len(ly))
    boot.append(least_squares(lambda p: lse(p, i) - ly[i], best, loss="huber", f_scale=1e-3).x)
print(dict(zip(["a", "b", "e", "alpha", "beta"], best.round(5))), len(boot))
