"""Bad arguments to ``plot_fit``, ``plot_boundary``, ``plot_difference`` and the output-path
check ``check_image_path``: one clear error naming the argument, before anything is drawn.

Fits are built with ``Fit.from_params`` (no fitting), so the module runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Fit, ScalefitError, crossover, distillation_boundary, plot_boundary, plot_difference, plot_fit
from scalefit.datasets.make_synthetic import TRUTH
from scalefit.plotting.output import check_image_path, image_suffixes

PLAIN = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
DISTILLED = dict(E_inf_prime=0.0615, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.55, lambda_m_prime=0.006,
                 gamma_prime=0.33, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=100.0)  # fmt: skip
AT = {"M": 22e6, "Df": 5e4, "Mt": 10e6}


@pytest.fixture(scope="module")
def fit():
    return Fit.from_params(scalefit.paper_error, TRUTH, target="error")


@pytest.fixture(scope="module")
def runs():
    return scalefit.example_runs()


@pytest.fixture(scope="module")
def boundary():
    rng = np.random.default_rng(0)
    p = Fit.from_params(
        scalefit.paper_error,
        PLAIN,
        draws=pd.DataFrame({k: v * np.exp(rng.normal(0, 0.01, 30)) for k, v in PLAIN.items()}),
    )
    d = Fit.from_params(
        scalefit.paper_distilled,
        DISTILLED,
        draws=pd.DataFrame({k: v * np.exp(rng.normal(0, 0.01, 30)) for k, v in DISTILLED.items()}),
    )
    return distillation_boundary(p, d, at=AT, domain=(1e4, 1e8))


@pytest.fixture
def no_drawing(monkeypatch):
    """Fail loudly if a bad argument gets as far as importing pyplot and drawing."""

    def drawing():
        raise AssertionError("drawing started: the argument was not checked first")

    monkeypatch.setattr("scalefit.plotting.fit_figure.pyplot", drawing)
    monkeypatch.setattr("scalefit.plotting.boundary_figures.pyplot", drawing)


# == check_image_path (for the CLI's --out) ================================================
def test_good_paths_pass(tmp_path):
    assert check_image_path(tmp_path / "fig.png") == tmp_path / "fig.png"
    assert check_image_path(str(tmp_path / "FIG.PDF"), "--out") == tmp_path / "FIG.PDF"
    assert check_image_path("fig.svg") == Path("fig.svg")  # the current folder
    assert {"png", "pdf", "svg", "jpg"} <= set(image_suffixes())


@pytest.mark.parametrize(
    "name, match",
    [
        (
            "x.xyz",
            r"--out must end in a suffix matplotlib can write \(.*\.pdf.*\.png.*\), got '.*x.xyz' \(suffix .xyz\)",
        ),
        ("fig.pnj", r"--out must end in a suffix.*\(suffix .pnj \(did you mean 'png'\?\)\)"),
        ("fig", r"--out must end in a suffix.*\(no suffix\); e.g. .*fig.png"),
        ("fig.csv", r"--out must end in a suffix.*got '.*fig.csv'"),
    ],
)
def test_unsupported_suffix(tmp_path, name, match):
    with pytest.raises(ScalefitError, match=match):
        check_image_path(tmp_path / name, "--out")


def test_missing_folder_or_a_folder(tmp_path):
    with pytest.raises(ScalefitError, match=r"out '.*nowhere/fig.png': the folder '.*nowhere' does not exist"):
        check_image_path(tmp_path / "nowhere" / "fig.png")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ScalefitError, match=r"out '.*d.png' is a folder"):
        check_image_path(tmp_path / "d.png")


@pytest.mark.parametrize("value", [None, 3, ["fig.png"], ""])
def test_image_path_wrong_type(value):
    with pytest.raises(TypeError, match=r"--out must be a path to an image file such as 'figure.png'"):
        check_image_path(value, "--out")


# == plot_fit ==============================================================================
def bad_fit_plot(fit, runs, exc, match, **kwargs):
    with pytest.raises(exc, match=match):
        plot_fit(fit, runs, **kwargs)


# -- wrong type ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=3), r"x must be a non-empty string, got 3"),
        (dict(by=["M"]), r"by must be a non-empty string, got \['M'\]"),
        (dict(at=[("Df", 5e4)]), r"at must be a dict \{variable: value\} of the variables not plotted"),
        (dict(at={"Df": "5e4"}), r"at\['Df'\] must be a finite number > 0, got '5e4' \(str\)"),
        (dict(interval="0.9"), r"interval must be a finite number > 0 and < 1, got '0.9' \(str\)"),
        (dict(interval=True), r"interval must be .*True \(bool\)"),
    ],
)
def test_plot_fit_wrong_type(fit, runs, no_drawing, kwargs, match):
    bad_fit_plot(fit, runs, TypeError, match, **(dict(x="Dp", by="M") | kwargs))


def test_plot_fit_wrong_type_of_fit_or_runs(fit, no_drawing):
    with pytest.raises(TypeError, match=r"fit must be a scalefit Fit.*'f.json' \(str\).*load_fit"):
        plot_fit("f.json")
    with pytest.raises(TypeError, match=r"runs must be a pandas DataFrame, a Runs or a path.*got 3 \(int\)"):
        plot_fit(fit, 3)


# -- wrong range --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(at={"Df": -1}), r"at\['Df'\] must be a finite number > 0, got -1"),
        (dict(at={"Df": 0.0}), r"at\['Df'\] must be a finite number > 0, got 0.0"),
        (dict(interval=5), r"interval must be .*got 5; give a fraction, e.g. 0.05 for 5%"),
        (dict(interval=0.0), r"interval must be .*got 0.0"),
    ],
)
def test_plot_fit_wrong_range(fit, runs, no_drawing, kwargs, match):
    bad_fit_plot(fit, runs, ScalefitError, match, **(dict(x="Dp", by="M") | kwargs))


def test_plot_fit_bad_runs(fit, runs, no_drawing):
    broken = runs.copy()
    broken.loc[3, "Dp"] = np.nan
    with pytest.raises(ScalefitError, match=r"runs=: column 'Dp' .*NaN or infinite values in row 3"):
        plot_fit(fit, broken)
    negative = runs.copy()
    negative.loc[[1, 2], "M"] = -5.0
    with pytest.raises(ScalefitError, match=r"runs=: column 'M' .*non-positive values in rows 1, 2"):
        plot_fit(fit, negative)
    with pytest.raises(ScalefitError, match=r"runs= has no column\(s\) \['error'\] needed to plot this fit"):
        plot_fit(fit, runs.drop(columns="error"))
    with pytest.raises(ScalefitError, match=r"needs runs="):
        plot_fit(fit)


# -- unknown name -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x="dp"), r"x='dp' is not a variable of law 'paper_error' \(did you mean 'Dp'\?\)"),
        (dict(by="Mt"), r"by='Mt' is not a variable of law 'paper_error'"),
        (dict(x="Dp", by="M", at={"df": 5e4}), r"at= names 'df'.*\(did you mean 'Df'\?\)"),
    ],
)
def test_plot_fit_unknown_name(fit, runs, no_drawing, kwargs, match):
    bad_fit_plot(fit, runs, ScalefitError, match, **kwargs)


# -- conflicting options ------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x="Dp", by="Dp"), r"by='Dp' is also the x axis; choose another variable for by="),
        (dict(x="Dp", by="M", at={"Dp": 1e6}), r"at= gives 'Dp', which is the x axis"),
        (dict(x="Dp", by="M", at={"M": 1e7}), r"at= gives 'M', which is one curve per value \(by=\)"),
    ],
)
def test_plot_fit_conflicting_options(fit, runs, no_drawing, kwargs, match):
    bad_fit_plot(fit, runs, ScalefitError, match, **kwargs)


# -- non-finite ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(at={"Df": np.inf}), r"at\['Df'\] must be a finite number > 0, got inf"),
        (dict(at={"Df": np.nan}), r"at\['Df'\] must be a finite number > 0, got nan"),
        (dict(interval=np.nan), r"interval must be .*got nan"),
    ],
)
def test_plot_fit_non_finite(fit, runs, no_drawing, kwargs, match):
    bad_fit_plot(fit, runs, ScalefitError, match, **(dict(x="Dp", by="M") | kwargs))


def test_plot_fit_good_arguments_still_draw(fit, runs):
    fig = plot_fit(fit, runs, x="Dp", by="M", at={"Df": float(runs.Df.max())})
    assert fig.axes[0].get_xlabel() == "Dp" and len(fig.axes[0].get_lines()) == runs.M.nunique()


# == plot_boundary / plot_difference ========================================================
PLOTS = [plot_boundary, plot_difference]


@pytest.mark.parametrize("plot", PLOTS)
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(interval="0.9"), TypeError, r"interval must be .*'0.9' \(str\)"),
        (dict(points="300"), TypeError, r"points must be an integer >= 2, got '300' \(str\)"),
        (dict(points=True), TypeError, r"points must be an integer >= 2, got True \(bool\)"),
        (dict(interval=5), ScalefitError, r"interval must be .*got 5; give a fraction, e.g. 0.05 for 5%"),
        (dict(interval=1.5), ScalefitError, r"interval must be .*got 1.5"),
        (dict(points=1), ScalefitError, r"points must be an integer >= 2, got 1"),
        (dict(points=2.5), ScalefitError, r"points must be an integer >= 2, got 2.5"),
        (dict(points=np.nan), ScalefitError, r"points must be an integer >= 2, got nan"),
        (dict(interval=np.inf), ScalefitError, r"interval must be .*got inf"),
        (dict(points=10**9), ScalefitError, r"points: 1000000000 points x 1001 draws needs about"),
    ],
)
def test_boundary_plot_arguments(boundary, no_drawing, plot, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        plot(boundary, **kwargs)


@pytest.mark.parametrize("plot", PLOTS)
def test_boundary_plot_wrong_type(no_drawing, plot, fit):
    with pytest.raises(TypeError, match=r"boundary must be a Crossover or DistillationBoundary.*\(Fit\)"):
        plot(fit)


@pytest.mark.parametrize("plot", PLOTS)
def test_boundary_plot_of_coinciding_laws_says_so(plot):
    f = Fit.from_params(scalefit.paper_error, PLAIN)
    c = crossover(f, f, axis="Dp", at={"M": 22e6, "Df": 5e4}, domain=(1e4, 1e8))
    fig = plot(c, points=20)
    assert "coincide" in fig.axes[0].get_title()
    assert not [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]  # no crossings drawn
