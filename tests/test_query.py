"""Row filters (``--where``, ``holdout=``): one small language read by scalefit, never Python.

Issue 21: ``--where``/``--holdout`` went to pandas ``query``/``eval``, where ``@name`` reached
the calling module's globals, so a filter string in a shared script ran shell commands.
"""

import numpy as np
import pandas as pd
import pytest

from scalefit import LeastSquares, ScalefitError, backtest, parse_law
from scalefit.cli.main import main
from scalefit.tables.query import row_mask


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "Dp": [1e4, 1e5, 1e6, np.nan],
            "stage": ["pre", "distill", "distill", None],
            "my col": [1, 2, 3, 4],
            "flag": [True, False, True, False],
        }
    )


@pytest.mark.parametrize(
    "query, kept",
    [
        ("Dp > 1e4", [0, 1, 1, 0]),
        ("1e4 < Dp <= 1e6", [0, 1, 1, 0]),
        ("Dp >= 1e5 < 2e6", [0, 1, 1, 0]),  # chained: Dp >= 1e5 and 1e5 < 2e6
        ("stage == 'distill' and Dp >= 1e6", [0, 0, 1, 0]),
        ('stage == "pre" or Dp == 1e6', [1, 0, 1, 0]),
        ("stage in ['pre', 'distill']", [1, 1, 1, 0]),
        ("stage not in ('pre',)", [0, 1, 1, 1]),  # a missing value is not 'pre'
        ("stage == ['pre']", [1, 0, 0, 0]),  # pandas: == a list means in
        ("stage != ['pre']", [0, 1, 1, 1]),
        ("`my col` >= 2 & Dp < 1e6", [0, 1, 0, 0]),  # & binds like `and`, as in pandas
        ("Dp * 2 > 1e5 | stage == 'pre'", [1, 1, 1, 0]),
        ("~(Dp > 1e4)", [1, 0, 0, 1]),
        ("not flag", [0, 1, 0, 1]),
        ("flag", [1, 0, 1, 0]),
        ("flag == True and `my col` in [1, 3, -2]", [1, 0, 1, 0]),
        ("Dp^2 > 1e9", [0, 1, 1, 0]),
        ("Dp ** 0.5 == 100", [1, 0, 0, 0]),
        ("(Dp - 1e4) / 9e4 == 1", [0, 1, 0, 0]),
        ("`my col` % 2 == 1 and `my col` // 2 >= 1", [0, 0, 1, 0]),
        ("-Dp < -1e5", [0, 0, 1, 0]),
        ("Dp != Dp", [0, 0, 0, 1]),  # NaN: comparisons are false, != true, as in pandas
    ],
)
def test_the_language(frame, query, kept):
    assert row_mask(frame, query, argument="--where").tolist() == [bool(k) for k in kept]


@pytest.mark.parametrize(
    "query, construct",
    [
        ("Dp > 0 and @os.system('touch pwned') == 0", r"'@' \(column 12\) refers to a Python variable"),
        ("@x", r"'@' \(column 1\)"),
        ("Dp.__class__.__init__.__globals__ > 0", r"attribute access \(a\.b\) is not allowed \(in 'Dp\.__class__"),
        ("__import__('os').system('touch pwned') == 0", r"a function call is not allowed"),
        ("Dp[0] > 1", r"indexing \(a\[\.\.\.\]\) is not allowed"),
        ("(lambda: 1)() == 1", r"a function call is not allowed"),
        ("lambda: 1", r"a lambda is not allowed"),
        ("[x for x in Dp] == 1", r"a comprehension is not allowed"),
        ("Dp > 1 if flag else 0", r"a conditional expression"),
        ("{1} == Dp", r"a set \{\.\.\.\}"),
        ("{'a': 1} == Dp", r"a dict is not allowed"),
        ("f'{Dp}' == stage", r"an f-string is not allowed"),
        ("Dp > b'x'", r"the value b'x' is not allowed"),
        ("Dp is None", r"the value None is not allowed"),
        ("Dp @ Dp > 0", r"'@' \(column 4\)"),
        ("Dp << 2 > 0", r"the operator LShift is not allowed"),
        ("stage in [Dp]", r"a list may hold only numbers, strings, True and False"),
        ("stage in 'pre'", r"in / not in needs a list of values"),
        ("Dpp > 1", r"'Dpp' is not a column \(did you mean 'Dp'\?\); columns: Dp, stage, my col, flag"),
        ("`no such` > 1", r"'no such' is not a column"),
        ("stage > 1", r"orders text against numbers"),
        ("stage == 1", r"compares text with numbers"),
        ("Dp + stage > 0", r"arithmetic needs numbers, but 'stage' gives text"),
        ("Dp", r"gives numbers, not true/false for each row"),
        ("Dp and flag", r"and combines conditions, but 'Dp' gives numbers"),
        ("", r"--where is an empty filter"),
        ("'abc", r"the string starting at column 1 .* is not closed"),
        ("`abc > 1", r"the backtick at column 1 is not closed"),
        ("Dp >", r"cannot be parsed"),
    ],
)
def test_everything_else_is_refused_by_name(frame, query, construct):
    with pytest.raises(ScalefitError, match=construct) as err:
        row_mask(frame, query, argument="--where")
    assert str(err.value).startswith("--where")
    assert "a filter may use column names" in str(err.value)  # and what is allowed: the fix


