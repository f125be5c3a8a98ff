"""The command line never crashes, lies or destroys (issue 10).

Every bad input is one ``scalefit: error:`` line naming the argument, exit status 2, before
any work; a bug is one ``scalefit: internal error:`` line asking for a report, exit 1;
``--out`` is checked before the work and written atomically into the real target (symlinks
kept, devices refused); a closed stdout loses no file (exit 141); Ctrl-C is one line and
exit 130, with no half-written file or stray temporary.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import validate
from scalefit.cli import verbs
from scalefit.cli.main import main

PARAMS = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
DISTILLED = dict(
    E_inf_prime=0.05, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.5, lambda_m_prime=0.006,
    gamma_prime=0.35, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=1e4,
)  # fmt: skip
CHEAP = ["--starts", "50", "--bootstrap", "0"]


@pytest.fixture
def files(tmp_path):
    """A runs table, two fit files and a set of broken input files."""
    scalefit.example_runs().to_csv(tmp_path / "r.csv", index=False)
    scalefit.Fit.from_params(scalefit.paper_error, PARAMS).to_json(tmp_path / "p.json")
    scalefit.Fit.from_params(scalefit.paper_distilled, DISTILLED).to_json(tmp_path / "d.json")
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00\x01not text")
    (tmp_path / "binary.csv").write_bytes(b"a,b\n\xff,1\n")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "folder.csv").mkdir()
    return tmp_path


def _fit(path, *extra):
    return ["fit", str(path / "r.csv"), "--law", "paper_error", "--target", "error", *extra]


# (argv builder, a word the one-line message must contain)
BAD = {
    "starts zero": (lambda p: _fit(p, "--starts", "0"), "--starts"),
    "starts fractional": (lambda p: _fit(p, "--starts", "2.5"), "--starts"),
    "starts not a number": (lambda p: _fit(p, "--starts", "many"), "--starts"),
    "starts too many": (lambda p: _fit(p, "--starts", "1e12"), "--starts"),
    "bootstrap negative": (lambda p: _fit(p, "--bootstrap", "-1"), "--bootstrap"),
    "seed negative": (lambda p: _fit(p, "--seed", "-1"), "--seed"),
    "chains zero": (lambda p: _fit(p, "--method", "bayes", "--chains", "0"), "--chains"),
    "draws zero": (lambda p: _fit(p, "--method", "bayes", "--draws", "0"), "--draws"),
    "warmup nan": (lambda p: _fit(p, "--method", "bayes", "--warmup", "nan"), "--warmup"),
    "delta zero": (lambda p: _fit(p, "--delta", "0"), "--delta"),
    "delta nan": (lambda p: _fit(p, "--delta", "nan"), "--delta"),
    "unknown law": (lambda p: [*_fit(p)[:2], "--law", "paper_errr", "--target", "error"], "--law"),
    "unknown objective": (lambda p: _fit(p, "--objective", "hubr"), "--objective"),
    "unknown method": (lambda p: _fit(p, "--method", "bayse"), "--method"),
    "unknown noise": (lambda p: _fit(p, "--method", "bayes", "--noise", "cauchy"), "--noise"),
    "fix nan": (lambda p: _fit(p, "--fix", "alpha=nan"), "--fix"),
    "fix inf": (lambda p: _fit(p, "--fix", "alpha=inf"), "--fix"),
    "fix not a number": (lambda p: _fit(p, "--fix", "alpha=big"), "--fix"),
    "fix twice": (lambda p: _fit(p, "--fix", "alpha=1", "--fix", "alpha=2"), "--fix"),
    "fix twice in one": (lambda p: _fit(p, "--fix", "alpha=1,alpha=2"), "--fix"),
    "fix empty name": (lambda p: _fit(p, "--fix", "=1"), "--fix"),
    "fix empty value": (lambda p: _fit(p, "--fix", "alpha="), "--fix"),
    "fix unknown parameter": (lambda p: _fit(p, "--fix", "alph=1"), "--fix"),
    "map without =": (lambda p: _fit(p, "--map", "Dp"), "--map"),
    "map unknown variable": (lambda p: _fit(p, "--map", "Dq=Dp"), "--map"),
    "tie unknown other": (lambda p: _fit(p, "--tie", "alpha=bet"), "--tie"),
    "bound nan": (lambda p: _fit(p, "--bound", "alpha=nan:1"), "--bound"),
    "bound inf": (lambda p: _fit(p, "--bound", "alpha=0:inf"), "--bound"),
    "bound reversed": (lambda p: _fit(p, "--bound", "alpha=2:1"), "--bound"),
    "bound without colon": (lambda p: _fit(p, "--bound", "alpha=0.3"), "--bound"),
    "fix and bound": (lambda p: _fit(p, "--fix", "alpha=1", "--bound", "alpha=0:2"), "--fix"),
    "delta without huber": (lambda p: _fit(p, "--delta", "1e-3", "--objective", "squared"), "delta"),
    "out missing folder": (lambda p: _fit(p, "--out", str(p / "nodir" / "f.json")), "--out"),
    "out wrong suffix": (lambda p: _fit(p, "--out", str(p / "f.txt")), "--out"),
    "out is a folder": (lambda p: _fit(p, "--out", str(p / "folder.json")), "--out"),
    "out is a device": (lambda p: _fit(p, "--out", "/dev/null"), "--out"),
    "runs missing": (lambda p: ["fit", str(p / "none.csv"), "--law", "paper_error", "--target", "error"], "none.csv"),
    "runs a folder": (lambda p: ["fit", str(p / "folder.csv"), "--law", "paper_error", "--target", "error"], "folder"),
    "runs empty": (lambda p: ["fit", str(p / "empty.csv"), "--law", "paper_error", "--target", "error"], "empty"),
    "runs not utf-8": (lambda p: ["fit", str(p / "binary.csv"), "--law", "paper_error", "--target", "error"], "binary"),
    "runs where on a folder": (
        lambda p: ["fit", str(p / "folder.csv"), "--law", "paper_error", "--target", "error", "--where", "M > 1"],
        "folder",
    ),
    "target missing": (lambda p: [*_fit(p)[:4], "--target", "nope"], "nope"),
    "fit file missing": (lambda p: ["predict", str(p / "none.json"), "--at", "Dp=1,M=1,Df=1"], "none.json"),
    "fit file empty": (lambda p: ["predict", str(p / "empty.json"), "--at", "Dp=1,M=1,Df=1"], "empty.json"),
    "fit file not utf-8": (lambda p: ["predict", str(p / "binary.json"), "--at", "Dp=1,M=1,Df=1"], "binary.json"),
    "fit file a folder": (lambda p: ["predict", str(p / "folder.json"), "--at", "Dp=1,M=1,Df=1"], "folder.json"),
    "fit file is a table": (lambda p: ["predict", str(p / "r.csv"), "--at", "Dp=1,M=1,Df=1"], "r.csv"),
    "predict interval percent": (lambda p: ["predict", str(p / "p.json"), "--at", "Dp=1", "--interval", "5"], "0.05"),
    "predict interval zero": (
        lambda p: ["predict", str(p / "p.json"), "--at", "Dp=1", "--interval", "0"],
        "--interval",
    ),
    "predict neither": (lambda p: ["predict", str(p / "p.json")], "--at"),
    "predict both": (lambda p: ["predict", str(p / "p.json"), str(p / "r.csv"), "--at", "Dp=1,M=1,Df=1"], "not both"),
    "predict at twice": (lambda p: ["predict", str(p / "p.json"), "--at", "Dp=1,Dp=2"], "--at"),
    "predict at nan": (lambda p: ["predict", str(p / "p.json"), "--at", "Dp=nan,M=1,Df=1"], "--at"),
    "predict out suffix": (
        lambda p: ["predict", str(p / "p.json"), "--at", "Dp=1", "--out", str(p / "x.json")],
        "--out",
    ),
    "predict out is input": (
        lambda p: ["predict", str(p / "p.json"), str(p / "r.csv"), "--out", str(p / "r.csv")],
        "--out",
    ),
    "boundary interval": (
        lambda p: ["boundary", str(p / "p.json"), str(p / "d.json"), "--at", "M=1", "--interval", "5"],
        "--interval",
    ),
    "boundary domain reversed": (
        lambda p: ["boundary", str(p / "p.json"), str(p / "d.json"), "--at", "M=1", "--domain", "1e8:1e4"],
        "--domain",
    ),
    "boundary domain inf": (
        lambda p: ["boundary", str(p / "p.json"), str(p / "d.json"), "--at", "M=1", "--domain", "1:inf"],
        "--domain",
    ),
    "boundary domain text": (
        lambda p: ["boundary", str(p / "p.json"), str(p / "d.json"), "--at", "M=1", "--domain", "wide"],
        "--domain",
    ),
    "boundary at twice": (
        lambda p: ["boundary", str(p / "p.json"), str(p / "d.json"), "--at", "M=1", "--at", "M=2"],
        "--at",
    ),
    "plot three fits": (lambda p: ["plot", *[str(p / "p.json")] * 3, "--out", str(p / "x.png")], "two"),
    "plot difference with one fit": (
        lambda p: ["plot", str(p / "p.json"), "--difference", "--out", str(p / "x.png")],
        "--difference",
    ),
    "plot runs with two fits": (
        lambda p: ["plot", str(p / "p.json"), str(p / "d.json"), "--runs", str(p / "r.csv"), "--out", str(p / "x.png")],
        "--runs",
    ),
    "plot unknown image suffix": (lambda p: ["plot", str(p / "p.json"), "--out", str(p / "x.pnj")], "--out"),
    "plot out a device": (lambda p: ["plot", str(p / "p.json"), "--out", "/dev/null"], "--out"),
    "collect limit negative": (lambda p: ["collect", "tiny", "--limit", "-1", "--out", str(p / "t.csv")], "--limit"),
    "collect limit zero": (lambda p: ["collect", "tiny", "--limit", "0", "--out", str(p / "t.csv")], "--limit"),
    "collect tflops zero": (lambda p: ["collect", "tiny", "--dry-run", "--tflops", "0"], "--tflops"),
    "collect executor": (
        lambda p: ["collect", "tiny", "--executor", "slurmm", "--out", str(p / "t.csv")],
        "--executor",
    ),
    "collect out missing folder": (lambda p: ["collect", "tiny", "--out", str(p / "nodir" / "t.csv")], "--out"),
    "demo bootstrap negative": (lambda p: ["demo", "--bootstrap", "-1"], "--bootstrap"),
    "unknown command": (lambda p: ["fitt"], "fit"),
    "unknown option": (lambda p: ["laws", "--fast"], "--fast"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_error_line_naming_the_argument(case, files, capsys):
    argv, word = BAD[case]
    before = sorted(p.name for p in files.iterdir())
    code = main(argv(files))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("scalefit: error:"), err
    assert word in err and "Traceback" not in err
    assert sorted(p.name for p in files.iterdir()) == before  # nothing created, no temporaries


@pytest.mark.parametrize(
    "argv, word",
    [
        (lambda p: _fit(p, "--starts", "0"), "--starts"),
        (lambda p: ["predict", str(p / "binary.json"), "--at", "Dp=1"], "binary.json"),
        (lambda p: ["boundary", str(p / "p.json"), str(p / "d.json"), "--at", "M=1", "--interval", "5"], "0.05"),
        (lambda p: _fit(p, *CHEAP, "--out", str(p / "nodir" / "f.json")), "nodir"),
    ],
)
def test_bad_input_as_a_program(argv, word, files):
    proc = _run(argv(files))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("scalefit: error:"), proc.stderr
    assert word in proc.stderr and "Traceback" not in proc.stderr
    assert not (files / "nodir").exists()


def _run(argv, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "scalefit", *argv], capture_output=True, text=True, timeout=300, **kwargs
    )


# -- --out ----------------------------------------------------------------------------------------
def test_out_in_a_missing_folder_fails_before_the_fit(files, capsys, monkeypatch):
    ran = []
    monkeypatch.setattr(scalefit.fitting.fit, "fit_law", lambda *a, **k: ran.append(1))
    assert main(_fit(files, "--out", str(files / "nodir" / "fit.json"))) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "nodir" in err and "mkdir" in err
    assert not ran and not (files / "nodir").exists()
    assert not [p for p in files.iterdir() if "tmp" in p.name]


def test_out_through_a_symlink_updates_the_target_and_keeps_the_link(files):
    target = files / "target.json"
    target.write_text("{}")
    link = files / "link.json"
    link.symlink_to(target)
    proc = _run(_fit(files, *CHEAP, "--out", str(link)))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert scalefit.load_fit(target).law.name == "paper_error"
    assert not [p for p in files.iterdir() if "tmp" in p.name]


def test_out_onto_a_device_is_refused(files, capsys):
    (files / "null.png").symlink_to("/dev/null")
    for argv in (
        _fit(files, "--out", "/dev/null"),
        ["predict", str(files / "p.json"), "--at", "Dp=1,M=1,Df=1", "--out", "/dev/null"],
        ["plot", str(files / "p.json"), "--out", str(files / "null.png")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("scalefit: error: --out") and err.count("\n") == 1, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert (files / "null.png").is_symlink()


def test_predict_out_is_written_atomically_in_csv_and_parquet(files, capsys):
    import pandas as pd

    for name in ("pred.csv", "pred.parquet"):
        argv = ["predict", str(files / "p.json"), "--at", "Dp=1e6,M=1e7,Df=1e4", "--out", str(files / name)]
        assert main(argv) == 0
        table = pd.read_csv(files / name) if name.endswith(".csv") else pd.read_parquet(files / name)
        assert len(table) == 1 and 0 < table.loc[0, "mean"] < 1
    assert "saved predictions" in capsys.readouterr().out
    assert not [p for p in files.iterdir() if "tmp" in p.name]


# -- a closed standard output -----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["fit", "predict"])
def test_closed_stdout_loses_no_output_file(command, files):
    out = files / ("f.json" if command == "fit" else "p.csv")
    argv = (
        _fit(files, *CHEAP, "--out", str(out))
        if command == "fit"
        else ["predict", str(files / "p.json"), "--at", "Dp=1e6,M=1e7,Df=1e4", "--out", str(out)]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalefit", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()  # like `| head -c 0`: nobody reads what is printed
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err
    if command == "fit":
        assert scalefit.load_fit(out).law.name == "paper_error"
    else:
        assert out.read_text().startswith("Dp,M,Df,mean")


def test_laws_into_a_closed_pipe(files):
    proc = subprocess.Popen([sys.executable, "-m", "scalefit", "laws"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 141 and err == "", err


# -- Ctrl-C and SIGTERM ---------------------------------------------------------------------------
def _default_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _handlers_installed(pid: int) -> bool:
    """main() has installed its handlers: SIGTERM (which Python leaves alone) is caught."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _long_runs(files) -> Path:
    """A table the fit cannot finish in seconds on any machine: the embedded runs 200 times over
    (39,200 rows), each copy with its own noise, fitted from 200 starts with up to 2,000
    bootstrap replicates (within the working-memory limits the fit checks up front)."""
    runs = scalefit.example_runs()
    rng = np.random.default_rng(0)
    big = pd.concat([runs] * 200, ignore_index=True)
    big["error"] *= np.exp(rng.normal(0, 0.02, len(big)))
    folder = files / "long"
    folder.mkdir(exist_ok=True)
    big.to_csv(folder / "r.csv", index=False)
    return folder


