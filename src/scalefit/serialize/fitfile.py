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
wherever a number belongs (:data:`~scalefit.files.NONFINITE`), and read back as that
float. Strings in text fields (a target or source named ``"NaN"``, a group key) stay
strings: only fields that hold numbers are decoded. Files written by older versions, with
bare ``NaN``/``Infinity`` tokens, still load.

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
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scalefit.errors import ScalefitError
from scalefit.results.fit import Fit
from scalefit.results.fits import Fits
from scalefit.results.record import FITS_FORMAT
from scalefit.serialize.checked import json_kind
from scalefit.serialize.fit_fields import FitReader

#: Most digits of an integer in a fit file (a float is at most ~1.8e308; seeds and counts are far shorter).
MAX_DIGITS = 400
_REFIT = "refit and save it again with fit.to_json(path)"


def read_fit(d: Mapping[str, Any], label: str) -> Fit:
    """The :class:`Fit` of a parsed fit file's object, every field checked first; refusals
    start with ``label`` (``"fit file 'f.json'"``, ``"fit dict"``)."""
    return FitReader(label).fit(d)


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
    return FitReader(label).fit(d)


def _read_fits(d: dict, label: str) -> Fits:
    """The :class:`Fits` of a parsed group file, its header, groups and every fit checked."""
    from scalefit.version import __version__

    reader = FitReader(label, saver="fits.to_json(path)")
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
                    f"{where}['key'][{j}]", f"must be a string, a number or a boolean, got {json_kind(v)}"
                )
        value = key[0] if len(by) == 1 else tuple(key)
        if value in fits:
            raise reader.fail(f"{where}['key']", f"= {key!r:.80} is the key of an earlier group too")
        fit = reader.obj(group["fit"], f"group {key!r:.80}: fit")
        fits[value] = FitReader(f"{label}: group {key!r:.80}", saver="fits.to_json(path)").fit(fit)
    return Fits(fits, by=tuple(by))
