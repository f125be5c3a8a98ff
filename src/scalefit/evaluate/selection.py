"""Choosing a law by how it extrapolated: :func:`select_law` backtests the candidates on a
rollout within the runs (:func:`~scalefit.evaluate.backtest.backtest`), keeps a baseline
unless another law is shown better split by split, and refits the choice to every run
(optionally calibrating its prediction intervals on its own rollout errors).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.display import whole
from scalefit.errors import ScalefitError, ScalingWarning
from scalefit.evaluate.backtest import MIN_LEVELS, Backtest, backtest, candidate_laws, law_mapping
from scalefit.tables.runs import Runs, read_table

#: select_law's default rollout splits.
SPLITS = 5
#: Standard errors by which a law must beat the baseline, split by split, to be chosen over
#: it (select_law(separation=...)). Chosen by leave-one-source-out cross-validation on the
#: development corpus among 0, 1, 2 and 3 and the lowest score alone: 0 (a lower mean paired
#: log-ratio over at least two splits) won in 10 of 11 folds and on all sources
#: (benchmarks/bench_loso.py; RESULTS.md, issue 19).
SEPARATION = 0.0


def calibration(bt: Backtest, name: str, variable: str, residuals: np.ndarray) -> dict | None:
    """The extrapolation calibration of law ``name`` from its rollout predictions in ``bt``:
    scores ``|log predicted - log observed| / (sigma + d)`` at log-distance ``d`` beyond each
    split's largest fitted value of ``variable``, each split weighing the same (see
    :func:`scalefit.results.prediction._widen_by_calibration`). ``None`` without such predictions."""
    residuals = np.abs(residuals[np.isfinite(residuals)])
    sigma = float(np.sqrt(np.mean(residuals**2)))
    p = bt.predictions
    if "value" not in p.columns:
        return None
    p = p[(p["law"] == name) & (p["value"] > p["fitted_max"])]
    p = p[np.isfinite(np.log(p["predicted"])) & (p["observed"] > 0)]
    if p.empty:
        return None
    err = np.abs(np.log(p["predicted"].to_numpy(dtype=float)) - np.log(p["observed"].to_numpy(dtype=float)))
    d = np.log(p["value"].to_numpy(dtype=float) / p["fitted_max"].to_numpy(dtype=float))
    per_split = p.groupby("split")["split"].transform("size").to_numpy(dtype=float)
    return {
        "variable": variable,
        "sigma": float(sigma),
        "scores": (err / (sigma + d)).tolist(),
        "weights": (1.0 / per_split).tolist(),
        "splits": int(p["split"].nunique()),
        "method": "rollout split-conformal, scores |log error| / (sigma + log distance beyond the fitted runs)",
        "residuals": residuals.tolist(),
    }


@dataclass(frozen=True)
class Selection:
    """The law :func:`select_law` chose, refitted to every run, and why.

    ``law`` (its name), ``fit`` (it, fitted to every run), ``backtest`` (the rollout it was
    chosen on; ``None`` when the runs were too few to backtest), ``baseline`` (the law kept
    unless another is shown better), ``comparison`` (each other law against the baseline,
    split by split: :meth:`Backtest.paired`) and ``reason`` (in words).
    """

    law: str
    fit: object  # scalefit.Fit
    backtest: Backtest | None
    baseline: str = ""
    reason: str = ""
    comparison: pd.DataFrame | None = None

    def __repr__(self) -> str:
        cal = self.fit.runs.extrapolation
        how = (
            f"\nprediction intervals also calibrated on {cal['splits']} rollout split(s) along {cal['variable']}"
            if cal
            else ""
        )
        parts = [f"Selection: {self.law!r} — {self.reason}{how}"]
        if self.comparison is not None and not self.comparison.empty:
            with whole("display.float_format", "{:.3g}".format):  # every row and column
                parts.append(f"against the baseline {self.baseline!r}, split by split:\n{self.comparison.to_string()}")
        if self.backtest is not None:
            parts.append(repr(self.backtest))
        parts.append(repr(self.fit))
        return "\n\n".join(parts)


def select_law(
    laws,
    runs: pd.DataFrame | str | os.PathLike | Runs,
    *,
    target: str,
    holdout,
    mapping: Mapping[str, str] | None = None,
    levels: int = 1,
    rollout: bool | None = None,
    min_levels: int | None = None,
    splits: int | None = None,
    interval: float | None = None,
    choose: str = "separated",
    baseline: str | None = None,
    separation: float = SEPARATION,
    calibrate: bool = False,
    **fit_options,
) -> Selection:
    """Choose among ``laws`` by how they extrapolated within ``runs``, then fit the choice to all of them.

    The choice uses only ``runs`` (the held-out parts are carved out of it), so pass the
    runs you may use — never the points you mean to predict. Arguments as for
    :func:`backtest`; ``fit_options`` go to every fit (backtest fits and the final one).

    With ``holdout`` a variable the default is a rollout along it (``rollout=True``,
    ``splits=5`` cuts over its values, each fitting at least ``min_levels`` of them: one
    more than the largest number of parameters of a candidate, at least 3).

    Parameters
    ----------
    laws, runs, target, holdout, mapping, levels, rollout, min_levels, splits, interval
        As for :func:`backtest`.
    choose : {"separated", "lowest"}
        ``"separated"`` (default): keep the ``baseline`` law unless the best-scoring other
        law extrapolated better than it split by split: over at least two rollout splits,
        its mean paired log-ratio of held-out RMSE to the baseline's is below 0 by more
        than ``separation`` standard errors (:meth:`Backtest.paired`); with too few runs
        to backtest, the baseline is kept and ``reason`` says so. ``"lowest"``: the law
        with the lowest score (:meth:`Backtest.ranking`) however it compares split by
        split. Out of sample (leave-one-source-out, ``benchmarks/RESULTS.md``) the paired
        rule beat the lowest score.
    baseline : str, optional
        The law kept unless another is shown better (default: the first of ``laws``).
    separation : float
        Standard errors of the paired comparison a law must win by (default
        :data:`SEPARATION`, 0, chosen out of sample among 0-3; raise it to change laws
        only on stronger evidence).
    calibrate : bool
        Also widen the chosen fit's prediction intervals by its own rollout errors (split
        conformal within this one curve; ``fit.runs.extrapolation``). Off by default: the
        intervals beyond the runs already come from the extrapolation model pooled over
        many real curves (:class:`~scalefit.ExtrapolationModel`), which a handful of
        rollout splits of one curve estimate less well.
    **fit_options
        Passed to :func:`fit_law`, for the backtest fits and the final one.

    Returns
    -------
    Selection
    """
    from scalefit.fitting.fit import fit_law

    candidates = candidate_laws(laws)
    calibrate = check.boolean(calibrate, "calibrate")
    if choose not in ("separated", "lowest"):
        raise ScalefitError(f"choose={choose!r} must be 'separated' (the default) or 'lowest'")
    separation = check.number(separation, "separation")
    if not (separation >= 0):
        raise ScalefitError(f"separation={separation!r} must be a number of standard errors >= 0")
    if baseline is None:
        baseline = next(iter(candidates))
    elif baseline not in candidates:
        raise ScalefitError(f"baseline={baseline!r} is not one of the laws {list(candidates)}; name one of them")
    variable_holdout = isinstance(holdout, str) and (
        holdout in {v for law in candidates.values() for v in law.variables} or holdout in (mapping or {}).values()
    )
    if rollout is None:
        rollout = variable_holdout
    rollout = check.boolean(rollout, "rollout")
    if rollout and splits is None:
        splits = SPLITS
    derived = min_levels is None
    if derived:
        biggest = max(candidates, key=lambda n: len(candidates[n].parameters))
        min_levels = max(MIN_LEVELS, len(candidates[biggest].parameters) + 1)
    if len(candidates) == 1 and not calibrate:
        bt, reason, comparison = None, "the only candidate", None
        name = baseline
    else:
        try:
            bt = backtest(
                candidates, runs, target=target, holdout=holdout, mapping=mapping, levels=levels, rollout=rollout,
                min_levels=min_levels, splits=splits, interval=interval, **fit_options,
            )  # fmt: skip
        except ScalefitError as exc:
            few = "distinct values" in str(exc) or "nothing would be left to fit" in str(exc)
            if not (few and choose == "separated"):
                if derived and "min_levels" in str(exc):
                    raise ScalefitError(
                        f"{exc} (min_levels={min_levels} is one more than the {min_levels - 1} parameters of "
                        f"{biggest!r}, the largest candidate, so that every candidate can be fitted on every split; "
                        "pass min_levels= yourself, or drop that law)"
                    ) from None
                raise
            bt, comparison = None, None
            name = baseline
            reason = f"kept the baseline: too few runs to backtest ({exc})"
        else:
            comparison = bt.paired(baseline) if baseline in set(bt.table["law"]) else None
            name, reason = _decide(bt, baseline, comparison, choose, separation)
    law = candidates[name]
    fit = fit_law(law, runs, target=target, mapping=law_mapping(mapping, law), **fit_options)
    variable = holdout
    if isinstance(holdout, str) and holdout not in law.variables:  # a mapped variable's column
        variable = next((v for v, c in (mapping or {}).items() if c == holdout and v in law.variables), holdout)
    if calibrate and bt is not None and isinstance(holdout, str) and variable in law.variables:
        residuals = np.asarray(fit.runs.residuals, dtype=float)
        if not fit.setup.objective.log:  # residuals in the target's units: take the log errors instead
            frame, _ = read_table(runs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScalingWarning)
                pred = fit.predict(frame, interval=None)["mean"].to_numpy(dtype=float)
            residuals = np.log(pred) - np.log(frame[target].to_numpy(dtype=float))
        cal = calibration(bt, name, variable, residuals)
        if cal is not None:
            fit = dataclasses.replace(fit, runs=dataclasses.replace(fit.runs, extrapolation=cal))
    return Selection(law=name, fit=fit, backtest=bt, baseline=baseline, reason=reason, comparison=comparison)


def _decide(
    bt: Backtest, baseline: str, comparison: pd.DataFrame | None, choose: str, separation: float
) -> tuple[str, str]:
    """The law chosen from a backtest, and why (see :func:`select_law`)."""
    ranking = bt.ranking()
    if ranking.empty:
        return baseline, "kept the baseline: no law could be scored on any split"
    best = str(ranking.index[0])
    if choose == "lowest":
        return best, "the lowest held-out score"
    if best == baseline:
        return baseline, "the baseline extrapolated best on the rollout"
    if comparison is None or best not in comparison.index:
        return baseline, f"kept the baseline: {best!r} could not be compared with it split by split"
    row = comparison.loc[best]
    if row["splits"] >= 2 and row["mean_log_ratio"] < 0 and row["t"] < -separation:
        return best, (
            f"{best!r} extrapolated better than the baseline on the rollout: held-out RMSE x"
            f"{np.exp(row['mean_log_ratio']):.3g} on average, {-row['t']:.2g} standard errors (needs > "
            f"{separation:g}) over {int(row['splits'])} splits"
        )
    return baseline, (
        f"kept the baseline: {best!r} scored lower, but split by split it was x{np.exp(row['mean_log_ratio']):.3g} "
        f"the baseline's error on average, {-row['t']:.2g} standard errors over {int(row['splits'])} splits "
        f"(needs a ratio below 1 by > {separation:g})"
    )
