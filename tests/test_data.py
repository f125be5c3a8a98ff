"""Every bad input gets a clear message naming the column, the rows and the fix —
through the Python API and through the CLI (one line on stderr, exit status 2)."""

import re

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import LeastSquares, ScalefitError, ScalingWarning, fit_law, load_runs
from scalefit.cli.main import main

LAW = scalefit.paper_error


def small_table(n=12):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "pretrain_images": np.repeat([1e4, 1e5, 1e6], n // 3),
            "M": np.tile([1e6, 1e7, 1e8], n // 3),
            "Df": np.tile([1e3, 3e3, 1e4, 3e4], n // 4),
            "error": rng.uniform(0.2, 0.6, n),
        }
    )


def broken(kind):
    """(table, mapping, message regex) for each bad input the issue lists."""
    t = small_table()
    mapping = {"Dp": "pretrain_images"}
    if kind == "missing_column":
        # the API's mapping={'Df': ...}; the command line's --map Df=...
        return t.drop(columns="Df"), mapping, r"no column 'Df' for law variable 'Df'.*(mapping=\{'Df'|--map Df=)"
    if kind == "nan":
        t.loc[[2, 5], "M"] = np.nan
        return t, mapping, r"column 'M' .*NaN or infinite values in rows 2, 5; .*remove or fill"
    if kind == "inf":
        t.loc[7, "error"] = np.inf
        return t, mapping, r"column 'error' \(target\) has NaN or infinite values in row 7"
    if kind == "non_positive":
        t.loc[[4, 9], "pretrain_images"] = [0.0, -5.0]
        return t, mapping, r"column 'pretrain_images' \(law variable 'Dp'\) has 2 non-positive values in rows 4, 9.*> 0"
    if kind == "error_outside_01":
        t["error"] = t["error"] * 100
        return t, mapping, r"target column 'error' has 12 values outside \[0, 1\].*percentages: divide by 100"
    if kind == "duplicate_mapping":
        return (
            t,
            {"Dp": "pretrain_images", "M": "pretrain_images"},
            r"column 'pretrain_images' is mapped to more than one",
        )
    if kind == "unknown_mapping":
        return t, {"Dq": "pretrain_images"}, r"(--map|mapping) names unknown law variable 'Dq'; known: Dp, M, Df"
    if kind == "non_numeric":
        t["Df"] = t["Df"].astype(object)
        t.loc[3, "Df"] = "lots"
        return t, mapping, r"column 'Df' .*non-numeric values in row 3 \(e.g. 'lots'\)"
    if kind == "too_few_rows":
        return t.iloc[::2], mapping, r"has 6 rows but law 'paper_error' has 7 free parameters; add runs"
    raise AssertionError(kind)


KINDS = [
    "missing_column", "nan", "inf", "non_positive", "error_outside_01",
    "duplicate_mapping", "unknown_mapping", "non_numeric", "too_few_rows",
]  # fmt: skip


@pytest.mark.filterwarnings(r"ignore:law variable .* has only \d+ distinct:scalefit.errors.ScalingWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_api_message(kind):
    table, mapping, message = broken(kind)
    with pytest.raises(ScalefitError, match=message):
        fit_law(LAW, table, target="error", mapping=mapping, method=LeastSquares(starts=4, bootstrap=0))


@pytest.mark.parametrize("kind", KINDS)
def test_cli_message(kind, tmp_path, capsys):
    table, mapping, message = broken(kind)
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    maps = [x for k, v in mapping.items() for x in ("--map", f"{k}={v}")]
    code = main(
        ["fit", str(path), "--law", "paper_error", "--target", "error", "--starts", "4", "--bootstrap", "0", *maps]
    )
    err = capsys.readouterr().err
    assert code == 2
    last = err.strip().splitlines()[-1]  # warnings (one line each) may come first
    assert last.startswith("scalefit: error: ") and "Traceback" not in err
    assert re.search(message, last), err


def test_parquet_and_csv_load_the_same(tmp_path):
    t = small_table()
    t.to_csv(tmp_path / "r.csv", index=False)
    t.to_parquet(tmp_path / "r.parquet")
    a = load_runs(tmp_path / "r.csv", LAW, target="error", mapping={"Dp": "pretrain_images"})
    b = load_runs(tmp_path / "r.parquet", LAW, target="error", mapping={"Dp": "pretrain_images"})
    np.testing.assert_array_equal(a.x["Dp"], b.x["Dp"])
    assert a.mapping == {"Dp": "pretrain_images", "M": "M", "Df": "Df"}
    assert "validated for law 'paper_error'" in repr(a)


# a 4-start fit of a small table: its notes (bounds, non-unique optimum) are expected
@pytest.mark.filterwarnings("ignore::scalefit.errors.ScalingWarning")
def test_validated_runs_feed_fit_law_and_input_is_untouched():
    t = small_table()
    before = t.copy()
    runs = load_runs(t, LAW, target="error", mapping={"Dp": "pretrain_images"})
    fit = fit_law(LAW, runs, method=LeastSquares(starts=4, bootstrap=0))
    assert fit.setup.mapping["Dp"] == "pretrain_images" and fit.target == "error"
    pd.testing.assert_frame_equal(t, before)


def test_fewer_than_three_levels_warns_and_names_the_exponent():
    t = small_table()
    t["M"] = np.tile([1e6, 1e7], 6)
    with pytest.warns(ScalingWarning, match=r"'M' \(column 'M'\) has only 2 distinct value.*\['beta'\].*third value"):
        load_runs(t, LAW, target="error", mapping={"Dp": "pretrain_images"})


def test_target_problems():
    t = small_table()
    with pytest.raises(ScalefitError, match="target= is required"):
        load_runs(t, LAW)
    with pytest.raises(ScalefitError, match="no target column 'err'"):
        load_runs(t, LAW, target="err", mapping={"Dp": "pretrain_images"})
    t.loc[1, "error"] = 0.0
    with pytest.raises(ScalefitError, match=r"values <= 0 in row 1.*objective='squared'"):
        fit_law(LAW, t, target="error", mapping={"Dp": "pretrain_images"}, method=LeastSquares(starts=4, bootstrap=0))


def test_file_problems(tmp_path):
    with pytest.raises(ScalefitError, match="does not exist"):
        load_runs(tmp_path / "missing.csv")
    (tmp_path / "r.xlsx").write_text("x")
    with pytest.raises(ScalefitError, match="reads .csv, .tsv and .parquet"):
        load_runs(tmp_path / "r.xlsx")
    with pytest.raises(TypeError, match="DataFrame or a path"):
        load_runs([1, 2, 3])


def test_cli_prints_the_levels_warning_and_still_fits(tmp_path, capsys):
    t = small_table()
    t["M"] = np.tile([1e6, 1e7], 6)
    t.to_csv(tmp_path / "r.csv", index=False)
    argv = ["fit", str(tmp_path / "r.csv"), "--law", "paper_error", "--target", "error"]
    code = main([*argv, "--map", "Dp=pretrain_images", "--starts", "4", "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert code == 0
    assert "scalefit: warning: law variable 'M' (column 'M') has only 2 distinct value" in err
