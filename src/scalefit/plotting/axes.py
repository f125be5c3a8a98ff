"""What every figure shares: pyplot without a display, readable log axes, error-rate
clipping, curves of a fit, the notes under the axes, and the runs at a slice of fixed values.

The figures themselves are :mod:`scalefit.plotting.fit_figure` (a fit against its runs) and
:mod:`scalefit.plotting.boundary_figures` (a crossover or distillation boundary).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalefit.results.fit import Fit


def pyplot():
    """``matplotlib.pyplot``, on the Agg backend where there is no display to draw on."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


#: Relative tolerance for matching a run's variables to the values a figure is drawn at:
#: ``at={"Df": 12812}`` draws the runs at ``Df = 12811.67`` (1% of ImageNet).
AT_RTOL = 1e-3

#: Legends sit to the right of the axes, never on the data.
LEGEND_OUTSIDE = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)

NARROW_DECADES = 2.0  # a log axis spanning fewer decades gets plain decimal labels at 1-2-5 (or finer) steps


def plain(value: float, digits: int = 6) -> str:
    """A number as plain text for labels: ``0.875``, ``12811.7``, ``2.5e6`` — never ``2.5x10^6``."""
    v = float(value)
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    if 1e-4 <= abs(v) < 1e6:
        return f"{float(f'{v:.{digits}g}'):.0f}" if abs(v) >= 10 ** (digits - 1) else f"{v:.{digits}g}"
    mantissa, exponent = f"{v:.{min(digits, 4) - 1}e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _nice_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis spanning less than :data:`NARROW_DECADES`: powers of ten times
    1, then 1-2-5, 1-2-3-5, 1..9, whichever first gives three ticks; on a still narrower axis,
    evenly spaced round numbers."""
    from matplotlib.ticker import MaxNLocator

    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        return []
    first, last = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [float(f"{m * 10.0**e:.12g}") for e in range(first, last + 1) for m in mantissas]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) >= 3:
            return ticks
    ticks = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    return [float(f"{t:.12g}") for t in ticks if t > 0]


def _narrow(axis) -> bool:
    lo, hi = sorted(axis.get_view_interval())
    return bool(0 < lo and np.isfinite(hi) and np.log10(hi / lo) < NARROW_DECADES)


def _readable_log_axis(axis) -> None:
    """Plain decimal labels (``0.86``, ``0.9``, ``1``) on a log axis spanning less than
    :data:`NARROW_DECADES`; matplotlib's own ``10^k`` labels on a wider one. No minor tick
    is ever labelled (matplotlib would label a narrow axis's minor ticks ``9x10^-1``). Both
    decided when the figure is drawn, so later ``set_ylim`` calls keep readable labels."""
    from matplotlib import ticker

    class Locator(ticker.Locator):
        def __init__(self, minor: bool):
            self.minor = minor
            self.log = ticker.LogLocator(subs="auto" if minor else (1.0,))

        def set_axis(self, axis):
            super().set_axis(axis)
            self.log.set_axis(axis)

        def __call__(self):
            lo, hi = sorted(self.axis.get_view_interval())
            return self.tick_values(lo, hi)

        def tick_values(self, vmin, vmax):
            lo, hi = sorted((vmin, vmax))
            if 0 < lo and np.isfinite(hi) and np.log10(hi / lo) < NARROW_DECADES:
                if self.minor and np.log10(hi / lo) < 1:
                    return []  # between plain round-number ticks, log minor ticks only confuse
                return self.log.tick_values(lo, hi) if self.minor else _nice_ticks(lo, hi)
            return self.log.tick_values(vmin, vmax)

    class Formatter(ticker.Formatter):
        def __init__(self):
            self.sci = ticker.LogFormatterSciNotation()

        def set_axis(self, axis):
            super().set_axis(axis)
            self.sci.set_axis(axis)

        def set_locs(self, locs):
            super().set_locs(locs)
            self.sci.set_locs(locs)

        def __call__(self, x, pos=None):
            return plain(x) if _narrow(self.axis) else self.sci(x, pos)

    axis.set_major_locator(Locator(minor=False))
    axis.set_minor_locator(Locator(minor=True))
    axis.set_major_formatter(Formatter())
    axis.set_minor_formatter(ticker.NullFormatter())


class Clip:
    """Clips curves and bands of an error-rate law to [0, 1], remembering whether it cut anything."""

    def __init__(self, metric: str | None):
        self.on = metric == "error_rate"
        self.cut = False

    def __call__(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if not self.on:
            return values
        with np.errstate(invalid="ignore"):
            outside = (values > 1) | (values < 0)
        self.cut |= bool(outside.any())
        return np.clip(values, 0.0, 1.0)

    def notes(self) -> list[str]:
        if not self.cut:
            return []
        return ["error rates: curves and bands clipped to [0, 1] (the fitted law is unbounded and goes beyond 1 here)"]


def predict(fit: Fit, frame: pd.DataFrame, interval: float) -> pd.DataFrame:
    """``fit.predict`` for a curve. Its warning that an error-rate interval leaves [0, 1] is
    dropped (the figure clips and says so); any other warning is passed on once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = fit.predict(frame, interval=interval if fit.draws is not None else None)
    seen = set()
    for w in caught:
        text = str(w.message)
        if "[0, 1]" in text or text in seen:
            continue
        seen.add(text)
        warnings.warn(text, w.category, stacklevel=3)
    return pred


def finish(fig, ax, notes: list[str], under=None) -> None:
    """Readable log axes, the notes under the axes (or under ``under``, an axes below them;
    also on ``fig.scalefit_notes``), layout."""
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            _readable_log_axis(axis)
    fig.scalefit_notes = list(notes)
    if notes:
        # under the x label, from the left edge of the axes
        low = ax if under is None else under
        low.annotate("\n".join(notes), xy=(0, 0), xycoords=("axes fraction", low.xaxis.label), xytext=(0, -4),
                     textcoords="offset points", ha="left", va="top", fontsize=7, color="0.25")  # fmt: skip
    fig.tight_layout()


def rows_at(frame: pd.DataFrame, at: Mapping[str, float], rtol: float = AT_RTOL) -> np.ndarray:
    """Rows of ``frame`` whose variables equal ``at`` to within ``rtol`` (relative; by
    default :data:`AT_RTOL`)."""
    keep = np.ones(len(frame), bool)
    for v, value in at.items():
        keep &= np.isclose(frame[v].to_numpy(float), value, rtol=rtol, atol=0.0)
    return keep
