"""Groups of fits saved as one file (format ``scalefit.fits/1``): strict JSON out, every group
checked on the way in, a damaged group named by its key."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Fit, Fits, Law, LeastSquares, Power, ScalefitError, load_fit

LAW = Law(Constant("e_inf") + Power("x", "c", amplitude="b"), name="M2")
TRUTH = {"cifar_5": (0.1, 5.0, 0.3), "ViT/B/16": (0.2, 40.0, 0.5), "pets": (0.05, 2.0, 0.2)}


def _reject(constant):
    raise AssertionError(f"not strict JSON: bare {constant}")


def _strict(text: str) -> dict:
    return json.loads(text, parse_constant=_reject)


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(0)
    parts = []
    for task, (e, b, c) in TRUTH.items():
        x = np.geomspace(1e3, 1e8, 12)
        y = (e + b * x**-c) * np.exp(rng.normal(0, 0.005, len(x)))
        parts.append(pd.DataFrame({"task": task, "seed": 0, "x": x, "y": y}))
    return pd.concat(parts, ignore_index=True)


def _fit(law, runs, by, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        return scalefit.fit_groups(law, runs, by, **kwargs)


@pytest.fixture(scope="module")
def fits(runs):
    return _fit(LAW, runs, "task", target="y", method=LeastSquares(bootstrap=50))


@pytest.fixture
def saved(fits, tmp_path):
    """Write an edited copy of the fits' JSON: ``saved(edit) -> path``."""

    def write(edit=None):
        d = fits.to_dict()
        if edit is not None:
            edit(d)
        path = tmp_path / "f.json"
        path.write_text(json.dumps(d, allow_nan=False))
        return path

    return write


# -- round trips ---------------------------------------------------------------------------
def test_fits_round_trip_as_strict_json(fits, tmp_path):
    path = tmp_path / "fits.json"
    text = fits.to_json(path)
    assert path.read_text() == text
    d = _strict(text)
    assert d["format"] == "scalefit.fits/1" and d["scalefit_version"] == scalefit.__version__
    assert d["by"] == ["task"]
    assert [g["key"] for g in d["groups"]] == [["ViT/B/16"], ["cifar_5"], ["pets"]]
    assert all(g["fit"]["format"] == "scalefit.fit/1" for g in d["groups"])
    again = load_fit(path)
    assert isinstance(again, Fits) and again.by == fits.by and list(again) == list(fits)
    for key, fit in fits.items():
        assert again[key].params == fit.params
        assert again[key].to_dict() == fit.to_dict()
        pd.testing.assert_frame_equal(again[key].draws, fit.draws)
    pd.testing.assert_frame_equal(again.summary(), fits.summary())
    pd.testing.assert_frame_equal(again.table(), fits.table())
    assert again.to_dict() == fits.to_dict()
    assert load_fit(text).to_dict() == fits.to_dict()  # the JSON text itself loads too


def test_several_by_columns_keep_tuple_keys(runs):
    fits = _fit(LAW, runs, ["task", "seed"], target="y", method=LeastSquares(bootstrap=0))
    d = _strict(fits.to_json(indent=None))
    assert d["by"] == ["task", "seed"] and d["groups"][0]["key"] == ["ViT/B/16", 0]
    again = load_fit(fits.to_json())
    assert list(again) == [("ViT/B/16", 0), ("cifar_5", 0), ("pets", 0)] and again.by == ("task", "seed")
    assert all(type(k[1]) is int for k in again)
    pd.testing.assert_frame_equal(again.summary(), fits.summary())


def test_non_finite_numbers_in_a_group_are_strings(fits):
    given = Fit.from_params(LAW, {"e_inf": 0.1, "b": 3.0, "c": -0.2})  # a given exponent may be negative
    mixed = Fits({"cifar_5": fits["cifar_5"], "NaN": given}, by=("task",))
    text = mixed.to_json()
    d = _strict(text)
    assert d["groups"][1]["key"] == ["NaN"] and d["groups"][1]["fit"]["value"] == "NaN"
    again = load_fit(text)
    assert list(again) == ["cifar_5", "NaN"]  # a key stays text
    assert np.isnan(again["NaN"].value) and again["NaN"].params == given.params


def test_numpy_and_boolean_keys_are_written_as_json_scalars(fits):
    fit = fits["pets"]
    for key in (np.int64(3), np.float64(2.5), True, "x"):
        again = load_fit(Fits({key: fit}, by=("k",)).to_json())
        assert list(again) == [key] and type(list(again)[0]) is type(key.item() if hasattr(key, "item") else key)


def test_empty_fits_round_trip():
    again = load_fit(Fits({}, by=("task",)).to_json())
    assert isinstance(again, Fits) and len(again) == 0 and again.by == ("task",)


