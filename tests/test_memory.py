"""Compiled programs held in memory stay within the operating system's map limit."""

import sys
import warnings

import pytest

import scalefit
from scalefit import LeastSquares, ScalingWarning, fit_law
from scalefit.fitting import lsq, memory

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")


@linux
def test_the_region_count_and_its_limit_are_read():
    n, limit = memory.mapped_regions(), memory.region_limit()
    assert isinstance(n, int) and isinstance(limit, int) and 0 < n < limit


@linux
def test_programs_are_dropped_when_crowded_and_fits_go_on(monkeypatch):
    quick = LeastSquares(starts=8, bootstrap=0)
    runs = scalefit.example_runs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        before = fit_law(scalefit.paper_error, runs, target="error", method=quick)
        assert lsq._compiled.cache_info().currsize >= 1
        assert memory.release_when_crowded() is False  # one law's programs are far below half the limit
        monkeypatch.setattr(memory, "SHARE", 0.0)  # every process is "crowded"
        assert memory.release_when_crowded() is True
        assert lsq._compiled.cache_info().currsize == 0
        after = fit_law(scalefit.paper_error, runs, target="error", method=quick)  # compiles again
    assert after.params == pytest.approx(before.params, rel=1e-9)


def test_nothing_is_dropped_where_the_count_is_unknown(monkeypatch):
    monkeypatch.setattr(memory, "MAPS", "/nonexistent/maps")
    monkeypatch.setattr(memory, "SHARE", 0.0)
    assert memory.mapped_regions() is None
    assert memory.release_when_crowded() is False
