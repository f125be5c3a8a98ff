"""Issue 10: fit files — strict JSON out, every field checked on the way in.

Each refusal is a ScalefitError (TypeError for a wrong argument type) naming the file and the
field; nothing loads half-right and nothing is repaired silently.
"""

import dataclasses
import json
import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import NUTS, Constant, Fit, LeastSquares, Power, ScalefitError, ScalingWarning, fit_law, load_fit
from scalefit.datasets.make_synthetic import TRUTH
from scalefit.files import NONFINITE
from scalefit.serialize.fit_fields import FIELDS, FitReader

FLOOR_LAW = Constant("E") + Power("x", "a", amplitude="A")


def _reject(constant):
    raise AssertionError(f"not strict JSON: bare {constant}")


def _strict(text: str) -> dict:
    return json.loads(text, parse_constant=_reject)


def _quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(*args, **kw)


@pytest.fixture(scope="module")
def boot_fit():
    return _quiet(
        scalefit.paper_error, scalefit.example_runs(), target="error", method=LeastSquares(starts=50, bootstrap=50)
    )


@pytest.fixture(scope="module")
def floor_fit():
    """A fit with its floor E driven to its bound 0 (profile stored), with bootstrap."""
    x = np.repeat(np.geomspace(10, 1e5, 8), 3)
    y = (2.0 * x**-0.5 - 2e-3) * np.exp(np.random.default_rng(0).normal(0, 0.02, len(x)))  # no floor at all
    return _quiet(FLOOR_LAW, pd.DataFrame({"x": x, "y": y}), target="y", method=LeastSquares(starts=50, bootstrap=50))


@pytest.fixture(scope="module")
def plain_fit():
    return _quiet(
        scalefit.paper_error, scalefit.example_runs(), target="error", method=LeastSquares(starts=50, bootstrap=0)
    )


@pytest.fixture(scope="module")
def bayes_fit():
    return _quiet(
        scalefit.paper_error,
        scalefit.example_runs(),
        target="error",
        method=NUTS(chains=1, draws=50, max_draws=50, warmup=50, init=LeastSquares(bootstrap=0, starts=50)),
    )


@pytest.fixture
def saved(boot_fit, tmp_path):
    """Write an edited copy of the bootstrap fit's JSON: ``saved(edit) -> path``."""

    def write(edit=None, name="fit.json"):
        d = boot_fit.to_dict()
        if edit is not None:
            edit(d)
        path = tmp_path / name
        path.write_text(json.dumps(d, allow_nan=False))
        return path

    return write


def _round_trip(fit, tmp_path):
    path = tmp_path / "f.json"
    text = fit.to_json(path)
    assert path.read_text() == text
    _strict(text)
    again = load_fit(path)
    assert again.params == fit.params and again.law == fit.law and again.setup.method == fit.setup.method
    assert again.to_dict() == fit.to_dict()  # every field, non-finite numbers included
    if fit.draws is None:
        assert again.draws is None
    else:
        pd.testing.assert_frame_equal(again.draws, fit.draws)
    interval = None if fit.draws is None else 0.9
    new = {v: [np.sqrt(lo * hi), hi] for v, (lo, hi) in fit.runs.ranges.items()} or {
        v: [1e6] for v in fit.law.variables
    }
    pd.testing.assert_frame_equal(again.predict(new, interval=interval), fit.predict(new, interval=interval))
    return again


# -- strict JSON, exact round trips ----------------------------------------------------------
def test_bootstrap_fit_round_trips_as_strict_json(boot_fit, tmp_path):
    _round_trip(boot_fit, tmp_path)


def test_the_fields_table_names_every_top_level_key(boot_fit, floor_fit):
    """FIELDS is the reader's one table of top-level keys: a saved fit writes only those and
    every required one, and each names the FitReader method that reads it."""
    required = {k for k, (needed, _, _) in FIELDS.items() if needed}
    for fit in (boot_fit, floor_fit):
        written = set(fit.to_dict())
        assert written <= set(FIELDS), written - set(FIELDS)
        assert required <= written, required - written
    assert all(callable(getattr(FitReader, method, None)) for _, _, method in FIELDS.values())


