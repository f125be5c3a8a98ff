"""A least-squares fit imports only what it needs (issue 24): no NumPyro, ArviZ, matplotlib,
``scipy.stats``, ``scipy.special``, ``scipy.linalg`` (which JAX's LAPACK set-up imports) or
pyarrow in a fresh process, from the API or the CLI. A behaviour test: which modules load,
never how long they take."""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import special, stats

from scalefit.results.distributions import beta_regularised, chi2_1_quantile, f_survival, normal_cdf

HEAVY = ("numpyro", "arviz", "matplotlib", "pyarrow", "scipy.stats", "scipy.special", "scipy.linalg")

PROBE = textwrap.dedent(
    """
    import json, sys, warnings

    HEAVY = {heavy!r}

    def loaded():
        return sorted(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in sys.modules))

    import numpy as np
    import pandas as pd

    before = loaded()  # pandas 3 itself imports pyarrow when it is installed: not scalefit's doing
    import scalefit
    from scalefit.cli.main import main

    rng = np.random.default_rng(0)
    n = np.repeat([1e7, 3e7, 1e8, 3e8, 1e9], 3)
    d = np.tile([2e9, 6e9, 2e10], 5)
    df = pd.DataFrame({{"N": n, "D": d}})
    df["loss"] = (1.7 + 400 / n**0.34 + 410 / d**0.28) * np.exp(rng.normal(0, 0.01, len(n)))
    path = sys.argv[1]
    df.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)  # the fits' notes, not the imports
        fit = scalefit.fit_law(
            scalefit.chinchilla, df, target="loss", method=scalefit.LeastSquares(bootstrap=0, starts=8)
        )
        fit.summary()
        str(fit)
        rc = main(["fit", path, "--law", "chinchilla", "--target", "loss", "--bootstrap", "0", "--starts", "8"])
    print(json.dumps({{"before": before, "after": loaded(), "rc": rc, "E": fit.params["E"]}}))
    """
).format(heavy=HEAVY)


def test_least_squares_fit_imports_no_sampler_stats_or_plotting(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "runs.csv")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0
    assert np.isfinite(report["E"])
    added = sorted(set(report["after"]) - set(report["before"]))
    assert added == [], f"a least-squares fit (API and CLI, bootstrap 0) imported {added}"
    assert set(report["before"]) <= {"pyarrow"}  # only pandas' own import, never a scalefit one


READ_BACK = textwrap.dedent(
    """
    import json, sys

    import scalefit
    from scalefit.cli.main import main

    fit = scalefit.load_fit(sys.argv[1])
    table = fit.predict({{"N": [1e8], "D": [6e9]}}, interval=0.9)
    rc = main(["predict", sys.argv[1], "--at", "N=1e8,D=6e9"])
    heavy = {heavy!r} + ("jax", "jaxlib", "scipy.optimize")
    loaded = sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules))
    print(json.dumps({{"loaded": loaded, "rc": rc, "mean": float(table["mean"].iloc[0]),
                      "width": float(table["pi_upper"].iloc[0] - table["pi_lower"].iloc[0])}}))
    """
).format(heavy=HEAVY)


def test_reading_a_saved_fit_and_predicting_imports_no_solver(tmp_path):
    """``load_fit`` + ``predict`` and ``scalefit predict`` on a saved fit import neither JAX nor
    the fitting stack: predicting from a fit made earlier is a NumPy evaluation of the law."""
    n = np.repeat([1e7, 3e7, 1e8, 3e8, 1e9], 3)
    d = np.tile([2e9, 6e9, 2e10], 5)
    loss = (1.7 + 400 / n**0.34 + 410 / d**0.28) * np.exp(np.random.default_rng(0).normal(0, 0.01, len(n)))
    import pandas as pd

    import scalefit

    with pytest.warns(scalefit.ScalingWarning):
        fit = scalefit.fit_law(
            scalefit.chinchilla,
            pd.DataFrame({"N": n, "D": d, "loss": loss}),
            target="loss",
            method=scalefit.LeastSquares(bootstrap=50, starts=8),
        )
    fit.to_json(tmp_path / "fit.json")
    out = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(tmp_path / "fit.json")], capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0
    expected = fit.predict({"N": [1e8], "D": [6e9]}, interval=0.9)
    assert report["mean"] == pytest.approx(float(expected["mean"].iloc[0]), rel=1e-12)
    width = float(expected["pi_upper"].iloc[0] - expected["pi_lower"].iloc[0])
    assert report["width"] == pytest.approx(width, rel=1e-12) and width > 0
    assert report["loaded"] in ([], ["pyarrow"]), f"predicting from a saved fit imported {report['loaded']}"


@pytest.mark.parametrize("q", [0.0, 1e-20, 1e-9, 1e-6, 9.99e-4, 1e-3, 0.1, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1 - 1e-9])
def test_chi2_quantile_without_scipy(q):
    assert chi2_1_quantile(q) == pytest.approx(float(stats.chi2.ppf(q, 1)), rel=1e-12, abs=1e-300)


def test_distribution_functions_match_scipy():
    x = np.linspace(-30, 8, 381)  # relative error grows as x^2 eps in the lower tail, as scipy's own
    np.testing.assert_allclose(normal_cdf(x), special.ndtr(x), rtol=1e-12, atol=0)
    assert normal_cdf(0.5) == pytest.approx(float(special.ndtr(0.5)), rel=1e-15)  # scalars too
    cases = [(0.0, 1, 5), (0.3, 2, 10), (1.0, 4, 40), (3.7, 9, 200), (25.0, 3, 7), (1.2, 5, 99_000), (0.01, 40, 3)]
    cases += [(1e-3, 0.001, 1e7), (1e-6, 1e4, 1e7), (1e3, 0.5, 50), (4.0, 1, 1e7)]  # extremes of the range used
    for f, d1, d2 in cases:
        assert f_survival(d1, d2, f) == pytest.approx(float(special.fdtrc(d1, d2, f)), rel=1e-8, abs=1e-300)
    for a, b, x in [(0.5, 0.5, 0.3), (2.0, 30.0, 0.01), (200.0, 3.0, 0.99), (1e4, 2.5, 0.9997), (3.0, 3.0, 0.5)]:
        assert beta_regularised(a, b, x) == pytest.approx(float(special.betainc(a, b, x)), rel=1e-11, abs=1e-300)
    assert chi2_1_quantile(1.0) == math.inf
    assert all(math.isnan(f_survival(*bad)) for bad in [(0, 5, 1), (5, 0, 1), (math.inf, 5, 1), (2, 5, math.nan)])
    with pytest.raises(ValueError, match="0 <= q <= 1"):
        chi2_1_quantile(-0.1)
