"""Alabdulmohsin, Neyshabur & Zhai 2022 (arXiv 2209.06640) estimators M1-M3 in the catalogue:
known answers, unit invariance of M3 (a power of a sum), both fitters, and the published NMT
extrapolation errors."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import NUTS, LeastSquares, ScalingWarning, fit_law

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "revisiting_scaling_laws" / "benchmark.lang.csv"

TRUTH = {
    "revisiting_m1": dict(b=3.0, c=0.35),
    "revisiting_m2": dict(e_inf=0.08, b=4.0, c=0.5),
    "revisiting_m3": dict(b=2.0, g=2e-5, c=0.4),
}


def _runs(name, x, sigma=0.003, seed=0):
    law = scalefit.get_law(name)
    rng = np.random.default_rng(seed)
    y = law.evaluate(TRUTH[name], x=x) * np.exp(rng.normal(0.0, sigma, x.size))
    return law, pd.DataFrame({"x": x, "y": y})


def _fit(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(*args, **kw)


def test_formulas_and_citations():
    assert str(scalefit.revisiting_m1) == "b * x^-c"
    assert str(scalefit.revisiting_m2) == "e_inf + b * x^-c"
    assert str(scalefit.revisiting_m3) == "b * (x^-1 + g)^c"
    for name in TRUTH:
        assert "2209.06640" in scalefit.get_law(name).reference
    assert scalefit.revisiting_m3.specs["c"].role == "exponent"
    assert scalefit.revisiting_m3.specs["g"].role == "constant"


@pytest.mark.parametrize("name", list(TRUTH))
def test_known_answer_least_squares(name):
    """Data from known parameters (0.3% log-normal noise, 4 decades of x): each recovered within 5%."""
    law, runs = _runs(name, np.geomspace(1e3, 1e7, 16))
    fit = _fit(law, runs, target="y", seed=0, method=LeastSquares(bootstrap=0))
    assert fit.status.converged
    for p, v in TRUTH[name].items():
        assert fit.params[p] == pytest.approx(v, rel=0.05), p


def test_m3_fits_are_the_same_in_any_unit_of_x():
    """x in thousands: exponents and predictions agree to 1e-4; g and b carry the unit exactly."""
    law, runs = _runs("revisiting_m3", np.geomspace(1e3, 1e7, 16), sigma=0.01, seed=1)
    k = 1e-3
    base = _fit(law, runs, target="y", seed=0, method=LeastSquares(bootstrap=0))
    scaled = _fit(law, runs.assign(x=runs.x * k), target="y", seed=0, method=LeastSquares(bootstrap=0))
    c = base.params["c"]
    assert scaled.params["c"] == pytest.approx(c, rel=1e-4)
    assert scaled.params["g"] == pytest.approx(base.params["g"] / k, rel=1e-4)
    assert scaled.params["b"] == pytest.approx(base.params["b"] * k**c, rel=1e-4)
    np.testing.assert_allclose(
        law.evaluate(scaled.params, x=runs.x.to_numpy() * k), law.evaluate(base.params, x=runs.x.to_numpy()), rtol=1e-4
    )


def test_m3_bayesian_fit_recovers_truth():
    law, runs = _runs("revisiting_m3", np.geomspace(1e3, 1e7, 16), sigma=0.01, seed=2)
    fit = _fit(
        law,
        runs,
        target="y",
        method=NUTS(chains=2, draws=300, max_draws=300, warmup=300, init=LeastSquares(bootstrap=0, starts=64)),
        seed=0,
    )
    for p, v in TRUTH["revisiting_m3"].items():
        assert fit.params[p] == pytest.approx(v, rel=0.25), p
    assert np.isfinite(fit.draws["g"].to_numpy()).all()


# -- published NMT extrapolation errors ------------------------------------------------
#: Alabdulmohsin et al. 2022, Table (NMT), as transcribed in ../shared/data/README.md: RMSE of
#: log predictions on the held-out points (Training == 0), estimators fitted on Training == 1.
PUBLISHED = {
    "6 Enc, 6 Dec": (0.26, 0.039, 0.089),
    "28 Enc, 6 Dec": (0.17, 0.056, 0.033),
    "6 Enc, 28 Dec": (0.23, 0.053, 0.016),
    "TEnc-LSTM": (0.19, 0.013, 0.062),
}


def nmt_rmse(objective="squared_log"):
    """RMSE of log predictions of scalefit's M1-M3 per NMT model (the paper's protocol)."""
    df = pd.read_csv(DATA).drop_duplicates()
    out = {}
    for model in PUBLISHED:
        g = df[(df.Domain == "NMT") & (df.Model == model)]
        train, test = g[g.Training == 1].rename(columns={"Seen Examples": "x"}), g[g.Training == 0]
        row = []
        for name in TRUTH:
            law = scalefit.get_law(name)
            fit = _fit(law, train, target="Loss", seed=0, objective=objective, method=LeastSquares(bootstrap=0))
            pred = np.asarray(law.evaluate(fit.params, x=test["Seen Examples"].to_numpy()))
            row.append(float(np.sqrt(np.mean((np.log(pred) - np.log(test.Loss.to_numpy())) ** 2))))
        out[model] = row
    return out


@pytest.fixture(scope="module")
def nmt():
    if not DATA.exists():
        pytest.skip(f"{DATA} is absent (the shared real-data folder is not part of the package)")
    return nmt_rmse()


@pytest.mark.parametrize("model", list(PUBLISHED))
def test_nmt_m1_reproduces_the_published_error(nmt, model):
    """M1 fitted by least squares on log values (the paper's objective) reproduces the
    published extrapolation RMSE within 10%."""
    assert nmt[model][0] == pytest.approx(PUBLISHED[model][0], rel=0.10)


@pytest.mark.parametrize("model", list(PUBLISHED))
def test_nmt_m3_extrapolates_at_least_as_well_as_published(nmt, model):
    """scalefit's M3 reaches a lower training objective than the paper's alternating
    closed-form / grid fit, and its extrapolation error is no worse than the published one."""
    assert nmt[model][2] <= PUBLISHED[model][2] * 1.10


@pytest.mark.xfail(
    strict=True,
    reason="M2/M3 do not land within 10% of the published NMT numbers: scalefit's M3 extrapolates better "
    "(0.006-0.018 vs 0.016-0.089) and M2 fits log y, while the paper fits log(y - e_inf); the paper's own "
    "procedures, written in benchmarks/bench_extrapolation.py, do reproduce them within 3% "
    "(tests/test_bench_extrapolation.py), so the data and protocol are right and the estimators differ",
)
@pytest.mark.parametrize("model", list(PUBLISHED))
def test_nmt_m2_m3_within_ten_percent_of_published(nmt, model):
    for got, want in zip(nmt[model][1:], PUBLISHED[model][1:], strict=True):
        assert got == pytest.approx(want, rel=0.10)
