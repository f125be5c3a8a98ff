"""Draw the figures of the docs gallery (docs/gallery/*.png) with scalefit's own plotting.

    python docs/make_gallery.py            # from the repository root; a few minutes on 2 CPU cores

Every figure comes from a public function (``plot_fit``, ``plot_boundary``,
``plot_difference``, ``Backtest.plot``) applied to a table shipped with scalefit or to
SYNTHETIC runs drawn here from known parameters, with fixed seeds. The PNGs are committed;
rerun this script after a change to the plotting code and commit what changes.
``docs/gallery.md`` shows each figure beside the code below that made it (the sections
between the ``--8<--`` markers are included verbatim).
"""

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import scalefit  # noqa: E402

OUT = Path(__file__).resolve().parent / "gallery"
DPI = 100


def save(fig, name: str) -> None:
    fig.savefig(OUT / name, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {OUT / name}")


def fit_synthetic() -> None:
    # --8<-- [start:fit_synthetic]
    from scalefit import LeastSquares, example_runs, fit_law, paper_error, plot_fit

    runs = example_runs("synthetic_eq1")  # SYNTHETIC: paper Eq. 1 with known parameters, 196 runs
    fit = fit_law(paper_error, runs, target="error", method=LeastSquares(bootstrap=200))
    fig = plot_fit(fit, runs, x="Dp", by="M")  # the other variable, Df, at its largest value
    # --8<-- [end:fit_synthetic]
    save(fig, "fit_synthetic.png")


def fit_real_held_out() -> None:
    # --8<-- [start:fit_real]
    from scalefit import LeastSquares, example_runs, fit_law, paper_error, plot_fit

    runs = example_runs("fmnist_mnist")  # REAL: 190 runs, DeiTs pre-trained on Fashion-MNIST, fine-tuned on MNIST
    plain = runs[runs.stage == "finetune"]
    fit = fit_law(paper_error, plain[plain.Dp < 60000], target="error", method=LeastSquares(bootstrap=200))
    fig = plot_fit(fit, plain, x="Dp", by="M", where="Dp < 60000")  # the runs at Dp = 60000 are drawn hollow
    # --8<-- [end:fit_real]
    save(fig, "fit_real_held_out.png")


def boundary() -> None:
    # --8<-- [start:boundary]
    from scalefit import (
        LeastSquares,
        distillation_boundary,
        fit_law,
        paper_distilled,
        paper_error,
        plot_boundary,
        plot_difference,
    )

    # SYNTHETIC runs from a plain law (Eq. 1) and a distilled law (Eq. 4) chosen so that
    # distillation wins only between two crossings (as examples/distillation_boundary.py)
    plain_truth = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
    distilled_truth = dict(
        E_inf_prime=0.0615, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.55, lambda_m_prime=0.006,
        gamma_prime=0.33, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=100.0,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    runs = pd.MultiIndex.from_product(
        [np.geomspace(1e4, 1e8, 9), [5e6, 1e7, 2.2e7, 4e7], [1e4, 3e4, 1e5], [2e6, 1e7, 2e7]],
        names=["Dp", "M", "Df", "Mt"],
    ).to_frame(index=False)
    for name, law, truth in (("plain", paper_error, plain_truth), ("distilled", paper_distilled, distilled_truth)):
        noise = np.exp(rng.normal(0, 0.01, len(runs)))  # 1% log-normal noise
        runs[f"{name}_error"] = law.evaluate(truth, runs) * noise
    plain = fit_law(paper_error, runs, target="plain_error", method=LeastSquares(bootstrap=200))
    distilled = fit_law(paper_distilled, runs, target="distilled_error", method=LeastSquares(bootstrap=200))
    b = distillation_boundary(plain, distilled, at={"M": 22e6, "Df": 3e4, "Mt": 1e7}, domain=(1e4, 1e8))
    fig = plot_boundary(b)
    fig_difference = plot_difference(b)
    # --8<-- [end:boundary]
    save(fig, "boundary.png")
    save(fig_difference, "difference.png")


def backtest() -> None:
    # --8<-- [start:backtest]
    from scalefit import backtest, example_runs, paper_error, transfer_gap

    runs = example_runs("synthetic_eq1")
    bt = backtest({"eq1": paper_error, "gap": transfer_gap}, runs, target="error", holdout="Dp", interval=None)
    fig = bt.plot()  # held-out runs (the largest Dp): predicted against observed
    # --8<-- [end:backtest]
    save(fig, "backtest.png")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)  # the figures' notes say what matters
        fit_synthetic()
        fit_real_held_out()
        boundary()
        backtest()


if __name__ == "__main__":
    main()
