"""The ``crossover`` and ``compare`` verbs end to end: text, strict ``--json`` on stdout, ``--out``
written atomically, and bad input as one ``scalefit: error:`` line with exit status 2."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import NUTS, Fit, LeastSquares, ScalingWarning
from scalefit.cli.main import main

PLAIN = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
STEEP = dict(PLAIN, E_inf=0.03, gamma=0.6, lambda_f=0.02)  # crosses PLAIN once along Df, near 1.4e4
AT = ["--at", "Dp=1e6,M=2e7"]


def _strict(text: str):
    """JSON that Python's parser reads without NaN/Infinity."""

    def refuse(name):
        raise AssertionError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _with_draws(params, seed):
    rng = np.random.default_rng(seed)
    draws = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.02, 200)) for k, v in params.items()})
    return Fit.from_params(scalefit.paper_error, params, target="error", draws=draws)


@pytest.fixture(scope="module")
def fit_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fits")
    paths = {}
    for name, params, seed in (("plain", PLAIN, 0), ("steep", STEEP, 1)):
        paths[name] = str(folder / f"{name}.json")
        _with_draws(params, seed).to_json(paths[name])
    paths["nodraws"] = str(folder / "nodraws.json")
    Fit.from_params(scalefit.paper_error, STEEP, target="error").to_json(paths["nodraws"])
    return paths


