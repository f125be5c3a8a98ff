"""Figures render to PNG with the expected axes, labels and log scales."""

import numpy as np
import pytest
from matplotlib.figure import Figure

import scalefit
from scalefit import Fit, distillation_boundary, plot_boundary, plot_difference, plot_fit
from scalefit.cli import main

PLAIN = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
DISTILLED = dict(E_inf_prime=0.0615, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.55, lambda_m_prime=0.006,
                 gamma_prime=0.33, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=100.0)  # fmt: skip
AT = {"M": 22e6, "Df": 5e4, "Mt": 10e6}


def check_png(fig, path, xlabel, ylabel, yscale="log"):
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == xlabel and ax.get_ylabel() == ylabel
    assert ax.get_xscale() == "log" and ax.get_yscale() == yscale
    fig.savefig(path)
    import matplotlib.image

    img = matplotlib.image.imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert img[..., :3].std() > 0.01  # not a blank canvas


@pytest.fixture(scope="module")
def fit():
    return scalefit.fit_law(scalefit.paper_error, scalefit.example_runs(), target="error", starts=100, bootstrap=100)


def test_plot_fit(fit, tmp_path):
    fig = plot_fit(fit, scalefit.example_runs(), x="Dp", by="M")
    check_png(fig, tmp_path / "fit.png", "Dp", "error")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 4  # one curve per model size
    assert len(ax.collections) >= 8  # points and interval bands
    again = plot_fit(fit)  # the fit keeps its runs: the same points without runs=
    assert len(again.axes[0].collections) == len(ax.collections)
    given = scalefit.Fit.from_params(fit.law, fit.params)
    with pytest.raises(scalefit.ScalefitError, match="needs runs="):
        plot_fit(given)


def test_plot_boundary_and_difference(tmp_path):
    plain, distilled = (
        Fit.from_params(scalefit.paper_error, PLAIN),
        Fit.from_params(scalefit.paper_distilled, DISTILLED),
    )
    b = distillation_boundary(plain, distilled, at=AT, domain=(1e4, 1e8))
    fig = plot_boundary(b)
    check_png(fig, tmp_path / "b.png", "Dp", "error_rate")
    dashed = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    np.testing.assert_allclose([line.get_xdata()[0] for line in dashed], b.crossings)
    fig = plot_difference(b)
    check_png(fig, tmp_path / "d.png", "Dp", "difference of error_rate", yscale="linear")


def test_cli_plot(fit, tmp_path, capsys):
    fit.to_json(tmp_path / "f.json")
    scalefit.example_runs().to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "fig.png"
    assert (
        main(["plot", str(tmp_path / "f.json"), "--runs", str(tmp_path / "r.csv"), "--by", "Df", "--out", str(out)])
        == 0
    )
    assert out.stat().st_size > 1000
