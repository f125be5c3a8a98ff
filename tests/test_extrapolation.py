"""Prediction intervals beyond the runs: the extrapolation-error model (issue 19)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import ExtrapolationModel, LeastSquares, ScalefitError, ScalingWarning, fit_groups, revisiting_m2

LEVEL = 0.9


def _curve(rng, n=16):
    """A learning curve that M2 cannot extrapolate exactly: its exponent steepens after a
    break somewhere beyond the fitted runs (a broken power law), with log-normal noise."""
    x = np.geomspace(1e3, 1e7, n)
    c0, c1 = rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.6)
    d = 10 ** rng.uniform(4.5, 7.0)
    e = rng.uniform(0.02, 0.1)

    def law(z):
        return e + 5.0 * z**-c0 * (1 + z / d) ** -c1

    return x, law, rng.uniform(0.003, 0.015)


def _simulated(seed, curves):
    """Curves fitted by M2 on x <= 1e5, held-out points at 1e5 < x <= 1e7: records as in
    benchmarks/loso_records.py (errors and features of each held-out point)."""
    rng = np.random.default_rng(seed)
    train, truth = [], []
    for i in range(curves):
        x, law, noise = _curve(rng)
        y = law(x) * np.exp(rng.normal(0, noise, len(x)))
        keep = x <= 1e5
        train.append(pd.DataFrame({"curve": i, "x": x[keep], "y": y[keep]}))
        truth.append((x[~keep], y[~keep]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fits = fit_groups(
            revisiting_m2, pd.concat(train), "curve", target="y", seed=seed, method=LeastSquares(bootstrap=200)
        )
    return fits, truth


def _records(fits, truth):
    err, feats = [], {"distance": [], "slope_distance": [], "sigma": [], "spread": []}
    for i, (xt, yt) in enumerate(truth):
        fit = fits[i]
        own = fit.predict({"x": xt}, LEVEL, extrapolation=None)
        mean = own["mean"].to_numpy()
        f = ExtrapolationModel.features(fit.law, fit.params, fit.runs.ranges, fit.log_residual_scale, {"x": xt})
        f["spread"] = 0.5 * np.log(own["pi_upper"] / own["pi_lower"]).to_numpy()
        err.append(np.log(yt) - np.log(mean))
        for k in feats:
            feats[k].append(f[k])
    return np.concatenate(err), {k: np.concatenate(v) for k, v in feats.items()}


@pytest.fixture(scope="module")
def calibrated():
    fits, truth = _simulated(0, 60)
    err, feats = _records(fits, truth)
    return ExtrapolationModel.calibrate(err, feats, np.ones(len(err)), terms=("spread", "slope_distance"))


@pytest.mark.filterwarnings(r"ignore:predict\(\). \d+ of \d+ predictions depend on:scalefit.errors.ScalingWarning")
def test_a_model_calibrated_on_some_curves_covers_new_ones(calibrated):
    """Exchangeability across curves: calibrated on 60 curves, the intervals of 60 new curves
    of the same kind cover about 90% of their held-out points — two-sided, with a band from
    the binomial noise of 60 independent curves (held-out points of one curve are
    correlated, so the curves, not the points, count), and they are not uselessly wide."""
    fits, truth = _simulated(1, 60)
    inside, boot_inside, width = [], [], []
    for i, (xt, yt) in enumerate(truth):
        p = fits[i].predict({"x": xt}, LEVEL, extrapolation=calibrated)
        b = fits[i].predict({"x": xt}, LEVEL, extrapolation=None)
        inside.append(np.mean((p["pi_lower"] <= yt) & (yt <= p["pi_upper"])))
        boot_inside.append(np.mean((b["pi_lower"] <= yt) & (yt <= b["pi_upper"])))
        width.append(np.median(np.log(p["pi_upper"] / p["pi_lower"])))
    cov = float(np.mean(inside))
    band = 3.0 * np.sqrt(LEVEL * (1 - LEVEL) / len(truth))
    assert LEVEL - band <= cov <= min(1.0, LEVEL + band)
    assert np.mean(boot_inside) < LEVEL - band  # the bootstrap alone is over-confident here
    assert np.median(width) < 1.0  # a 90% interval narrower than a factor e: still informative


def test_intervals_widen_with_distance_and_say_how_far(calibrated):
    fits, _ = _simulated(2, 1)
    fit = fits[0]
    hi = fit.runs.ranges["x"][1]
    x = np.array([1e4, hi, hi * 10, hi * 100, hi * 1000])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the farthest is beyond the calibrated distances
        p = fit.predict({"x": x}, LEVEL, extrapolation=calibrated)
        plain = fit.predict({"x": x}, LEVEL, extrapolation=None)
    width = np.log(p["pi_upper"] / p["pi_lower"]).to_numpy()
    assert np.all(np.diff(width[1:]) > 0)  # beyond the runs: farther is wider
    inside = p["decades_beyond"].to_numpy() == 0
    assert inside.tolist() == [True, True, False, False, False]
    np.testing.assert_allclose(p["decades_beyond"].to_numpy()[2:], [1.0, 2.0, 3.0], rtol=1e-9)
    pd.testing.assert_series_equal(p["pi_lower"][inside], plain["pi_lower"][inside])  # inside: untouched
    assert np.all(p["pi_lower"] <= plain["pi_lower"]) and np.all(p["pi_upper"] >= plain["pi_upper"])


def test_far_beyond_the_calibrated_distances_is_flagged(calibrated):
    fits, _ = _simulated(3, 1)
    far = 1e5 * np.exp(calibrated.max_distance) * 100
    with pytest.warns(ScalingWarning, match="further than any curve the extrapolation model was calibrated on"):
        p = fits[0].predict({"x": [1e5, far]}, LEVEL, extrapolation=calibrated)
    assert p["supported"].tolist() == [True, False]


def test_the_shipped_model_loads_with_its_provenance():
    model = ExtrapolationModel.default()
    assert model.provenance["sources"] and model.provenance["built_by"].startswith("benchmarks/")
    feats = {"distance": np.array([1.0]), "slope_distance": [0.1], "sigma": [0.01], "spread": [0.02]}
    lower, upper = model.limits(feats, LEVEL)
    assert lower[0] < 0 < upper[0]
    again = ExtrapolationModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model
    # a wider interval at a higher level
    lo99, hi99 = model.limits(feats, 0.99)
    assert lo99[0] <= lower[0] and hi99[0] >= upper[0]


def test_the_default_predict_uses_the_shipped_model():
    fits, _ = _simulated(4, 1)
    x = {"x": [1e6]}
    a = fits[0].predict(x, LEVEL)
    b = fits[0].predict(x, LEVEL, extrapolation=ExtrapolationModel.default())
    pd.testing.assert_frame_equal(a, b)
    assert a["pi_upper"].iloc[0] > fits[0].predict(x, LEVEL, extrapolation=None)["pi_upper"].iloc[0]


def test_bad_models_and_options_are_named():
    with pytest.raises(ScalefitError, match="extrapolation='yes' must be 'default', an ExtrapolationModel or None"):
        given = scalefit.Fit.from_params(revisiting_m2, {"e_inf": 0.1, "b": 1.0, "c": 0.5})
        given.predict({"x": [1.0]}, None, extrapolation="yes")
    with pytest.raises(ScalefitError, match="increasing probabilities"):
        ExtrapolationModel(("spread",), (0.0, 1.0), (0.1, 0.05), (0.0, 1.0), 1.0)
    with pytest.raises(ScalefitError, match=r"terms must be among .* got terms \['wide'\]"):
        ExtrapolationModel(("wide",), (0.0, 1.0), (0.1, 0.9), (0.0, 1.0), 1.0)
    ones = {k: np.ones(3) for k in ("distance", "slope_distance", "sigma", "spread")}
    with pytest.raises(ScalefitError, match="needs >= 20"):
        ExtrapolationModel.calibrate(np.zeros(3), ones, np.ones(3))
    with pytest.raises(ScalefitError, match=r"terms=\['size'\]: \['size'\] not among"):
        ExtrapolationModel.calibrate(np.zeros(3), ones, np.ones(3), terms=("size",))
    with pytest.raises(ScalefitError, match="not an extrapolation model"):
        ExtrapolationModel.from_dict({"scale": "slope"})


def _checkpoints(sizes: int):
    """``sizes`` model sizes with 12 token counts each (checkpoints), fitted by Chinchilla."""
    rng = np.random.default_rng(sizes)
    N = np.repeat(np.geomspace(1e8, 1e9, sizes), 12)
    D = np.tile(np.geomspace(1e9, 1e11, 12), sizes)
    loss = (1.7 + 400 * N**-0.34 + 2000 * D**-0.37) * np.exp(rng.normal(0, 0.005, N.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return scalefit.fit_law(
            scalefit.chinchilla, pd.DataFrame({"N": N, "D": D, "loss": loss}), target="loss",
            method=LeastSquares(bootstrap=200),
        )  # fmt: skip


def test_beyond_a_variable_with_few_values_is_not_supported():
    """Beyond three model sizes the law's bend in N is unknown; beyond 12 token counts it is the
    corpus's kind of extrapolation."""
    fit = _checkpoints(3)
    assert fit.predict({"N": [3e8], "D": [1e12]}, LEVEL)["supported"].tolist() == [True]  # beyond in D only
    with pytest.warns(ScalingWarning, match=r"beyond the fitted runs in N \(3 distinct values\).*clusters='N'"):
        p = fit.predict({"N": [3e8, 1e10], "D": [1e10, 1e10]}, LEVEL)
    assert p["supported"].tolist() == [True, False]


