"""Issue 20: every printed verdict agrees with the numbers beside it.

Identifiability from curvature, starts and intervals together; convergence and uniqueness
judged at the optimum, identical through ``fit_law``, ``by=`` and the command line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import LeastSquares, ScalefitError, fit_law
from scalefit.cli.main import main
from scalefit.results.identify import IntervalRule, interval_problems, spread_text
from scalefit.results.reports import StartsReport

from .conftest import SHARED_DATA

FMNIST = Path(__file__).resolve().parents[1] / "examples" / "data" / "fmnist_mnist_runs.csv"


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        return fit_law(*args, **kwargs)


# -- convergence and uniqueness: properties of the optimum, not of the call path -------------
def test_status_and_starts_are_the_same_through_fit_law_by_and_the_cli(tmp_path, capsys):
    runs = pd.read_csv(FMNIST)
    plain = runs[runs.stage.isin(["finetune", "control"])]
    alone = _quiet(
        scalefit.paper_error, plain[plain.stage == "finetune"], target="error", method=LeastSquares(bootstrap=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        groups = scalefit.fit_groups(
            scalefit.paper_error, plain, "stage", target="error", method=LeastSquares(bootstrap=0)
        )
    grouped = groups["finetune"]
    assert grouped.value == pytest.approx(alone.value, rel=1e-12)  # lane programs of other widths: the last bit
    assert grouped.status.message == alone.status.message
    assert str(grouped.starts) == str(alone.starts)
    assert str(grouped.identifiability) == str(alone.identifiability)
    plain.to_csv(tmp_path / "runs.csv", index=False)
    code = main(["fit", str(tmp_path / "runs.csv"), "--law", "paper_error", "--target", "error",
                 "--where", "stage == 'finetune'", "--bootstrap", "0"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert f"  status: {alone.status.message}\n" in out
    assert f"  starts: {alone.starts}\n" in out


def test_convergence_is_judged_at_the_point_whatever_the_optimiser_said(runs):
    fit = _quiet(scalefit.paper_error, runs, target="error", method=LeastSquares(bootstrap=0))
    assert fit.status.converged and fit.status.distance <= 0.01
    assert "converged" in fit.status.message and "gradient norm" not in fit.status.message
    # stopped after a few steps from random points: far from the optimum, and said so with the distance
    early = _quiet(
        scalefit.paper_error,
        runs,
        target="error",
        method=LeastSquares(bootstrap=0, starts=4, explore_steps=1, polish=1, max_steps=1),
    )
    assert not early.status.converged and early.status.distance > 0.01
    assert early.status.message.startswith("did not converge") and "standard errors" in early.status.message


def test_uniqueness_percentages_have_enough_digits_and_a_stated_threshold():
    tiny = StartsReport(64, 16, 16, 16, [0.1], {"a": 0.004, "b": 0.0})
    assert tiny.unique and "NOT unique" not in str(tiny) and "1%" in str(tiny)
    loose = StartsReport(64, 16, 16, 16, [0.1], {"a": 0.012, "b": 0.0})
    assert not loose.unique and "a varies by 1.2%" in str(loose) and "1% allowed" in str(loose)
    for spread in (0.0011, 0.004, 0.012, 0.5, 9.9):
        assert spread_text(spread) != "0%" and float(spread_text(spread).rstrip("%")) > 0
    assert spread_text(1e5).startswith("a factor of")


# -- identifiability: one verdict from curvature, starts and intervals -----------------------
LAW = scalefit.paper_error
GOOD = {"E_inf": 0.04, "alpha": 0.4, "lambda_p": 0.1, "beta": 0.5, "lambda_m": 0.006, "gamma": 0.34, "lambda_f": 0.27}


def _given(spread: dict[str, tuple[float, float]]) -> scalefit.Fit:
    """A fit with given draws: each parameter log-uniform (exponents uniform) over ``spread``
    (default: within 10% of GOOD)."""
    rng = np.random.default_rng(0)
    draws = {}
    for n, v in GOOD.items():
        lo, hi = spread.get(n, (0.9 * v, 1.1 * v))
        draws[n] = (
            rng.uniform(lo, hi, 400)
            if LAW.specs[n].role == "exponent"
            else np.exp(rng.uniform(np.log(lo), np.log(hi), 400))
        )
    return scalefit.Fit.from_params(LAW, GOOD, draws=draws).identify()


def test_identified_needs_every_interval_within_the_rule():
    good = _given({})
    assert good.identifiability.ok and str(good.identifiability).startswith("identified")
    assert "upper/lower <= 1000" in str(good.identifiability)
    wide = _given({"lambda_p": (1e-10, 1e10), "alpha": (0.01, 5.0)})
    ident = wide.identifiability
    assert not ident.ok and ident.not_determined == ["alpha", "lambda_p"]
    text = str(ident)
    assert text.startswith("not identified") and "lambda_p: its 95% interval" in text and "decades" in text
    assert wide.summary().loc["lambda_p", "how"].startswith("not determined")
    assert "not determined" in repr(wide) or "lambda_p" in text
    # a looser rule, stated by the user, accepts them
    loose = wide.identify(max_ratio=1e25, exponent_width=10.0)
    assert loose.identifiability.ok and "upper/lower <= 1e+25" in str(loose.identifiability)


def test_interval_rule_cases_and_bad_settings():
    rule = IntervalRule()
    roles = {"a": "amplitude", "e": "exponent", "c": "constant"}
    rows = [
        ("a", 1.0, 0.5, 2.0, False),  # factor 4: fine
        ("e", 0.5, 0.1, 0.9, False),  # width 0.8: fine
        ("c", 0.01, 0.0, 0.05, False),  # a floor bounded above: fine (one-sided)
    ]
    assert interval_problems(rows, roles, rule, y_scale=0.3) == []
    bad = [
        ("a", 1.0, 0.0, 2.0, False),  # an amplitude that may be 0
        ("e", 0.5, 0.0, 1.5, False),  # width 1.5
        ("c", 0.1, 1e-5, np.inf, False),  # unbounded
    ]
    assert [p["name"] for p in interval_problems(bad, roles, rule, y_scale=0.3)] == ["a", "e", "c"]
    for kwargs, name in (({"max_ratio": 1.0}, "max_ratio"), ({"exponent_width": -1}, "exponent_width"),
                         ({"interval": 1.5}, "interval")):  # fmt: skip
        with pytest.raises(ScalefitError, match=name):
            IntervalRule(**kwargs)


def test_mikami_is_not_called_identified_beside_intervals_spanning_decades():
    path = SHARED_DATA / "mikami_cg_transfer" / "results_finetune.csv"
    if not path.exists():
        pytest.skip(f"{path} not present (the shared data folder is optional)")
    df = pd.read_csv(path)
    keys = ["pretrain.data", "pscale", "ptask", "fdata", "ftask", "fratio", "model", "pdata"]
    last = df.sort_values("n_eval").groupby(keys, dropna=False).tail(1)
    sel = last[(last.ptask == "mulclass") & (last.pdata == "bop") & (last.pscale == "64k")
               & (last.fdata == "imagenet") & (last["pretrain.data"] > 0)].copy()  # fmt: skip
    sel["error"], sel["M"] = 1 - sel["value"], sel["nparam"] * 1e6
    fit = _quiet(
        LAW, sel, target="error", mapping={"Dp": "pretrain.data", "Df": "fratio"}, method=LeastSquares(bootstrap=200)
    )
    table = fit.summary()
    rule = IntervalRule()
    wide = [n for n in table.index if table.loc[n, "how"] == "free" and (
        not np.isfinite(table.loc[n, "upper"]) or (LAW.specs[n].role == "exponent"
        and table.loc[n, "upper"] - table.loc[n, "lower"] > rule.exponent_width) or (
        LAW.specs[n].role != "exponent" and table.loc[n, "lower"] > 0
        and table.loc[n, "upper"] / table.loc[n, "lower"] > rule.max_ratio))]  # fmt: skip
    assert wide == []  # every parameter left "free" meets the rule; the others are named
    assert not fit.identifiability.ok and "lambda_p" in fit.identifiability.not_determined
    assert "identifiability: identified" not in repr(fit)


# -- decisions checked against the runs ---------------------------------------------------------
# the distilled law is not determined by these runs (three of its parameters at bounds, 78-79% of
# replicates converge); whether one replicate's law overflows at the domain's edge, which the
# boundary reports and leaves out, turns on rounding in the search: not what this test is about
@pytest.mark.filterwarnings(r"ignore:\d+ of \d+ pairs of draws of plain_fit and distilled_fit:scalefit.ScalingWarning")
def test_distillation_boundary_is_checked_against_the_observed_cells():
    runs = pd.read_csv(FMNIST)
    plain = _quiet(LAW, runs[runs.stage == "finetune"], target="error", method=LeastSquares(bootstrap=100))
    dist = _quiet(
        scalefit.paper_distilled, runs[runs.stage == "distill"], target="error", method=LeastSquares(bootstrap=100)
    )
    b = scalefit.distillation_boundary(plain, dist, at={"M": 803338, "Df": 4000, "Mt": 455050}, domain=(1e3, 1e6))
    assert [r.winner for r in b.regimes] == ["distill"]  # what the laws say ...
    here = b.checked[b.checked["in_slice"]]
    assert list(here["Dp"]) == [3000, 6000, 15000, 30000, 60000]
    # ... and what the runs say, model-free: distillation loses at 3000, 15000 and 30000
    assert list(b.disagreements[b.disagreements["in_slice"]]["Dp"]) == [3000, 15000, 30000]
    observed = runs[(runs.M == 803338) & (runs.Df == 4000)].pivot_table("error", "Dp", "stage")
    assert np.allclose(here["observed_difference"], (observed["finetune"] - observed["distill"]).to_numpy())
    assert any("Eq. 6" in c for c in b.caveats) and any("contradict" in c for c in b.caveats)
    text = repr(b)
    assert "QUALIFIED" in text and "checked against the runs: 45 cells" in text and "Dp=3000" in text
    with pytest.warns(scalefit.ScalingWarning, match="qualified"):
        b.p_distill_wins([3000, 15000, 60000])


def test_a_crossover_the_runs_agree_with_has_no_caveats():
    law = scalefit.Law(scalefit.Constant("e") + scalefit.Power("x", "c", amplitude="b"), name="M2")
    rng = np.random.default_rng(1)
    x = np.repeat(np.geomspace(1e3, 1e6, 6), 3)
    fits = []
    for e, amp in ((0.1, 3.0), (0.05, 2.0)):  # the second is lower everywhere
        y = (e + amp * x**-0.3) * np.exp(rng.normal(0, 0.01, len(x)))
        fits.append(_quiet(law, pd.DataFrame({"x": x, "y": y}), target="y", method=LeastSquares(bootstrap=50)))
    c = scalefit.crossover(*fits, axis="x", at={}, domain=(1e3, 1e6), names=("big", "small"))
    assert len(c.checked) == 6 and c.checked["agree"].all() and c.checked["in_slice"].all()
    assert set(c.checked["observed_winner"]) == {"small"} and c.caveats == ()
    with warnings.catch_warnings():
        warnings.simplefilter("error", scalefit.ScalingWarning)
        assert c.probability_b_wins([1e4]).tolist() == [1.0]
    given = scalefit.crossover(*(scalefit.Fit.from_params(law, f.params) for f in fits), axis="x", at={},
                               domain=(1e3, 1e6))  # fmt: skip
    assert given.checked is None and "not possible" in repr(given)


def test_one_start_at_the_best_does_not_claim_a_unique_optimum():
    from scalefit.results.reports import StartsReport

    one = StartsReport(n_starts=64, n_polished=16, n_converged=1, n_at_best=1, best_values=[1.0, 2.0],
                       spread={"a": 0.0, "b": 0.0})  # fmt: skip
    assert "uniqueness not checked: only one start reached the best objective" in str(one)
    assert "optimum unique" not in str(one)
    two = StartsReport(n_starts=64, n_polished=16, n_converged=2, n_at_best=2, best_values=[1.0], spread={"a": 0.0})
    assert "optimum unique" in str(two)