# -- writing -------------------------------------------------------------------------------
def test_to_json_checks_the_path_first(fits, tmp_path):
    with pytest.raises(ScalefitError, match=r"path .*nowhere.*does not exist; create it first"):
        fits.to_json(tmp_path / "nowhere" / "fits.json")
    with pytest.raises(ScalefitError, match=r"path .* is a directory"):
        fits.to_json(tmp_path)
    with pytest.raises(TypeError, match="path must be a file path"):
        fits.to_json(3)
    with pytest.raises(ScalefitError, match="indent must be an integer >= 0"):
        fits.to_json(tmp_path / "f.json", indent=-1)
    assert list(tmp_path.iterdir()) == []


def test_to_json_follows_a_symlink_and_leaves_no_temporary(fits, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    fits.to_json(link)
    assert link.is_symlink() and list(load_fit(link)) == list(fits)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_to_json_dash_writes_standard_output(fits, capfd):
    text = fits.to_json("-", indent=None)
    assert capfd.readouterr().out == text


def test_a_key_that_is_not_a_json_scalar_is_refused(fits):
    with pytest.raises(TypeError, match=r"cannot write group Timestamp\(.*is not a string, a finite number"):
        Fits({pd.Timestamp("2024-01-01"): fits["pets"]}, by=("day",)).to_dict()
    with pytest.raises(TypeError, match=r"cannot write group \('a', inf\): its key value inf"):
        Fits({("a", float("inf")): fits["pets"]}, by=("t", "v")).to_dict()


# -- damaged files -------------------------------------------------------------------------
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
    "damaged parameter": (
        _set(["groups", 0, "fit", "params", "c"], -1.0),
        r"f.json': group \['ViT/B/16'\]: params\['c'\] = -1.0 is outside its domain \(>= 0; c is an exponent\); "
        r"the file was edited or damaged — refit and save it again with fits.to_json\(path\)",
    ),
    "null in a group's draws": (
        _set(["groups", 2, "fit", "draws", "b", 4], None),
        r"group \['pets'\]: draws\['b'\]\[4\] must be a number, got null",
    ),
    "group of another format": (
        _set(["groups", 1, "fit", "format"], "scalefit.fit/2"),
        r"group \['cifar_5'\]: format 'scalefit.fit/2' is not one this scalefit",
    ),
    "group fit not an object": (_set(["groups", 1, "fit"], []), r"group \['cifar_5'\]: fit must be an object"),
    "by empty": (_set(["by"], []), r"f.json': by is empty"),
    "by not a list": (_set(["by"], "task"), r"by must be a list, got a string"),
    "by not strings": (_set(["by"], [3]), r"by\[0\] must be a column name \(a non-empty string\), got 3"),
    "by twice": (_set(["by"], ["task", "task"]), r"by = \['task', 'task'\] names a column twice"),
    "key too short": (_set(["groups", 0, "key"], []), r"groups\[0\]\['key'\] = \[\] has 0 values; by has 1"),
    "key not a list": (_set(["groups", 0, "key"], "ViT/B/16"), r"groups\[0\]\['key'\] must be a list, got 'ViT"),
    "key not a scalar": (_set(["groups", 0, "key"], [["a"]]), r"groups\[0\]\['key'\]\[0\] must be a string, a number"),
    "key twice": (_set(["groups", 1, "key"], ["ViT/B/16"]), r"groups\[1\]\['key'\] = \['ViT/B/16'\] is the key of an"),
    "group field unknown": (_set(["groups", 0, "keys"], []), r"groups\[0\] has unknown field 'keys'"),
    "group field missing": (_drop(["groups", 0, "fit"]), r"groups\[0\] is missing \['fit'\]"),
    "groups not a list": (_set(["groups"], {}), r"groups must be a list, got an object"),
    "groups missing": (_drop(["groups"]), r"missing fields \['groups'\]"),
    "unknown field": (_set(["grups"], []), r"has unknown fields \['grups'\] \(did you mean 'groups'\?\)"),
    "newer format": (
        _set(["format"], "scalefit.fits/2"),
        r"format 'scalefit.fits/2' is not one this scalefit .*upgrade",
    ),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_a_damaged_file_is_refused_naming_the_group_and_field(saved, case):
    edit, message = EDITS[case]
    with pytest.raises(ScalefitError, match=message):
        load_fit(saved(edit))


def test_the_dict_of_a_group_loads_as_groups(fits):
    again = load_fit(fits.to_dict())
    assert isinstance(again, Fits) and list(again) == list(fits)
    assert all(again[k].params == fits[k].params for k in fits)


def test_the_message_names_the_file(saved):
    path = saved(_set(["groups", 2, "fit", "params", "e_inf"], "NaN"))
    with pytest.raises(ScalefitError) as info:
        load_fit(path)
    assert str(info.value).startswith(f"fit file {os.fspath(path)!r}: group ['pets']: params['e_inf'] = 'NaN'")
