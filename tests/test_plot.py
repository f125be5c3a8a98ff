"""Figures render to PNG with the expected axes, labels and log scales."""

import io
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import scalefit
from scalefit import Fit, LeastSquares, ScalingWarning, distillation_boundary, plot_boundary, plot_difference, plot_fit
from scalefit.cli.main import main

PLAIN = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
DISTILLED = dict(E_inf_prime=0.0615, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.55, lambda_m_prime=0.006,
                 gamma_prime=0.33, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=100.0)  # fmt: skip
AT = {"M": 22e6, "Df": 5e4, "Mt": 10e6}


FEW_DF = (
    r"ignore:predict\(\). \d+ of \d+ predictions go beyond the fitted runs in Df \(3 distinct"
    ":scalefit.errors.ScalingWarning"
)


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


@pytest.fixture(autouse=True)
def close_figures():
    """Each test's figures are closed after it (pyplot keeps every open figure alive)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def fit():
    with pytest.warns(scalefit.ScalingWarning, match=r"only 100 bootstrap replicates"):  # enough for a figure
        method = LeastSquares(starts=100, bootstrap=100)
        return scalefit.fit_law(scalefit.paper_error, scalefit.example_runs(), target="error", method=method)


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


# -- figures for a paper: points at float-valued slices, readable ticks, clipping, crossovers ------
FMNIST = scalefit.__file__.rsplit("/src/", 1)[0] + "/examples/data/fmnist_mnist_runs.csv"


def _runs_drawn(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if c.get_gid() == "runs")


def _tick_texts(fig, axis) -> list[str]:
    fig.canvas.draw()
    ticks = axis.get_majorticklabels() + axis.get_minorticklabels()
    return [t.get_text() for t in ticks if t.get_text()]


@pytest.fixture(scope="module")
def imagenet_fit(fit):
    """Runs whose Df is a share of ImageNet's 1,281,167 images (12811.67, ...): float columns."""
    runs = scalefit.example_runs()
    shares = np.array([0.01, 0.02, 0.04, 0.1])
    levels = np.sort(runs.Df.unique())
    share = dict(zip(levels, np.resize(shares, len(levels)), strict=True))
    runs["Df"] = runs.Df.map(share) * 1281167
    runs["error"] = 0.7 + 0.4 * fit.predict(runs)["mean"].to_numpy()  # near chance, as Mikami's: a narrow axis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        f = scalefit.fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=32, bootstrap=30))
    return f, runs


def test_at_values_match_float_columns_to_a_relative_tolerance(imagenet_fit):
    f, runs = imagenet_fit
    assert 12811.67 in set(runs.Df.round(2))
    fig = plot_fit(f, runs, x="Dp", by="M", at={"Df": 12812})  # 12811.67 in the table: within 0.1%
    ax = fig.axes[0]
    at_slice = np.isclose(runs.Df, 12812, rtol=1e-3, atol=0)
    assert at_slice.sum() > 0 and _runs_drawn(ax) == at_slice.sum()
    assert fig.scalefit_points == {"drawn": at_slice.sum(), "left_out": len(runs) - at_slice.sum()}
    assert f"points: {at_slice.sum()} of {len(runs)} runs drawn" in fig.scalefit_notes[0]
    assert f"{len(runs) - at_slice.sum()} left out" in fig.scalefit_notes[0]
    texts = [t.get_text() for t in ax.texts]
    assert any(f"{at_slice.sum()} of {len(runs)} runs drawn" in t for t in texts)  # on the figure too
    with pytest.warns(scalefit.ScalingWarning, match=r"no runs lie at Df=13000 .*Df in \{12811.7"):
        empty = plot_fit(f, runs, x="Dp", by="M", at={"Df": 13000})
    assert _runs_drawn(empty.axes[0]) == 0


