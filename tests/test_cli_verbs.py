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
from scalefit import Fit
from scalefit.cli import main

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
    assert not list(tmp_path.glob(".c.json.tmp*"))  # written through a temporary, renamed


def test_crossover_without_draws_says_so(fit_files, capsys):
    assert main(["crossover", fit_files["plain"], fit_files["nodraws"], "--axis", "Df", *AT, "--json"]) == 0
    captured = capsys.readouterr()
    result = _strict(captured.out)
    assert result["intervals"] is None and result["p_crossing"] is None and len(result["crossings"]) == 1
    assert main(["crossover", fit_files["plain"], fit_files["nodraws"], "--axis", "Df", *AT]) == 0
    assert "no bootstrap or posterior draws" in capsys.readouterr().err


def test_crossover_as_a_program(fit_files):
    proc = subprocess.run(
        [sys.executable, "-m", "scalefit.cli", "crossover", fit_files["plain"], fit_files["steep"], "--axis", "Df",
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
        warnings.simplefilter("ignore")
        fit = scalefit.fit_law(scalefit.parse_law("e + b*x^-c"), runs, target="y", method="bayes", chains=2,
                               draws=60, warmup=60, starts=4, seed=0)  # fmt: skip
        lsq = scalefit.fit_law(scalefit.parse_law("e + b*x^-c"), runs, target="y", starts=4, bootstrap=0)
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
