"""The tracebacks, wrong answers and silent acceptances of issue 21's battery: each is now a
clear ScalefitError (argument, value, fix) before any work, or the right answer."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import (
    LeastSquares,
    ScalefitError,
    ScalingWarning,
    allocate,
    compute_optimal,
    fit_groups,
    fit_law,
    load_fit,
    load_runs,
    parse_law,
    suggest_runs,
)
from scalefit.cli.main import main


@pytest.fixture(scope="module")
def runs():
    return scalefit.example_runs()


@pytest.fixture(scope="module")
def two_variable_fit(runs):
    with pytest.warns(ScalingWarning, match=r"only 20 bootstrap replicates"):  # enough for these checks
        return fit_law("E + A*Dp^-alpha + B*Df^-beta", runs, target="error", seed=0, method=LeastSquares(bootstrap=20))


@pytest.fixture(scope="module")
def fit_text(runs):
    with pytest.warns(ScalingWarning, match=r"only 20 bootstrap replicates"):  # enough for these checks
        return fit_law("E + A*Dp^-alpha", runs, target="error", seed=0, method=LeastSquares(bootstrap=20)).to_json()


# -- formulas and costs: size and depth --------------------------------------------------------
def test_a_flat_sum_of_a_thousand_terms_just_works():
    law = parse_law(" + ".join(f"A{i}*Dp^-a{i}" for i in range(1000)))
    assert len(law.parameters) == 2000 and law.variables == ("Dp",)
    assert parse_law(str(law)).parameters == law.parameters  # prints and parses back
    law = parse_law("E + " + " + ".join(f"C{i}" for i in range(999)) + " + A*Dp^-a")
    assert len(law.parameters) == 1002
    product = parse_law("*".join(f"c{i}" for i in range(1000)) + " * Dp^-a")
    assert len(product.parameters) == 1001


def test_a_thousand_term_law_is_refused_by_the_fitter_not_the_interpreter(runs):
    with pytest.raises(ScalefitError, match=r"196 rows but law 'custom' has 2000 free parameters"):
        fit_law(
            " + ".join(f"A{i}*Dp^-a{i}" for i in range(1000)), runs, target="error", method=LeastSquares(bootstrap=0)
        )


@pytest.mark.parametrize(
    "formula, message",
    [
        ("E + " + " + ".join(["A*Dp^-a"] * 50_000), r"is 500,001 characters long, more than the 100,000"),
        ("E + A*Dp^-a" + " + B" * 250_000, r"is 1,000,011 characters long"),
        ("N" + "^-a" * 3000, r"too long or nested too deeply for Python's parser"),
        ("N" + "^-a" * 120, r"nested 24\d levels deep, more than the 100"),
        ("E + " + "(" * 250 + "A*N^-a" + ")" * 250, r"too many nested parentheses"),
        ("E + " + "(B + " * 150 + "A*N^-a" + ")" * 150, r"nested 15\d levels deep"),
        ("E + " + " + ".join(f"A{i}*N^-a{i}" for i in range(20_000)), r"too long or nested too deeply|characters"),
    ],
)
def test_formulas_too_big_or_too_deep_are_refused(formula, message):
    with pytest.raises(ScalefitError, match=r"^formula '.*" + message):
        parse_law(formula)


def test_a_1500_term_cost_just_works(two_variable_fit):
    a = allocate(two_variable_fit, cost=" + ".join(["Dp"] * 750 + ["Df"] * 750), budget=1e9, draws=0)
    b = allocate(two_variable_fit, cost="750*Dp + 750*Df", budget=1e9, draws=0)
    assert a.amounts == pytest.approx(b.amounts, rel=1e-6)
    with pytest.raises(ScalefitError, match=r"^cost .* nested \d+ levels deep"):
        allocate(two_variable_fit, cost="-" * 500 + "Dp", budget=1e9)


def test_unicode_names_are_never_folded(runs):
    with pytest.raises(ScalefitError, match=r"name 'Ｎ' is read by Python as 'N' \(Unicode compatibility folding\)"):
        parse_law("E + A*Ｎ^-alpha")
    with pytest.raises(ScalefitError, match=r"name 'Ｄp' is read by Python as 'Dp'"):
        fit_law("E + A*Ｄp^-alpha", runs, target="error", method=LeastSquares(bootstrap=0))
    with pytest.raises(ScalefitError, match=r"name 'ﬁ' is read by Python as 'fi'"):
        parse_law("E + A*ﬁ^-a")
    assert parse_law("E + A*x^-α").parameters == ("E", "α", "A")  # a name as written stays allowed


def test_unicode_names_on_the_command_line(tmp_path, capsys, runs):
    runs.to_csv(tmp_path / "r.csv", index=False)
    assert main(["fit", str(tmp_path / "r.csv"), "--law", "E + A*Ｄp^-alpha", "--target", "error"]) == 2
    assert "name 'Ｄp' is read by Python as 'Dp'" in capsys.readouterr().err


def test_no_variables_is_an_error():
    with pytest.raises(
        ScalefitError, match=r"variables=\[\] for formula 'E \+ A\*Dp\^-alpha': a law needs at least one "
    ):
        parse_law("E + A*Dp^-alpha", variables=[])
    with pytest.raises(ScalefitError, match=r"give variables=\['Dp'\] \(the names raised to a power\)"):
        parse_law("E + A*Dp^-alpha", variables=())


# -- costs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("returned", ["abc", None, [1, 2], {"a": 1}])
def test_a_cost_function_must_return_numbers(two_variable_fit, returned):
    with pytest.raises(ScalefitError, match=r"cost=<lambda>\(Dp\) returned .* a cost function must return a number"):
        allocate(two_variable_fit, cost=lambda Dp: returned, budget=1e3, at={"Df": 1e4})


def test_a_cost_that_falls_as_a_variable_grows_is_refused(two_variable_fit):
    with pytest.raises(ScalefitError, match=r"cost 'Dp/1e4 - Df/200' falls as Df grows .* must not fall"):
        allocate(two_variable_fit, cost="Dp/1e4 - Df/200", budget=1e3)
    with pytest.raises(ScalefitError, match=r"falls as Dp grows"):
        compute_optimal(two_variable_fit, [1e3], cost=lambda Dp, Df: Df / Dp)
    flat = allocate(two_variable_fit, cost="minimum(Dp, 1e5) + Df/100", budget=1e3, draws=0)  # flat is fine
    assert flat.amounts["Df"] > 0


def test_compute_optimal_needs_budgets(two_variable_fit):
    with pytest.raises(ScalefitError, match=r"budgets is empty; give at least one budget \(in the units of cost=\)"):
        compute_optimal(two_variable_fit, [], cost="Dp + Df")


# -- fit files --------------------------------------------------------------------------------------
def _edited(text, key, value):
    d = json.loads(text)
    d["params"][key] = "@@"
    return json.dumps(d).replace('"@@"', value)


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "1" * 5000,
            r"holds an integer of 5,000 digits \(11111111111111111111\.\.\.\); no field of a fit file has more",
        ),
        ("1" + "0" * 400, r"holds an integer of 401 digits"),
        ("1" + "0" * 350, r"params\['alpha'\] = 10000000000000000000\.\.\. \(351 digits\) is too large for a number"),
        ("1e308", r"params \(E = .*, alpha = 1e\+308, A = .*\) do not reproduce the residuals recorded with them"),
        ("0.5", r"do not reproduce the residuals recorded with them \(run 0: "),
    ],
)
def test_edited_parameters_are_refused(fit_text, value, message):
    with pytest.raises(ScalefitError, match=r"^fit JSON text: .*" + message):
        load_fit(_edited(fit_text, "alpha", value))


def test_nan_draws_are_refused(fit_text):
    d = json.loads(fit_text)
    d["draws"]["alpha"] = ["NaN"] * len(d["draws"]["alpha"])
    with pytest.raises(ScalefitError, match=r"draws\['alpha'\]\[0\] is NaN \(20 of 20 values\)"):
        load_fit(json.dumps(d))
    d = json.loads(fit_text)
    d["draws"]["A"][7] = "NaN"
    with pytest.raises(ScalefitError, match=r"draws\['A'\]\[7\] is NaN \(1 of 20 values\)"):
        load_fit(json.dumps(d))
    assert load_fit(fit_text).params == json.loads(fit_text)["params"]  # the file as written loads


# -- runs tables -------------------------------------------------------------------------------------
def test_tables_load_runs_cannot_use(tmp_path, runs):
    law = parse_law("E + A*Dp^-alpha")
    multi = runs.copy()
    multi.columns = pd.MultiIndex.from_tuples([(c, "x") for c in runs.columns])
    for args in ((multi, law), (multi, None)):
        with pytest.raises(ScalefitError, match=r"the DataFrame has multi-level column names \(2 levels"):
            load_runs(args[0], args[1], target="error" if args[1] else None)
    with pytest.raises(ScalefitError, match=r"the DataFrame has no columns and no rows"):
        load_runs(pd.DataFrame())
    with pytest.raises(ScalefitError, match=r"the DataFrame has no rows; a runs table needs one row per training run"):
        load_runs(runs.iloc[:0], law, target="error")
    (tmp_path / "dup.csv").write_text("Dp,Dp,error\n1,2,0.5\n2,3,0.4\n3,4,0.3\n")
    with pytest.raises(ScalefitError, match=r"runs file '.*dup\.csv': column 'Dp' appears 2 times in the header"):
        load_runs(tmp_path / "dup.csv", law, target="error")
    with pytest.raises(ScalefitError, match=r"appears 2 times in the header"):
        load_runs(tmp_path / "dup.csv")  # even unused: pandas would have renamed the second one silently


def test_by_a_variable_of_the_law_is_refused(runs):
    with pytest.raises(ScalefitError, match=r"by='Dp' is the column of law variable 'Dp': within each group Dp would"):
        fit_groups("E + A*Dp^-alpha", runs, "Dp", target="error", method=LeastSquares(bootstrap=0))
    renamed = runs.rename(columns={"Dp": "images"})
    with pytest.raises(ScalefitError, match=r"by='images' is the column of law variable 'Dp'"):
        fit_groups("E + A*Dp^-alpha", renamed, ["M", "images"], target="error", mapping={"Dp": "images"})
    with pytest.raises(ScalefitError, match=r"by='error' is the target column"):
        fit_groups("E + A*Dp^-alpha", runs, "error", target="error")


def test_a_parameter_named_like_a_noise_site_is_refused_for_bayes(runs):
    for law, name in (("sigma + A*Dp^-alpha", "sigma"), ("E + nu*Dp^-alpha", "nu"), ("E + y*Dp^-alpha", "y")):
        with pytest.raises(ScalefitError, match=rf"method='bayes': parameter '{name}' of law 'custom' has the name of"):
            fit_law(law, runs, target="error", method="bayes")
    assert math.isfinite(
        fit_law("sigma + A*Dp^-alpha", runs, target="error", method=LeastSquares(bootstrap=0)).params["sigma"]
    )


def test_candidates_are_never_filled_in_from_at(two_variable_fit):
    at = {"Dp": 1e7, "Df": 5e4}
    with pytest.raises(
        ScalefitError, match=r"candidates has no column for \['Df'\]; .* \(to run every candidate at the"
    ):
        suggest_runs(two_variable_fit, pd.DataFrame({"Dp": [1e5, 1e6]}), goal="prediction", at=at)
    full = suggest_runs(two_variable_fit, pd.DataFrame({"Dp": [1e5, 1e6], "Df": [5e4, 5e4]}), goal="prediction", at=at)
    assert len(full.table) == 2
    grid = suggest_runs(two_variable_fit, goal="prediction", at=at, bounds={"Dp": (1e5, 1e7)}, points=3)
    assert np.all(grid.table["Df"] == 5e4)  # bounds= varies only what it names: the rest is held at at=
