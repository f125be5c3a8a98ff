"""Fitting methods and their options: :class:`LeastSquares` and :class:`NUTS`.

``fit_law(law, runs, method=...)`` takes one of these objects, as optimistix takes a solver
and numpyro a kernel; each holds only the options that apply to it and checks them when it
is made, before any work::

    fit_law(law, runs, target="error", method=LeastSquares(starts=200, bootstrap=2000))
    fit_law(law, runs, target="error", method=NUTS(chains=4, draws=2000, noise="student_t"))

The strings ``"lsq"`` and ``"bayes"`` are shorthands for ``LeastSquares()`` and
``NUTS()``; the options may then be given to ``fit_law`` directly (``starts=200``), which
builds the method from them. An option of the other method (``chains=`` with least squares)
or an option given both ways is an error, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.errors import ScalefitError
from scalefit.results.diagnostics import NOISES
from scalefit.validate import MAX_REPLICATES, MAX_STARTS


def _starts(value: object) -> str | int | Mapping[str, object] | pd.DataFrame:
    if isinstance(value, pd.DataFrame):
        if value.empty:
            raise ScalefitError("starts= is an empty DataFrame; give one row per starting point")
        bad = [c for c in value.columns if not pd.api.types.is_numeric_dtype(value[c])]
        if bad:
            raise TypeError(f"starts= DataFrame column {bad[0]!r} is not numeric ({value[bad[0]].dtype})")
        if not np.isfinite(value.to_numpy(dtype=float)).all():
            raise ScalefitError("starts= DataFrame holds missing or non-finite values; every start must be finite")
        return value
    if isinstance(value, Mapping):
        out = {}
        for name, values in value.items():
            arr = np.atleast_1d(np.asarray(values, dtype=object))
            if arr.ndim != 1 or not all(check.is_number(v) for v in arr):
                raise TypeError(f"starts[{name!r}] must be a number or a list of numbers, got {values!r}")
            arr = arr.astype(float)
            if not np.isfinite(arr).all():
                raise ScalefitError(f"starts[{name!r}] holds non-finite values: {values!r}")
            if arr.size == 0:
                raise ScalefitError(f"starts[{name!r}] is empty; give at least one value")
            out[name] = arr
        size = int(np.prod([len(a) for a in out.values()], dtype=float)) if out else 0
        if size > MAX_STARTS:
            raise ScalefitError(
                f"starts= grid gives {size:.3g} starting points (the product of its value counts); at most "
                f"{MAX_STARTS} — use fewer values per parameter, or starts='auto'"
            )
        return out
    if isinstance(value, str):
        if value == "auto":
            return value
        raise TypeError(
            f"starts must be 'auto', an integer in [1, {MAX_STARTS}], a grid {{name: values}} or a DataFrame "
            f"of starting points, got {value!r} (str)"
        )
    return check.integer(
        value, "starts", 1, MAX_STARTS, fix="or 'auto', a grid {name: values} or a DataFrame of starting points"
    )


@dataclass(frozen=True)
class LeastSquares:
    """Multi-start Levenberg-Marquardt with case-bootstrap intervals (``method="lsq"``).

    Parameters
    ----------
    starts : "auto", int, dict or DataFrame
        ``"auto"`` (default): random starts in batches of 64, each batch explored and its 16
        best polished, until at least 8 polished starts agree on the best optimum — a
        majority of the first batch's, or else confirmed by a further batch that finds
        nothing better (at most 1024; the fit's ``starts`` report says how many were made).
        An int: exactly that many random starting points, in one call. On a table of more
        than 2,048 runs the starts are explored and polished on 1,024 of its rows and the
        best 4 then polished on every row (the starts report says "the best 4 polished"). Or a grid
        ``{name: values}`` in paper form for every free parameter (their Cartesian product
        is used); or a DataFrame with one start per row and a column per free parameter. All starts are
        optimised as lanes of one compiled, vectorised program (a lane that converges early
        takes the next start): each for ``explore_steps`` steps (rounded up to whole rounds
        of 20, with the IRLS curvature), then the ``polish`` best on to convergence (with
        Huber's own curvature: a few Newton steps).
    bootstrap : int
        Case-bootstrap replicates (default 1000; 0 for none), each refitted from the
        optimum (a few Newton steps each), in batches of 250 — at most this many: see
        ``bootstrap_rtol``. They give the parameter intervals and the confidence and
        prediction intervals of :meth:`Fit.predict`.
    explore_steps, polish : int
        Steps every start takes (default 40) and how many of the best continue to
        convergence (default 32).
    max_steps : int
        Steps per polished start or bootstrap replicate.
    gtol, ftol, xtol : float
        Stop when the largest gradient component is below ``gtol``, or when an accepted
        step changes the objective by less than ``ftol`` (relative) and the parameters by
        less than ``xtol``.
    throw : bool
        Raise if the best start did not converge (otherwise: a warning).
    bootstrap_rtol : float
        Stop adding bootstrap replicates (checked every 250) once the Monte-Carlo standard
        error of both endpoints of every free parameter's 95% interval is at most this share
        of the interval's width (default 0.04; at least 200 valid replicates); ``bootstrap``
        is then the most that are made. 0: always make ``bootstrap``. The replicates made,
        and the endpoints' Monte-Carlo error, are in the fit's summary
        (``fit.bootstrap_error()``).
    clusters : str, optional
        A law variable whose runs the bootstrap resamples together: it draws that variable's
        distinct values with replacement and keeps every run at a drawn value (the cluster,
        or block, bootstrap), instead of drawing runs one by one. Use it when runs at one
        value share an error — many checkpoints or token counts of each of a few model sizes
        (``clusters="N"``): the runs-by-runs bootstrap treats them as independent and gives
        intervals far too narrow for the variable's exponent. With fewer than
        ``MIN_CLUSTERS`` (6) distinct values the intervals are coarse, and the fit says so.
    progress : bool or None
        Show a status line on standard error while the fit runs longer than a couple of
        seconds. ``None`` (default): only when standard error is a terminal or a notebook,
        unless ``SCALEFIT_PROGRESS=0``/``1`` says otherwise (see :mod:`scalefit.progress`).
    """

    starts: str | int | Mapping[str, object] | pd.DataFrame = "auto"
    bootstrap: int = 1000
    explore_steps: int = 40
    polish: int = 32
    max_steps: int = 500
    gtol: float = 1e-10
    ftol: float = 1e-10
    xtol: float = 1e-7
    throw: bool = False
    bootstrap_rtol: float = 0.04
    clusters: str | None = None
    progress: bool | None = None

    name: ClassVar[str] = "lsq"

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "starts", _starts(self.starts))
        set_(self, "bootstrap", check.integer(self.bootstrap, "bootstrap", 0, MAX_REPLICATES, fix="0 for none"))
        set_(self, "explore_steps", check.integer(self.explore_steps, "explore_steps", 1, 100_000))
        set_(self, "polish", check.integer(self.polish, "polish", 1, MAX_STARTS))
        set_(self, "max_steps", check.integer(self.max_steps, "max_steps", 1, 1_000_000))
        for tol in ("gtol", "ftol", "xtol"):
            set_(self, tol, check.number(getattr(self, tol), tol, low=0.0, high=1.0, low_open=True))
        set_(self, "throw", check.boolean(self.throw, "throw"))
        set_(
            self, "bootstrap_rtol",
            check.number(self.bootstrap_rtol, "bootstrap_rtol", low=0.0, high=1.0, fix="0 to make every replicate"),
        )  # fmt: skip
        if self.clusters is not None:
            set_(self, "clusters", check.text(self.clusters, "clusters"))
            if self.bootstrap == 0:
                raise ScalefitError(
                    f"clusters={self.clusters!r} sets how the bootstrap resamples, but bootstrap=0 makes none; "
                    "give bootstrap > 0 (e.g. 1000) or drop clusters="
                )
        if self.progress is not None:
            set_(self, "progress", check.boolean(self.progress, "progress"))

    def search(self) -> dict[str, Any]:
        """The optimiser's settings (everything but the starts, the bootstrap and ``throw``)."""
        return {k: getattr(self, k) for k in ("explore_steps", "polish", "max_steps", "gtol", "ftol", "xtol")}


@dataclass(frozen=True)
class NUTS:
    """NumPyro's No-U-Turn sampler from the least-squares optimum (``method="bayes"``).

    Parameters
    ----------
    chains, draws, warmup : int
        NUTS chains (vectorised), kept draws and warm-up steps per chain.
    max_draws : int, optional
        Kept draws per chain at most (default ``4 * draws``). When ``draws`` leave a site
        short of the diagnostics' ESS (``max(400, 100 * chains)``) or R-hat (1.01), the
        chains go on from where they stopped, without a new warm-up, in blocks of
        ``draws`` until both are met or ``max_draws`` is reached; ``fit.bayes.diagnostics``
        reports the draws kept. ``max_draws=draws`` takes exactly ``draws``.
    noise : {"lognormal", "normal", "student_t"}
        Multiplicative, additive or robust (Student-t on log values) noise.
    priors : dict, optional
        ``{site: numpyro distribution}`` overriding the default priors, which are weakly
        informative, set in normalised units (each variable divided by its geometric mean
        over the runs): exponents ``LogNormal(log 0.5, 1.5)``; amplitudes and scales
        log-normal (scale 10 in log space), centred on their own exponent; the irreducible
        term ``Uniform(0, min(y))``; ``sigma`` ``HalfNormal(0.5)`` on the log scale
        (``HalfNormal(std(y))`` with ``noise="normal"``); ``nu`` ``Gamma(2, 0.1)``. The
        fit's ``priors`` records the ones used, as text.
    noise_scale : str or array, optional
        Known per-run noise standard deviation (on the scale of the noise model, e.g. log
        scale for ``"lognormal"``), replacing the fitted ``sigma``.
    progress : bool
        Show NumPyro's progress bar while sampling.
    init : LeastSquares
        The least-squares fit the chains start from (its bootstrap is not used).
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    max_draws: int | None = None
    noise: str = "lognormal"
    priors: Mapping[str, object] | None = None
    noise_scale: str | np.ndarray | None = None
    progress: bool = False
    init: LeastSquares = field(default_factory=lambda: LeastSquares(bootstrap=0))

    name: ClassVar[str] = "bayes"

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "chains", check.integer(self.chains, "chains", 1, 1024))
        set_(self, "draws", check.integer(self.draws, "draws", 1, 10_000_000))
        set_(self, "warmup", check.integer(self.warmup, "warmup", 1, 10_000_000))
        most = 4 * self.draws if self.max_draws is None else self.max_draws
        set_(self, "max_draws", check.integer(
            most, "max_draws", self.draws, 10_000_000, fix="it counts all kept draws per chain, draws= included"
        ))
        check.array_budget(
            float(self.chains) * (self.max_draws + self.warmup), "chains x (draws + warmup)", "sampling",
            "use fewer chains or draws",
        )  # fmt: skip
        set_(self, "noise", check.choice(self.noise, "noise", NOISES))
        if self.priors is not None and not isinstance(self.priors, Mapping):
            raise TypeError(f"priors must be a dict {{site: numpyro distribution}}, got {type(self.priors).__name__}")
        set_(self, "progress", check.boolean(self.progress, "progress"))
        if not isinstance(self.init, LeastSquares):
            raise TypeError(f"init must be a LeastSquares(...), got {type(self.init).__name__}")


METHOD_TYPES = (LeastSquares, NUTS)


def make_method(method: object) -> LeastSquares | NUTS:
    """The method object for ``fit_law(method=...)``: a :class:`LeastSquares` or :class:`NUTS`
    as given, or the default object of a shorthand ``"lsq"`` / ``"bayes"``."""
    if isinstance(method, METHOD_TYPES):
        return method
    if isinstance(method, str) and method in ("lsq", "bayes"):
        return LeastSquares() if method == "lsq" else NUTS()
    hint = check.suggest(method, ("lsq", "bayes")) if isinstance(method, str) else ""
    raise (ScalefitError if isinstance(method, str) else TypeError)(
        f"method must be 'lsq', 'bayes', LeastSquares(...) or NUTS(...), got {method!r}{hint}; method options "
        "are set on the object, e.g. method=LeastSquares(starts=200, bootstrap=0) or method=NUTS(chains=4)"
    )
