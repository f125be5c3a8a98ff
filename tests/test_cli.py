"""The command line: laws, fit, predict, demo; errors are one line and exit status 2."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

import scalefit
from scalefit.cli.main import main


def test_laws_lists_catalogue_with_formulas(capsys):
    assert main(["laws"]) == 0
    out = capsys.readouterr().out
    for name, law in scalefit.list_laws().items():
        assert name in out and law.formula() in out


def test_fit_then_predict(tmp_path, capsys):
    runs = scalefit.example_runs().rename(columns={"Dp": "pretrain_images"})
    runs.to_csv(tmp_path / "runs.csv", index=False)
    fit_path = tmp_path / "fit.json"
    code = main(
        ["fit", str(tmp_path / "runs.csv"), "--law", "paper_error", "--target", "error",
         "--map", "Dp=pretrain_images", "--starts", "64", "--bootstrap", "100", "--out", str(fit_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "saved fit" in out and "95%" in out
    saved = json.loads(fit_path.read_text())
    assert saved["mapping"]["Dp"] == "pretrain_images" and saved["bootstrap_requested"] == 100
    assert 90 <= len(saved["draws"]["alpha"]) <= 100  # failed replicates are dropped (and counted)

    assert main(["predict", str(fit_path), "--at", "Dp=2e6,M=5e7,Df=5e4", "--at", "Dp=1e5,M=1e7,Df=1e4"]) == 0
    out = capsys.readouterr().out
    assert "pi_upper" in out and len(out.strip().splitlines()) == 3

    configs = pd.DataFrame({"pretrain_images": [2e6], "M": [5e7], "Df": [5e4]})
    configs.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(fit_path), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv")
    assert table.loc[0, "ci_lower"] < table.loc[0, "mean"] < table.loc[0, "ci_upper"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    cases = [
        ["fit", str(tmp_path / "none.csv"), "--law", "paper_error", "--target", "error"],
        ["fit", str(tmp_path / "none.csv"), "--law", "nope", "--target", "error"],
        ["predict", str(tmp_path / "none.json"), "--at", "Dp=1"],
    ]
    for argv in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("scalefit: error:")
    scalefit.example_runs().to_csv(tmp_path / "r.csv", index=False)
    assert main(["fit", str(tmp_path / "r.csv"), "--law", "paper_error", "--target", "error", "--map", "Dp"]) == 2
    assert "--map expects NAME=VALUE" in capsys.readouterr().err


def test_demo_runs_as_a_program():
    proc = subprocess.run(
        [sys.executable, "-m", "scalefit.cli.main", "demo", "--synthetic", "--bootstrap", "50"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert (
        "SYNTHETIC" in out
        and "runs from the embedded SYNTHETIC table" in out
        and "truth" in out
        and "pi_upper" in out
        and "lambda_p" in out
    )


def test_demo_fits_the_real_runs(capsys):
    assert main(["demo", "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "REAL training runs" in out and "scalefit collect fmnist-mnist" in out
    assert "Eq. 1 on the 100 plain fine-tuning runs" in out
    assert "extrapolation check" in out and "distillation beat plain fine-tuning" in out


def test_fit_where_filters_rows(tmp_path, capsys):
    table = scalefit.example_runs()
    table["stage"] = np.where(np.arange(len(table)) % 2, "finetune", "other")
    table.to_csv(tmp_path / "r.csv", index=False)
    assert main(["fit", str(tmp_path / "r.csv"), "--law", "paper_error", "--target", "error", "--bootstrap", "0",
                 "--starts", "50", "--where", "stage == 'finetune'"]) == 0  # fmt: skip
    assert f"{(table.stage == 'finetune').sum()} runs" in capsys.readouterr().out
    assert main(["fit", str(tmp_path / "r.csv"), "--law", "paper_error", "--target", "error",
                 "--where", "stag == 1"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--where" in err and "columns:" in err
    assert main(["fit", str(tmp_path / "r.csv"), "--law", "paper_error", "--target", "error",
                 "--where", "stage == 'none'"]) == 2  # fmt: skip
    assert "keeps no rows" in capsys.readouterr().err


def test_fit_with_bounds_and_fix_from_the_command_line(tmp_path, capsys):
    scalefit.example_runs().to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "f.json"
    argv = ["fit", str(tmp_path / "r.csv"), "--law", "paper_error", "--target", "error", "--starts", "32"]
    code = main([*argv, "--bootstrap", "0", "--bound", "alpha=0.1:0.3", "--fix", "E_inf=0.05", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    fit = scalefit.load_fit(out)
    assert 0.1 <= fit.params["alpha"] <= 0.3 and fit.params["E_inf"] == 0.05
    assert main(["predict", str(out), "--at", "Dp=1e6,M=1e7,Df=1e4"]) == 0
    captured = capsys.readouterr()
    assert "no bootstrap replicates" in captured.err and "mean" in captured.out
    assert main([*argv, "--bound", "alpha=0.3"]) == 2
    assert "NAME=LOW:HIGH" in capsys.readouterr().err


def test_boundary_command(tmp_path, capsys):
    plain = scalefit.Fit.from_params(
        scalefit.paper_error,
        dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25),
    )
    distilled = scalefit.Fit.from_params(
        scalefit.paper_distilled,
        dict(E_inf_prime=0.05, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.5, lambda_m_prime=0.006,
             gamma_prime=0.35, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=1e4),
    )  # fmt: skip
    plain.to_json(tmp_path / "p.json")
    distilled.to_json(tmp_path / "d.json")
    argv = ["boundary", str(tmp_path / "p.json"), str(tmp_path / "d.json"), "--at", "M=22e6,Df=5e4,Mt=1e7"]
    assert main([*argv, "--domain", "1e2:1e10"]) == 0
    out = capsys.readouterr().out
    assert "stationary point(s)" in out and "distill wins" in out and "closed form" in out
    assert main([*argv, "--domain", "1e8:1e4"]) == 2
    assert "0 < low < high" in capsys.readouterr().err
    assert main(["boundary", str(tmp_path / "p.json"), str(tmp_path / "d.json"), "--at", "M=22e6,Df=5e4"]) == 2
    assert "at= is missing ['Mt']" in capsys.readouterr().err


def _grouped_runs(path):
    rng = np.random.default_rng(0)
    parts = []
    for lab, (E, A, B) in {"x": (1.7, 400.0, 400.0), "y": (2.0, 300.0, 1000.0)}.items():
        N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e10, 5), np.geomspace(1e9, 1e11, 5)))
        truth = {"E": E, "A": A, "alpha": 0.34, "B": B, "beta": 0.28}
        loss = scalefit.chinchilla.evaluate(truth, {"N": N, "D": D}) * np.exp(rng.normal(0, 0.01, 25))
        parts.append(pd.DataFrame({"lab": lab, "N": N, "D": D, "loss": loss}))
    pd.concat(parts).to_csv(path, index=False)


def test_fit_by_group_then_predict_each_row_by_its_group(tmp_path, capsys):
    _grouped_runs(tmp_path / "runs.csv")
    out = tmp_path / "fits.json"
    code = main(
        ["fit", str(tmp_path / "runs.csv"), "--law", "chinchilla", "--target", "loss", "--by", "lab",
         "--bootstrap", "200", "--out", str(out)]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0 and "Fits of law 'chinchilla' to 2 groups by lab" in text and "saved fits" in text
    fits = scalefit.load_fit(out)
    assert isinstance(fits, scalefit.Fits) and list(fits) == ["x", "y"]
    pd.DataFrame({"lab": ["y", "x"], "N": [1e9, 1e9], "D": [1e10, 1e10]}).to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(out), str(tmp_path / "new.csv")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["lab", "N", "D", "mean"] and lines[1].split()[0] == "y"
    assert main(["boundary", str(out), str(out), "--at", "M=1e7,Df=1e4,Mt=1e8"]) == 2
    assert "holds fits of 2 groups" in capsys.readouterr().err


def test_backtest_command_ranks_laws(tmp_path, capsys):
    runs = scalefit.example_runs()
    runs.to_csv(tmp_path / "runs.csv", index=False)
    code = main(
        ["backtest", str(tmp_path / "runs.csv"), "--law", "paper_error", "--law", "transfer_gap", "--target", "error",
         "--holdout", "Dp", "--starts", "64", "--bootstrap", "100"]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0 and "laws by held-out score" in text and "best: paper_error" in text
