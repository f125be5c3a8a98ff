"""Tables print whole: a fit's summary and a group fit's tables are never cut by pandas (issue 20)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Law, LeastSquares, Power, fit_groups

LAW = Law(Constant("e_inf") + Power("x", "c", amplitude="b"), name="M2")
NARROW = ("display.max_columns", 2, "display.width", 30, "display.max_rows", 2)  # a small terminal


@pytest.fixture(scope="module")
def fits():
    rng = np.random.default_rng(0)
    parts = []
    for task, (e, b, c) in {"a": (0.1, 5.0, 0.3), "b": (0.2, 40.0, 0.5), "c": (0.05, 2.0, 0.2)}.items():
        x = np.geomspace(1e3, 1e8, 12)
        y = (e + b * x**-c) * np.exp(rng.normal(0, 0.005, len(x)))
        parts.append(pd.DataFrame({"task": task, "x": x, "y": y}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        return fit_groups(
            LAW, pd.concat(parts, ignore_index=True), "task", target="y", method=LeastSquares(starts=32, bootstrap=50)
        )


def test_summaries_print_every_row_and_column(fits):
    fit = fits["a"]
    for table in (fit.summary(), fits.summary(), fits.table()):
        with pd.option_context(*NARROW):
            text, html = repr(table), table._repr_html_()
        assert "..." not in text and "…" not in html
        for column in table.columns:
            assert str(column) in text and str(column) in html
        assert all(str(label) in text for label in table.index)  # every row
        assert len(text.splitlines()) <= len(table) + 2  # a header (and index name) and each row: unwrapped
    summary = fits.summary()
    assert set(summary["task"]) == {"a", "b", "c"} and len(summary) == 9


def test_summaries_are_still_dataframes(fits):
    summary = fits["a"].summary()
    assert isinstance(summary, pd.DataFrame) and summary.attrs["interval"] == 0.95
    assert list(summary.columns[:3]) == ["estimate", "how", "lower"]
    assert type(summary.loc[["b"]]) is pd.DataFrame and type(summary.copy()) is pd.DataFrame
    pd.testing.assert_frame_equal(summary, fits["a"].summary())