def test_real_float_columns_every_slice_is_drawn():
    runs = pd.read_csv(FMNIST)
    runs = runs[runs.stage == "finetune"].copy()
    runs["Df"] = runs["finetune_fraction"] * 4000.0 * (1 + 3e-4)  # floats that equal no typed value exactly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        f = scalefit.fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=16, bootstrap=0))
    for df in (200, 1000, 4000):
        fig = plot_fit(f, runs, x="Dp", by="M", at={"Df": df})
        assert _runs_drawn(fig.axes[0]) == np.isclose(runs.Df, df, rtol=1e-3, atol=0).sum() == 20


def test_narrow_log_axis_has_plain_tick_labels_and_error_curves_stay_below_one(imagenet_fit):
    f, runs = imagenet_fit
    fig = plot_fit(f, runs, x="Dp", by="M", at={"Df": 12812})
    ax = fig.axes[0]
    for line in ax.get_lines():
        assert np.nanmax(line.get_ydata()) <= 1.0
    for band in ax.collections:
        if band.get_gid() != "runs":
            assert max(np.nanmax(p.vertices[:, 1]) for p in band.get_paths()) <= 1.0
    lo, hi = ax.get_ylim()
    assert np.log10(hi / lo) < 1  # a narrow axis: this is where matplotlib writes 9x10^-1
    labels = _tick_texts(fig, ax.yaxis)
    assert len(labels) >= 3 and not [t for t in labels if "times" in t or "^" in t]
    assert all(float(t) for t in labels)  # plain decimals such as 0.85
    ax.set_ylim(0.5, 0.9)  # decided at draw time: later limits keep plain labels
    assert not [t for t in _tick_texts(fig, ax.yaxis) if "times" in t]
    ax.set_ylim(1e-3, 1)  # three decades: powers of ten, as usual
    assert any("10^" in t for t in _tick_texts(fig, ax.yaxis))


def test_error_rate_curves_are_clipped_to_one_with_a_note():
    steep = dict(PLAIN, alpha=1.0, lambda_p=1e-3)  # error 1.3 at Dp = 1000: an unbounded law above 1
    f = Fit.from_params(scalefit.paper_error, steep, target="error")
    runs = scalefit.example_runs().assign(Dp=lambda d: d.Dp / 1000)
    with pytest.warns(scalefit.ScalingWarning, match=r"leaves \[0, 1\]"):
        assert f.predict(runs.assign(Dp=runs.Dp.min() / 1.5), interval=None)["mean"].max() > 1
    fig = plot_fit(f, runs, x="Dp", by="M")
    curves = fig.axes[0].get_lines()
    assert max(np.nanmax(line.get_ydata()) for line in curves) == 1.0
    assert any("clipped to [0, 1]" in note for note in fig.scalefit_notes)
    assert any("clipped to [0, 1]" in t.get_text() for t in fig.axes[0].texts)
    fine = plot_fit(Fit.from_params(scalefit.paper_error, PLAIN, target="error"), scalefit.example_runs(), x="Dp")
    assert not any("clipped" in note for note in fine.scalefit_notes)  # a note only when something was cut


def test_legend_sits_outside_the_axes(fit):
    fig = plot_fit(fit, scalefit.example_runs(), x="Dp", by="M")
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the data, never on it


# the curve runs past the 3 fine-tuning sizes the runs have: the plot passes predict's note on
@pytest.mark.filterwarnings(FEW_DF)
def test_crossover_plot_has_runs_and_labelled_interval_bars():
    runs = pd.read_csv(FMNIST)
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        for stage in ("finetune", "control"):
            fits[stage] = scalefit.fit_law(
                scalefit.paper_error,
                runs[runs.stage == stage],
                target="error",
                method=LeastSquares(starts=16, bootstrap=30),
            )
    at = {"Dp": 60000.0, "M": 455050.0}
    c = scalefit.crossover(fits["finetune"], fits["control"], axis="Df", at=at, domain=(100, 1e5),
                           names=("plain", "smoothing"))  # fmt: skip
    fig = plot_boundary(c)
    ax = fig.axes[0]
    for stage, name in (("finetune", "plain"), ("control", "smoothing")):
        sel = runs[runs.stage == stage]
        expected = np.isclose(sel.Dp, 60000, rtol=1e-3) & np.isclose(sel.M, 455050, rtol=1e-3)
        assert fig.scalefit_points[name] == (expected.sum(), len(sel)) and expected.sum() >= 3
    assert _runs_drawn(ax) == sum(n for n, _ in fig.scalefit_points.values())
    labels = ax.get_legend_handles_labels()[1]
    assert any(lab.startswith("90% interval of crossing") for lab in labels)
    assert "crossing (best fit)" in labels and "plain: runs" in labels
    for line in ax.get_lines():
        assert np.nanmax(np.asarray(line.get_ydata(), float)) <= 1.0 or line.get_linestyle() in ("--", ":")
    fig.savefig(io.BytesIO(), format="png")
    d = plot_difference(c)
    assert any(lab.startswith("90% interval of crossing") for lab in d.axes[0].get_legend_handles_labels()[1])


