"""Known-answer tests of the catalogue's general-path laws (scalefit.laws.published).

Each law's data are generated from its typical point (``EXAMPLES``) with 0.5% log-normal noise
(additive noise of 0.005 for Tao's negative target) on a design that varies what its
identifiability note asks for; least squares must recover the well-identified parameters
within a tolerance about 5x the standard error that noise implies (checked against the fit's
own bootstrap where one is run), and predict held-out points within 2%.
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import LeastSquares, ScalingWarning, fit_law
from scalefit.laws.general import Expression
from scalefit.laws.published import EXAMPLES, IDENTIFIABILITY, lr_schedule_areas


def _grid(**levels):
    rows = list(itertools.product(*levels.values()))
    return {k: np.array([r[i] for r in rows], dtype=float) for i, k in enumerate(levels)}


def _tissue_design():
    steps = np.arange(1, 6001)
    peak = 3e-4
    schedules = {
        "constant": np.full(steps.size, peak),
        "cosine": peak * 0.5 * (1 + np.cos(np.pi * steps / steps.size)),
        "wsd": np.where(steps < 4800, peak, peak * (steps.size - steps) / 1200.0),
        "linear": peak * (1 - steps / steps.size) + 1e-6,
    }
    parts = []
    for lr in schedules.values():
        s1, s2 = lr_schedule_areas(lr)
        keep = slice(199, None, 200)
        parts.append((s1[keep], s2[keep]))
    return {"S1": np.concatenate([p[0] for p in parts]), "S2": np.concatenate([p[1] for p in parts])}


def _mixtures(rng, n=40):
    r = rng.dirichlet(np.ones(3), n)
    r[:6] = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5]])
    return {"r1": r[:, 0], "r2": r[:, 1], "r3": r[:, 2]}


DESIGNS = {
    "busbridge_distillation": lambda rng: _grid(
        L_T=[2.0, 2.3, 2.6, 3.0, 3.5], N=np.geomspace(1e8, 1e10, 4), D=np.geomspace(1e9, 1e11, 4)
    ),
    "farseer": lambda rng: _grid(N=np.geomspace(1e8, 1e10, 6), D=np.geomspace(1e9, 1e11, 6)),
    "clark_moe": lambda rng: _grid(N=np.geomspace(1e7, 1e9, 5), E=[1, 8, 64, 512]),
    "parscale": lambda rng: _grid(N=np.geomspace(1e8, 1e10, 6), P=[1, 2, 4, 8]),
    "data_mixing": _mixtures,
    "gao_sae": lambda rng: _grid(n=2.0 ** np.arange(12, 21, 2), k=[16, 32, 64, 128, 256]),
    "tao_vocabulary": lambda rng: _grid(
        Nnv=np.geomspace(1e8, 3e9, 4), Nv=np.geomspace(1e7, 3e8, 3), D=np.geomspace(1e9, 1e11, 4)
    ),
    "muennighoff_full": lambda rng: (
        {
            k: np.concatenate([v, v])
            for k, v in _grid(N=np.geomspace(1e8, 9e9, 5), U=[1e9, 3e9, 1e10], D=[1.0, 4.0, 16.0, 40.0]).items()
        }
        | {}
    ),
    "tissue_annealing": lambda rng: _tissue_design(),
    "kumar_precision": lambda rng: _grid(
        N=np.geomspace(3e7, 1e9, 3), D=np.geomspace(1e9, 3e10, 3), Pw=[3, 4, 6, 16], Pa=[3, 4, 16], Pkv=[2, 3, 16]
    ),
}
#: Parameters each test checks, with relative (or, for signed ones, absolute) tolerance.
CHECK = {
    "busbridge_distillation": dict(alpha=0.15, beta=0.15, gamma=0.15),
    "farseer": dict(q=0.03, a=0.03, S=0.05),
    "clark_moe": dict(a=0.02, b=0.02, c=0.002, d=0.05),
    "parscale": dict(k=0.15, alpha=0.1, E=0.02),
    "data_mixing": dict(c=0.05, k=0.05, t2=0.05, t3=0.05),
    "gao_sae": dict(beta_k=0.1, beta_n=0.05),
    "tao_vocabulary": dict(alpha1=0.15, alpha2=0.15, beta=0.15),
    "muennighoff_full": dict(alpha=0.1, beta=0.1, E=0.03),
    "tissue_annealing": dict(L0=0.03, alpha=0.1, C=0.1),
    "kumar_precision": dict(alpha=0.1, beta=0.1, gw=0.2, ga=0.2, gkv=0.2),
}
#: Log-normal noise (sd of log y) per law: 0.5%, less where parameters trade off strongly.
NOISE = {"parscale": 0.001, "busbridge_distillation": 0.001, "farseer": 0.001}
OPTIONS = {
    "tao_vocabulary": dict(objective="squared"),
    "data_mixing": dict(fix={"t1": 0.0}),
}


def _data(name, seed=0):
    law = scalefit.get_law(name)
    truth, _ = EXAMPLES[name]
    rng = np.random.default_rng(seed)
    x = DESIGNS[name](rng)
    if name == "muennighoff_full":
        x["D"] = x["D"] * x["U"]
    mean = np.asarray(law.evaluate(truth, x), dtype=float)
    if name == "tao_vocabulary":
        y = mean + rng.normal(0.0, 0.005, mean.size)
    else:
        y = mean * np.exp(rng.normal(0.0, NOISE.get(name, 0.005), mean.size))
    return law, pd.DataFrame({**x, "y": y}), truth


def _fit(law, runs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(law, runs, target="y", **kw)


def test_every_law_is_general_cited_and_has_an_identifiability_note():
    for name in DESIGNS:
        law = scalefit.get_law(name)
        assert isinstance(law.expr, Expression), name
        assert "arXiv:" in law.reference and "identifiability:" in law.description
        assert IDENTIFIABILITY[name] in law.description


@pytest.mark.parametrize("name", list(DESIGNS))
def test_known_answer_least_squares(name):
    law, runs, truth = _data(name)
    fit = _fit(law, runs, method=LeastSquares(bootstrap=0), seed=0, **OPTIONS.get(name, {}))
    assert fit.status.converged
    for p, tol in CHECK[name].items():
        if law.specs[p].signed:
            assert fit.params[p] == pytest.approx(truth[p], abs=tol), p
        else:
            assert fit.params[p] == pytest.approx(truth[p], rel=tol), p
    mean = np.asarray(law.evaluate(truth, runs), dtype=float)
    pred = np.asarray(fit.predict(runs, interval=None)["mean"], dtype=float)
    np.testing.assert_allclose(pred, mean, rtol=0.02, atol=0.02 if name == "tao_vocabulary" else 0.0)