def test_beyond_four_values_is_left_to_the_extrapolation_model():
    fit = _checkpoints(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalingWarning)
        p = fit.predict({"N": [3e8, 1e10], "D": [1e10, 1e10]}, LEVEL)
    assert p["supported"].tolist() == [True, True]


def test_a_zero_inside_runs_that_include_zero_is_not_beyond_them_whatever_else_is_asked():
    ranges = {"N": (0.0, 1e9), "D": (1e9, 1e11)}
    params = dict(E=1.7, A=400.0, alpha=0.34, B=2000.0, beta=0.37)
    alone = ExtrapolationModel.features(scalefit.chinchilla, params, ranges, 0.01, {"N": [0.0], "D": [1e10]})
    mixed = ExtrapolationModel.features(scalefit.chinchilla, params, ranges, 0.01, {"N": [0.0, 1e10], "D": [1e10] * 2})
    assert alone["distance"].tolist() == [0.0] and mixed["distance"][0] == 0.0
    assert mixed["distance"][1] == pytest.approx(np.log(10.0))
    below = ExtrapolationModel.features(scalefit.chinchilla, params, {"N": (1e8, 1e9), "D": ranges["D"]}, 0.01,
                                        {"N": [0.0], "D": [1e10]})  # fmt: skip
    assert below["distance"].tolist() == [np.inf]  # 0 below runs that start at 1e8: beyond without end


