"""Runs tables: load from a DataFrame, CSV or Parquet, map law variables to columns, validate.

Validation happens before any fitting and never repairs anything: a row with a NaN, a
non-positive model size or an error rate of 23 (percent?) is an error that names the
column, the rows (by the table's index; 0-based data rows for CSV/Parquet) and the fix.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import ScalefitError, ScalingWarning, format_rows
from scalefit.laws.catalogue import as_law, is_catalogued
from scalefit.laws.law import Law
from scalefit.laws.terms import Term

MIN_LEVELS = 3


@dataclass(frozen=True)
class Runs:
    """A runs table, and — once validated against a law — the arrays a fitter needs.

    Attributes
    ----------
    frame : DataFrame
        The table as loaded (never modified).
    source : str
        Where it came from (a path, or ``"<DataFrame>"``).
    law : Law or None
        The law it was validated against (``None`` if not validated yet).
    target : str or None
        Target column.
    mapping : dict
        Law variable -> column.
    x : dict of ndarray
        Law variable -> float64 values, one per row.
    y : ndarray
        Target values.
    """

    frame: pd.DataFrame
    source: str = "<DataFrame>"
    law: Law | None = None
    target: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    x: dict[str, np.ndarray] = field(default_factory=dict)
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def rows(self) -> np.ndarray:
        """Row labels (the table's index), used in every message about rows."""
        return self.frame.index.to_numpy()

    def __repr__(self) -> str:
        if self.law is None:
            return f"Runs({len(self)} rows from {self.source}, columns {list(self.frame.columns)})"
        cols = ", ".join(f"{v}<-{c!r}" for v, c in self.mapping.items())
        return (
            f"Runs({len(self)} rows from {self.source}; target {self.target!r}; {cols}; "
            f"validated for law {self.law.name!r})"
        )


def read_table(source: pd.DataFrame | str | os.PathLike | Runs) -> tuple[pd.DataFrame, str]:
    """Read a runs table from a DataFrame, a ``.csv`` or a ``.parquet`` file."""
    if isinstance(source, Runs):
        return source.frame, source.source
    if isinstance(source, pd.DataFrame):
        return _checked_frame(source, "<DataFrame>", "the DataFrame"), "<DataFrame>"
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"runs must be a pandas DataFrame or a path to a .csv/.parquet file, got {type(source).__name__}"
        )
    path = Path(source)
    if not path.exists():
        raise ScalefitError(f"runs file {str(path)!r} does not exist; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path)
        elif suffix == ".tsv":
            frame = pd.read_csv(path, sep="\t")
        else:
            raise ScalefitError(
                f"runs file {str(path)!r} has suffix {suffix!r}; scalefit reads .csv, .tsv "
                "and .parquet — convert it or load it into a DataFrame yourself"
            )
        if suffix in (".csv", ".txt", ".tsv"):  # pandas renames a repeated header (Dp, Dp.1): read it as written
            header = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", header=None, nrows=1, dtype=str)
            _no_repeats([str(c) for c in header.iloc[0].tolist()] if len(header) else [], f"runs file {str(path)!r}")
    except ScalefitError:
        raise
    except Exception as exc:  # pandas/pyarrow parser errors have many types
        raise ScalefitError(f"could not read runs file {str(path)!r}: {exc}") from exc
    return _checked_frame(frame, str(path), f"runs file {str(path)!r}"), str(path)


def check_group_labels(source: object, columns: list[str], read: pd.DataFrame | None = None) -> None:
    """In a text file, grouping ``columns`` whose labels read as one value (``01``, ``1`` and
    ``1.0`` all read as the number 1) would merge different groups: refused, naming them.
    ``read``: the file as :func:`read_table` read it, when the caller has it (else read here)."""
    if not isinstance(source, str | os.PathLike) or Path(source).suffix.lower() not in (".csv", ".txt", ".tsv"):
        return
    sep = "\t" if Path(source).suffix.lower() == ".tsv" else ","
    try:
        raw = pd.read_csv(source, sep=sep, usecols=columns, dtype=str, keep_default_na=False)
        read = pd.read_csv(source, sep=sep, usecols=columns) if read is None else read
    except (ValueError, OSError):
        return  # a column that is not there, an unreadable file: reported where the table is read
    for c in columns:
        spellings: dict[object, set[str]] = {}
        missing: set[str] = set()
        for value, text in zip(read[c].tolist(), raw[c].tolist(), strict=True):
            if not (isinstance(value, float) and math.isnan(value)):
                spellings.setdefault(value, set()).add(text.strip())
            elif text.strip():
                missing.add(text.strip())
        if missing:
            raise ScalefitError(
                f"by column {c!r} of {str(source)!r} has labels {', '.join(map(repr, sorted(missing)))} that read as "
                "missing values (pandas reads 'NA', 'None', 'null', 'nan'... so); give those groups other labels"
            )
        merged = next((sorted(t) for t in spellings.values() if len(t) > 1), None)
        if merged:
            raise ScalefitError(
                f"by column {c!r} of {str(source)!r} has labels {', '.join(map(repr, merged))} that read as one "
                "value, so their runs would be fitted as one group; give each group a label of its own (e.g. "
                "a letter in front: g01, g1)"
            )


def _no_repeats(columns: list, where: str) -> None:
    """A file's header names each column once (pandas would silently rename the second ``Dp`` ``Dp.1``)."""
    repeated = list(dict.fromkeys(c for c in columns if columns.count(c) > 1))
    if repeated:
        raise ScalefitError(
            f"{where}: column {repeated[0]!r} appears {columns.count(repeated[0])} times in the header"
            + (f" (and {repeated[1:]})" if len(repeated) > 1 else "")
            + "; give each column its own name, so it is clear which one is meant"
        )


def _checked_frame(frame: pd.DataFrame, source: str, where: str) -> pd.DataFrame:
    """A table has one level of column names and at least one row."""
    if isinstance(frame.columns, pd.MultiIndex):
        raise ScalefitError(
            f"{where} has multi-level column names ({frame.columns.nlevels} levels, e.g. {frame.columns[0]!r}); "
            "give one name per column, e.g. frame.columns = ['_'.join(map(str, c)) for c in frame.columns]"
        )
    if frame.empty:
        shape = "no columns and no rows" if not len(frame.columns) else "no rows"
        raise ScalefitError(f"{where} has {shape}; a runs table needs one row per training run")
    return frame


def _resolve_mapping(law: Law, frame: pd.DataFrame, mapping: Mapping[str, str] | None) -> dict:
    if mapping is not None and not isinstance(mapping, Mapping):
        raise TypeError(
            f"mapping must be a dict {{law variable: column}}, e.g. {{'{law.variables[0]}': 'my_column'}}, "
            f"got {type(mapping).__name__} {mapping!r}"
        )
    mapping = dict(mapping or {})
    for k, c in mapping.items():
        if not isinstance(c, str) or not c:
            raise TypeError(f"mapping[{k!r}] must be a column name (a non-empty string), got {c!r}")
    unknown = [k for k in mapping if k not in law.variables]
    if unknown:
        raise ScalefitError(
            f"mapping has {unknown}, which law {law.name!r} does not use; its variables are "
            f"{list(law.variables)} (mapping is {{law variable: column}}, e.g. "
            f"{{'{law.variables[0]}': 'my_column'}})"
        )
    resolved = {v: mapping.get(v, v) for v in law.variables}
    by_column: dict[str, list[str]] = {}
    for v, c in resolved.items():
        by_column.setdefault(c, []).append(v)
    dup = {c: vs for c, vs in by_column.items() if len(vs) > 1}
    if dup:
        c, vs = next(iter(dup.items()))
        raise ScalefitError(
            f"column {c!r} is mapped to more than one law variable ({vs}); each variable needs "
            f"its own column — fix the mapping (e.g. mapping={{'{vs[1]}': '<other column>'}})"
        )
    missing = [(v, c) for v, c in resolved.items() if c not in frame.columns]
    if missing:
        v, c = missing[0]
        hint = "" if v in mapping else f", or map it with mapping={{'{v}': '<column>'}}"
        raise ScalefitError(
            f"runs table has no column {c!r} for law variable {v!r}{hint}; available columns: {list(frame.columns)}"
        )
    return resolved


def _numeric(frame: pd.DataFrame, column: str, role: str) -> np.ndarray:
    copies = list(frame.columns).count(column)  # (an Index of text compares slowly: by= calls this per group)
    if copies > 1:
        raise ScalefitError(
            f"column {column!r} ({role}) appears {copies} times in the runs table; scalefit will not guess which "
            "one you mean — drop or rename the duplicates"
        )
    raw = frame[column]
    kind = raw.dtype.kind
    if kind in "bMmc":
        what = {"b": "True/False values", "M": "dates", "m": "time spans", "c": "complex numbers"}[kind]
        raise ScalefitError(
            f"column {column!r} ({role}) holds {what} ({raw.dtype}), not real numbers; scalefit does not convert "
            "them for you — give the column as numbers"
        )
    if isinstance(raw.dtype, np.dtype) and kind in "fiu":  # NumPy numbers (a by= group of a numeric table)
        return _finite(frame, column, role, raw.to_numpy(dtype=float))
    text = raw.map(lambda v: isinstance(v, str | bytes)).to_numpy(dtype=bool) if kind in "OSUT" else None
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        raise ScalefitError(
            f"column {column!r} ({role}) has non-numeric values in "
            f"{format_rows(frame.index[bad.to_numpy()])} (e.g. {raw[bad].iloc[0]!r}); "
            "clean them in the table before fitting"
        )
    if text is not None and text.any():
        raise ScalefitError(
            f"column {column!r} ({role}) holds numbers written as text in {format_rows(frame.index[text])} "
            f"(e.g. {raw[text].iloc[0]!r}); scalefit does not parse text as numbers — convert the column "
            "(pd.to_numeric) or fix the file"
        )
    return _finite(frame, column, role, values.to_numpy(dtype=float))


def _finite(frame: pd.DataFrame, column: str, role: str, arr: np.ndarray) -> np.ndarray:
    nonfinite = ~np.isfinite(arr)
    if nonfinite.any():
        raise ScalefitError(
            f"column {column!r} ({role}) has NaN or infinite values in "
            f"{format_rows(frame.index[nonfinite])}; scalefit does not drop rows for you — "
            "remove or fill those rows in the table (e.g. runs.dropna(subset=[...]))"
        )
    return arr


def load_runs(
    source: pd.DataFrame | str | os.PathLike | Runs,
    law: Law | Term | None = None,
    *,
    target: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> Runs:
    """Load a runs table and, given a law and a target column, validate it.

    Parameters
    ----------
    source : DataFrame, path or Runs
        The table: a DataFrame, or a ``.csv`` / ``.parquet`` file.
    law : Law, optional
        Validate the columns this law needs.
    target : str
        Column holding what the law predicts (e.g. ``"error"``); required with ``law``.
    mapping : dict, optional
        ``{law variable: column}`` for variables whose column has another name, e.g.
        ``{"Dp": "pretrain_images"}``. Unmapped variables use the column of their own name.

    Returns
    -------
    Runs

    Raises
    ------
    ScalefitError
        For a missing column, NaN/inf, a non-positive scaling variable, an error-rate target
        outside [0, 1] or two variables mapped to one column; each message names the
        column, the rows and the fix.

    Warns
    -----
    ScalingWarning
        When a variable has fewer than 3 distinct values: its exponent is not identified.
    """
    frame, src = read_table(source)
    if law is None:
        if target is not None or mapping:
            raise ScalefitError("target= and mapping= need law= to know which columns matter")
        return Runs(frame, src)
    law = as_law(law)
    if target is None:
        raise ScalefitError(
            f"target= is required: name the column law {law.name!r} should predict (columns: {list(frame.columns)})"
        )
    if not isinstance(target, str):
        raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
    resolved = _resolve_mapping(law, frame, mapping)
    if target not in frame.columns:
        raise ScalefitError(f"runs table has no target column {target!r}; available columns: {list(frame.columns)}")
    if target in resolved.values():
        var = next(v for v, c in resolved.items() if c == target)
        raise ScalefitError(
            f"column {target!r} is both the target and law variable {var!r}; choose a different target= or mapping"
        )
    _check_parameter_names(law, frame, target)
    x = {}
    for v, c in resolved.items():
        arr = _numeric(frame, c, f"law variable {v}")
        zero_ok = v in law.zero_allowed
        nonpos = arr < 0 if zero_ok else arr <= 0
        if nonpos.any():
            what, need = ("negative", ">= 0 (the law allows 0)") if zero_ok else ("non-positive", "> 0")
            general = (
                f"; if the law is defined at {v} = 0, write it as a general expression law, evaluated without "
                f"log {v}: parse_law(formula, general=True) (CLI: --general)"
                if not zero_ok and np.all(arr >= 0)
                else ""
            )
            raise ScalefitError(
                f"column {c!r} (law variable {v!r}) has {int(nonpos.sum())} {what} "
                f"values in {format_rows(frame.index[nonpos])} (e.g. {float(arr[nonpos][0])!r}); law variable {v!r} "
                f"must be {need} — remove those rows or fix the column{general}"
            )
        x[v] = arr
    y = _numeric(frame, target, "target")
    if law.metric == "error_rate":
        outside = (y < 0) | (y > 1)
        if outside.any():
            hint = " (they look like percentages: divide by 100)" if np.all(y <= 100) else ""
            raise ScalefitError(
                f"target column {target!r} has {int(outside.sum())} values outside [0, 1] in "
                f"{format_rows(frame.index[outside])}{hint}; law {law.name!r} predicts an error "
                "rate, so give it as a fraction, or use a law for an unbounded metric"
            )
    for v, c in resolved.items():
        levels = np.unique(x[v])
        if len(levels) < MIN_LEVELS:
            exps = [s.name for s in law.specs.values() if s.variable == v and s.role == "exponent"]
            what = (
                f"its exponent {exps} is not identified by these runs — add runs at a third value of {v}, or fix "
                f"the exponent with fix={{'{exps[0]}': ...}}"
                if exps
                else f"how the law bends along {v} (a power or any curve in it) is not identified by so few — add "
                f"runs at a third value of {v}"
            )
            warnings.warn(
                f"law variable {v!r} (column {c!r}) has only {len(levels)} distinct value(s) {levels.tolist()}; {what}",
                ScalingWarning,
                stacklevel=2,
            )
    return Runs(frame, src, law, target, resolved, x, y)


def _check_parameter_names(law: Law, frame: pd.DataFrame, target: str) -> None:
    """A law parameter may not share its name with the target column; nor, unless the law is
    one of the catalogue's (whose variables are declared), with another column of the runs
    table: in a formula only names raised to a power (or declared) are variables, so a
    column's name written as a factor would be fitted as a constant — never read from the
    table. (A catalogue law's ``E`` beside an unrelated ``E`` column is no such mistake.)"""
    catalogued = is_catalogued(law)
    for p in law.parameters:
        if p == target:
            raise ScalefitError(
                f"law {law.name!r} has a parameter {p!r}, the name of the target column; a parameter is fitted, the "
                f"target is what the law predicts — rename the parameter in the formula"
            )
        if p in frame.columns and not catalogued:
            raise ScalefitError(
                f"law {law.name!r} has a parameter {p!r} with the name of a column of the runs table, so {p} would be "
                f"fitted as one constant, not read from the column. If {p} is a variable, declare it: "
                f"parse_law(formula, variables=[...]) (CLI: --variables {','.join([*law.variables, p])}); if it is a "
                "parameter, rename it in the formula (or rename the column)"
            )


def require_fit_ready(runs: Runs, n_free: int, log_target: bool, why: str = "objective") -> None:
    """Checks that depend on how the law is fitted, not only on the table; ``why``: what takes
    the target's log — ``"objective"`` (least squares), or ``"noise"`` (NUTS's noise model)."""
    if log_target:
        nonpos = runs.y <= 0
        if nonpos.any():
            fix = (
                "the objective compares log values — use objective='squared'"
                if why == "objective"
                else "NUTS's noise model takes log y — use NUTS(noise='normal')"
            )
            raise ScalefitError(
                f"target column {runs.target!r} has {int(nonpos.sum())} values <= 0 in "
                f"{format_rows(runs.frame.index[nonpos])}; {fix} for targets that can be 0, or remove those rows"
            )
    if len(runs) < n_free:
        raise ScalefitError(
            f"the runs table has {len(runs)} rows but law {runs.law.name!r} has {n_free} free "
            f"parameters; add runs (at least {n_free}, many more for intervals) or fix parameters "
            "with fix={name: value}"
        )


def per_run(data: Runs, value, name: str) -> np.ndarray | None:
    """A per-run array from a column name or an array, checked finite and > 0."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.frame.columns:
            raise ScalefitError(
                f"{name}={value!r} is not a column of the runs table; columns: {list(data.frame.columns)}"
            )
        arr = pd.to_numeric(data.frame[value], errors="coerce").to_numpy(dtype=float)
        what = f"column {value!r} ({name})"
    else:
        raw = np.asarray(value) if not isinstance(value, Mapping) else np.asarray(None)
        if raw.dtype.kind not in "iuf":
            raise TypeError(
                f"{name} must be a column name or numbers, one per run ({len(data)}), got {type(value).__name__} "
                f"of {raw.dtype} (True/False and text are not read as numbers)"
            )
        arr = raw.astype(float)
        what = name
        if arr.shape != (len(data),):
            raise ScalefitError(f"{name} must have one value per run ({len(data)}), got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ScalefitError(
            f"{what} has missing, non-finite or non-positive values in {format_rows(data.frame.index[bad])}; "
            f"{name} must be > 0 for every run"
        )
    return arr