def _interrupt(files, delay: float, signum=signal.SIGINT, after_start: bool = False):
    argv = _fit(_long_runs(files), "--starts", "200", "--bootstrap", "2000", "--out", str(files / "f.json"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalefit", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals,
    )  # fmt: skip
    if not after_start:
        deadline = time.monotonic() + 120
        while not _handlers_installed(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    time.sleep(delay)
    finished = proc.poll() is not None
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err, finished


def _check_interrupted(files, code, err, expected):
    assert code == expected, err  # never negative: no segfault, no death by the signal itself
    assert err.splitlines()[-1] == "scalefit: interrupted", err
    assert "Traceback" not in err and "Segmentation fault" not in err and "core dumped" not in err
    if (files / "f.json").exists():
        assert scalefit.load_fit(files / "f.json").law.name == "paper_error"
    assert not [p for p in files.iterdir() if "tmp" in p.name]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc to see the handlers installed")
@pytest.mark.parametrize("delay", [0.0, 1.5, 4.0])  # parsing and loading, compiling, fitting
def test_ctrl_c_during_a_fit_is_one_line_and_exit_130(files, delay):
    code, err, finished = _interrupt(files, delay)
    assert not finished, "the fit ended before the interrupt"
    _check_interrupted(files, code, err, 130)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc to see the handlers installed")
def test_sigterm_during_a_fit_is_one_line_and_exit_143(files):
    code, err, finished = _interrupt(files, 2.0, signal.SIGTERM)
    assert not finished, "the fit ended before the signal"
    _check_interrupted(files, code, err, 143)


def test_ctrl_c_while_importing(files):
    """The package loads its submodules lazily, so the handlers are in place before JAX loads."""
    code, err, finished = _interrupt(files, 0.3, after_start=True)
    assert not finished, "the command ended before the interrupt"
    _check_interrupted(files, code, err, 130)


WRITER = r"""
import pathlib, sys, time
from scalefit import files as _io
from scalefit.cli import main as cli, verbs

def slow_write(args):
    with _io.WRITING:
        print("writing", file=sys.stderr, flush=True)
        time.sleep(1.0)
        pathlib.Path(sys.argv[1]).write_text("complete")
    time.sleep(60)

verbs.cmd_laws = slow_write
sys.exit(cli.main(["laws"]))
"""


def test_ctrl_c_waits_for_a_write_in_progress(tmp_path):
    out = tmp_path / "out.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals,
    )  # fmt: skip
    assert proc.stderr.readline() == "writing\n"
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 130, err  # 130, not 0: interrupted, it did not run on to the end
    assert out.read_text() == "complete" and err == "scalefit: interrupted\n"


def test_keyboard_interrupt_in_the_main_thread(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(verbs, "cmd_laws", interrupted)
    assert main(["laws"]) == 130
    assert capsys.readouterr().err == "scalefit: interrupted\n"


def test_main_restores_the_signal_handlers(capsys):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert main(["laws"]) == 0
    assert {s: signal.getsignal(s) for s in before} == before
    old = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(old)
    assert old == -1
    assert not [t for t in threading.enumerate() if t.name == "scalefit-interrupts"]


# -- bugs and --debug ------------------------------------------------------------------------------
def test_internal_error_is_one_line_asking_for_a_report(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(verbs, "cmd_laws", broken)
    assert main(["laws"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scalefit: internal error: RuntimeError: boom"), err
    assert "please report" in err and "--debug" in err and "Traceback" not in err
    for argv in (["--debug", "laws"], ["laws", "--debug"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and "RuntimeError: boom" in err
        assert err.splitlines()[-1].startswith("scalefit: internal error:")


def test_a_type_error_from_a_bug_is_internal_but_from_a_check_is_the_users(capsys, monkeypatch):

    monkeypatch.setattr(verbs, "cmd_laws", lambda args: float(None))  # a bug, not a check
    assert main(["laws"]) == 1
    assert "internal error: TypeError" in capsys.readouterr().err
    monkeypatch.setattr(verbs, "cmd_laws", lambda args: validate.integer("3", "starts", 1))
    assert main(["laws"]) == 2
    assert capsys.readouterr().err.startswith("scalefit: error: starts must be an integer")


def test_debug_is_accepted_before_or_after_the_command(capsys):
    assert main(["--debug", "laws"]) == 0
    assert main(["laws", "--debug"]) == 0
    assert "paper_error" in capsys.readouterr().out


# -- predict --at names, a stdout/stderr closed before the start, collect --dry-run checks ---------
@pytest.mark.parametrize(
    "at, match",
    [
        ("Dp=1e6,M=1e7,Df=1e4,Q=1", "--at names 'Q', which is not a variable of the law; with --at every name must "
         "be one of Dp, M, Df (a law variable or the column it was mapped from) — fix the spelling or leave it out"),
        ("Dp=1e6,m=1e7,Df=1e4", "--at names 'm' (did you mean 'M'?)"),
    ],
)  # fmt: skip
def test_predict_at_refuses_a_name_that_is_not_a_variable(files, capsys, at, match):
    """An unknown name given with --at was silently ignored."""
    code = main(["predict", str(files / "p.json"), "--at", at])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("scalefit: error:"), err
    assert match in err


def test_predict_at_takes_the_mapped_column_and_a_csv_keeps_extra_columns(files, capsys):
    import dataclasses

    import pandas as pd

    fit = scalefit.Fit.from_params(scalefit.paper_error, PARAMS)
    dataclasses.replace(
        fit, setup=dataclasses.replace(fit.setup, mapping={"Dp": "pretrain", "M": "M", "Df": "Df"})
    ).to_json(files / "m.json")
    assert main(["predict", str(files / "m.json"), "--at", "pretrain=1e6,M=1e7,Df=1e4"]) == 0
    assert main(["predict", str(files / "m.json"), "--at", "pretrain=1e6,M=1e7,Df=1e4,Dpp=1"]) == 2
    assert "--at names 'Dpp' (did you mean 'Dp'?)" in capsys.readouterr().err
    pd.DataFrame({"Dp": [1e6], "M": [1e7], "Df": [1e4], "notes": ["x"]}).to_csv(files / "c.csv", index=False)
    assert main(["predict", str(files / "p.json"), str(files / "c.csv")]) == 0


@pytest.mark.parametrize("name", ["stdout", "stderr"])
def test_a_stream_closed_before_the_start_is_like_a_closed_pipe(name, capsys, monkeypatch):
    """`scalefit laws >&-` (sys.stdout is None) was an internal error (AttributeError on flush)."""
    monkeypatch.setattr(sys, name, None)
    code = main(["laws"])
    assert getattr(sys, name) is None  # put back as it was
    assert code == (141 if name == "stdout" else 0)
    out, err = capsys.readouterr()
    assert err == "" and (out == "" if name == "stdout" else "paper_error" in out)
    monkeypatch.setattr(sys, name, None)
    assert main(["laws", "--fast"]) == 2  # an error with no stderr to show it on: still exit 2, no crash


def test_laws_with_stdout_closed_as_a_program():
    proc = subprocess.run(
        [sys.executable, "-m", "scalefit", "laws"], stderr=subprocess.PIPE, text=True, timeout=300,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--device", "gpu9"], "device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps', got 'gpu9'"),
        (["--partition", "gpu"], "slurm parameters ['slurm_partition'] apply only to executor 'slurm'"),
        (["--gpus-per-node", "2"], "slurm parameters ['gpus_per_node'] apply only to executor 'slurm'"),
    ],
)
def test_collect_dry_run_checks_what_the_run_would(files, capsys, extra, match):
    """--dry-run exited 0 with a device or slurm option the real run refuses."""
    code = main(["collect", "tiny", "--dry-run", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and match in err, err
    assert main(["collect", "tiny", "--dry-run", "--executor", "slurm", "--partition", "gpu"]) == 0
