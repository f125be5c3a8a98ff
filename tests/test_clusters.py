"""The cluster bootstrap (``LeastSquares(clusters=...)``): runs that share an error at each
value of a variable — many token counts or checkpoints of each of a few model sizes — resampled
whole, so the intervals carry the error they share."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import LeastSquares, ScalefitError, load_fit

ALPHA = 0.34
SEEDS = 40


def _runs(seed, sizes=16, shared=0.03, own=0.005):
    """Chinchilla-shaped runs: ``sizes`` model sizes N x 8 token counts D; every run of one N
    shares a log-normal offset (sd ``shared``), and each has its own noise (sd ``own``)."""
    rng = np.random.default_rng(seed)
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, sizes), np.geomspace(1e9, 1e11, 8), indexing="ij")
    offset = rng.normal(0, shared, sizes)[:, None]
    y = (1.7 + 400 * n**-ALPHA + 2000 * d**-0.28) * np.exp(offset + rng.normal(0, own, n.shape))
    return pd.DataFrame({"N": n.ravel(), "D": d.ravel(), "loss": y.ravel()})


def _alpha_intervals(clusters):
    table = pd.concat([_runs(s).assign(seed=s) for s in range(SEEDS)], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fits = scalefit.fit_groups(
            scalefit.chinchilla, table, "seed", target="loss",
            method=LeastSquares(bootstrap=500, bootstrap_rtol=0, clusters=clusters),
        )  # fmt: skip
    rows = [fits[s].summary().loc["alpha"] for s in range(SEEDS)]
    return (np.array([float(r[k]) for r in rows]) for k in ("lower", "upper", "estimate"))


def test_cluster_bootstrap_covers_where_the_case_bootstrap_does_not():
    """40 tables whose runs share an error per model size: the 95% interval of the N exponent
    covers the truth within three binomial standard errors of 95% when sizes are resampled
    whole, and its width matches the estimate's spread across tables (a band of 2x either way
    around 2 x 1.96 sd); resampling runs one by one covers far less (the shared errors look
    like signal)."""
    lo, hi, est = _alpha_intervals("N")
    band = 3 * np.sqrt(0.95 * 0.05 / SEEDS)
    covered = np.mean((lo <= ALPHA) & (ALPHA <= hi))
    assert 0.95 - band <= covered <= 1.0, covered
    ratio = np.median(hi - lo) / (2 * 1.96 * np.std(est))
    assert 0.5 <= ratio <= 2.0, ratio
    lo_c, hi_c, _ = _alpha_intervals(None)
    assert np.mean((lo_c <= ALPHA) & (ALPHA <= hi_c)) < 0.95 - band


def test_clusters_names_a_law_variable_checked_before_work():
    runs = _runs(0)
    with pytest.raises(ScalefitError, match=r"clusters='model' is not a variable of law 'chinchilla'.*\['N', 'D'\]"):
        scalefit.fit_law(scalefit.chinchilla, runs, target="loss", method=LeastSquares(clusters="model"))
    with pytest.raises(TypeError, match="clusters must be a non-empty string"):
        LeastSquares(clusters=3)
    two = runs[runs.N.isin(sorted(runs.N.unique())[:2])]
    with warnings.catch_warnings(), pytest.raises(ScalefitError, match=r"clusters='N': the runs hold N at 2 value"):
        warnings.simplefilter("ignore", scalefit.ScalingWarning)  # N at two values: its exponent is fixed here
        scalefit.fit_law(scalefit.chinchilla, two, target="loss", method=LeastSquares(clusters="N"), fix={"alpha": 0.3})
    with pytest.raises(ScalefitError, match=r"clusters='N' sets how the bootstrap resamples, but bootstrap=0"):
        LeastSquares(bootstrap=0, clusters="N")
    with pytest.raises(ScalefitError, match=r"NUTS\(init=LeastSquares\(clusters='N'\)\).*no bootstrap"):
        scalefit.fit_law(
            scalefit.chinchilla, runs, target="loss", method=scalefit.NUTS(init=LeastSquares(clusters="N"))
        )
    with pytest.raises(
        ScalefitError, match=r"clusters='params' is the column mapped to law variable 'N'.*clusters='N'"
    ):
        scalefit.fit_law(
            scalefit.chinchilla, runs.rename(columns={"N": "params"}), target="loss", mapping={"N": "params"},
            method=LeastSquares(clusters="params"),
        )  # fmt: skip


def test_few_clusters_are_named_and_the_fit_file_keeps_them(tmp_path):
    """Four model sizes: the fit says its intervals come from four values drawn whole and are
    coarse; the fit file records the clusters and reads them back; a file that claims clusters
    of a variable the law lacks is refused by name."""
    runs = _runs(1, sizes=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fit = scalefit.fit_law(
            scalefit.chinchilla, runs, target="loss", method=LeastSquares(bootstrap=300, clusters="N")
        )
    assert (fit.bootstrap.clusters, fit.bootstrap.cluster_count) == ("N", 4)
    assert any("resampled 4 values of N whole" in n and "coarse" in n for n in fit.notes)
    assert len(fit.draws) == 300  # so few clusters: no early stop on a Monte-Carlo error they make meaningless
    assert "cluster-resampling (the 4 values of N drawn whole)" in repr(fit)
    assert "Monte-Carlo error not given: 4 clusters" in repr(fit)
    path = tmp_path / "fit.json"
    fit.to_json(path)
    back = load_fit(path)
    assert (back.bootstrap.clusters, back.bootstrap.cluster_count) == ("N", 4)
    d = json.loads(path.read_text())
    d["bootstrap_clusters"] = {"variable": "model", "count": 4}
    with pytest.raises(ScalefitError, match=r"bootstrap_clusters.variable.*'model' is not a variable of the law"):
        load_fit(d)
    d["bootstrap_clusters"] = {"variable": "N", "count": 7}
    with pytest.raises(ScalefitError, match=r"bootstrap_clusters.count.*= 7, but the stored runs hold N at 4 distinct"):
        load_fit(d)
    plain = scalefit.fit_law(scalefit.chinchilla, runs, target="loss", method=LeastSquares(bootstrap=0))
    assert plain.bootstrap.clusters is None and json.loads(plain.to_json())["bootstrap_clusters"] is None


def test_command_line_clusters(tmp_path, capsys):
    """``scalefit fit --clusters N``: the intervals say how they were resampled; a variable the
    law lacks is refused before any work."""
    from scalefit.cli.main import main

    path = tmp_path / "runs.csv"
    _runs(2, sizes=8).to_csv(path, index=False)
    args = ["fit", str(path), "--law", "chinchilla", "--target", "loss", "--bootstrap", "200"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        assert main([*args, "--clusters", "N"]) == 0
    out = capsys.readouterr().out
    assert "cluster-resampling (the 8 values of N drawn whole)" in out
    assert "95% cluster-bootstrap (N resampled whole) percentile intervals" in out
    assert main([*args, "--clusters", "model"]) != 0
    assert "--clusters model: not a variable of law chinchilla; give one of N, D" in capsys.readouterr().err
    mapped = tmp_path / "mapped.csv"
    _runs(2, sizes=8).rename(columns={"N": "params"}).to_csv(mapped, index=False)
    assert main(["fit", str(mapped), "--law", "chinchilla", "--target", "loss", "--map", "N=params",
                 "--clusters", "params"]) != 0  # fmt: skip
    assert "--clusters takes the law variable, not its column: --clusters N" in capsys.readouterr().err
    assert main([*args[:-1], "0", "--clusters", "N"]) != 0
    assert "--clusters N sets how the bootstrap resamples, but --bootstrap 0 makes none" in capsys.readouterr().err
    assert main([*args, "--clusters", "N", "--method", "bayes"]) != 0
    assert "--clusters applies to --method lsq" in capsys.readouterr().err


def test_what_clusters_cannot_reach_is_said():
    """A parameter at a bound gets its interval from the profile likelihood, which the cluster
    bootstrap does not reach; clusters of single runs (values that are equal only to rounding)
    make it a case bootstrap in all but name. Both are in the fit's notes."""
    runs = _runs(3, sizes=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        at_bound = scalefit.fit_law(
            scalefit.chinchilla, runs, target="loss", method=LeastSquares(bootstrap=200, clusters="N"),
            bounds={"E": (None, 1.5)},  # the truth is 1.7: E sits at its upper bound
        )  # fmt: skip
        jitter = runs.assign(N=runs.N * (1 + 1e-9 * np.arange(len(runs))))
        single = scalefit.fit_law(
            scalefit.chinchilla, jitter, target="loss", method=LeastSquares(bootstrap=200, clusters="N")
        )
    assert "E" in at_bound.bounds
    assert any(n.startswith("E: at a bound") and "clusters='N' does not reach it" in n for n in at_bound.notes)
    assert any("64 of its 64 distinct values hold a single run" in n for n in single.notes)


def test_groups_say_their_bootstrap_was_clustered():
    table = pd.concat([_runs(s, sizes=8).assign(task=f"t{s}") for s in (4, 5)], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fits = scalefit.fit_groups(
            scalefit.chinchilla, table, "task", target="loss", method=LeastSquares(bootstrap=200, clusters="N")
        )
    assert fits.table()["clusters"].tolist() == ["N: 8", "N: 8"]
    assert "bootstrap: cluster-resampling (the values of N drawn whole per group)" in repr(fits)
    assert [fits[k].bootstrap.cluster_count for k in ("t4", "t5")] == [8, 8]