def test_cli_plot_prints_how_many_points(imagenet_fit, tmp_path, capsys):
    f, runs = imagenet_fit
    f.to_json(tmp_path / "f.json")
    runs.to_csv(tmp_path / "r.csv", index=False)
    argv = ["plot", str(tmp_path / "f.json"), "--runs", str(tmp_path / "r.csv"), "--x", "Dp", "--by", "M"]
    assert main([*argv, "--at", "Df=12812", "--out", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    n = np.isclose(runs.Df, 12812, rtol=1e-3).sum()
    assert f"note: points: {n} of {len(runs)} runs drawn; {len(runs) - n} left out" in out


# -- the fit's own runs: its filter, held-out runs marked, binning a continuous --at (issue 20) -----
def _held_out_drawn(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if c.get_gid() == "held_out")


@pytest.fixture(scope="module")
def finetune_file(tmp_path_factory):
    """A fit file made by ``scalefit fit --where "stage == 'finetune'"`` on the embedded table."""
    path = tmp_path_factory.mktemp("where") / "f.json"
    argv = ["fit", FMNIST, "--law", "paper_error", "--target", "error", "--where", "stage == 'finetune'",
            "--starts", "16", "--bootstrap", "0", "--out", str(path)]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        assert main(argv) == 0
    return path


def test_plot_draws_the_fit_own_runs_and_marks_the_others_held_out(finetune_file, tmp_path, capsys):
    from scalefit.plotting.fit_figure import fit_filter

    f = scalefit.load_fit(finetune_file)
    assert fit_filter(f) == "stage == 'finetune'" and f.runs.n_runs == 100
    runs = pd.read_csv(FMNIST)
    at = np.isclose(runs.Df, runs.Df.max(), rtol=1e-3, atol=0)  # the default slice: the largest Df
    mine, others = at & (runs.stage == "finetune"), at & (runs.stage != "finetune")
    assert mine.sum() > 0 and others.sum() > 0
    fig = plot_fit(f, FMNIST, x="Dp", by="M")
    ax = fig.axes[0]
    assert _runs_drawn(ax) == mine.sum() and fig.scalefit_points["drawn"] == mine.sum()
    assert _held_out_drawn(ax) == others.sum() == fig.scalefit_held_out
    hollow = [c for c in ax.collections if c.get_gid() == "held_out"]
    assert all(len(c.get_facecolors()) == 0 or c.get_facecolors()[:, 3].max() == 0 for c in hollow)
    assert "not fitted (held out)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"points: {mine.sum()} of 100 runs drawn" in fig.scalefit_notes[0]
    assert any(f"held out: {others.sum()} of 90 runs outside stage == 'finetune'" in n for n in fig.scalefit_notes)
    fig.savefig(tmp_path / "held_out.png", dpi=80)
    # --where overrides the fit's filter; '' draws every run as the fit's; held-out runs can be hidden
    distill = plot_fit(f, FMNIST, x="Dp", by="M", where="stage == 'distill'")
    assert _runs_drawn(distill.axes[0]) == (at & (runs.stage == "distill")).sum()
    every = plot_fit(f, FMNIST, x="Dp", by="M", where="")
    assert _runs_drawn(every.axes[0]) == at.sum() and _held_out_drawn(every.axes[0]) == 0
    hidden = plot_fit(f, FMNIST, x="Dp", by="M", held_out=False)
    assert _runs_drawn(hidden.axes[0]) == mine.sum() and _held_out_drawn(hidden.axes[0]) == 0
    out = tmp_path / "cli.png"
    assert main(["plot", str(finetune_file), "--runs", FMNIST, "--x", "Dp", "--by", "M", "--out", str(out)]) == 0
    assert f"held out: {others.sum()} of 90 runs" in capsys.readouterr().out
    assert main(["plot", str(finetune_file), "--runs", FMNIST, "--where", "Dp <= 15000", "--hide-held-out",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "held out" not in capsys.readouterr().out
    with pytest.raises(scalefit.ScalefitError, match="keeps none"):
        plot_fit(f, FMNIST, where="Dp < 0")


def test_bin_draws_runs_near_a_continuous_at_value(finetune_file, capsys):
    f = scalefit.load_fit(finetune_file)
    runs = pd.read_csv(FMNIST)
    runs = runs[runs.stage == "finetune"]
    with pytest.warns(scalefit.ScalingWarning, match="widen the bin"):
        none = plot_fit(f, FMNIST, x="Dp", by="M", at={"Df": 3500})  # no run at exactly 3500
    assert _runs_drawn(none.axes[0]) == 0
    binned = plot_fit(f, FMNIST, x="Dp", by="M", at={"Df": 3500}, tolerance=0.2)  # 4000 is within 20%
    near = np.isclose(runs.Df, 3500, rtol=0.2, atol=0)
    assert near.sum() > 0 and _runs_drawn(binned.axes[0]) == near.sum()
    assert "within 20.0%" in binned.scalefit_notes[0]
    argv = ["plot", str(finetune_file), "--runs", FMNIST, "--x", "Dp", "--at", "Df=3500", "--bin", "0.2"]
    assert main([*argv, "--out", "/tmp/scalefit_bin_test.png"]) == 0
    assert f"points: {near.sum()} of 100 runs drawn" in capsys.readouterr().out


# the curve runs past the 3 fine-tuning sizes the runs have: the plot passes predict's note on
@pytest.mark.filterwarnings(FEW_DF)
def test_boundary_interval_bars_sit_on_the_x_axis_not_on_the_target_axis():
    runs = pd.read_csv(FMNIST)
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        for stage in ("finetune", "control"):
            part = runs[runs.stage == stage]
            fits[stage] = scalefit.fit_law(
                scalefit.paper_error, part, target="error", method=LeastSquares(starts=16, bootstrap=30)
            )
    c = scalefit.crossover(fits["finetune"], fits["control"], axis="Df", at={"Dp": 60000.0, "M": 455050.0},
                           domain=(100, 1e5), names=("plain", "smoothing"))  # fmt: skip
    assert c.draws is not None and len(c.intervals(0.9).dropna()) >= 1
    for fig in (plot_boundary(c), plot_difference(c)):
        ax = fig.axes[0]
        strips = [a for a in fig.axes if a.get_gid() == "intervals"]
        assert len(strips) == 1
        strip = strips[0]
        assert strip.get_shared_x_axes().joined(ax, strip) and len(strip.get_yticks()) == 0
        assert strip.get_xlabel() == "Df" and not ax.xaxis.label.get_visible() and ax.get_xlabel() == "Df"
        medians = [float(np.ravel(cont.lines[0].get_xdata())[0]) for cont in strip.containers]
        assert sorted(medians) == pytest.approx(sorted(c.intervals(0.9).dropna(subset=["lower"])["median"]))
        assert all(len(cont.lines[0].get_xdata()) == 0 for cont in ax.containers)  # legend entries only
        assert any(lab.startswith("90% interval of crossing") for lab in ax.get_legend_handles_labels()[1])
        lo, hi = ax.get_ylim()
        ys = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.get_lines() if len(line.get_ydata())])
        assert lo >= np.nanmin(ys[np.isfinite(ys)]) * 0.5 if ax.get_yscale() == "log" else True  # no freed strip
        fig.savefig(io.BytesIO(), format="png")
