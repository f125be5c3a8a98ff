"""A least-squares fit imports only what it needs (issue 24): no NumPyro, ArviZ, matplotlib,
``scipy.stats`` or pyarrow in a fresh process, from the API or the CLI. A behaviour test:
which modules load, never how long they take."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import special, stats

from scalefit.results.intervals import chi2_1_quantile

HEAVY = ("numpyro", "arviz", "matplotlib", "pyarrow", "scipy.stats")

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


@pytest.mark.parametrize("q", [0.0, 1e-9, 0.1, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1 - 1e-9])
def test_chi2_quantile_without_scipy_stats(q):
    assert chi2_1_quantile(q) == pytest.approx(float(stats.chi2.ppf(q, 1)), rel=1e-12, abs=1e-15)


def test_special_functions_match_scipy_stats():
    x = np.linspace(-8, 8, 161)
    np.testing.assert_allclose(special.ndtr(x), stats.norm.cdf(x), rtol=1e-12, atol=1e-300)
    for f, d1, d2 in [(0.0, 1, 5), (0.3, 2, 10), (1.0, 4, 40), (3.7, 9, 200), (25.0, 3, 7)]:
        assert float(special.fdtrc(d1, d2, f)) == pytest.approx(float(stats.f.sf(f, d1, d2)), rel=1e-12, abs=1e-300)
