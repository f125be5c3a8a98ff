"""Bad arguments to ``fit_law`` and the method objects: one clear error, before any work.

Every case asserts the exception type and that the message names the argument; none of
them may reach the compiled solver (the whole module runs in seconds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import NUTS, LeastSquares, ScalefitError, fit_law, paper_error


@pytest.fixture(scope="module")
def runs():
    return scalefit.example_runs()


@pytest.fixture(autouse=True)
def no_solver(monkeypatch):
    """Fail loudly if a bad argument gets as far as compiling or running the solver."""

    def compiled(*args, **kwargs):
        raise AssertionError("the solver was reached: the argument was not checked before work")

    monkeypatch.setattr("scalefit.fitting.multistart.compiled", compiled)


LSQ_OPTIONS = {"starts", "bootstrap", "explore_steps", "polish", "max_steps", "gtol", "ftol", "xtol", "throw"}
NUTS_OPTIONS = {"chains", "draws", "warmup", "noise", "priors", "noise_scale"}


def bad(runs, exc, match, law=paper_error, **kwargs):
    """``fit_law`` refuses ``kwargs``; a method option is set on the method object, built inside the check."""
    kwargs.setdefault("target", "error")
    with pytest.raises(exc, match=match):
        lsq = {k: kwargs.pop(k) for k in list(kwargs) if k in LSQ_OPTIONS}
        nuts = {k: kwargs.pop(k) for k in list(kwargs) if k in NUTS_OPTIONS}
        if nuts or kwargs.get("method") == "bayes":
            kwargs["method"] = NUTS(**nuts, **({"init": LeastSquares(**lsq)} if lsq else {}))
        elif lsq:
            kwargs["method"] = LeastSquares(**lsq)
        fit_law(law, runs, **kwargs)


# -- wrong type -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(gtol="x"), r"gtol must be a finite number.*'x' \(str\)"),
        (dict(starts=True), r"starts must be an integer.*True \(bool\)"),
        (dict(starts="100"), r"starts must be 'auto', an integer.*'100' \(str\)"),
        (dict(seed="x"), r"seed must be an integer.*'x'"),
        (dict(fix=["alpha"]), r"fix must be a dict \{parameter: value\}.*\['alpha'\] \(list\)"),
        (dict(fix={"E_inf": "abc"}), r"fix\['E_inf'\] must be a finite number, got 'abc'"),
        (dict(tie={"alpha": 1}), r"tie\['alpha'\] must be the name of another parameter"),
        (dict(bounds={"alpha": 2}), r"bounds\['alpha'\] must be a pair \(low, high\)"),
        (dict(bounds={"alpha": ("0", 1)}), r"bounds\['alpha'\] low must be a number"),
        (dict(throw="yes"), r"throw must be True or False, got 'yes'"),
        (dict(method=3), r"method must be 'lsq', 'bayes', LeastSquares\(...\) or NUTS\(...\), got 3"),
        (dict(target=3), r"target must be a non-empty string, got 3"),
        (dict(mapping=["Dp"]), r"mapping must be a dict"),
        (dict(objective=None), r"objective must be one of"),
        (dict(starts={"alpha": "a"}), r"starts\['alpha'\] must be a number or a list of numbers"),
        (dict(method="bayes", priors=[1]), r"priors must be a dict"),
        (dict(startz=3), r"got an unexpected keyword argument 'startz'"),
    ],
)
def test_wrong_types_are_type_errors_naming_the_argument(runs, kwargs, match):
    bad(runs, TypeError, match, **kwargs)


def test_law_and_runs_of_the_wrong_type(runs):
    with pytest.raises(TypeError, match=r"law must be a scalefit Law.*get_law\('paper_error'\)"):
        fit_law("paper_error", runs, target="error")
    with pytest.raises(TypeError, match="runs must be a pandas DataFrame or a path"):
        fit_law(paper_error, 3, target="error")


# -- wrong range ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(starts=2.5), r"starts must be an integer in \[1, 1000000\], got 2.5"),
        (dict(starts=0), r"starts must be an integer in \[1, 1000000\], got 0"),
        (dict(starts=10**9), r"starts must be an integer in \[1, 1000000\], got 1000000000"),
        (dict(bootstrap=-1), r"bootstrap must be an integer in \[0, 1000000\], got -1"),
        (dict(bootstrap=1_000_000), r"bootstrap: 1000000 replicates x 196 runs needs about .* GB"),
        (dict(seed=-1), r"seed must be an integer in \[0, 4294967295\], got -1"),
        (dict(max_steps=0), r"max_steps must be an integer"),
        (dict(explore_steps=1.5), r"explore_steps must be an integer"),
        (dict(xtol=-1.0), r"xtol must be a finite number > 0 and <= 1, got -1.0"),
        (dict(delta=0.0), r"delta must be a finite number > 0, got 0.0"),
        (dict(fix={"alpha": -0.5, "lambda_p": -1.0}), r"fix= value for 'lambda_p' must be > 0"),
        (dict(bounds={"alpha": (3, 2)}), r"bounds\['alpha'\].*low must be below high"),
        (dict(method="bayes", draws=0), r"draws must be an integer in \[1, 10000000\], got 0"),
        (dict(method="bayes", chains=2.5), r"chains must be an integer"),
    ],
)
def test_values_out_of_range_name_the_argument(runs, kwargs, match):
    bad(runs, ScalefitError, match, **kwargs)


# -- unknown names ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fix={"alpah": 0.3}), r"fix names unknown parameter 'alpah' \(did you mean 'alpha'\?\)"),
        (dict(tie={"gama": "beta"}), r"tie names unknown parameter 'gama' \(did you mean 'gamma'\?\)"),
        (dict(bounds={"E_infty": (0, 1)}), r"bounds names unknown parameter 'E_infty' \(did you mean 'E_inf'\?\)"),
        (dict(mapping={"Dpp": "x"}), r"mapping names unknown law variable 'Dpp' \(did you mean 'Dp'\?\)"),
        (dict(objective="hubr"), r"objective must be one of .* got 'hubr' \(did you mean 'huber'\?\)"),
        (dict(method="lsqq"), r"method must be .* got 'lsqq' \(did you mean 'lsq'\?\)"),
        (dict(method="bayes", noise="gauss"), r"noise must be one of 'lognormal', 'normal', 'student_t'"),
        (dict(weights="nocol"), r"weights='nocol' is not a column"),
        (dict(tie={"alpha": "nope"}), r"tie=\{'alpha': 'nope'\}: 'nope' is not a parameter"),
        (dict(starts={"alpha": [0.3], "nope": [1.0]}), r"starts= must give values for exactly the free parameters"),
    ],
)
def test_unknown_names_are_named_with_a_suggestion(runs, kwargs, match):
    bad(runs, ScalefitError, match, **kwargs)


# -- conflicting options ----------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(objective="squared", delta=0.1), r"delta= is the Huber threshold and applies only to objective='huber'"),
        (dict(fix={"alpha": 0.5}, bounds={"alpha": (2, 3)}), r"'alpha' is given both fix= \(0.5\) and bounds="),
        (dict(fix={"alpha": 0.5}, tie={"alpha": "beta"}), r"'alpha' is both fixed and tied"),
        (dict(tie={"alpha": "alpha"}), r"tie\['alpha'\] = 'alpha' ties a parameter to itself"),
        (dict(tie={"alpha": "lambda_p"}), r"ties an exponent to a scale; only parameters of the same kind"),
        (dict(method="bayes", bounds={"alpha": (0, 1)}), r"bounds= apply to least squares"),
    ],
)
def test_conflicting_options_are_refused_not_ignored(runs, kwargs, match):
    bad(runs, ScalefitError, match, **kwargs)


# -- non-finite values ------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fix={"E_inf": float("nan")}), r"fix\['E_inf'\] must be a finite number, got nan"),
        (dict(fix={"alpha": float("inf")}), r"fix\['alpha'\] must be a finite number, got inf"),
        (dict(bounds={"alpha": (float("nan"), 2)}), r"bounds\['alpha'\] low must be a number, got nan"),
        (dict(bounds={"alpha": (float("inf"), None)}), r"bounds\['alpha'\] low = inf is not a usable limit"),
        (dict(gtol=float("nan")), r"gtol must be a finite number"),
        (dict(delta=float("inf")), r"delta must be a finite number"),
        (dict(starts=float("nan")), r"starts must be an integer"),
        (dict(starts=pd.DataFrame({"alpha": [np.nan]})), r"starts= DataFrame holds missing or non-finite values"),
        (dict(starts={"alpha": [0.1, np.inf]}), r"starts\['alpha'\] holds non-finite values"),
    ],
)
def test_non_finite_values_are_refused(runs, kwargs, match):
    bad(runs, ScalefitError, match, **kwargs)


def test_infinite_limits_on_their_own_side_mean_open(runs, monkeypatch):
    """``(-inf, 2)`` is the documented open side, not a repair: it reaches the problem as None."""
    seen = {}

    def build(law, fix, tie, bounds, **kwargs):
        seen.update(bounds)
        raise ScalefitError("stop here")

    monkeypatch.setattr("scalefit.fitting.fit.Problem.build", build)
    bad(runs, ScalefitError, "stop here", bounds={"alpha": (-np.inf, 2.0), "beta": (0.1, np.inf)})
    assert seen == {"alpha": (None, 2.0), "beta": (0.1, None)}


# -- the method objects check themselves where they are made ---------------------------
def test_method_objects_check_their_options_when_made():
    with pytest.raises(ScalefitError, match=r"bootstrap must be an integer in \[0, 1000000\], got -5"):
        LeastSquares(bootstrap=-5)
    with pytest.raises(TypeError, match=r"init must be a LeastSquares"):
        NUTS(init="lsq")
    with pytest.raises(ScalefitError, match=r"warmup must be an integer"):
        NUTS(warmup=0)
    assert LeastSquares(starts=1e3).starts == 1000  # an integral float is an integer, not a truncation
    assert NUTS(init=LeastSquares(starts=50)).init.starts == 50


def test_shorthands_are_the_default_method_objects():
    """``method="bayes"`` is ``NUTS()``, whose initial fit has no bootstrap; ``"lsq"`` is ``LeastSquares()``."""
    from scalefit.fitting.methods import make_method

    assert make_method("bayes") == NUTS() and make_method("bayes").init.bootstrap == 0
    assert make_method("lsq") == LeastSquares() and make_method("lsq").starts == "auto"


@pytest.mark.parametrize("option", ["starts", "bootstrap", "chains", "by"])
def test_a_method_option_given_to_fit_law_is_refused_by_name(runs, option):
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{option}'"):
        fit_law(paper_error, runs, target="error", **{option: 2})


@pytest.mark.parametrize(("pair", "value"), [((1, 1), "1.0"), ((0.3, 0.3), "0.3")])
def test_equal_bounds_say_to_fix_the_value(runs, pair, value):
    """bounds={'alpha': (1, 1)} said 'low must be below high; write (1.0, 1.0) if that is what you meant'."""
    bad(
        runs,
        ScalefitError,
        rf"bounds\['alpha'\] = \({value}, {value}\): equal low and high leave a fixed value, not a range to fit in; "
        rf"write fix=\{{'alpha': {value}\}} instead",
        bounds={"alpha": pair},
    )