def _fit_file(tmp_path, capsys, runs: pd.DataFrame, *flags: str) -> str:
    """``runs`` written as a CSV and fitted by ``scalefit fit ... --bootstrap 0``, its notes
    silenced; the path of the saved fit (file)."""
    runs.to_csv(tmp_path / "runs.csv", index=False)
    out = str(tmp_path / "fit.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        assert main(["fit", str(tmp_path / "runs.csv"), *flags, "--bootstrap", "0", "--out", out]) == 0
    capsys.readouterr()
    return out


def _one_error(capsys, argv, match=""):
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith("scalefit: error:") and err.count("\n") == 1, err
    assert match in err, err
    return err


# -- crossover ------------------------------------------------------------------------------
def test_crossover_text(fit_files, capsys):
    assert main(["crossover", fit_files["plain"], fit_files["steep"], "--axis", "Df", *AT]) == 0
    out = capsys.readouterr().out
    assert "crossing(s): 1.433e+04" in out and "steep wins" in out  # labelled by the files' names
    assert "90% intervals over 200 pairs of draws" in out and "crossing_1" in out


def test_crossover_json_on_stdout_and_in_out(fit_files, tmp_path, capsys):
    argv = ["crossover", fit_files["plain"], fit_files["steep"], "--axis", "Df", *AT, "--domain", "1e2:1e8"]
    assert main([*argv, "--json", "--names", "base,smoothed", "--interval", "0.8"]) == 0
    result = _strict(capsys.readouterr().out)
    assert result["names"] == ["base", "smoothed"] and result["axis"] == "Df"
    assert result["at"] == {"Dp": 1e6, "M": 2e7} and result["domain"] == [100.0, 1e8]
    assert result["crossings"] == [pytest.approx(14330, rel=1e-3)]
    assert [r["winner"] for r in result["regimes"]] == ["base", "smoothed"]
    row = result["intervals"]["crossing_1"]
    assert row["lower"] < result["crossings"][0] < row["upper"] and result["interval"] == 0.8
    values = [v for q in result["intervals"].values() for v in q.values()]
    assert all(v is None or isinstance(v, float) for v in values)  # NaN (a crossing in no draw) is null
    assert result["draws"] == 200 and 0.9 < result["p_crossing"] <= 1

    out = tmp_path / "c.json"
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.rstrip().endswith(f"saved the crossover to {out}") and "crossing(s)" in text
    saved = _strict(out.read_text())
    assert saved["crossings"] == result["crossings"] and saved["names"] == ["plain", "steep"]
    assert not list(tmp_path.glob(".c.json.*"))  # written through a temporary, renamed


def test_crossover_without_draws_says_so(fit_files, capsys):
    assert main(["crossover", fit_files["plain"], fit_files["nodraws"], "--axis", "Df", *AT, "--json"]) == 0
    captured = capsys.readouterr()
    result = _strict(captured.out)
    assert result["intervals"] is None and result["p_crossing"] is None and len(result["crossings"]) == 1
    assert main(["crossover", fit_files["plain"], fit_files["nodraws"], "--axis", "Df", *AT]) == 0
    err = capsys.readouterr().err
    assert "has no bootstrap or posterior draws (the other has; intervals pair the draws of both)" in err


def test_crossover_as_a_program(fit_files):
    proc = subprocess.run(
        [sys.executable, "-m", "scalefit.cli.main", "crossover", fit_files["plain"], fit_files["steep"], "--axis", "Df",
         *AT, "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _strict(proc.stdout)["crossings"][0] == pytest.approx(14330, rel=1e-3)


def test_crossover_bad_input(fit_files, tmp_path, capsys):
    a, b = fit_files["plain"], fit_files["steep"]
    base = ["crossover", a, b]
    _one_error(capsys, ["crossover", a, str(tmp_path / "none.json"), "--axis", "Df", *AT], "does not exist")
    _one_error(capsys, [*base, "--axis", "Q", *AT], "--axis 'Q' must be a variable of both laws")
    _one_error(capsys, [*base, "--axis", "Df", "--at", "Dp=abc,M=2e7"], "'abc' is not a number")
    _one_error(capsys, [*base, "--axis", "Df", "--at", "Dp=-1,M=2e7"], "--at Dp must be a finite number > 0")
    _one_error(capsys, [*base, "--axis", "Df", "--at", "Dp=1e6"], "--at is missing ['M']")
    _one_error(capsys, [*base, "--axis", "Df", "--at", "Dp=1e6,M=2e7,Q=1"], "names 'Q'")
    _one_error(capsys, [*base, "--axis", "Df", "--at", "Dp=1e6,M=2e7,Df=5"], "remove it from")
    _one_error(capsys, [*base, "--axis", "Df", *AT, "--domain", "5:1"], "--domain must be LOW:HIGH")
    _one_error(capsys, [*base, "--axis", "Df", *AT, "--names", "x"], "--names 'x' gives 1 label(s) for 2")
    _one_error(capsys, [*base, "--axis", "Df", *AT, "--out", str(tmp_path / "c.csv")], "must end in .json")
    _one_error(capsys, [*base, *AT], "--axis")  # required
    (tmp_path / "bad.json").write_text("{not json")
    _one_error(capsys, ["crossover", a, str(tmp_path / "bad.json"), "--axis", "Df", *AT])
    assert not list(tmp_path.glob("c.*"))  # nothing written on an error


# -- compare ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bayes_files(tmp_path_factory):
    """One small Bayesian fit saved under two names (one NUTS compile, not two): their LOO ties."""
    folder = tmp_path_factory.mktemp("bayes")
    rng = np.random.default_rng(0)
    x = np.geomspace(1e2, 1e5, 15)
    runs = pd.DataFrame({"x": x, "y": (0.1 + 3 * x**-0.5) * np.exp(rng.normal(0, 0.02, 15))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        fit = scalefit.fit_law(
            scalefit.parse_law("e + b*x^-c"),
            runs,
            target="y",
            method=NUTS(chains=2, draws=60, max_draws=60, warmup=60, init=LeastSquares(bootstrap=0, starts=4)),
            seed=0,
        )
        lsq = scalefit.fit_law(
            scalefit.parse_law("e + b*x^-c"), runs, target="y", method=LeastSquares(starts=4, bootstrap=0)
        )
    paths = {name: str(folder / f"{name}.json") for name in ("powerlaw", "again", "lsq")}
    fit.to_json(paths["powerlaw"])
    fit.to_json(paths["again"])
    lsq.to_json(paths["lsq"])
    return paths


def test_compare_json_text_and_out(bayes_files, tmp_path, capsys):
    a, b = bayes_files["powerlaw"], bayes_files["again"]
    assert main(["compare", a, b, "--force", "--json"]) == 0
    captured = capsys.readouterr()
    result = _strict(captured.out)
    assert [row["name"] for row in result["laws"]] == ["powerlaw", "again"] or [
        row["name"] for row in result["laws"]
    ] == ["again", "powerlaw"]
    assert {"rank", "elpd_loo", "elpd_diff", "weight", "se", "dse", "pareto_k_bad", "converged"} <= set(
        result["laws"][0]
    )
    assert result["best"] == result["laws"][0]["name"] and result["fits"]["powerlaw"] == a
    assert "did not converge" in captured.err  # the warning of --force, on stderr: stdout stays JSON

    assert main(["compare", a, b, "--force", "--names", "x,y", "--out", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "best:" in out and "saved the comparison to" in out
    table = pd.read_csv(tmp_path / "t.csv")
    assert set(table["name"]) == {"x", "y"} and "elpd_loo" in table
    assert main(["compare", a, b, "--force", "--json", "--out", str(tmp_path / "t.json")]) == 0
    assert _strict(capsys.readouterr().out) == _strict((tmp_path / "t.json").read_text())


def test_compare_bad_input(bayes_files, tmp_path, capsys):
    a, b = bayes_files["powerlaw"], bayes_files["again"]
    _one_error(capsys, ["compare", a, b], "did not converge")  # not converged, without --force
    _one_error(capsys, ["compare", a], "at least two fit files")
    _one_error(capsys, ["compare", a, str(tmp_path / "none.json")], "does not exist")
    _one_error(capsys, ["compare", a, bayes_files["lsq"], "--force"], "method='bayes'")
    _one_error(capsys, ["compare", a, b, "--names", "x,x"], "gives 'x' twice")
    _one_error(capsys, ["compare", a, b, "--out", str(tmp_path / "t.txt")], "must end in .json or .csv")


def test_plot_crossover_from_the_command_line(fit_files, tmp_path, capsys):
    out = tmp_path / "x.png"
    argv = ["plot", fit_files["plain"], fit_files["steep"], "--axis", "Df", *AT, "--domain", "1e2:1e8"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 1000 and "note: plain: the fit holds no runs" in printed
    _one_error(capsys, ["plot", fit_files["plain"], "--axis", "Df", "--out", str(out)], "--axis applies to")


# -- allocate --------------------------------------------------------------------------------
CHINCHILLA = dict(E=1.82, A=478, alpha=0.347, B=2144, beta=0.367)
GOPHER = 5.76e23  # FLOPs


@pytest.fixture(scope="module")
def chinchilla_file(tmp_path_factory):
    """The Chinchilla law at its published parameters, with 100 jittered draws (no runs)."""
    rng = np.random.default_rng(0)
    draws = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.01, 100)) for k, v in CHINCHILLA.items()})
    path = str(tmp_path_factory.mktemp("chinchilla") / "chinchilla.json")
    Fit.from_params(scalefit.chinchilla, CHINCHILLA, target="loss", draws=draws).to_json(path)
    return path


def _closed_form_n(budget: float) -> float:
    """N*(C) of E + A/N^a + B/D^b under C = 6 N D (Hoffmann et al. 2022, Approach 3)."""
    a, b, big_a, big_b = CHINCHILLA["alpha"], CHINCHILLA["beta"], CHINCHILLA["A"], CHINCHILLA["B"]
    return (a * big_a / (b * big_b)) ** (1 / (a + b)) * (budget / 6) ** (b / (a + b))


def test_allocate_json_on_stdout_and_in_out(chinchilla_file, tmp_path, capsys):
    argv = ["allocate", chinchilla_file, "--cost", "6*N*D", "--budget", str(GOPHER), "--draws", "40"]
    assert main([*argv, "--json", "--interval", "0.8"]) == 0
    result = _strict(capsys.readouterr().out)
    assert result["fit"] == chinchilla_file and result["mode"] == "budget" and result["cost_law"] == "6*N*D"
    n = result["amounts"]["N"]
    assert n == pytest.approx(_closed_form_n(GOPHER), rel=0.01)  # the closed form of the law, to 1%
    assert result["cost"] == pytest.approx(GOPHER, rel=1e-6)
    lo, hi = result["amounts_interval"]["N"]
    assert lo < n < hi and result["interval"] == 0.8 and result["n_draws"] == 40
    assert result["extrapolated"] == [] and any("holds no runs" in note for note in result["notes"])

    out = tmp_path / "a.json"
    assert main([*argv, "--limit", "D=:1e12", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Allocation(budget)" in text and "at limit" in text and text.rstrip().endswith(f"to {out}")
    saved = _strict(out.read_text())
    assert saved["at_limit"] == ["D"] and saved["amounts"]["D"] == pytest.approx(1e12, rel=1e-6)
    assert saved["limits"] == {"D": [0.0, 1e12]} and saved["amounts"]["N"] > n  # capped data: a bigger model
    assert not list(tmp_path.glob(".a.json.*"))


def test_allocate_target_and_held_variables(chinchilla_file, capsys):
    assert main(["allocate", chinchilla_file, "--cost", "6*N*D", "--target", "2.0", "--draws", "0", "--json"]) == 0
    result = _strict(capsys.readouterr().out)
    assert result["mode"] == "target" and result["predicted"] == pytest.approx(2.0, rel=1e-6)
    assert result["interval"] is None and result["amounts_interval"] == {}
    argv = ["allocate", chinchilla_file, "--cost", "6*N*D", "--budget", "1e20", "--at", "N=5e9", "--json"]
    assert main([*argv, "--draws", "0"]) == 0
    result = _strict(capsys.readouterr().out)
    assert result["at"] == {"N": 5e9} and result["amounts"]["D"] == pytest.approx(1e20 / 6 / 5e9, rel=1e-6)


def test_allocate_as_a_program(chinchilla_file):
    proc = subprocess.run(
        [sys.executable, "-m", "scalefit.cli.main", "allocate", chinchilla_file, "--cost", "6*N*D", "--budget",
         str(GOPHER), "--limit", "D=:1.4e12", "--draws", "10", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _strict(proc.stdout)["amounts"]["N"] == pytest.approx(7.3e10, rel=0.01)  # chinchilla's own answer


def test_allocate_bad_input(chinchilla_file, tmp_path, capsys):
    base = ["allocate", chinchilla_file, "--cost", "6*N*D"]
    _one_error(
        capsys, ["allocate", str(tmp_path / "none.json"), "--cost", "6*N*D", "--budget", "1e20"], "does not exist"
    )
    _one_error(capsys, ["allocate", chinchilla_file, "--cost", "6*N*Q", "--budget", "1e20"], "names 'Q'")
    _one_error(capsys, ["allocate", chinchilla_file, "--cost", "6*N*D -", "--budget", "1e20"], "is not a formula")
    _one_error(capsys, [*base, "--target", "1.5"], "not reachable: it is at or below the law's floor")
    _one_error(capsys, [*base, "--budget", "1e20", "--at", "N=-5"], "--at N must be a finite number > 0")
    _one_error(capsys, [*base, "--budget", "1e20", "--at", "N=abc"], "'abc' is not a number")
    _one_error(capsys, [*base, "--budget", "1e20", "--limit", "D=-1:5"], "--limit D low must be")
    _one_error(capsys, [*base, "--budget", "1e20", "--limit", "D=5"], "--limit expects NAME=LOW:HIGH")
    _one_error(
        capsys, [*base, "--budget", "1e20", "--limit", "Q=:5"], "--limit names 'Q', which is not a variable bought"
    )
    _one_error(capsys, [*base, "--budget", "-1"], "--budget must be a finite number > 0")
    _one_error(capsys, [*base], "one of the arguments --budget --target is required")
    _one_error(capsys, [*base, "--budget", "1e20", "--target", "2"], "not allowed with")
    _one_error(capsys, [*base, "--budget", "1e20", "--draws", "-1"], "--draws must be an integer")
    _one_error(
        capsys, ["allocate", chinchilla_file, "--cost", "N*D/3.6e12 + 100", "--budget", "50"], "--budget 50 buys"
    )
    _one_error(capsys, [*base, "--budget", "1e20", "--out", str(tmp_path / "a.csv")], "must end in .json")
    assert not list(tmp_path.glob("a.*"))


# -- suggest ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lsq_files(tmp_path_factory):
    """Two least-squares fits of e + b*x^-c (60 bootstrap replicates, one compile) that cross once near 3e5."""
    folder = tmp_path_factory.mktemp("lsq")
    law, x = scalefit.parse_law("e + b*x^-c"), np.geomspace(1e2, 1e6, 10)
    paths = {}
    for name, (e, b, c), seed in (("plain", (0.1, 3, 0.5), 0), ("steep", (0.05, 30, 0.5), 1)):
        y = (e + b * x**-c) * np.exp(np.random.default_rng(seed).normal(0, 0.02, len(x)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
            fit = scalefit.fit_law(
                law, pd.DataFrame({"x": x, "y": y}), target="y", seed=0, method=LeastSquares(starts=4, bootstrap=60)
            )
        paths[name] = str(folder / f"{name}.json")
        fit.to_json(paths[name])
    return paths


SUGGEST = ["--axis", "x", "--domain", "1e2:1e8", "--bounds", "x=1e2:1e7", "--points", "11"]


def test_suggest_crossing_json_csv_and_out(lsq_files, tmp_path, capsys):
    a, b = lsq_files["plain"], lsq_files["steep"]
    assert main(["suggest", a, b, *SUGGEST, "--n", "2", "--json"]) == 0
    result = _strict(capsys.readouterr().out)
    goal = result["goal"]
    assert goal["kind"] == "crossing" and goal["names"] == ["plain", "steep"] and goal["axis"] == "x"
    assert goal["lower"] < goal["estimate"] < goal["upper"] and 1e5 < goal["estimate"] < 1e6
    assert result["fits"] == {"plain": a, "steep": b} and "c-optimal" in result["method"]
    runs = result["runs"]
    assert [r["pick"] for r in runs] == [1, 2] and runs[-1]["expected_width"] < goal["width"]
    assert result["n_candidates"] == 22 and len(result["candidates"]) == 22  # 11 values for each fit

    costs = ["--cost", "plain=x/1e4", "--cost", "steep=1.5*x/1e4 + 1"]
    out = tmp_path / "s.json"
    assert main(["suggest", a, b, *SUGGEST, *costs, "--budget", "300", "--top", "3", "--json", "--out", str(out)]) == 0
    result = _strict(capsys.readouterr().out)
    assert result == _strict(out.read_text()) and len(result["candidates"]) == 3
    assert result["cost"] == "plain: x/1e4; steep: 1.5*x/1e4 + 1" and result["budget"] == 300.0
    assert sum(r["cost"] for r in result["runs"]) <= 300.0
    steep = [r for r in result["runs"] if r["fit"] == "steep"]
    assert all(r["cost"] == pytest.approx(1.5 * r["x"] / 1e4 + 1) for r in steep)

    table = tmp_path / "s.csv"
    assert main(["suggest", a, b, *SUGGEST, "--out", str(table)]) == 0
    text = capsys.readouterr().out
    assert "RunSuggestions for the crossing (upper) of plain and steep along x" in text and "method:" in text
    saved = pd.read_csv(table)
    assert len(saved) == 22 and list(saved["rank"]) == list(range(1, 23)) and saved["pick"].iloc[0] == 1


def test_suggest_prediction(lsq_files, capsys):
    argv = ["suggest", lsq_files["plain"], "--at", "x=1e7", "--bounds", "x=1e2:1e6", "--points", "9"]
    assert main([*argv, "--cost", "x/1e4", "--json"]) == 0
    result = _strict(capsys.readouterr().out)
    assert result["goal"]["kind"] == "prediction" and result["goal"]["at"] == {"x": 1e7}
    assert result["fits"] == {"fit": lsq_files["plain"]} and result["cost"] == "x/1e4" and result["n"] == 1
    assert main(argv) == 0
    assert "RunSuggestions for the prediction at x=1e+07" in capsys.readouterr().out


def test_suggest_bad_input(lsq_files, fit_files, tmp_path, capsys):
    a, b = lsq_files["plain"], lsq_files["steep"]
    base = ["suggest", a, b, *SUGGEST]
    _one_error(capsys, ["suggest", a, str(tmp_path / "none.json"), *SUGGEST], "does not exist")
    _one_error(capsys, ["suggest", fit_files["plain"], "--at", "Dp=1e6,M=2e7,Df=1e4"], "holds no runs")
    _one_error(capsys, [*base, "--cost", "6*x*M"], "names 'M'")
    _one_error(capsys, [*base, "--cost", "plain=x"], "--cost gives costs per fit but not for ['steep']")
    _one_error(capsys, [*base, "--cost", "other=x", "--cost", "steep=x"], "'other' is not one of the fits' labels")
    _one_error(capsys, [*base, "--cost", "x", "--cost", "2*x"], "--cost is given 2 times")
    _one_error(capsys, ["suggest", a, "--at", "x=-4", "--bounds", "x=1e2:1e7"], "--at x must be a finite number > 0")
    _one_error(capsys, ["suggest", a, "--at", "x=1e7", "--axis", "x"], "--axis belongs to --goal crossing")
    _one_error(capsys, ["suggest", a, "--goal", "crossing"], "--goal crossing takes two fit files")
    _one_error(capsys, ["suggest", a, b, "--goal", "cross"], "did you mean 'crossing'")
    _one_error(capsys, ["suggest", a, b, "--axis", "y"], "--axis 'y' must be a variable of both laws")
    _one_error(capsys, [*base, "--bounds", "y=1:2"], "names 'y'")
    _one_error(capsys, ["suggest", a, b, "--axis", "x", "--bounds", "x=:1e7"], "give both LOW and HIGH")
    _one_error(capsys, [*base, "--which", "3"], "cross 1 time(s)")
    _one_error(capsys, [*base, "--method", "bayes"], "--method must be one of")
    _one_error(capsys, [*base, "--budget", "0.5"], "--budget 0.5 buys none of the candidates")
    _one_error(capsys, [*base, "--out", str(tmp_path / "s.txt")], "must end in .json or .csv")
    assert not list(tmp_path.glob("s.*"))


# -- predict --at with fits by group ---------------------------------------------------------------
@pytest.fixture(scope="module")
def group_fits(tmp_path_factory):
    """A fits file of two groups, keyed by text ('a', 'b') and by number (seed 0, 1)."""
    tmp = tmp_path_factory.mktemp("groups")
    rng = np.random.default_rng(0)
    parts = []
    for seed, (task, (e, b, c)) in enumerate({"a": (0.1, 5.0, 0.3), "b": (0.2, 40.0, 0.5)}.items()):
        x = np.geomspace(1e3, 1e8, 15)
        y = (e + b * x**-c) * np.exp(rng.normal(0, 0.01, len(x)))
        parts.append(pd.DataFrame({"task": task, "seed": seed, "x": x, "y": y}))
    runs = pd.concat(parts, ignore_index=True)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        for by in ("task", "seed"):
            fits = scalefit.fit_groups(
                scalefit.get_law("revisiting_m2"),
                runs,
                by,
                target="y",
                mapping={"x": "x"},
                method=LeastSquares(bootstrap=0),
            )
            out[by] = (fits, tmp / f"{by}.json")
            fits.to_json(out[by][1])
    return out


def test_predict_at_names_a_group_by_text_or_number(group_fits, capsys):
    for by, value, key in (("task", "b", "b"), ("seed", "1", 1), ("seed", "1.0", 1)):
        fits, path = group_fits[by]
        assert main(["predict", str(path), "--at", f"{by}={value},x=1e9"]) == 0
        out = capsys.readouterr().out
        expected = float(fits[key].predict(pd.DataFrame({"x": [1e9]}), interval=None)["mean"].iloc[0])
        other = float(
            fits["a" if by == "task" else 0].predict(pd.DataFrame({"x": [1e9]}), interval=None)["mean"].iloc[0]
        )
        assert f"{expected:.4g}" in out and f"{other:.4g}" not in out


def test_predict_at_group_errors_name_the_column_and_the_fitted_groups(group_fits, capsys):
    path = str(group_fits["task"][1])
    _one_error(
        capsys, ["predict", path, "--at", "task=c,x=1e9"], "--at task='c' names no fitted group; task takes 'a', 'b'"
    )
    _one_error(capsys, ["predict", path, "--at", "x=1e9"], "--at needs task=VALUE")
    _one_error(capsys, ["predict", path, "--at", "task=b,x=abc"], "'abc' is not a number")
    _one_error(capsys, ["predict", path, "--at", "tsak=b,x=1"], "did you mean 'task'")
    long = "9" * 5000  # a value is echoed shortened, not 5,000 digits twice
    err = _one_error(capsys, ["predict", path, "--at", f"task=b,x={long}"], "must be a finite number")
    assert len(err) < 400


def test_predict_at_takes_a_variable_or_its_column_in_any_row_but_not_both(tmp_path, capsys):
    """``--at x=...`` and ``--at steps=...`` (the column x was mapped from) in two rows make one
    table of x, not two half-empty columns; naming both in one row is refused."""
    x = np.geomspace(1e3, 1e6, 10)
    runs = pd.DataFrame({"steps": x, "y": 0.1 + 3 * x**-0.4})
    fit_file = _fit_file(tmp_path, capsys, runs, "--law", "revisiting_m2", "--target", "y", "--map", "x=steps")
    out = tmp_path / "pred.csv"
    assert main(["predict", fit_file, "--at", "x=1e4", "--at", "steps=1e5", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table["x"]) == [1e4, 1e5] and "steps" not in table and table["mean"].notna().all()
    capsys.readouterr()
    _one_error(capsys, ["predict", fit_file, "--at", "x=1e4,steps=1e5"], "--at gives x twice")


def test_predict_from_a_fits_file_of_no_groups_says_so(tmp_path, capsys):
    path = tmp_path / "empty.json"
    scalefit.Fits({}, by=("task",)).to_json(path)
    _one_error(capsys, ["predict", str(path), "--at", "task=a,x=1e3"], "holds no groups, so there is no fit")


def test_fit_errors_give_the_command_lines_flags_not_the_apis_arguments(tmp_path, capsys):
    """Advice in `scalefit fit`'s errors names its flags (--fix, --objective, --signed), and
    --signed lets a formula's floor go negative from the command line."""
    n = np.geomspace(1e6, 1e9, 12)
    pd.DataFrame({"N": n, "y": -0.5 + 3 * n**-0.1}).to_csv(tmp_path / "neg.csv", index=False)
    pd.DataFrame({"x": [1e3, 1e4], "y": [0.5, 0.4]}).to_csv(tmp_path / "tiny.csv", index=False)
    neg = ["fit", str(tmp_path / "neg.csv"), "--target", "y", "--bootstrap", "0"]
    _one_error(capsys, [*neg, "--law", "-c + A*N^-alpha", "--bound", "c=-1:1"], "declare it signed: --signed c")
    _one_error(capsys, [*neg, "--law", "-c + A*N^-alpha"], "use --objective squared for targets")
    _one_error(capsys, [*neg, "--law", "chinchilla", "--signed", "E"], "--signed applies to a formula --law")
    tiny = ["fit", str(tmp_path / "tiny.csv"), "--law", "revisiting_m2", "--target", "y", "--bootstrap", "0"]
    assert main(tiny) == 2  # a warning (two values of x) and the error, both in the command's words
    err = capsys.readouterr().err
    assert "fix the exponent with --fix c=..." in err and "fix parameters with --fix NAME=VALUE" in err
    assert "fix={" not in err
    out = str(tmp_path / "fit.json")
    assert main([*neg, "--law", "c + A*N^-alpha", "--signed", "c", "--objective", "squared", "--out", out]) == 0
    assert scalefit.load_fit(out).params["c"] == pytest.approx(-0.5, rel=1e-6)


def test_predict_at_names_a_group_key_with_commas_or_spaces_in_double_quotes(tmp_path, capsys):
    x = np.geomspace(1e3, 1e6, 8)
    keys = ["a,b", "  sp ", "plain"]
    parts = [pd.DataFrame({"curve": k, "x": x, "y": 0.1 + (i + 1) * x**-0.3}) for i, k in enumerate(keys)]
    fits = _fit_file(tmp_path, capsys, pd.concat(parts), "--law", "revisiting_m2", "--target", "y", "--by", "curve")
    out = tmp_path / "p.csv"
    assert main(["predict", fits, "--at", 'curve="a,b",x=1e4', "--at", 'curve="  sp ",x=1e4', "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["curve"]) == ["a,b", "  sp "]
    expected = [0.1 + k * 1e4**-0.3 for k in (1, 2)]
    np.testing.assert_allclose(table["mean"], expected, rtol=1e-3)
    capsys.readouterr()
    _one_error(capsys, ["predict", fits, "--at", "curve=sp,x=1e4"], "goes in double quotes")
    _one_error(capsys, ["predict", fits, "--at", 'curve="a,b,x=1e4'], "opens a double quote it does not close")


def test_fit_formula_flags_and_their_messages(tmp_path, capsys):
    """A formula whose variable is only a factor fits with --variables (the --law check waits for
    it); --signed names a variable: said so; a log-space formula's negative bound points to
    --signed; a two-level variable without an exponent gets no bogus --fix advice; a data value
    spelled like an API argument (a column named bootstrap) is not rewritten into a flag."""
    p = np.array([0.1, 0.2, 0.3, 0.5, 0.7])
    pd.DataFrame({"p": p, "y": 1 + p}).to_csv(tmp_path / "lin.csv", index=False)
    lin = ["fit", str(tmp_path / "lin.csv"), "--target", "y", "--bootstrap", "0"]
    assert main([*lin, "--law", "a + b*p", "--variables", "p"]) == 0
    capsys.readouterr()
    assert main([*lin[:-1], "30", "--law", "a + b*p", "--variables", "p"]) == 0  # the printed notes too
    out = capsys.readouterr().out
    assert "only 30 bootstrap replicates" in out and "use --bootstrap 1000" in out and "bootstrap=1000" not in out
    _one_error(capsys, [*lin, "--law", "a + b*p"], "give --variables NAME,... naming the columns")
    _one_error(capsys, [*lin, "--law", "a + b*p^c", "--signed", "p"], "(p: a variable, not a parameter)")
    _one_error(capsys, [*lin, "--law", "a + b*p^-c", "--variables", "p", "--bound", "a=-1:1"], "--signed a")
    s2 = pd.DataFrame({"N": np.repeat([1e6, 1e7, 1e8], 2), "S2": np.tile([0.0, 1.0], 3)})
    s2["y"] = 1 + 3 * s2.N**-0.2 - 0.1 * s2.S2
    s2.to_csv(tmp_path / "s2.csv", index=False)
    argv = ["fit", str(tmp_path / "s2.csv"), "--law", "c + A*N^-alpha - C*S2", "--variables", "N,S2"]
    assert main([*argv, "--target", "y", "--bootstrap", "0"]) == 0
    err = capsys.readouterr().err
    assert "law variable 'S2' (column 'S2') has only 2 distinct value(s)" in err and "--fix S2" not in err
    bs = pd.DataFrame({"bootstrap": [0.0, 1.0, 10.0, 100.0], "y": [1.0, 0.9, 0.7, 0.5]})
    bs.to_csv(tmp_path / "bs.csv", index=False)
    argv = ["fit", str(tmp_path / "bs.csv"), "--law", "e + b*bootstrap^-c", "--general", "--target", "y"]
    err = _one_error(capsys, [*argv, "--bootstrap", "0"], "not finite and > 0")
    assert "e.g. bootstrap=0)" in err and "--bootstrap 0)" not in err


def test_predict_advice_to_refit_gives_the_fit_commands_flags(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n, d = np.repeat([1e8, 3e8, 1e9], 8), np.tile(np.geomspace(1e9, 1e11, 8), 3)
    loss = (1.7 + 400 * n**-0.34 + 410 * d**-0.28) * np.exp(rng.normal(0, 0.01, 24))
    pd.DataFrame({"N": n, "D": d, "loss": loss}).to_csv(tmp_path / "three.csv", index=False)
    fit_file = str(tmp_path / "three.json")
    argv = ["fit", str(tmp_path / "three.csv"), "--law", "chinchilla", "--target", "loss", "--bootstrap", "200"]
    assert main([*argv, "--out", fit_file]) == 0
    capsys.readouterr()
    assert main(["predict", fit_file, "--at", "N=1e10,D=1e11"]) == 0  # beyond 3 model sizes: a warning
    err = capsys.readouterr().err
    assert "refit with --clusters N so the intervals carry it" in err and "LeastSquares(" not in err
