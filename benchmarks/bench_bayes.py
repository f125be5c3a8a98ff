"""Benchmark: scalefit's Bayesian fit vs a plain NumPyro model a user would hand-write.

Both run NUTS with 4 chains x (1000 warm-up + 1000 draws), vectorised chains, on paper
Eq. 1 and the embedded 196-run SYNTHETIC grid with log-normal noise. The hand-written
model is what the NumPyro examples suggest: log-normal priors on every positive
parameter, ``log y ~ Normal(log f, sigma)``, default diagonal mass matrix and
initialisation. scalefit's time includes its least-squares initialisation.

    python benchmarks/bench_bayes.py

Prints wall time, the minimum bulk ESS over parameters, ESS per second, divergences and
max R-hat for both, and the ratios.
"""

from __future__ import annotations

import os
import platform
import time
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS

import scalefit

CHAINS, WARMUP, DRAWS = 4, 1000, 1000
PARAMS = scalefit.paper_error.parameters


def hand_written(x, y):
    logx = {k: jnp.log(v) for k, v in x.items()}
    logy = jnp.log(y)

    def model():
        e_inf = numpyro.sample("E_inf", dist.LogNormal(np.log(0.05), 2.0))
        alpha = numpyro.sample("alpha", dist.LogNormal(np.log(0.5), 1.0))
        lambda_p = numpyro.sample("lambda_p", dist.LogNormal(0.0, 5.0))
        beta = numpyro.sample("beta", dist.LogNormal(np.log(0.5), 1.0))
        lambda_m = numpyro.sample("lambda_m", dist.LogNormal(0.0, 5.0))
        gamma = numpyro.sample("gamma", dist.LogNormal(np.log(0.5), 1.0))
        lambda_f = numpyro.sample("lambda_f", dist.LogNormal(0.0, 5.0))
        sigma = numpyro.sample("sigma", dist.HalfNormal(0.5))
        f = (
            e_inf
            + jnp.exp(-alpha * logx["Dp"]) / lambda_p
            + jnp.exp(-beta * logx["M"]) / lambda_m
            + jnp.exp(-gamma * logx["Df"]) / lambda_f
        )
        numpyro.sample("y", dist.Normal(jnp.log(f), sigma), obs=logy)

    mcmc = MCMC(NUTS(model), num_warmup=WARMUP, num_samples=DRAWS, num_chains=CHAINS,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.PRNGKey(0), extra_fields=("diverging",))
    idata = az.from_numpyro(mcmc)
    return idata, int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())


def report(name, seconds, idata_or_diag, divergences):
    if isinstance(idata_or_diag, dict):
        ess = min(idata_or_diag["ess_bulk"][p] for p in PARAMS)
        rhat = max(idata_or_diag["r_hat"][p] for p in PARAMS)
    else:
        ess = min(float(az.ess(idata_or_diag, method="bulk")[p]) for p in PARAMS)
        rhat = max(float(az.rhat(idata_or_diag)[p]) for p in PARAMS)
    print(f"{name:34}{seconds:9.1f}{ess:11.0f}{ess / seconds:10.1f}{divergences:9d}{rhat:11.4f}")
    return ess / seconds


def main() -> None:
    warnings.simplefilter("ignore")
    runs = scalefit.example_runs()
    x = {v: runs[v].to_numpy(float) for v in ("Dp", "M", "Df")}
    y = runs["error"].to_numpy(float)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"versions: scalefit {scalefit.__version__}, jax {jax.__version__}, numpyro {numpyro.__version__}")
    print(f"problem: paper Eq. 1, {len(y)} runs, {CHAINS} chains x ({WARMUP} warm-up + {DRAWS} draws)\n")
    print(f"{'':34}{'wall s':>9}{'min ESS':>11}{'ESS/s':>10}{'diverg.':>9}{'max R-hat':>11}")

    t0 = time.perf_counter()
    with jax.enable_x64(True):
        idata, div = hand_written(x, y)
    t_plain = time.perf_counter() - t0
    plain = report("hand-written NumPyro model", t_plain, idata, div)

    t0 = time.perf_counter()
    fit = scalefit.fit_law(
        scalefit.paper_error,
        runs,
        target="error",
        method=NUTS(chains=CHAINS, warmup=WARMUP, draws=DRAWS, max_draws=DRAWS),
    )
    t_fit = time.perf_counter() - t0
    ours = report(
        "scalefit fit_law(method='bayes')", t_fit, fit.bayes.diagnostics, fit.bayes.diagnostics["divergences"]
    )

    print(f"\nwall time scalefit / hand-written: {t_fit / t_plain:.2f}   (target: scalefit under 60 s)")
    print(f"ESS per second scalefit / hand-written: {ours / plain:.2f}")


if __name__ == "__main__":
    main()