def test_no_converged_replicate_leaves_the_intervals_nan_beyond_the_runs_too():
    import dataclasses

    fits, _ = _simulated(5, 1)
    none = dataclasses.replace(fits[0], draws=fits[0].draws.iloc[:0])
    with pytest.warns(ScalingWarning, match="no bootstrap replicate of this fit converged"):
        p = none.predict({"x": [1e4, 1e6]}, LEVEL)
    assert p[["pi_lower", "pi_upper"]].isna().all().all()


def test_predictions_that_are_not_positive_are_not_widened_and_say_so():
    rng = np.random.default_rng(0)
    law = scalefit.parse_law("-a - b*x^-c", variables=["x"])
    x = np.geomspace(1e2, 1e4, 20)
    runs = pd.DataFrame({"x": x, "y": -(1.0 + 2.0 * x**-0.5) + rng.normal(0, 0.002, x.size)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = scalefit.fit_law(law, runs, target="y", objective="squared", method=LeastSquares(bootstrap=200))
    with pytest.warns(ScalingWarning, match="1 of 2 predictions beyond the fitted runs are not positive"):
        p = fit.predict({"x": [1e3, 1e5]}, LEVEL)
    plain = fit.predict({"x": [1e3, 1e5]}, LEVEL, extrapolation=None)
    pd.testing.assert_frame_equal(p[["pi_lower", "pi_upper"]], plain[["pi_lower", "pi_upper"]])