def test_names_are_never_folded(frame):
    with pytest.raises(ScalefitError, match=r"name 'Ｄp' is read by Python as 'Dp' \(Unicode compatibility folding\)"):
        row_mask(frame, "Ｄp > 1")


def test_size_and_depth_are_limited(frame):
    with pytest.raises(ScalefitError, match=r"is 990,004 characters long, more than the 100,000"):
        row_mask(frame, "Dp > 1 and " * 90_000 + "flag")
    with pytest.raises(ScalefitError, match=r"nested 1001 levels deep, more than the 100"):
        row_mask(frame, "not " * 1000 + "flag")
    with pytest.raises(ScalefitError, match=r"too many nested parentheses"):
        row_mask(frame, "(" * 1000 + "flag" + ")" * 1000)
    with pytest.raises(ScalefitError, match=r"cannot be parsed .*4300 digits"):
        row_mask(frame, "Dp > " + "1" * 5000)
    # a long flat run is fine
    assert row_mask(frame, " or ".join(f"Dp == {i}" for i in range(3000))).tolist() == [False] * 4


def test_multiindex_and_duplicated_columns_are_named(frame):
    twice = frame.rename(columns={"my col": "Dp"})
    with pytest.raises(ScalefitError, match=r"column 'Dp' appears 2 times"):
        row_mask(twice, "Dp > 1")
    multi = frame.copy()
    multi.columns = pd.MultiIndex.from_tuples([(c, "x") for c in frame.columns])
    with pytest.raises(ScalefitError, match=r"multi-level column names"):
        row_mask(multi, "Dp > 1")


def test_no_pandas_eval_and_no_shell(tmp_path, monkeypatch, capsys):
    """The reported exploits run nothing; pandas' query/eval are never reached."""

    def forbidden(*args, **kwargs):
        raise AssertionError("pandas query/eval reached")

    monkeypatch.setattr(pd.DataFrame, "query", forbidden)
    monkeypatch.setattr(pd.DataFrame, "eval", forbidden)
    monkeypatch.chdir(tmp_path)
    x = np.repeat(np.logspace(3, 6, 8), 2)
    runs = pd.DataFrame({"Dp": x, "error": 0.1 + 5 * x**-0.3, "stage": ["a", "b"] * 8})
    runs.to_csv("runs.csv", index=False)
    law = ["--target", "error", "--law", "E + A*Dp^-alpha"]
    for argv in (
        ["fit", "runs.csv", *law, "--where", "Dp > 0 and @os.system('touch pwned') == 0"],
        ["backtest", "runs.csv", *law, "--holdout", "@os.system('touch pwned') == 0"],
        ["backtest", "runs.csv", *law, "--holdout", "Dp.__class__.__init__.__globals__ > 0"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "'@'" in err or "attribute access" in err
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ScalefitError, match=r"holdout=.* is neither a law variable \(Dp\) nor a valid filter.*'@'"):
        backtest(parse_law("E + A*Dp^-alpha"), runs, target="error", holdout="@os.system('touch pwned') == 0")
    assert not (tmp_path / "pwned").exists()
    # and a good filter works through both
    assert main(["fit", "runs.csv", *law, "--bootstrap", "0", "--where", "stage == 'a' and Dp >= 1e3"]) == 0
    assert "8 runs" in capsys.readouterr().out
    bt = backtest(
        parse_law("E + A*Dp^-alpha"), runs, target="error", holdout="Dp > 3e5", method=LeastSquares(bootstrap=0)
    )
    assert bt.table["held_out_runs"].tolist() == [int((runs.Dp > 3e5).sum())]
