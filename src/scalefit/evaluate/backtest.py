"""Backtesting: fit on part of the runs, predict the rest, score the extrapolation.

A scaling law is used to extrapolate — to larger data, models or budgets than were run —
so the test that matters is how it extrapolated on the runs you already have::

    bt = backtest({"eq1": paper_error, "gap": transfer_gap}, runs, target="error", holdout="Dp")
    bt.table       # one row per (law, split): runs fitted / held out, RMSE of log predictions, coverage
    bt.ranking()   # laws by held-out score (RMSE weighted towards the largest training sets)
    bt.best        # the law that extrapolated best

Splits (``holdout=``):

* a variable name, e.g. ``"Dp"``: fit on every run below its ``levels`` largest values,
  predict the runs at those values (the extrapolation a user is about to make);
* ``rollout=True`` with a variable: for every k, fit on the runs at its k smallest values
  and predict the runs at larger ones (at least ``min_levels`` levels are fitted);
* a boolean mask (array or Series, True = held out) or a row filter
  (``"Training == 0"``, the language of :mod:`scalefit.tables.query`): one split, as given.

Scores: ``rmse_log`` = ``sqrt(mean((log y_hat - log y)^2))`` over held-out runs (the protocol
of Alabdulmohsin et al. 2022), and ``coverage`` = the share of held-out runs inside the
``interval`` prediction interval (needs bootstrap replicates). The split is made before
anything is fitted, and each law sees only its training runs — never the held-out ones.

The choice of a law by such a backtest is :func:`~scalefit.evaluate.selection.select_law`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.display import whole, whole_frame
from scalefit.errors import ScalefitError, ScalingWarning
from scalefit.fitting.methods import LeastSquares
from scalefit.laws.catalogue import as_law
from scalefit.laws.law import Law
from scalefit.laws.terms import Term
from scalefit.tables.query import row_mask
from scalefit.tables.runs import Runs, load_runs, read_table

#: Fewest distinct training values of the rollout variable.
MIN_LEVELS = 3
#: A split's weight in a law's score is (its training runs) to this power (see
#: Backtest.ranking). Chosen on the Revisiting Neural Scaling Laws benchmark among median,
#: mean, geometric-mean, last-split and weighted rules (benchmarks/RESULTS.md, issue 12).
LATE_POWER = 4


@dataclass(frozen=True)
class Split:
    """One backtest split: a name and which rows are held out."""

    name: str
    held_out: np.ndarray  # bool per row of the runs table


@dataclass(frozen=True)
class Backtest:
    """Held-out scores of each law on each split, from :func:`backtest`.

    Attributes
    ----------
    table : DataFrame
        One row per (law, split): ``law``, ``split``, ``train_runs``, ``held_out_runs``,
        ``converged``, ``rmse_log`` (``sqrt(mean((log y_hat - log y)^2))`` over the
        held-out runs), ``coverage`` (the share of held-out runs inside their prediction
        interval; NaN without one) and ``error`` (why a fit failed; empty otherwise).
    predictions : DataFrame
        One row per held-out run and law: ``law``, ``split``, ``observed``, ``predicted``
        (and ``value``, ``fitted_max`` with a variable as ``holdout``).
    interval : float or None
        The prediction interval whose coverage is scored.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    interval: float | None

    def ranking(self) -> pd.DataFrame:
        """Laws by their held-out score (best first), with their median and mean held-out RMSE
        of log predictions, median coverage, and the number of splits, of failed fits and of
        fits that did not converge.

        The score is a weighted geometric mean of each law's RMSE over the splits, each split
        weighing ``(its training runs)^LATE_POWER``: the splits fitted on most of the runs are
        the most like the extrapolation about to be made from all of them, and weigh most (one
        split: its RMSE). A failed fit scores ten times the worst RMSE of its split; a split
        no law could be fitted on is left out.
        """
        t = self._scored()
        weight = t["train_runs"].astype(float) ** LATE_POWER
        t = t.assign(w=weight, wlog=weight * np.log(np.maximum(t["scored"], 1e-300)))
        groups = t.groupby("law", sort=False)
        out = groups.agg(
            median_rmse_log=("rmse_log", "median"),
            mean_rmse_log=("rmse_log", "mean"),
            median_coverage=("coverage", "median"),
            splits=("split", "count"),
            failed=("rmse_log", lambda r: int(r.isna().sum())),
            not_converged=("converged", lambda c: int((~c.astype(bool)).sum())),
        )
        out.insert(0, "score", np.exp(groups["wlog"].sum() / groups["w"].sum()))
        return whole_frame(out.sort_values("score", kind="stable"))  # shown whole in a REPL or notebook

    def _scored(self) -> pd.DataFrame:
        """The table with ``scored``: each RMSE, a failed fit's ten times its split's worst."""
        t = self.table.copy()
        worst = t.groupby("split")["rmse_log"].transform("max")
        t["scored"] = t["rmse_log"].fillna(10.0 * worst)
        return t[np.isfinite(t["scored"]) & (t["scored"] > 0)]

    def paired(self, baseline: str) -> pd.DataFrame:
        """Each other law against ``baseline``, split by split: the mean over splits of
        ``log(RMSE_law / RMSE_baseline)`` (< 0: the law extrapolated better), its standard
        error, ``t`` = mean / standard error, and the number of splits both were scored on
        (a failed fit scores ten times its split's worst RMSE, as in :meth:`ranking`)."""
        t = self._scored()
        if baseline not in set(t["law"]):
            raise ScalefitError(f"baseline={baseline!r} was not scored in this backtest (laws: {list(self.laws)})")
        wide = t.pivot_table(index="split", columns="law", values="scored", aggfunc="first")
        rows = {}
        for law in wide.columns:
            if law == baseline:
                continue
            d = (np.log(wide[law]) - np.log(wide[baseline])).dropna().to_numpy(dtype=float)
            n = len(d)
            mean = float(d.mean()) if n else float("nan")
            se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
            if n > 1 and se == 0:
                stat = -np.inf if mean < 0 else (np.inf if mean > 0 else 0.0)
            else:
                stat = mean / se if n > 1 else float("nan")
            rows[law] = {"mean_log_ratio": mean, "se": se, "t": stat, "splits": n}
        cols = ["mean_log_ratio", "se", "t", "splits"]
        return pd.DataFrame.from_dict(rows, orient="index", columns=cols).rename_axis("law")

    @property
    def laws(self) -> tuple[str, ...]:
        """Names of the laws, in the order given."""
        return tuple(dict.fromkeys(self.table["law"]))

    @property
    def best(self) -> str:
        """Name of the law with the lowest score (see :meth:`ranking`)."""
        ranking = self.ranking()
        if ranking.empty:
            raise ScalefitError("no law could be scored on any split (every fit failed); see backtest.table")
        return str(ranking.index[0])

    def plot(self, ax=None):
        """Held-out log-predictions against the truth, one marker per law (the diagonal is perfect)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 5))
        p = self.predictions
        for law, rows in p.groupby("law", sort=False):
            ax.scatter(rows["observed"], rows["predicted"], s=12, label=law, alpha=0.7)
        lo = float(np.nanmin(p[["observed", "predicted"]].to_numpy()))
        hi = float(np.nanmax(p[["observed", "predicted"]].to_numpy()))
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("observed (held out)")
        ax.set_ylabel("predicted")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False)
        return ax.figure

    def __repr__(self) -> str:
        with whole("display.float_format", "{:.4g}".format):  # every column: coverage, not_converged
            return f"Backtest: {self.table['split'].nunique()} split(s)\n{self.ranking().to_string()}"


def candidate_laws(laws) -> dict[str, Law]:
    """The candidate laws as ``{name: law}``, from a law, a list of laws or a dict."""
    if isinstance(laws, Law | Term):
        law = as_law(laws)
        return {law.name: law}
    if isinstance(laws, Mapping):
        if not laws:
            raise ScalefitError("laws is an empty dict; give at least one law to backtest")
        return {check.text(k, "laws key"): as_law(v) for k, v in laws.items()}
    if isinstance(laws, Sequence) and not isinstance(laws, str):
        out = {}
        for law in laws:
            law = as_law(law)
            if law.name in out:
                raise ScalefitError(f"two laws are named {law.name!r}; pass a dict {{name: law}} to tell them apart")
            out[law.name] = law
        if not out:
            raise ScalefitError("laws is empty; give at least one law to backtest")
        return out
    raise TypeError(f"laws must be a law, a list of laws or a dict {{name: law}}, got {type(laws).__name__}")


def _spread(ks: list[int], most: int | None) -> list[int]:
    """At most ``most`` of the cut indices ``ks``, evenly spaced, always keeping the last."""
    if most is None or len(ks) <= most:
        return ks
    picks = np.unique(np.round(np.linspace(0, len(ks) - 1, most)).astype(int))
    return [ks[i] for i in picks]


def rollout_cuts(values, min_levels: int = MIN_LEVELS, splits: int | None = None) -> list[float]:
    """The largest fitted value of each rollout split along ``values``: for every k from
    ``min_levels`` to one less than the number of distinct values (at most ``splits`` of
    them, evenly spaced, the last always kept), the k-th smallest distinct value. Empty when
    there are too few distinct values."""
    distinct = np.unique(np.asarray(values, dtype=float))
    return [float(distinct[k - 1]) for k in _spread(list(range(min_levels, len(distinct))), splits)]


def _splits(
    frame: pd.DataFrame, data: Runs, holdout, levels: int, rollout: bool, min_levels: int, splits: int | None = None
) -> list[Split]:
    if isinstance(holdout, str) and holdout in data.x:
        values = data.x[holdout]
        distinct = np.unique(values)
        if rollout:
            if len(distinct) <= min_levels:
                raise ScalefitError(
                    f"holdout={holdout!r} with rollout=True: {holdout} has {len(distinct)} distinct values; a rollout "
                    f"fits at least min_levels={min_levels} of them and predicts the rest, so it needs more"
                )
            return [Split(f"{holdout} <= {cut:.4g}", values > cut) for cut in rollout_cuts(values, min_levels, splits)]
        if levels >= len(distinct):
            raise ScalefitError(
                f"holdout={holdout!r}, levels={levels}: {holdout} has only {len(distinct)} distinct values, so "
                "nothing would be left to fit; hold out fewer levels"
            )
        cut = distinct[-levels - 1]
        return [Split(f"{holdout} > {cut:.4g}", values > cut)]
    if isinstance(holdout, str):
        variables = ", ".join(data.x)
        label = f"holdout={holdout!r} is neither a law variable ({variables}) nor a valid filter on the runs table"
        mask = row_mask(frame, holdout, argument="holdout", label=label)
        name = holdout
    else:
        mask, name = holdout, "given"
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (len(frame),):
        raise TypeError(
            f"holdout must be a law variable, a query string or a boolean mask with one value per run ({len(frame)}), "
            f"got {mask.dtype} of shape {mask.shape}"
        )
    if rollout:
        raise ScalefitError("rollout=True needs holdout= a law variable (the one to roll out along)")
    return [Split(name, mask)]


def default_method(interval: float | None, **options) -> LeastSquares:
    """The least squares a backtest fits with unless told otherwise: 200 bootstrap replicates
    when a prediction interval is scored, none when it is not; ``options`` (``starts``, or
    ``bootstrap`` itself) override."""
    return LeastSquares(**{"bootstrap": 200 if interval is not None else 0, **options})


def backtest(
    laws,
    runs: pd.DataFrame | str | os.PathLike | Runs,
    *,
    target: str,
    holdout,
    mapping: Mapping[str, str] | None = None,
    levels: int = 1,
    rollout: bool = False,
    min_levels: int = MIN_LEVELS,
    splits: int | None = None,
    interval: float | None = 0.9,
    **fit_options,
) -> Backtest:
    """Fit each law on the training part of each split and score its held-out predictions.

    Parameters
    ----------
    laws : Law, list of laws, or dict ``{name: law}``
        The candidate laws.
    runs : DataFrame, path or Runs
        The runs table.
    target : str
        Column to predict.
    holdout : str or boolean mask
        A law variable (hold out its ``levels`` largest values, or roll out along it), a
        row filter selecting the held-out rows (``"Training == 0"``), or a boolean mask.
    mapping : dict, optional
        ``{law variable: column}``, as in :func:`fit_law`.
    levels : int
        With a variable: how many of its largest values are held out (default 1).
    rollout : bool
        With a variable: one split per k >= ``min_levels`` (fit on its k smallest values).
    min_levels : int
        Fewest values of the rollout variable a fit sees (default 3).
    splits : int, optional
        With ``rollout=True``: at most this many rollout splits, their cuts evenly spaced
        over the allowed ones (the last always kept); default every one.
    interval : float or None
        Prediction interval whose held-out coverage is reported (``None``: no coverage;
        then ``bootstrap=0`` is enough and fits are faster).
    **fit_options
        Passed to :func:`fit_law` (``method``, ``starts``, ``bootstrap``, ``objective``,
        ``fix``...). ``bootstrap`` defaults to 200 with an interval, 0 without.

    Returns
    -------
    Backtest

    Notes
    -----
    A split whose fit fails counts as an infinite error in :meth:`Backtest.ranking`: a law
    that cannot be fitted on part of the runs does not win on the rest. With a variable
    as ``holdout``, ``predictions`` also records each held-out run's value of it
    (``value``) and the largest value fitted in its split (``fitted_max``).
    """
    from scalefit.fitting.fit import fit_law  # the fitter depends on this module's neighbours, not the reverse

    candidates = candidate_laws(laws)
    check.text(target, "target")
    levels = check.integer(levels, "levels", 1)
    rollout = check.boolean(rollout, "rollout")
    min_levels = check.integer(min_levels, "min_levels", 2)
    if splits is not None:
        splits = check.integer(splits, "splits", 1)
        if not rollout:
            raise ScalefitError(f"splits={splits} bounds the splits of a rollout; pass rollout=True with it")
    method = fit_options.get("method", "lsq")
    for option in ("fix", "tie", "bounds", "priors"):
        given = (getattr(method, "priors", None) if option == "priors" else fit_options.get(option)) or {}
        for name, law in candidates.items():
            noise = ("sigma", "nu") if option == "priors" else ()  # the noise model's sites (_bayes.noise_sites)
            unknown = [p for p in (given if isinstance(given, Mapping) else ()) if p not in law.parameters + noise]
            if unknown:
                raise ScalefitError(
                    f"{option}= names {unknown}, which law {name!r} ({law.formula()}) does not have; every fit option "
                    "goes to every candidate, so backtest laws that share those parameters, or each law on its own"
                )
    if interval is not None:
        interval = check.probability(interval, "interval")
    for key in ("by", "target", "mapping"):
        if key in fit_options:
            raise ScalefitError(f"backtest() takes {key}= itself; it is not a fit option here")
    if method == "lsq":  # the shorthand: the default least squares, with a bootstrap only for intervals
        fit_options["method"] = default_method(interval)
    frame, source = read_table(runs)
    if frame.empty:
        raise ScalefitError(f"the runs table {source} has no rows; nothing to backtest")
    variables = list(dict.fromkeys(v for law in candidates.values() for v in law.variables))
    if isinstance(holdout, str) and holdout not in variables and holdout in (mapping or {}).values():
        holdout = next(v for v, c in mapping.items() if c == holdout)  # the column of a mapped variable
    probe = Law(_probe_term(variables), name="variables")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        data = load_runs(
            frame, probe, target=target, mapping={v: c for v, c in (mapping or {}).items() if v in variables}
        )
    cuts = _splits(frame, data, holdout, levels, rollout, min_levels, splits)
    along = np.asarray(data.x[holdout], dtype=float) if isinstance(holdout, str) and holdout in data.x else None
    for split in cuts:
        n_out = int(split.held_out.sum())
        if n_out == 0 or n_out == len(frame):
            raise ScalefitError(
                f"split {split.name!r} holds out {n_out} of {len(frame)} runs; a backtest needs runs on both sides"
            )
    rows, preds = [], []
    for split in cuts:
        train, test = frame[~split.held_out], frame[split.held_out]
        for name, law in candidates.items():
            law_map = law_mapping(mapping, law)
            row = {"law": name, "split": split.name, "train_runs": len(train), "held_out_runs": len(test)}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ScalingWarning)
                    fit = fit_law(law, train, target=target, mapping=law_map, **fit_options)
                    p = fit.predict(test, interval if fit.draws is not None else None)
            except ScalefitError as exc:
                rows.append({**row, "converged": False, "rmse_log": np.nan, "coverage": np.nan, "error": str(exc)})
                continue
            y = test[target].to_numpy(dtype=float)
            err = np.log(p["mean"].to_numpy(dtype=float)) - np.log(y)
            covered = (
                ((p["pi_lower"] <= y) & (y <= p["pi_upper"])).to_numpy()
                if "pi_lower" in p.columns
                else np.full(len(y), np.nan)
            )
            rows.append(
                {
                    **row,
                    "converged": fit.status.converged,
                    "rmse_log": float(np.sqrt(np.mean(err**2))),
                    "coverage": float(np.mean(covered)),
                    "error": "",
                }
            )
            got = {"law": name, "split": split.name, "observed": y, "predicted": p["mean"].to_numpy(dtype=float)}
            if along is not None:
                got |= {"value": along[split.held_out], "fitted_max": float(along[~split.held_out].max())}
            preds.append(pd.DataFrame(got))
    table = pd.DataFrame(rows)
    predictions = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(
        columns=["law", "split", "observed", "predicted"]
    )  # fmt: skip
    return Backtest(table=table, predictions=predictions, interval=interval)


def _probe_term(variables: list[str]):
    """A law using every candidate's variables, only to validate their columns once."""
    from scalefit.laws.terms import Power

    term = Power(variables[0], "_p0")
    for i, v in enumerate(variables[1:], start=1):
        term = term + Power(v, f"_p{i}")
    return term


def law_mapping(mapping: Mapping[str, str] | None, law: Law) -> dict[str, str] | None:
    """The part of ``mapping`` for one law's variables."""
    return {v: c for v, c in (mapping or {}).items() if v in law.variables} or None
