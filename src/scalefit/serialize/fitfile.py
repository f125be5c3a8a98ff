"""Fit files: fits and groups of fits as strict JSON, written atomically, checked on load.

A fit file is one JSON object (UTF-8, no byte-order mark) holding everything a
:class:`~scalefit.Fit` needs to be rebuilt exactly — plain JSON, no pickles:

* ``format`` — ``"scalefit.fit/1"``: the layout and its version; ``scalefit_version`` —
  the scalefit that wrote it (optional);
* what was fitted: ``law`` (:meth:`Law.to_dict`), ``method`` (``"lsq"``, ``"bayes"`` or
  ``"given"`` for :meth:`Fit.from_params`), ``objective`` (``name``, ``delta``), ``target``,
  ``mapping`` (law variable -> column), ``problem`` (``free``/``fixed``/``tied`` parameters,
  the internal bounds ``lo``/``hi`` of the free ones, null for none, and the ``centres``);
* the result: ``params`` (paper form), ``value``, ``status``, ``starts``,
  ``identifiability``, ``residuals`` (one per run), ``ranges`` (variable -> [low, high] of
  the runs) and ``n_runs``;
* optional: ``draws`` (column -> values: bootstrap replicates or posterior draws),
  ``bootstrap_converged``, ``bootstrap_requested``, ``seed``, ``source``, ``notes``,
  ``chains``, ``noise``, ``diagnostics``, ``data`` (the runs fitted), ``priors``, ``bounds``
  (parameters at a bound, with their profiles) and ``misfit``. A missing optional field
  takes its default (older files lack some).

A group of fits (:class:`~scalefit.Fits`, from :func:`~scalefit.fit_groups`) is one object
``{"format": "scalefit.fits/1", "scalefit_version": ..., "by": [column, ...], "groups":
[{"key": [value, ...], "fit": {...}}, ...]}``: ``by`` names the grouping columns, each
``key`` holds one JSON scalar per column, and each ``fit`` is a whole fit file's object.

**Non-finite numbers.** Strict JSON (RFC 8259) has no NaN or Infinity, so a non-finite
number — a NaN R-hat, an infinite condition number, a scale at infinity, a NaN cell of the
draws — is written as one of the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
wherever a number belongs (:data:`NONFINITE`), and read back as that float. Strings in text
fields (a target or source named ``"NaN"``, a group key) stay strings: only fields that
hold numbers are decoded. Files written by older versions, with bare ``NaN``/``Infinity``
tokens, still load.

**Versions.** ``format`` changes only when the layout changes incompatibly; a file of
another version of the format (``"scalefit.fit/2"``) is refused with advice to upgrade
scalefit. Within a version, fields are only ever added, so a field this scalefit does not
know is refused: as written by a newer scalefit when ``scalefit_version`` says so (upgrade),
as damage otherwise.

**Checks on load.** :func:`load_fit` reads the file first — a path that is empty, missing,
a directory or not a regular file, an empty file, a byte-order mark, bytes that are not
UTF-8, text that is not JSON or was truncated, a key that appears twice, a JSON value that
is not an object are each refused — then checks every field before anything is built: the
format, version and the fields present and their JSON types; the law rebuilds; method,
objective and noise are known ones; ``problem`` gives every parameter exactly one of
free/fixed/tied; every parameter is finite and in its domain (a free one: its role's range —
constants >= 0, amplitudes and scales > 0, exponents >= 0 — narrowed to the fit's bounds;
a fixed one: the value it was fixed at; a tied one: its target's value; in a ``"given"``
fit, the values the user gave: exponents any finite number), and so is every finite value
in the draws of a free parameter; ``target`` is a non-empty string; the ``starts`` counts
nest (converged and at-best <= polished <= starts); residuals, data and draws have one entry
per run or draw, draws are rectangular with a column per parameter, and no more rows than
the bootstrap replicates requested or the chains x draws of the diagnostics — nor missing
when ``bootstrap_requested`` and ``bootstrap_converged`` say there are replicates. A
refusal is a :class:`~scalefit.ScalefitError` naming the file, the group (in a group file)
and the field, showing the value and saying what to do.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.errors import ScalefitError
from scalefit.files import NONFINITE
from scalefit.fitting.lsq import OBJECTIVES, Objective
from scalefit.fitting.problem import Problem
from scalefit.fitting.solver import STATUS_TEXT
from scalefit.laws.law import Law
from scalefit.results.diagnostics import NOISES
from scalefit.results.domain import domain, inside
from scalefit.results.fit import Fit
from scalefit.results.fits import Fits
from scalefit.results.identify import Identifiability
from scalefit.results.record import FITS_FORMAT, FORMAT
from scalefit.results.reports import BayesReport, BootstrapReport, Convergence, FittedRuns, Setup, StartsReport

METHODS = ("lsq", "bayes", "given")

#: Most digits of an integer in a fit file (a float is at most ~1.8e308; seeds and counts are far shorter).
MAX_DIGITS = 400


def read_fit(d: Mapping[str, Any], label: str) -> Fit:
    """The :class:`Fit` of a parsed fit file's object, every field checked first; refusals
    start with ``label`` (``"fit file 'f.json'"``, ``"fit dict"``)."""
    return _Reader(label).fit(d)


# -- reading -------------------------------------------------------------------------------
def load_fit(source: str | os.PathLike | Mapping) -> Fit | Fits:
    """Load a fit saved by :meth:`Fit.to_json` (a path, the JSON text itself, or the dict
    of :meth:`Fit.to_dict`); a file
    saved by :meth:`Fits.to_json` (format ``"scalefit.fits/1"``) loads as a :class:`Fits`.

    Every field is checked before the fit is built: a file that is missing, a directory,
    empty, not UTF-8, not JSON, truncated, written by a newer scalefit, or edited into
    something impossible (a negative exponent, a NaN parameter, a null in the draws) is
    refused with a :class:`ScalefitError` naming the file and the field (and the group, in
    a file of several fits).

    Parameters
    ----------
    source : str or path
        The path of a fit file, or its JSON text.

    Returns
    -------
    Fit or Fits
        The fit, equal to the one saved; a :class:`Fits` for a file of several fits.
    """
    if isinstance(source, Mapping):
        fmt = source.get("format")
        if isinstance(fmt, str) and fmt.startswith("scalefit.fits/"):
            return _read_fits(dict(source), "fits dict")
        return read_fit(source, "fit dict")
    if isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        return _parse(source, "fit JSON text")
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"load_fit() takes the path of a fit file (or its JSON text, or the dict of fit.to_dict()), got "
            f"{type(source).__name__}; "
            "save a fit with fit.to_json(path)"
        )
    path = Path(source).expanduser()
    label = f"fit file {os.fspath(source)!r}"
    if not os.fspath(source):
        raise ScalefitError("load_fit(): the path is empty; give the path of a file written by fit.to_json(path)")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ScalefitError(f"{label} does not exist; check the path, or save a fit with fit.to_json(path)") from None
    except OSError as exc:
        raise ScalefitError(f"{label} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ScalefitError(f"{label} is a directory; give the path of a fit file inside it (e.g. fit.json)")
    if not stat.S_ISREG(mode):
        raise ScalefitError(
            f"{label} is not a regular file (a device, FIFO or socket); give a file written by fit.to_json(path)"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScalefitError(f"{label} cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise ScalefitError(
            f"{label} is empty; it was truncated or never written — save the fit again with fit.to_json(path)"
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raise ScalefitError(
            f"{label} starts with a byte-order mark (an editor saved it as 'UTF-8 with BOM'); "
            "scalefit writes plain UTF-8 — save it again with fit.to_json(path)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScalefitError(
            f"{label} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); a fit file is the "
            "JSON text written by fit.to_json(path) — is this the right file?"
        ) from None
    return _parse(text, label)


def _parse(text: str, label: str) -> Fit | Fits:
    """Parse fit-file text (older files' bare NaN/Infinity tokens accepted) and check it."""

    def no_duplicates(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise ScalefitError(f"{label}: field {k!r} appears twice; the file was edited or damaged — {_REFIT}")
            out[k] = v
        return out

    def bounded_integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_DIGITS:
            raise ScalefitError(
                f"{label}: holds an integer of {len(digits.lstrip('-')):,} digits ({digits[:20]}...); no field of a "
                f"fit file has more than {MAX_DIGITS} — the file was edited or damaged — {_REFIT}"
            )
        return int(digits)

    try:
        d = json.loads(text, object_pairs_hook=no_duplicates, parse_int=bounded_integer)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise ScalefitError(
                f"{label} is not valid JSON: it ends early ({exc.msg} at {where}), so it was truncated "
                f"(an interrupted copy or write?) — {_REFIT}"
            ) from None
        raise ScalefitError(
            f"{label} is not valid JSON ({exc.msg} at {where}); was it written by fit.to_json()? — {_REFIT}"
        ) from None
    except RecursionError:
        raise ScalefitError(
            f"{label} is nested too deeply to be a fit file; was it written by fit.to_json()?"
        ) from None
    if not isinstance(d, dict):
        kind = {list: "a JSON list", str: "a JSON string", type(None): "null", bool: "a JSON boolean"}.get(
            type(d), "a JSON number"
        )
        raise ScalefitError(f"{label} holds {kind}, not a fit (a JSON object); was it written by fit.to_json()?")
    fmt = d.get("format")
    if isinstance(fmt, str) and fmt.startswith("scalefit.fits/"):
        return _read_fits(d, label)
    return _Reader(label).fit(d)


def _read_fits(d: dict, label: str) -> Fits:
    """The :class:`Fits` of a parsed group file, its header, groups and every fit checked."""
    from scalefit.version import __version__

    reader = _Reader(label, saver="fits.to_json(path)")
    reader.header(d, __version__, FITS_FORMAT, {"format": str, "by": list, "groups": list}, ("scalefit_version",))
    by = reader.lst(d["by"], "by")
    if not by:
        raise reader.fail("by", "is empty; a group file names the column(s) its groups are keyed by")
    for i, c in enumerate(by):
        if not isinstance(c, str) or not c:
            raise reader.fail(f"by[{i}]", f"must be a column name (a non-empty string), got {c!r:.60}")
    if len(set(by)) < len(by):
        raise reader.fail("by", f"= {by!r:.80} names a column twice")
    fits = {}
    for i, group in enumerate(d["groups"]):
        where = f"groups[{i}]"
        reader.keys(reader.obj(group, where), where, ("key", "fit"))
        key = reader.lst(group["key"], f"{where}['key']")
        if len(key) != len(by):
            raise reader.fail(f"{where}['key']", f"= {key!r:.80} has {len(key)} values; by has {len(by)} ({by})")
        for j, v in enumerate(key):
            if isinstance(v, dict | list):
                raise reader.fail(
                    f"{where}['key'][{j}]", f"must be a string, a number or a boolean, got {_json_kind(v)}"
                )
        value = key[0] if len(by) == 1 else tuple(key)
        if value in fits:
            raise reader.fail(f"{where}['key']", f"= {key!r:.80} is the key of an earlier group too")
        fit = reader.obj(group["fit"], f"group {key!r:.80}: fit")
        fits[value] = _Reader(f"{label}: group {key!r:.80}", saver="fits.to_json(path)").fit(fit)
    return Fits(fits, by=tuple(by))


# -- checking every field ---------------------------------------------------------------
_REFIT = "refit and save it again with fit.to_json(path)"
_REQUIRED = {
    "format": str,
    "law": dict,
    "method": str,
    "objective": dict,
    "target": str,
    "mapping": dict,
    "problem": dict,
    "params": dict,
    "value": (int, float, str),
    "status": dict,
    "starts": dict,
    "identifiability": dict,
    "residuals": list,
    "ranges": dict,
    "n_runs": int,
}
_OPTIONAL = (
    "scalefit_version",
    "draws",
    "bootstrap_converged",
    "seed",
    "source",
    "notes",
    "chains",
    "noise",
    "diagnostics",
    "data",
    "priors",
    "bounds",
    "misfit",
    "bootstrap_requested",
    "extrapolation",
)
_JSON_TYPE = {dict: "an object", list: "a list", str: "a string", int: "an integer", bool: "true or false"}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _newer(version: str, than: str) -> bool | None:
    """Whether scalefit ``version`` is newer than ``than`` by their release numbers
    (``0.2.0`` > ``0.1.3``); ``None`` when either has none (``0+unknown`` is a source tree)."""
    if than.startswith("0+"):  # this scalefit runs from an unversioned source tree
        return None
    parts = []
    for v in (version, than):
        m = re.match(r"^v?(\d+(?:\.\d+)*)", v.strip())
        if m is None:
            return None
        parts.append([int(x) for x in m.group(1).split(".")])
    a, b = parts
    width = max(len(a), len(b))
    return a + [0] * (width - len(a)) > b + [0] * (width - len(b))


class _Reader:
    """Checks a parsed fit file field by field and builds the :class:`Fit`.

    Every refusal names the file (``label``) and the field (``params['alpha']``), shows the
    value, says what is allowed and ends with the fix (saving again with ``saver``). Numbers
    are decoded where numbers belong: a JSON number, or one of the strings of :data:`NONFINITE`.
    """

    def __init__(self, label: str, saver: str = "fit.to_json(path)"):
        self.label = label
        self.refit = f"refit and save it again with {saver}"
        self.damaged = f"the file was edited or damaged — {self.refit}"

    # -- primitives ---------------------------------------------------------------------
    def fail(self, where: str, text: str) -> ScalefitError:
        return ScalefitError(f"{self.label}: {where} {text}; {self.damaged}")

    def kind(self, value: object, where: str, want: type | tuple, what: str) -> Any:
        if isinstance(value, bool) and bool not in (want if isinstance(want, tuple) else (want,)):
            raise self.fail(where, f"must be {what}, got {value!r}")
        if not isinstance(value, want):
            shown = f"{value!r:.60}" if not isinstance(value, dict | list) else _json_kind(value)
            raise self.fail(where, f"must be {what}, got {shown}")
        return value

    def obj(self, value: object, where: str) -> dict:
        return self.kind(value, where, dict, "an object")

    def lst(self, value: object, where: str) -> list:
        return self.kind(value, where, list, "a list")

    def text(self, value: object, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        return self.kind(value, where, str, "a string")

    def number(self, value: object, where: str, *, finite: bool = False, optional: bool = False) -> float | None:
        if value is None and optional:
            return None
        allowed = "a finite number" if finite else "a number (or 'NaN', 'Infinity', '-Infinity')"
        if isinstance(value, str) and value in NONFINITE:
            out = NONFINITE[value]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            try:
                out = float(value)
            except OverflowError:
                digits = f"{str(value)[:20]}... ({len(str(value))} digits)"
                raise self.fail(where, f"= {digits} is too large for a number") from None
        else:
            got = "null" if value is None else f"{value!r:.60}"
            raise self.fail(where, f"must be {allowed}, got {got}")
        if finite and not math.isfinite(out):
            raise self.fail(where, f"= {value!r} is not finite; it must be {allowed}")
        return out

    def integer(self, value: object, where: str, minimum: int = 0, *, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            got = "null" if value is None else f"{value!r:.60}"
            raise self.fail(where, f"must be an integer >= {minimum}, got {got}")
        return int(value)

    def numbers(self, value: object, where: str, *, finite: bool = False) -> np.ndarray:
        """A list of numbers (NaN/Infinity encoded as strings) as a float array."""
        items = self.lst(value, where)
        out = np.empty(len(items), dtype=float)
        for i, v in enumerate(items):
            if isinstance(v, float | int) and not isinstance(v, bool):
                out[i] = self.number(v, f"{where}[{i}]")
            elif isinstance(v, str) and v in NONFINITE:
                out[i] = NONFINITE[v]
            else:
                got = "null" if v is None else f"{v!r:.60}"
                raise self.fail(
                    f"{where}[{i}]",
                    f"must be a number, got {got} (non-finite numbers are written as 'NaN', 'Infinity', '-Infinity')",
                )
            if finite and not math.isfinite(out[i]):
                raise self.fail(f"{where}[{i}]", f"= {v!r} is not finite")
        return out

    def names(self, value: object, where: str, allowed, what: str) -> list[str]:
        items = self.lst(value, where)
        for i, v in enumerate(items):
            if not isinstance(v, str) or v not in allowed:
                raise self.fail(f"{where}[{i}]", f"= {v!r:.60} is not a {what} of the law ({', '.join(allowed)})")
        return items

    def keys(self, d: dict, where: str, required, optional=()) -> None:
        missing = [k for k in required if k not in d]
        if missing:
            raise self.fail(where, f"is missing {missing}")
        extra = [k for k in d if k not in required and k not in optional]
        if extra:
            raise self.fail(where, f"has unknown field {extra[0]!r}{check.suggest(extra[0], [*required, *optional])}")

    def tree(self, value: object, where: str) -> Any:
        """A nested object of numbers, booleans, strings and nulls, with encoded non-finite
        numbers decoded (for diagnostics, misfit, profiles: objects whose strings are not
        free text, except under ``problems``)."""
        if isinstance(value, dict):
            return {k: (v if k == "problems" else self.tree(v, f"{where}[{k!r}]")) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return NONFINITE.get(value, value)
        return value

    # -- the fit ------------------------------------------------------------------------
    def fit(self, d: Mapping[str, Any]) -> Fit:
        from scalefit.version import __version__

        self.header(d, __version__)
        law = self.law(d["law"])
        method = self.text(d["method"], "method")
        if method not in METHODS:
            raise self.fail("method", f"= {method!r} is not one of {', '.join(map(repr, METHODS))}")
        objective = self.objective(d["objective"])
        target = self.text(d["target"], "target")
        if not target.strip():
            raise self.fail("target", f"= {target!r} must name the column that was fitted (a non-empty string)")
        mapping = self.mapping(d["mapping"], law)
        problem = self.problem(d["problem"], law)
        bounds = self.bounds(d.get("bounds"), law)
        params = self.params(d["params"], law, problem, bounds, method)
        n_runs = self.integer(d["n_runs"], "n_runs", 0 if method == "given" else 1)
        residuals = self.numbers(d["residuals"], "residuals", finite=True)
        if method != "given" and len(residuals) != n_runs:
            raise self.fail("residuals", f"has {len(residuals)} values but n_runs is {n_runs}")
        chains = self.integer(d.get("chains", 1), "chains", 1)
        noise = self.text(d.get("noise"), "noise", optional=True)
        if noise is not None and noise not in NOISES:
            raise self.fail("noise", f"= {noise!r} is not one of {', '.join(map(repr, NOISES))}")
        if (method == "bayes") != (noise is not None):
            raise self.fail("noise", f"= {noise!r} does not go with method {method!r} (only 'bayes' has a noise model)")
        diagnostics = self.diagnostics(d.get("diagnostics"), method)
        data = self.data(d.get("data"), law, n_runs)
        requested = self.integer(d.get("bootstrap_requested"), "bootstrap_requested", 1, optional=True)
        converged = self.share(d.get("bootstrap_converged"))
        draws = self.draws(d.get("draws"), law, problem, method, diagnostics, requested, converged)
        self.consistent(law, params, method, objective, residuals, data, draws)
        notes = self.lst(d.get("notes", []), "notes")
        for i, n in enumerate(notes):
            self.text(n, f"notes[{i}]")
        priors = d.get("priors")
        if priors is not None:
            for k, v in self.obj(priors, "priors").items():
                self.text(v, f"priors[{k!r}]")
        return Fit(
            law=law,
            target=target,
            params=params,
            value=self.number(d["value"], "value"),
            status=self.status(d["status"]),
            starts=self.starts(d["starts"], law),
            identifiability=self.identifiability(d["identifiability"], law),
            setup=Setup(
                method=method,
                objective=objective,
                mapping=mapping,
                problem=problem,
                seed=self.integer(d.get("seed", 0), "seed", 0),
                source=self.text(d.get("source", ""), "source"),
            ),
            runs=FittedRuns(
                n_runs=n_runs,
                ranges=self.ranges(d["ranges"], law, method),
                residuals=residuals,
                data=data,
                misfit=self.misfit(d.get("misfit"), law),
                extrapolation=self.extrapolation(d.get("extrapolation"), law),
            ),
            draws=draws,
            bounds=bounds,
            bootstrap=BootstrapReport(requested, converged),
            bayes=None if noise is None else BayesReport(noise, chains, diagnostics or {}, priors or {}),
            notes=tuple(notes),
        )

    def header(
        self,
        d: Mapping[str, Any],
        installed: str,
        expected: str = FORMAT,
        required: Mapping[str, type | tuple] = _REQUIRED,
        optional: tuple[str, ...] = _OPTIONAL,
    ) -> None:
        """Check the format, the version, the fields present and their JSON types."""
        fmt = d.get("format")
        if fmt != expected:
            if isinstance(fmt, str) and fmt.startswith(expected.rsplit("/", 1)[0] + "/"):
                raise ScalefitError(
                    f"{self.label}: format {fmt!r} is not one this scalefit ({installed}) reads (it reads "
                    f"{expected!r}); the file was written by another scalefit version"
                    + (f" ({d['scalefit_version']})" if isinstance(d.get("scalefit_version"), str) else "")
                    + " — upgrade scalefit (pip install -U scalefit) to load it, or refit"
                )
            shown = "no 'format' field" if "format" not in d else f"format {fmt!r:.60}"
            raise ScalefitError(
                f"{self.label}: not a scalefit fit file ({shown}, expected {expected!r}); give a file written by "
                "fit.to_json(path)"
            )
        version = d.get("scalefit_version")
        if version is not None and not isinstance(version, str):
            raise self.fail("scalefit_version", f"must be a string, got {version!r:.60}")
        unknown = [k for k in d if k not in required and k not in optional]
        if unknown:
            newer = None if version is None else _newer(version, installed)
            written = "an unknown scalefit version" if version is None else f"scalefit {version}"
            if newer:
                raise ScalefitError(
                    f"{self.label}: has fields {unknown} that this scalefit ({installed}) does not know; the file "
                    f"was written by {written}, which is newer — upgrade scalefit (pip install -U scalefit) to "
                    "load it"
                )
            raise ScalefitError(
                f"{self.label}: has unknown fields {unknown}{check.suggest(unknown[0], [*required, *optional])} "
                f"(written by {written}, read by scalefit {installed}): the file may come from a newer scalefit "
                f"— upgrade scalefit if so; otherwise {self.damaged}"
            )
        missing = [k for k in required if k not in d]
        if missing:
            raise ScalefitError(
                f"{self.label}: missing fields {missing}; the file is damaged or from an incompatible "
                f"scalefit version — {self.refit}"
            )
        for key, want in required.items():
            value = d[key]
            wants = want if isinstance(want, tuple) else (want,)
            if isinstance(value, bool) or not isinstance(value, wants):
                what = "a number" if key == "value" else _JSON_TYPE[want]
                raise self.fail(key, f"must be {what}, got {_json_kind(value)}")

    def law(self, d: dict) -> Law:
        try:
            self.obj(d.get("expr"), "law['expr']")
            law = Law.from_dict(d)
        except ScalefitError as exc:
            if str(exc).startswith(self.label):
                raise
            raise self.fail("law", f"cannot be rebuilt: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            what = f"has no field {exc}" if isinstance(exc, KeyError) else f"cannot be rebuilt ({exc})"
            raise self.fail("law", what) from None
        for key in ("name", "reference", "description"):
            self.text(d.get(key, ""), f"law[{key!r}]")
        return law

    def objective(self, d: dict) -> Objective:
        self.keys(d, "objective", ("name",), ("delta",))
        name = self.text(d["name"], "objective['name']")
        if name not in OBJECTIVES:
            raise self.fail("objective['name']", f"= {name!r} is not one of {', '.join(map(repr, OBJECTIVES))}")
        delta = d.get("delta")
        if name == "huber":
            delta = self.number(delta, "objective['delta']", finite=True)
            if not delta > 0:
                raise self.fail("objective['delta']", f"= {delta!r} must be > 0 (the Huber threshold)")
        elif delta is not None:
            raise self.fail("objective['delta']", f"= {delta!r}: only objective 'huber' has a delta (null otherwise)")
        return Objective(name, delta)

    def mapping(self, d: dict, law: Law) -> dict[str, str]:
        self.keys(d, "mapping", law.variables)
        return {v: self.text(d[v], f"mapping[{v!r}]") for v in law.variables}

    def problem(self, d: dict, law: Law) -> Problem:
        names = law.parameters
        self.keys(d, "problem", ("free", "fixed", "tied", "lo", "hi"), ("centres",))
        free = self.names(d["free"], "problem['free']", names, "parameter")
        fixed = {}
        for k, v in self.obj(d["fixed"], "problem['fixed']").items():
            if k not in names:
                raise self.fail("problem['fixed']", f"names {k!r}, which is not a parameter of the law")
            fixed[k] = self.number(v, f"problem['fixed'][{k!r}]", finite=True)
        tied = {}
        for k, v in self.obj(d["tied"], "problem['tied']").items():
            if k not in names or v not in names:
                raise self.fail("problem['tied']", f"ties {k!r} to {v!r}; both must be parameters of the law")
            tied[k] = v
        groups = [*free, *fixed, *tied]
        if sorted(groups) != sorted(names):
            raise self.fail(
                "problem", f"does not give every parameter exactly one of free/fixed/tied (free {free}, "
                f"fixed {list(fixed)}, tied {list(tied)})"
            )  # fmt: skip
        ends = []
        for key, infinite in (("lo", -math.inf), ("hi", math.inf)):
            values = self.lst(d[key], f"problem[{key!r}]")
            if len(values) != len(free):
                raise self.fail(f"problem[{key!r}]", f"has {len(values)} values for {len(free)} free parameters")
            ends.append(
                np.array(
                    [infinite if v is None else self.number(v, f"problem[{key!r}][{i}]") for i, v in enumerate(values)],
                    dtype=float,
                )
            )
        lo, hi = ends
        if np.any(np.isnan(lo) | np.isnan(hi) | (lo > hi)):
            raise self.fail("problem", "has a bound that is NaN or a low end above the high end")
        centres = {}
        for k, v in self.obj(d.get("centres", {}), "problem['centres']").items():
            if k not in law.variables:
                raise self.fail("problem['centres']", f"names {k!r}, which is not a variable of the law")
            centres[k] = self.number(v, f"problem['centres'][{k!r}]", finite=True)
        return Problem(law, tuple(free), fixed, tied, lo, hi, centres)

    def params(self, d: dict, law: Law, problem: Problem, bounds: dict, method: str) -> dict[str, float]:
        """Finite values in their domains: a free parameter's role range narrowed to the fit's
        bounds; a fixed one the value it was fixed at; a tied one its target's value; in a
        ``"given"`` fit, values the user gave (an exponent: any finite number)."""

        names = law.parameters
        missing = [n for n in names if n not in d]
        if missing:
            raise self.fail("params", f"is missing {missing}; law {law.name!r} has {list(names)}")
        extra = [n for n in d if n not in names]
        if extra:
            raise self.fail(
                "params", f"has {extra[0]!r}{check.suggest(extra[0], names)}, which law {law.name!r} does not have"
            )
        out = {}
        for n in names:
            where = f"params[{n!r}]"
            v = self.number(d[n], where)
            recorded = bounds.get(n, {}).get("value")
            if not math.isfinite(v) and v != recorded:
                raise self.fail(where, f"= {d[n]!r} is not finite")
            if n in problem.fixed:
                if v != problem.fixed[n]:
                    raise self.fail(where, f"= {v!r} differs from the value it was fixed at ({problem.fixed[n]!r})")
            elif n in problem.tied:
                pass  # compared with its target below
            else:
                given = method == "given"
                low, high, low_open, text = domain(law, n, None if given else problem, explicit=given)
                if not inside(v, low, high, low_open) and v != recorded:
                    raise self.fail(where, f"= {v!r} is outside its domain ({text})")
            out[n] = v
        for n, t in problem.tied.items():
            if out[n] != out[t]:
                raise self.fail(
                    f"params[{n!r}]", f"= {out[n]!r} differs from params[{t!r}] = {out[t]!r}, to which it is tied"
                )
        return out

    def status(self, d: dict) -> Convergence:

        self.keys(d, "status", ("code", "steps", "grad_norm", "max_steps"), ("distance",))
        code = self.integer(d["code"], "status['code']")
        if code not in STATUS_TEXT:
            raise self.fail("status['code']", f"= {code} is not a known optimiser status ({sorted(STATUS_TEXT)})")
        return Convergence(
            code,
            self.integer(d["steps"], "status['steps']"),
            self.number(d["grad_norm"], "status['grad_norm']"),
            self.integer(d["max_steps"], "status['max_steps']"),
            None if d.get("distance") is None else self.number(d["distance"], "status['distance']", finite=False),
        )

    def starts(self, d: dict, law: Law) -> StartsReport:

        counts = ("n_starts", "n_polished", "n_converged", "n_at_best")
        self.keys(d, "starts", (*counts, "best_values", "spread"), ("rtol",))
        spread = {}
        for k, v in self.obj(d["spread"], "starts['spread']").items():
            if k not in law.parameters:
                raise self.fail("starts['spread']", f"names {k!r}, which is not a parameter of the law")
            spread[k] = self.number(v, f"starts['spread'][{k!r}]")
        n_starts, n_polished, n_converged, n_at_best = (self.integer(d[k], f"starts[{k!r}]") for k in counts)
        for small, large, a, b in (
            ("n_polished", "n_starts", n_polished, n_starts),
            ("n_converged", "n_polished", n_converged, n_polished),
            ("n_at_best", "n_polished", n_at_best, n_polished),
        ):
            if a > b:
                raise self.fail(
                    f"starts[{small!r}]", f"= {a} is more than starts[{large!r}] = {b}; it counts some of those"
                )
        return StartsReport(
            n_starts,
            n_polished,
            n_converged,
            n_at_best,
            best_values=self.numbers(d["best_values"], "starts['best_values']").tolist(),
            spread=spread,
            rtol=self.number(d.get("rtol", 1e-6), "starts['rtol']", finite=True),
        )

    def identifiability(self, d: dict, law: Law) -> Identifiability:
        where = "identifiability"
        self.keys(
            d, where, ("condition_number", "eigenvalues", "correlated", "flat", "messages"),
            ("combinations", "undetermined", "rule"),
        )  # fmt: skip
        names = law.parameters
        correlated = []
        for i, c in enumerate(self.lst(d["correlated"], f"{where}['correlated']")):
            w = f"{where}['correlated'][{i}]"
            if not isinstance(c, list) or len(c) != 3:
                raise self.fail(w, "must be a list [name, name, correlation]")
            a, b = self.names(c[:2], w, names, "parameter")
            correlated.append((a, b, self.number(c[2], f"{w}[2]")))
        flat = [
            self.names(g, f"{where}['flat'][{i}]", names, "parameter")
            for i, g in enumerate(self.lst(d["flat"], f"{where}['flat']"))
        ]
        messages = self.lst(d["messages"], f"{where}['messages']")
        for i, m in enumerate(messages):
            self.text(m, f"{where}['messages'][{i}]")
        combos = []
        for i, c in enumerate(self.lst(d.get("combinations", []), f"{where}['combinations']")):
            w = f"{where}['combinations'][{i}]"
            self.keys(self.obj(c, w), w, ("members", "kind", "text"), ("inverse",))
            self.names(c["members"], f"{w}['members']", names, "parameter")
            self.names(c.get("inverse", []), f"{w}['inverse']", names, "parameter")
            if c["kind"] not in ("sum", "product"):
                raise self.fail(f"{w}['kind']", f"= {c['kind']!r:.40} is not 'sum' or 'product'")
            self.text(c["text"], f"{w}['text']")
            combos.append(dict(c))
        return Identifiability(
            self.number(d["condition_number"], f"{where}['condition_number']"),
            self.numbers(d["eigenvalues"], f"{where}['eigenvalues']").tolist(),
            correlated,
            flat,
            messages,
            combos,
            [
                dict(self.tree(self.obj(u, f"{where}['undetermined'][{i}]"), f"{where}['undetermined']"))
                for i, u in enumerate(self.lst(d.get("undetermined", []), f"{where}['undetermined']"))
            ],
            None if d.get("rule") is None else dict(self.tree(self.obj(d["rule"], f"{where}['rule']"), where)),
        )

    def ranges(self, d: dict, law: Law, method: str) -> dict[str, tuple[float, float]]:
        out = {}
        for v, pair in d.items():
            where = f"ranges[{v!r}]"
            if v not in law.variables:
                raise self.fail(
                    "ranges", f"names {v!r}{check.suggest(v, law.variables)}, which is not a variable of the law"
                )
            if not isinstance(pair, list) or len(pair) != 2:
                raise self.fail(where, f"must be a pair [low, high], got {pair!r:.60}")
            lo, hi = (self.number(x, f"{where}[{i}]", finite=True) for i, x in enumerate(pair))
            if not 0 < lo <= hi:
                raise self.fail(where, f"= [{lo:g}, {hi:g}] must be positive with low <= high")
            out[v] = (lo, hi)
        missing = [v for v in law.variables if v not in out]
        if method != "given" and missing:
            raise self.fail("ranges", f"is missing {missing}; a fitted law has the range of every variable")
        return out

    def share(self, value: object) -> float | None:
        out = self.number(value, "bootstrap_converged", optional=True)
        if out is not None and not 0.0 <= out <= 1.0:
            raise self.fail("bootstrap_converged", f"= {value!r} must be a share in [0, 1]")
        return out

    def bounds(self, d: object, law: Law) -> dict[str, dict]:
        out = {}
        for name, b in self.obj(d if d is not None else {}, "bounds").items():
            where = f"bounds[{name!r}]"
            if name not in law.parameters:
                raise self.fail("bounds", f"names {name!r}, which is not a parameter of the law")
            self.keys(self.obj(b, where), where, ("name", "side", "value", "text", "profile"))
            if b["name"] != name or b["side"] not in ("lower", "upper"):
                raise self.fail(
                    where, f"has name {b['name']!r:.40} and side {b['side']!r:.40} (need {name!r}, 'lower' or 'upper')"
                )
            self.text(b["text"], f"{where}['text']")
            profile = self.obj(b["profile"], f"{where}['profile']")
            self.keys(profile, f"{where}['profile']", ("values", "stat"))
            values = self.numbers(profile["values"], f"{where}['profile']['values']")
            stat_ = self.numbers(profile["stat"], f"{where}['profile']['stat']")
            if len(values) != len(stat_) or not len(values):
                raise self.fail(f"{where}['profile']", "must have as many values as stat, at least one")
            out[name] = {
                **b,
                "value": self.number(b["value"], f"{where}['value']"),
                "profile": {"values": values.tolist(), "stat": stat_.tolist()},
            }
        return out

    def diagnostics(self, d: object, method: str) -> dict | None:
        if d is None:
            if method == "bayes":
                raise self.fail("diagnostics", "is missing; a Bayesian fit records its R-hat and ESS")
            return None
        d = self.tree(self.obj(d, "diagnostics"), "diagnostics")
        self.keys(d, "diagnostics", ("chains", "draws_per_chain", "r_hat", "ess_bulk", "ess_tail"), tuple(d))
        self.integer(d["chains"], "diagnostics['chains']", 1)
        self.integer(d["draws_per_chain"], "diagnostics['draws_per_chain']", 0)
        for key in ("r_hat", "ess_bulk", "ess_tail"):
            for k, v in self.obj(d[key], f"diagnostics[{key!r}]").items():
                if v is not None:  # older files wrote a NaN R-hat as null
                    self.number(v, f"diagnostics[{key!r}][{k!r}]")
        return d

    def data(self, d: object, law: Law, n_runs: int) -> dict | None:
        if d is None:
            return None
        d = self.obj(d, "data")
        self.keys(d, "data", ("x", "y"), ("noise_scale",))
        x = self.obj(d["x"], "data['x']")
        self.keys(x, "data['x']", law.variables)
        out_x = {}
        for v in law.variables:
            arr = self.numbers(x[v], f"data['x'][{v!r}]", finite=True)
            if len(arr) != n_runs or np.any(arr <= 0):
                raise self.fail(f"data['x'][{v!r}]", f"must hold {n_runs} values > 0 (one per run)")
            out_x[v] = arr.tolist()
        y = self.numbers(d["y"], "data['y']", finite=True)
        if len(y) != n_runs:
            raise self.fail("data['y']", f"holds {len(y)} values; n_runs is {n_runs}")
        scale = d.get("noise_scale")
        if scale is not None:
            scale = self.numbers(scale, "data['noise_scale']", finite=True)
            if len(scale) != n_runs or np.any(scale <= 0):
                raise self.fail("data['noise_scale']", f"must hold {n_runs} values > 0 (one per run)")
            scale = scale.tolist()
        return {"x": out_x, "y": y.tolist(), "noise_scale": scale}

    def draws(
        self, d: object, law: Law, problem: Problem, method: str, diagnostics, requested, converged
    ) -> pd.DataFrame | None:
        """Rectangular draws, a column per parameter, each free parameter's finite values in
        its domain (as for ``params``; a ``"given"`` fit's exponents: any finite number).
        Non-finite cells are kept as written (the format encodes them)."""

        if d is None:
            if method == "bayes":
                raise self.fail("draws", "is missing; a Bayesian fit holds its posterior draws")
            if requested is not None and converged is not None and requested > 0 and converged > 0:
                raise self.fail(
                    "draws",
                    f"is missing, but bootstrap_requested = {requested} and bootstrap_converged = {converged:g} say "
                    "the fit has bootstrap replicates",
                )
            return None
        d = self.obj(d, "draws")
        names = list(law.parameters)
        sites = names + (["sigma", "nu"] if method == "bayes" else [])
        extra = [c for c in d if c not in sites]
        if extra:
            raise self.fail(
                "draws", f"has column {extra[0]!r}{check.suggest(extra[0], sites)}, which is not a parameter of the law"
            )
        missing = [n for n in names if n not in d]
        if missing:
            raise self.fail("draws", f"is missing columns {missing}; it needs one per parameter")
        columns = {c: self.numbers(d[c], f"draws[{c!r}]") for c in d}
        for c, values in columns.items():
            missing = np.flatnonzero(np.isnan(values))
            if missing.size:
                raise self.fail(
                    f"draws[{c!r}][{int(missing[0])}]",
                    f"is NaN ({missing.size} of {values.size} values); a draw is a fitted parameter set — the fitters "
                    "keep only replicates and samples that have a value for every parameter",
                )
        lengths = {len(a) for a in columns.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{c}: {len(a)}" for c, a in columns.items())
            raise self.fail("draws", f"is not rectangular: its columns have different lengths ({shown})")
        rows = lengths.pop() if lengths else 0
        given = method == "given"
        for n in names:
            if n in problem.fixed or n in problem.tied:
                continue
            low, high, low_open, text = domain(law, n, None if given else problem, explicit=given)
            values = columns[n]
            bad = np.flatnonzero(np.isfinite(values) & ~inside(values, low, high, low_open))
            if bad.size:
                i = int(bad[0])
                more = f" (and {bad.size - 1} more rows)" if bad.size > 1 else ""
                raise self.fail(f"draws[{n!r}][{i}]", f"= {float(values[i])!r} is outside its domain ({text}){more}")
        if method == "bayes":
            expected = diagnostics["chains"] * diagnostics["draws_per_chain"]
            if rows != expected:
                raise self.fail("draws", f"has {rows} rows, but the diagnostics record {expected} (chains x draws)")
        elif isinstance(requested, int) and not isinstance(requested, bool) and rows > requested:
            raise self.fail("draws", f"has {rows} rows, more than the {requested} bootstrap replicates requested")
        return pd.DataFrame({c: columns[c] for c in d}, dtype=float) if columns else None

    def consistent(self, law: Law, params, method: str, objective: Objective, residuals, data, draws) -> None:
        """The parameters must be the ones the rest of the file was computed with: a least-squares
        fit's reproduce its recorded residuals; a Bayesian fit's (posterior medians) lie within
        the range of its draws. Catches a parameter edited to a value in its domain but not the
        fit's (``alpha = 1e308``), which would predict outside its own intervals."""
        if method == "bayes" and draws is not None and len(draws):
            for n in law.parameters:
                values = draws[n].to_numpy(dtype=float)
                low, high = float(np.min(values)), float(np.max(values))
                if not low <= params[n] <= high:
                    raise self.fail(
                        f"params[{n!r}]",
                        f"= {params[n]!r} lies outside its posterior draws ({low:.6g} .. {high:.6g}), whose median "
                        "it is",
                    )
        if method != "lsq" or data is None or not all(math.isfinite(v) for v in params.values()):
            return
        x = {v: np.asarray(a, dtype=float) for v, a in data["x"].items()}
        y = np.asarray(data["y"], dtype=float)
        with np.errstate(all="ignore"):
            pred = np.asarray(law.evaluate(params, x), dtype=float)
            again = np.log(pred) - np.log(y) if objective.log else pred - y
        scale = 1.0 if objective.log else max(float(np.median(np.abs(y))), 1e-300)
        # where the law under- or overflows in linear space (the fit works in log space) it is not compared
        off = np.where(np.isfinite(again), np.abs(again - residuals) / scale, 0.0)
        if np.any(off > 1e-6):
            i = int(np.argmax(off))
            shown = ", ".join(f"{n} = {v:.6g}" for n, v in params.items())
            raise self.fail(
                "params",
                f"({shown}) do not reproduce the residuals recorded with them (run {i}: {again[i]:.6g} against "
                f"{residuals[i]:.6g}); a parameter was changed after the fit",
            )

    def extrapolation(self, d: object, law: Law) -> dict | None:
        """The rollout calibration of the prediction intervals (:func:`scalefit.select_law`)."""
        if d is None:
            return None
        d = self.obj(d, "extrapolation")
        self.keys(d, "extrapolation", ("variable", "sigma", "scores", "weights", "splits"), ("method", "residuals"))
        if d["variable"] not in law.variables:
            raise self.fail("extrapolation['variable']", f"= {d['variable']!r} is not a variable of the law")
        sigma = self.number(d["sigma"], "extrapolation['sigma']", finite=True)
        scores = self.numbers(d["scores"], "extrapolation['scores']", finite=True)
        weights = self.numbers(d["weights"], "extrapolation['weights']", finite=True)
        splits = self.integer(d["splits"], "extrapolation['splits']", 1)
        if sigma < 0 or len(scores) == 0 or len(scores) != len(weights) or (scores < 0).any() or (weights <= 0).any():
            raise self.fail(
                "extrapolation", "needs sigma >= 0 and as many scores (>= 0) as weights (> 0), at least one"
            )
        residuals = self.numbers(d.get("residuals", []), "extrapolation['residuals']", finite=True)
        if (residuals < 0).any():
            raise self.fail("extrapolation['residuals']", "must be absolute log residuals (>= 0)")
        return {"variable": d["variable"], "sigma": sigma, "scores": scores.tolist(), "weights": weights.tolist(),
                "splits": splits, "method": self.text(d.get("method", ""), "extrapolation['method']"),
                "residuals": residuals.tolist()}  # fmt: skip

    def misfit(self, d: object, law: Law) -> dict | None:
        if d is None:
            return None
        d = self.tree(self.obj(d, "misfit"), "misfit")
        self.keys(d, "misfit", ("rms", "log", "by"))
        self.number(d["rms"], "misfit['rms']")
        self.kind(d["log"], "misfit['log']", bool, "true or false")
        for v, entry in self.obj(d["by"], "misfit['by']").items():
            where = f"misfit['by'][{v!r}]"
            if v not in law.variables:
                raise self.fail("misfit['by']", f"names {v!r}, which is not a variable of the law")
            self.keys(self.obj(entry, where), where, ("flag",), tuple(entry))
            self.kind(entry["flag"], f"{where}['flag']", bool, "true or false")
            for k, x in entry.items():
                if k != "flag":
                    self.number(x, f"{where}[{k!r}]")
        return d
