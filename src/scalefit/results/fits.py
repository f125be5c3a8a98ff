"""``Fits``: one law fitted to every group of a runs table (:func:`scalefit.fit_groups`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from scalefit.display import whole_frame
from scalefit.errors import ScalefitError
from scalefit.files import write_json
from scalefit.results.fit import Fit
from scalefit.results.record import fits_dict


class Fits(Mapping):
    """The fits of one law to every group of runs, keyed by the group's value(s).

    A read-only mapping ``{group: Fit}`` (a tuple key when grouped by several columns),
    with tidy tables across groups::

        fits = fit_groups(law, runs, "Task", target="Loss")
        fits["cifar100_10"].params
        fits.summary()            # group, parameter, estimate, lower, upper, how
        fits.predict(new_runs)    # each row by its own group's fit
        fits.to_json("fits.json") # load_fit("fits.json") gives the Fits back
    """

    def __init__(self, fits: Mapping[Any, Fit], by: tuple[str, ...]):
        self._fits = dict(fits)
        self.by = tuple(by)

    def __getitem__(self, key) -> Fit:
        try:
            return self._fits[key]
        except KeyError:
            shown = ", ".join(map(repr, list(self._fits)[:8])) + (" ..." if len(self._fits) > 8 else "")
            raise KeyError(f"no group {key!r}; groups: {shown}") from None

    def __iter__(self) -> Iterator:
        return iter(self._fits)

    def __len__(self) -> int:
        return len(self._fits)

    def _key_columns(self, key) -> dict[str, Any]:
        values = key if len(self.by) > 1 else (key,)
        return dict(zip(self.by, values, strict=True))

    def summary(self, interval: float = 0.95) -> pd.DataFrame:
        """One row per group and parameter: the group's column(s), ``parameter``, and the
        columns of :meth:`Fit.summary` (estimate, interval, how it was obtained)."""
        parts = []
        for key, fit in self._fits.items():
            table = fit.summary(interval).rename_axis("parameter").reset_index()
            for i, (column, value) in enumerate(self._key_columns(key).items()):
                table.insert(i, column, value)
            parts.append(table)
        return whole_frame(pd.concat(parts, ignore_index=True))  # shown whole in a REPL or notebook

    def table(self) -> pd.DataFrame:
        """One row per group: the group's column(s), the runs, the objective, whether it
        converged, the share of converged bootstrap replicates, the clusters of a cluster
        bootstrap (``"N: 6"``: N's 6 values resampled whole; empty otherwise) and the number of
        notes."""
        rows = []
        for key, fit in self._fits.items():
            rows.append(
                {
                    **self._key_columns(key),
                    "runs": fit.runs.n_runs,
                    "objective": fit.value,
                    "converged": fit.status.converged,
                    "identified": fit.identifiability.ok,
                    "bootstrap_converged": fit.bootstrap.converged,
                    "clusters": ""
                    if fit.bootstrap.clusters is None
                    else f"{fit.bootstrap.clusters}: {fit.bootstrap.cluster_count}",
                    "notes": len(fit.notes),
                    **fit.params,
                }
            )
        return whole_frame(pd.DataFrame(rows))  # shown whole in a REPL or notebook

    @property
    def notes(self) -> dict[Any, tuple[str, ...]]:
        """``{group: notes}`` for the groups whose fit has notes."""
        return {k: f.notes for k, f in self._fits.items() if f.notes}

    def predict(self, data: pd.DataFrame, interval: float | None = 0.9, **kwargs) -> pd.DataFrame:
        """Predictions for every row of ``data`` from its own group's fit (``data`` needs the
        ``by`` column(s) and the law's variables); rows keep their order."""
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a DataFrame with columns {list(self.by)} and the law's variables")
        missing = [c for c in self.by if c not in data.columns]
        if missing:
            raise ScalefitError(f"data has no column {missing[0]!r}: each row needs its group ({list(self.by)})")
        if data.empty:
            raise ScalefitError("data has no rows; give at least one configuration to predict")
        for c in self.by:
            gap = data[c].isna().to_numpy()
            if gap.any():
                raise ScalefitError(
                    f"data column {c!r} has missing values in rows {list(data.index[gap][:8])}; "
                    "every row needs its group"
                )
        labels = data.index
        data = data.reset_index(drop=True)  # rows are matched by position: repeated labels stay distinct
        parts = []
        for key, rows in data.groupby(list(self.by), sort=False):
            key = key if len(self.by) > 1 else key[0] if isinstance(key, tuple) else key
            if key not in self._fits:
                raise ScalefitError(
                    f"data rows {list(labels[rows.index[:5]])} belong to group {key!r}, which was not fitted; "
                    f"fitted groups: {list(self._fits)[:8]}"
                )
            pred = self._fits[key].predict(rows, interval, **kwargs)
            pred.index = rows.index
            for i, (column, value) in enumerate(self._key_columns(key).items()):
                pred.insert(i, column, value)
            parts.append(pred)
        out = pd.concat(parts).sort_index()
        out.index = labels
        return out

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All the fits as JSON-ready Python (format ``"scalefit.fits/1"``): ``{"format",
        "scalefit_version", "by": [column, ...], "groups": [{"key": [value, ...], "fit":
        <Fit.to_dict()>}, ...]}``, one key value per ``by`` column. A key value must be a string,
        a finite number or a boolean."""
        return fits_dict(self.by, ((tuple(self._key_columns(k).values()), f) for k, f in self._fits.items()))

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """Strict JSON text of all the fits (see :meth:`to_dict`); also written to ``path`` if
        given, with the checks and the atomic write of :meth:`Fit.to_json` (``"-"``: standard
        output). :func:`~scalefit.load_fit` reads it back as a :class:`Fits`."""
        return write_json(self.to_dict, path, indent)

    def __repr__(self) -> str:
        fits = list(self._fits.values())
        law = fits[0].law if fits else None
        converged = sum(f.status.converged for f in fits)
        noted = len(self.notes)
        head = f"Fits of law {law.name!r} to {len(fits)} groups by {', '.join(self.by)}" if law else "Fits (empty)"
        lines = [
            head,
            f"  {converged} of {len(fits)} converged; {noted} with notes (see .notes); "
            "per-group parameters: .summary(), one row per group: .table()",
        ]
        clustered = sorted({f.bootstrap.clusters for f in fits if f.bootstrap.clusters is not None})
        if clustered:
            lines.append(
                f"  bootstrap: cluster-resampling (the values of {', '.join(clustered)} drawn whole per group)"
            )
        return "\n".join(lines)

    __str__ = __repr__