def test_fit_at_a_bound_keeps_its_profile(floor_fit, tmp_path):
    assert "E" in floor_fit.bounds and floor_fit.bounds["E"]["profile"]["values"]
    again = _round_trip(floor_fit, tmp_path)
    pd.testing.assert_frame_equal(again.summary(), floor_fit.summary())
    assert again.bounds == floor_fit.bounds


def test_fit_without_bootstrap_round_trips(plain_fit, tmp_path):
    again = _round_trip(plain_fit, tmp_path)
    assert again.draws is None and again.runs.residuals.tolist() == plain_fit.runs.residuals.tolist()


def test_given_parameters_round_trip_with_their_nans(tmp_path):
    fit = Fit.from_params(scalefit.paper_error, TRUTH)
    text = fit.to_json()
    assert '"NaN"' in text  # value, gradient norm, condition number: NaN for given parameters
    again = _round_trip(fit, tmp_path)
    assert np.isnan(again.value) and np.isnan(again.status.grad_norm)


def test_bayes_fit_round_trips_with_nan_r_hat(bayes_fit, tmp_path):
    assert np.isnan(bayes_fit.bayes.diagnostics["r_hat"]["alpha"])  # one chain: R-hat is NaN
    again = _round_trip(bayes_fit, tmp_path)
    assert np.isnan(again.bayes.diagnostics["r_hat"]["alpha"])
    assert again.bayes.diagnostics["ess_bulk"] == bayes_fit.bayes.diagnostics["ess_bulk"]


def test_every_non_finite_number_is_encoded_and_decoded_exactly(boot_fit, tmp_path):
    draws = boot_fit.draws.copy()
    draws.loc[3, "alpha"] = np.inf
    draws.loc[4, "beta"] = np.inf
    draws.loc[5, "gamma"] = -np.inf
    ident = dataclasses.replace(boot_fit.identifiability, condition_number=np.inf)
    fit = dataclasses.replace(
        boot_fit,
        draws=draws,
        identifiability=ident,
        starts=dataclasses.replace(boot_fit.starts, spread={**boot_fit.starts.spread, "alpha": np.nan}),
        runs=dataclasses.replace(boot_fit.runs, misfit={**boot_fit.runs.misfit, "rms": np.nan}),
    )
    d = _strict(fit.to_json())
    assert d["draws"]["alpha"][3] == "Infinity" and d["draws"]["beta"][4] == "Infinity"
    assert d["draws"]["gamma"][5] == "-Infinity" and d["identifiability"]["condition_number"] == "Infinity"
    again = load_fit(fit.to_json())
    pd.testing.assert_frame_equal(again.draws, draws)
    assert again.draws.loc[3, "alpha"] == np.inf and again.draws.loc[4, "beta"] == np.inf
    assert again.identifiability.condition_number == np.inf and np.isnan(again.starts.spread["alpha"])
    assert np.isnan(again.runs.misfit["rms"])
    assert set(NONFINITE) == {"NaN", "Infinity", "-Infinity"}
    # a NaN draw is written, but never loads: fitters keep only replicates with every parameter (issue 21)
    d["draws"]["alpha"][3] = "NaN"
    with pytest.raises(ScalefitError, match=r"draws\['alpha'\]\[3\] is NaN \(1 of \d+ values\)"):
        load_fit(json.dumps(d))


def test_text_fields_named_like_nan_stay_text(boot_fit):
    fit = dataclasses.replace(
        boot_fit, target="NaN", setup=dataclasses.replace(boot_fit.setup, source="Infinity"), notes=("NaN",)
    )
    again = load_fit(fit.to_json())
    assert again.target == "NaN" and again.setup.source == "Infinity" and again.notes == ("NaN",)


def test_files_of_older_versions_with_bare_nan_still_load(tmp_path):
    fit = Fit.from_params(scalefit.paper_error, TRUTH)
    d = fit.to_dict()
    d["value"] = float("nan")  # what json.dumps wrote before strict JSON
    d["identifiability"]["condition_number"] = float("nan")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(d))
    assert "NaN" in path.read_text()
    assert np.isnan(load_fit(path).value)


def test_empty_bootstrap_draws_round_trip(boot_fit):
    fit = dataclasses.replace(boot_fit, draws=boot_fit.draws.iloc[:0])
    again = load_fit(fit.to_json())
    assert len(again.draws) == 0 and list(again.draws.columns) == list(boot_fit.draws.columns)
    assert (again.draws.dtypes == np.float64).all()


# -- writing ---------------------------------------------------------------------------
def test_to_json_refuses_a_missing_directory(boot_fit, tmp_path):
    with pytest.raises(ScalefitError, match=r"path .*nowhere.*does not exist; create it first"):
        boot_fit.to_json(tmp_path / "nowhere" / "fit.json")
    assert not (tmp_path / "nowhere").exists()


def test_to_json_refuses_a_directory(boot_fit, tmp_path):
    with pytest.raises(ScalefitError, match=r"path .* is a directory"):
        boot_fit.to_json(tmp_path)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_to_json_refuses_a_device(boot_fit):
    with pytest.raises(ScalefitError, match=r"path '/dev/null' is a device"):
        boot_fit.to_json("/dev/null")


def test_to_json_wrong_types(boot_fit, tmp_path):
    with pytest.raises(TypeError, match="path must be a file path"):
        boot_fit.to_json(3)
    with pytest.raises(TypeError, match="indent must be an integer"):
        boot_fit.to_json(tmp_path / "f.json", indent="1")
    with pytest.raises(ScalefitError, match="indent must be an integer >= 0"):
        boot_fit.to_json(indent=-1)
    assert not (tmp_path / "f.json").exists()


def test_to_json_follows_a_symlink_and_leaves_no_temporary(boot_fit, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    boot_fit.to_json(link)
    assert link.is_symlink() and load_fit(link).params == boot_fit.params
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


# -- impossible files --------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ScalefitError, match=r"fit file '.*nope.json' does not exist"):
        load_fit(tmp_path / "nope.json")


def test_directory(tmp_path):
    with pytest.raises(ScalefitError, match=r"fit file '.*' is a directory"):
        load_fit(tmp_path)


@pytest.mark.parametrize("content", [b"", b"  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.json"
    path.write_bytes(content)
    with pytest.raises(ScalefitError, match=r"fit file '.*empty.json' is empty"):
        load_fit(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"format": "scalefit.fit/1", "source": "caf\xe9"}')
    with pytest.raises(ScalefitError, match=r"fit file '.*latin.json' is not UTF-8 text \(byte 0xe9"):
        load_fit(path)


def test_byte_order_mark(tmp_path, boot_fit):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + boot_fit.to_json().encode())
    with pytest.raises(ScalefitError, match="byte-order mark"):
        load_fit(path)


def test_truncated_file(tmp_path, boot_fit):
    path = tmp_path / "cut.json"
    path.write_text(boot_fit.to_json()[:500])
    with pytest.raises(ScalefitError, match=r"fit file '.*cut.json' is not valid JSON: it ends early .* truncated"):
        load_fit(path)


def test_not_json(tmp_path):
    path = tmp_path / "junk.json"
    path.write_text("{format: scalefit}")
    with pytest.raises(ScalefitError, match=r"fit file '.*junk.json' is not valid JSON \(.*line 1"):
        load_fit(path)


@pytest.mark.parametrize(("content", "kind"), [("[1, 2]", "a JSON list"), ("3", "a JSON number"), ("null", "null")])
def test_json_but_not_an_object(tmp_path, content, kind):
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(ScalefitError, match=rf"fit file '.*other.json' holds {kind}, not a fit"):
        load_fit(path)


def test_json_text_is_named_as_text():
    with pytest.raises(ScalefitError, match=r"fit JSON text holds a JSON list, not a fit"):
        load_fit("[1, 2]")


def test_wrong_source_type():
    with pytest.raises(TypeError, match="load_fit\\(\\) takes the path of a fit file"):
        load_fit(3.5)
    with pytest.raises(TypeError, match="got bytes"):
        load_fit(b"{}")


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_device_is_refused():
    with pytest.raises(ScalefitError, match="'/dev/null' is not a regular file"):
        load_fit("/dev/null")


def test_duplicate_field(tmp_path, boot_fit):
    text = boot_fit.to_json(indent=None)
    path = tmp_path / "dup.json"
    path.write_text(text[:-1] + ', "target": "loss"}')
    with pytest.raises(ScalefitError, match=r"dup.json': field 'target' appears twice"):
        load_fit(path)


def test_load_fit_of_the_wrong_type_names_what_it_takes():
    with pytest.raises(TypeError, match=r"load_fit\(\) takes the path of a fit file .*got list"):
        load_fit([1, 2])


# -- edited fields ------------------------------------------------------------------------
def _set(path, value):
    def edit(d):
        *head, last = path
        for k in head:
            d = d[k]
        d[last] = value

    return edit


def _drop(path):
    def edit(d):
        *head, last = path
        for k in head:
            d = d[k]
        del d[last]

    return edit


EDITS = {
    "negative exponent": (
        _set(["params", "alpha"], -0.3),
        r"fit.json': params\['alpha'\] = -0.3 is outside its domain \(>= 0; alpha is an exponent\); the file was "
        r"edited or damaged — refit",
    ),
    "negative scale": (_set(["params", "lambda_p"], -1.0), r"params\['lambda_p'\] = -1.0 is outside its domain \(> 0"),
    "negative floor": (_set(["params", "E_inf"], -0.01), r"params\['E_inf'\] = -0.01 is outside its domain \(>= 0"),
    "NaN parameter": (_set(["params", "alpha"], "NaN"), r"params\['alpha'\] = 'NaN' is not finite"),
    "null parameter": (_set(["params", "alpha"], None), r"params\['alpha'\] must be a number .*got null"),
    "string parameter": (_set(["params", "alpha"], "0.4"), r"params\['alpha'\] must be a number .*got '0.4'"),
    "missing parameter": (_drop(["params", "alpha"]), r"params is missing \['alpha'\]"),
    "unknown parameter": (_set(["params", "alpah"], 0.4), r"params has 'alpah' \(did you mean 'alpha'\?\)"),
    "params not an object": (_set(["params"], [0.4]), r"params must be an object, got a list"),
    "null in draws": (_set(["draws", "alpha", 3], None), r"draws\['alpha'\]\[3\] must be a number, got null"),
    "text in draws": (_set(["draws", "beta", 0], "x"), r"draws\['beta'\]\[0\] must be a number, got 'x'"),
    "ragged draws": (_set(["draws", "alpha"], [0.4, 0.5]), r"draws is not rectangular: .*alpha: 2"),
    "unknown draws column": (_set(["draws", "alpah"], [0.4]), r"draws has column 'alpah' \(did you mean 'alpha'\?\)"),
    "missing draws column": (_drop(["draws", "alpha"]), r"draws is missing columns \['alpha'\]"),
    "too many draws": (_set(["bootstrap_requested"], 10), r"draws has \d+ rows, more than the 10 bootstrap"),
    "null residual": (_set(["residuals", 0], None), r"residuals\[0\] must be a number, got null"),
    "infinite residual": (_set(["residuals", 1], "Infinity"), r"residuals\[1\] = 'Infinity' is not finite"),
    "short residuals": (_set(["residuals"], [0.1]), r"residuals has 1 values but n_runs is 196"),
    "range reversed": (_set(["ranges", "Dp"], [1e6, 1e3]), r"ranges\['Dp'\] = \[1e\+06, 1000\] must be positive"),
    "range negative": (_set(["ranges", "M"], [-1, 1e3]), r"ranges\['M'\] = \[-1, 1000\] must be positive"),
    "range not a pair": (_set(["ranges", "Df"], [1.0]), r"ranges\['Df'\] must be a pair \[low, high\]"),
    "range of no variable": (_set(["ranges", "Dpp"], [1.0, 2.0]), r"ranges names 'Dpp' \(did you mean 'Dp'\?\)"),
    "range missing": (_drop(["ranges", "Df"]), r"ranges is missing \['Df'\]"),
    "n_runs negative": (_set(["n_runs"], -1), r"n_runs must be an integer >= 1, got -1"),
    "n_runs fraction": (_set(["n_runs"], 2.5), r"n_runs must be an integer, got a number"),
    "n_runs text": (_set(["n_runs"], "196"), r"n_runs must be an integer, got a string"),
    "unknown method": (_set(["method"], "lsqq"), r"method = 'lsqq' is not one of 'lsq', 'bayes', 'given'"),
    "unknown objective": (_set(["objective", "name"], "hubber"), r"objective\['name'\] = 'hubber' is not one of"),
    "negative delta": (_set(["objective", "delta"], -1.0), r"objective\['delta'\] = -1.0 must be > 0"),
    "unknown status": (_set(["status", "code"], 99), r"status\['code'\] = 99 is not a known optimiser status"),
    "negative seed": (_set(["seed"], -1), r"seed must be an integer >= 0, got -1"),
    "bad share": (_set(["bootstrap_converged"], 1.5), r"bootstrap_converged = 1.5 must be a share in \[0, 1\]"),
    "noise on lsq": (_set(["noise"], "lognormal"), r"noise = 'lognormal' does not go with method 'lsq'"),
    "unknown noise": (_set(["noise"], "gaussian"), r"noise = 'gaussian' is not one of"),
    "mapping of no variable": (_drop(["mapping", "Dp"]), r"mapping is missing \['Dp'\]"),
    "law term": (_set(["law", "expr", "type"], "banana"), r"law cannot be rebuilt: unknown law term type 'banana'"),
    "law not an object": (_set(["law"], "paper_error"), r"law must be an object, got a string"),
    "short data": (_set(["data", "y"], [0.1]), r"data\['y'\] holds 1 values; n_runs is 196"),
    "free of no parameter": (_set(["problem", "free", 0], "E_infinity"), r"problem\['free'\]\[0\] = 'E_infinity'"),
    "bad bound side": (_set(["problem", "lo"], [0.0]), r"problem\['lo'\] has 1 values for 7 free parameters"),
    "missing field": (_drop(["params"]), r"missing fields \['params'\]; the file is damaged or from an incompatible"),
    "not a fit format": (_set(["format"], "something else"), r"not a scalefit fit file \(format 'something else'"),
    "no format": (_drop(["format"]), r"not a scalefit fit file \(no 'format' field"),
    "newer format": (_set(["format"], "scalefit.fit/2"), r"format 'scalefit.fit/2' is not one this scalefit .*upgrade"),
    "unknown field": (_set(["paramz"], {}), r"has unknown fields \['paramz'\] \(did you mean 'params'\?\)"),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_edited_field_is_refused_naming_file_and_field(saved, case):
    edit, message = EDITS[case]
    with pytest.raises(ScalefitError, match=message):
        load_fit(saved(edit))


def test_a_newer_scalefit_is_named_with_both_versions(saved):
    def edit(d):
        d["scalefit_version"] = "99.0"
        d["posterior_predictive"] = {}

    with pytest.raises(
        ScalefitError, match=rf"this scalefit \({scalefit.__version__}\).*scalefit 99.0, which is newer"
    ):
        load_fit(saved(edit))


def test_edited_tied_and_fixed_values_are_refused():
    law = scalefit.paper_error
    fit = Fit.from_params(law, TRUTH)
    d = fit.to_dict()
    d["problem"]["free"].remove("gamma")
    d["problem"]["lo"].pop()
    d["problem"]["hi"].pop()
    d["problem"]["fixed"]["gamma"] = 0.3
    with pytest.raises(ScalefitError, match=r"params\['gamma'\] = 0.35 differs from the value it was fixed at"):
        load_fit(d)
    d["problem"]["fixed"] = {}
    d["problem"]["tied"] = {"gamma": "alpha"}
    with pytest.raises(ScalefitError, match=r"params\['gamma'\] = 0.35 differs from params\['alpha'\]"):
        load_fit(d)


def test_bayes_draws_must_match_the_diagnostics(bayes_fit):
    d = bayes_fit.to_dict()
    d["diagnostics"]["draws_per_chain"] = 60
    with pytest.raises(ScalefitError, match=r"fit dict: draws has 50 rows, but the diagnostics record 60"):
        load_fit(d)
    d = bayes_fit.to_dict()
    d["draws"] = None
    with pytest.raises(ScalefitError, match=r"draws is missing; a Bayesian fit holds its posterior draws"):
        load_fit(d)


def test_fixed_tied_and_bounded_parameters_round_trip_and_are_checked():
    law = Constant("E") + Power("x", "a", amplitude="A") + Power("z", "b", amplitude="B")
    rng = np.random.default_rng(0)
    x, z = np.repeat(np.geomspace(10, 1e5, 5), 5), np.tile(np.geomspace(10, 1e4, 5), 5)
    y = (0.1 + 2 * x**-0.5 + 3 * z**-0.5) * np.exp(rng.normal(0, 0.01, len(x)))
    runs = pd.DataFrame({"x": x, "z": z, "y": y})
    fit = _quiet(
        law,
        runs,
        target="y",
        fix={"E": 0.1},
        tie={"b": "a"},
        bounds={"A": (0.5, 1.5)},
        method=LeastSquares(starts=50, bootstrap=0),
    )
    again = load_fit(fit.to_json())
    assert again.to_dict() == fit.to_dict() and again.setup.problem.fixed == {"E": 0.1}
    d = fit.to_dict()
    d["params"]["A"] = 1.6
    with pytest.raises(ScalefitError, match=r"params\['A'\] = 1.6 is outside its domain \(>= 0.5 and <= 1.5; A is an"):
        load_fit(d)
    d = fit.to_dict()
    d["params"]["E"] = 0.2
    with pytest.raises(ScalefitError, match=r"params\['E'\] = 0.2 differs from the value it was fixed at \(0.1\)"):
        load_fit(d)
    d = fit.to_dict()
    d["params"]["b"] = 0.9
    with pytest.raises(ScalefitError, match=r"params\['b'\] = 0.9 differs from params\['a'\]"):
        load_fit(d)


# -- exponents the user gives may be negative; fitted ones keep their bounds ------------------
def test_a_fixed_negative_exponent_round_trips_and_gives_params_back(tmp_path):
    x = np.geomspace(10, 1e5, 12)
    y = (0.1 + 0.01 * x**0.3) * np.exp(np.random.default_rng(0).normal(0, 0.01, len(x)))
    fit = _quiet(
        FLOOR_LAW,
        pd.DataFrame({"x": x, "y": y}),
        target="y",
        fix={"a": -0.3},
        method=LeastSquares(starts=20, bootstrap=20),
    )
    assert fit.params["a"] == -0.3
    again = _round_trip(fit, tmp_path)
    assert again.setup.problem.fixed == {"a": -0.3}
    given = Fit.from_params(fit.law, fit.params, draws=fit.draws)  # refused before: "outside its range (>= 0"
    assert given.params == fit.params
    assert load_fit(given.to_json()).params == fit.params  # a given negative exponent loads too


def test_from_params_takes_any_finite_exponent_but_keeps_the_other_ranges():
    fit = Fit.from_params(scalefit.paper_error, {**TRUTH, "alpha": -0.3})
    assert fit.params["alpha"] == -0.3 and load_fit(fit.to_json()).params == fit.params
    with pytest.raises(ScalefitError, match=r"params\['alpha'\] must be a finite number, got -inf"):
        Fit.from_params(scalefit.paper_error, {**TRUTH, "alpha": -np.inf})
    with pytest.raises(ScalefitError, match=r"params\['E_inf'\] = -0.1 is outside its range \(>= 0; E_inf is a"):
        Fit.from_params(scalefit.paper_error, {**TRUTH, "E_inf": -0.1})
    d = fit.to_dict()
    d["params"]["alpha"] = "-Infinity"
    with pytest.raises(ScalefitError, match=r"fit dict: params\['alpha'\] = '-Infinity' is not finite"):
        load_fit(d)
    d["params"]["alpha"] = -0.3
    d["params"]["lambda_p"] = -1.0  # a given scale is still > 0
    with pytest.raises(ScalefitError, match=r"params\['lambda_p'\] = -1.0 is outside its domain \(> 0; lambda_p"):
        load_fit(d)


def test_a_free_exponent_below_its_bound_is_still_refused(boot_fit):
    d = boot_fit.to_dict()
    d["params"]["alpha"] = -0.3  # fitted with the default bound alpha >= 0
    with pytest.raises(ScalefitError, match=r"params\['alpha'\] = -0.3 is outside its domain \(>= 0; alpha is an"):
        load_fit(d)


# -- draws, bootstrap counts, starts counts and the target are checked like params -------------
def test_a_free_exponent_below_its_bound_in_the_draws_is_refused(boot_fit):
    d = boot_fit.to_dict()
    d["draws"]["alpha"][2] = -0.3
    with pytest.raises(
        ScalefitError, match=r"fit dict: draws\['alpha'\]\[2\] = -0.3 is outside its domain \(>= 0; alpha is an exp"
    ):
        load_fit(d)
    d = boot_fit.to_dict()
    d["draws"]["lambda_p"][0] = -1.0
    with pytest.raises(ScalefitError, match=r"draws\['lambda_p'\]\[0\] = -1.0 is outside its domain \(> 0"):
        load_fit(d)


def test_given_draws_keep_any_finite_exponent():
    draws = pd.DataFrame({n: [v, v] for n, v in {**TRUTH, "alpha": -0.3}.items()})
    fit = Fit.from_params(scalefit.paper_error, {**TRUTH, "alpha": -0.3}, draws=draws)
    assert (load_fit(fit.to_json()).draws["alpha"] == -0.3).all()


def test_bootstrap_draws_removed_are_refused(boot_fit, plain_fit):
    d = boot_fit.to_dict()
    del d["draws"]
    share = re.escape(f"{boot_fit.bootstrap.converged:g}")  # the fit's own share (1 since replicates start warm)
    with pytest.raises(
        ScalefitError, match=rf"draws is missing, but bootstrap_requested = 50 and bootstrap_converged = {share} say"
    ):
        load_fit(d)
    assert load_fit(plain_fit.to_dict()).draws is None  # no bootstrap asked: no draws needed


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"n_at_best": 99}, r"starts\['n_at_best'\] = 99 is more than starts\['n_polished'\]"),
        ({"n_polished": 999}, r"starts\['n_polished'\] = 999 is more than starts\['n_starts'\] = 50"),
        ({"n_converged": 99}, r"starts\['n_converged'\] = 99 is more than starts\['n_polished'\]"),
    ],
)
def test_starts_counts_must_nest(boot_fit, counts, message):
    d = boot_fit.to_dict()
    d["starts"].update(counts)
    with pytest.raises(ScalefitError, match=message):
        load_fit(d)


@pytest.mark.parametrize("target", ["", "  "])
def test_an_empty_target_is_refused(saved, target):
    with pytest.raises(ScalefitError, match=r"fit.json': target = '\s*' must name the column that was fitted"):
        load_fit(saved(_set(["target"], target)))
