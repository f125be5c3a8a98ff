"""The ``scalefit`` command: ``laws``, ``fit``, ``predict``, ``boundary``, ``crossover``, ``compare``,
``allocate``, ``suggest``, ``plot``, ``backtest``, ``collect``, ``demo``.

``crossover``, ``compare``, ``allocate`` and ``suggest`` take ``--json``: the result as strict
JSON on standard output (no NaN: a missing number is ``null``; ``allocate`` writes
``Allocation.to_dict()``, where it is the string ``"NaN"`` or ``"Infinity"``), nothing else
there; ``--out FILE.json`` saves the same JSON atomically before anything is printed.

A thin layer over the Python API. Every argument is checked before any work starts, and
every failure is exactly one line on stderr; warnings are one line each, prefixed
``scalefit: warning:``. ``--debug`` (before or after the command) adds the full traceback.

Exit status:

* ``0`` — done.
* ``1`` — internal error: a bug in scalefit (``scalefit: internal error: ...``, please
  report it with the command; ``--debug`` shows the traceback).
* ``2`` — usage or data error (``scalefit: error: ...``): a bad argument, a missing,
  unreadable or malformed file, a table or fit that cannot be used. Nothing was written.
* ``130`` — interrupted by Ctrl-C (SIGINT), ``143`` — terminated (SIGTERM):
  ``scalefit: interrupted``. A file being written when the signal came is finished first,
  so an output file is either the old one, absent, or complete — never half-written, and
  no temporary is left.
* ``141`` — standard output was closed early (e.g. piped into ``head``) or before the
  start (``>&-``): the same status as a program killed by SIGPIPE. Output files
  (``--out``) are written *before* anything is printed, so they are complete even then.

``--out`` is checked before the work (the directory exists and is writable, the target is
a regular file or absent, the suffix is one the writer understands) and written atomically
into the real target: a symlink is followed and kept.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import _io
from ._errors import ScalefitError, ScalingWarning

# Heavy modules (pandas, JAX, the API) are imported inside the commands, after main() has
# installed the interrupt handlers.

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BROKEN_PIPE = 0, 1, 2, 141
DEFAULT_DOMAIN = (1e3, 1e9)
MAX_STARTS = MAX_REPLICATES = 1_000_000  # as scalefit._methods: refused there too, with the API's names


# -- argument types: checked at parse time, so argparse names the argument ------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``scalefit: error: <what>; see 'scalefit fit --help'``."""

    def error(self, message: str):
        # "argument --starts: --starts must be ..." -> "--starts must be ..."
        message = re.sub(r"^argument (\S+): (?=\1\b)", "", message)
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if choice:
            from ._validate import suggest

            options = re.findall(r"'([^']*)'", choice.group(2))
            message = message.replace("argument command: ", "") + suggest(choice.group(1), options)
        hint = "" if "see `scalefit" in message else f"; see '{self.prog} --help'"
        _say(f"scalefit: error: {_one_line(message)}{hint}")
        self.exit(EXIT_USAGE)


def _number_text(text: str) -> int | float | str:
    """``"5"`` -> 5, ``"0.05"`` -> 0.05, anything else unchanged (the check then refuses it)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _checked(check, name: str):
    """An argparse ``type=`` from a :mod:`scalefit._validate` check, with the check's message."""

    def parse(text: str):
        value = _number_text(text)
        try:
            return check(value, name)
        except (ScalefitError, TypeError) as exc:
            message = str(exc).replace(f" ({type(value).__name__})", "") if isinstance(value, str) else str(exc)
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = name
    return parse


def _integer(name: str, minimum: int, maximum: int | None = None, fix: str = ""):
    from . import _validate as check

    return _checked(lambda v, n: check.integer(v, n, minimum, maximum, fix=fix), name)


def _starts(text: str):
    """``--starts``: ``auto`` or an integer number of random starts."""
    return text if text == "auto" else _integer("--starts", 1, MAX_STARTS, "or 'auto'")(text)


def _positive(name: str, fix: str = ""):
    from . import _validate as check

    return _checked(lambda v, n: check.number(v, n, low=0.0, low_open=True, fix=fix), name)


def _probability(name: str):
    from . import _validate as check

    return _checked(check.probability, name)


def _one_of(name: str, options: Sequence[str], fix: str = ""):
    from . import _validate as check

    def parse(text: str) -> str:
        try:
            return check.choice(text, name, options)
        except ScalefitError as exc:
            raise argparse.ArgumentTypeError(f"{exc}{fix}") from None

    parse.__name__ = name
    return parse


def _law_arg(name: str, options: Sequence[str]):
    """``--law``: a catalogue name, or a formula (a string with an operator, e.g.
    ``"e + b*x^-c"``; see :func:`scalefit.parse_law`), checked when the arguments are parsed."""
    catalogue = _one_of(name, options, "; see `scalefit laws`, or give a formula such as 'e + b*x^-c'")

    def parse(text: str) -> str:
        from ._formula import looks_like_formula, parse_law

        if not looks_like_formula(text):
            return catalogue(text)
        try:
            parse_law(text, name=text.strip())
        except ScalefitError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text.strip()

    parse.__name__ = name
    return parse


def _resolve_law(text: str):
    """The law a checked ``--law`` value names."""
    from ._catalogue import get_law
    from ._formula import looks_like_formula, parse_law

    return parse_law(text, name=text) if looks_like_formula(text) else get_law(text)


def _finite(text: str, what: str, example: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}={text!r}: {text!r} is not a number (e.g. {example})") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what}={text!r}: the value must be a finite number, not {text!r}")
    return value


def _range(
    text: str, what: str, flag: str = "--bound", example: str = "alpha=0.1:2"
) -> tuple[float | None, float | None]:
    """``LOW:HIGH`` of ``--bound`` (``--limit``, ``--bounds``), either side empty for no limit."""
    if ":" not in text:
        raise argparse.ArgumentTypeError(
            f"{flag} expects NAME=LOW:HIGH (either side may be empty), got {what}={text!r}; e.g. {flag} {example}"
        )
    sides = []
    for side in text.split(":", 1):
        side = side.strip()
        if not side:
            sides.append(None)
            continue
        try:
            value = float(side)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} {what}={text!r}: LOW and HIGH must be numbers or empty, got {side!r}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"{flag} {what}={text!r}: {side!r} is not a usable limit; leave that side empty for no limit"
            )
        sides.append(value)
    low, high = sides
    if low is not None and high is not None and not low < high:
        raise argparse.ArgumentTypeError(f"{flag} {what}={text!r}: LOW must be below HIGH")
    return low, high


def _pairs(flag: str, example: str, value: str = "text"):
    """``type=`` for ``NAME=VALUE[,NAME=VALUE...]``: a list of (name, value) pairs."""

    def parse(text: str) -> list[tuple[str, object]]:
        out: dict[str, object] = {}
        for part in text.split(","):
            if "=" not in part:
                raise argparse.ArgumentTypeError(f"{flag} expects NAME=VALUE, got {part!r} (e.g. {flag} {example})")
            key, raw = (s.strip() for s in part.split("=", 1))
            if not key:
                raise argparse.ArgumentTypeError(f"{flag} {part!r} has no name before '=' (e.g. {flag} {example})")
            if not raw:
                raise argparse.ArgumentTypeError(f"{flag} {key}= has no value after '=' (e.g. {flag} {example})")
            if key in out:
                raise argparse.ArgumentTypeError(f"{flag} {text!r} gives {key!r} twice; give each name once")
            if value == "number":
                out[key] = _finite(raw, f"{flag} {key}", f"{flag} {example}")
            elif value == "range":
                out[key] = _range(raw, key, flag, example)
            else:
                out[key] = raw
        return list(out.items())

    parse.__name__ = flag
    return parse


def _domain(text: str) -> tuple[float, float]:
    what = f"--domain must be LOW:HIGH with 0 < low < high (finite numbers), got {text!r}; e.g. --domain 1e4:1e8"
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(what)
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(what) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise argparse.ArgumentTypeError(what)
    return low, high


_domain.__name__ = "--domain"


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _merge(items: Sequence[list[tuple[str, object]]] | None, flag: str) -> dict:
    """Repeated ``--fix a=1 --fix b=2`` into one dict; a name given twice is an error, not last-wins."""
    out: dict = {}
    for pairs in items or ():
        for key, value in pairs:
            if key in out:
                raise ScalefitError(
                    f"{flag} gives {key!r} twice ({_shown(out[key])} and {_shown(value)}); give each name once"
                )
            out[key] = value
    return out


# -- files --------------------------------------------------------------------------------------
def _input(path: str, what: str) -> str:
    """An input file that exists, is not a directory, is readable and (if regular) not empty."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ScalefitError(f"{what} {path!r} does not exist; check the path")
    if p.is_dir():
        raise ScalefitError(f"{what} {path!r} is a directory; give a file")
    if not os.access(p, os.R_OK):
        raise ScalefitError(f"{what} {path!r} is not readable by you (check its permissions)")
    if p.is_file() and p.stat().st_size == 0:
        raise ScalefitError(f"{what} {path!r} is empty")
    return path


def _load_fit(path: str, what: str = "fit file", groups: bool = False):
    """The fit in ``path``; a file of fits by group (``scalefit fit --by``) only where ``groups``."""
    fit = _read_fit(path, what)
    from ._fits import Fits

    if isinstance(fit, Fits) and not groups:
        raise ScalefitError(
            f"{what} {path!r} holds fits of {len(fit)} groups (by {', '.join(fit.by)}), not one fit; this command "
            "takes one — refit one group, e.g. with --where \"COL == 'VALUE'\""
        )
    return fit


def _read_fit(path: str, what: str):
    from ._result import load_fit

    _input(path, what)
    if Path(path).is_file():
        try:
            Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScalefitError(
                f"{what} {path!r} is not text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                "give a fit JSON written by `scalefit fit --out`"
            ) from None
    try:
        return load_fit(path)
    except ScalefitError as exc:
        if path in str(exc):
            raise
        raise ScalefitError(f"{what} {path!r}: {exc}") from exc


def _out(path: str | None, suffixes: Sequence[str]):
    """The real target of ``--out``, checked before the work (None when not given)."""
    return None if path is None else _io.output_path(path, "--out", suffixes)


def _image_out(path: str):
    """``plot --out``: a suffix matplotlib can write here, then the checks of every ``--out``."""
    try:
        from ._plot import check_image_path
    except ImportError:  # an older _plot: matplotlib's own list of formats
        from matplotlib.figure import Figure

        kinds = Figure().canvas.get_supported_filetypes()
        return _out(path, tuple(f".{k}" for k in kinds if k != "pgf"))  # pgf needs a TeX install
    check_image_path(path, "--out")
    return _out(path, ())


# -- commands -----------------------------------------------------------------------------------
def _cmd_laws(args) -> None:
    from ._catalogue import CATALOGUE

    for name, law in CATALOGUE.items():
        print(f"{name}  [{law.metric or 'any metric'}]")
        print(f"    {law.formula()}")
        print(f"    variables: {', '.join(law.variables)}; parameters: {', '.join(law.parameters)}")
        print(f"    {law.description}")
        print(f"    ref: {law.reference}")


def _print_fit(fit) -> None:
    import pandas as pd

    print(fit)
    if fit.draws is not None:
        with pd.option_context("display.float_format", "{:.5g}".format):
            kind = "credible" if fit.method == "bayes" else "case-bootstrap percentile"
            print(f"\nparameters (95% {kind} intervals):")
            print(fit.summary().to_string())  # whole: every column (R-hat, ESS, how), never cut


class _NotesOnce:
    """Warnings raised while fitting, minus the fit's own notes (printed with the fit, so each
    statement appears once); the rest are shown when the block ends."""

    def __enter__(self):
        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, kind, exc, tb):
        self._catch.__exit__(kind, exc, tb)
        if kind is not None:  # the fit failed: every warning before it still counts
            self.replay(())
        return False

    def replay(self, notes) -> None:
        notes = set(notes)
        for w in self.caught:
            text = str(w.message)
            if text in notes or " groups have notes (e.g. " in text:  # printed with the fit(s)
                continue
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _print_groups(fits) -> None:
    import pandas as pd

    print(fits)
    with pd.option_context("display.float_format", "{:.5g}".format):  # to_string: every row and column
        print("\none row per group:")
        print(fits.table().to_string(index=False))
        print("\nparameters (95% intervals):")
        print(fits.summary().to_string(index=False))
    for key, notes in fits.notes.items():
        for note in notes:
            print(f"note [{key}]: {note}")


def _where(source: str, where: str | None):
    """The runs table, filtered by a row filter (e.g. ``stage == 'finetune'``, see
    :mod:`scalefit._query`) when one is given."""
    _input(source, "runs table")
    if not where:
        return source
    from ._data import Runs, read_table
    from ._query import row_mask

    frame, name = read_table(source)
    kept = frame[row_mask(frame, where, argument="--where")]
    if kept.empty:
        raise ScalefitError(f"--where {where!r} keeps no rows of {name} ({len(frame)} rows)")
    return Runs(kept, source=f"{name} where {where}")


def _method_options(args) -> dict:
    """The options given on the command line; fit_law refuses those of the other method."""
    given = {k: getattr(args, k) for k in ("bootstrap", "noise", "chains", "draws", "warmup")}
    options = {"starts": args.starts, **{k: v for k, v in given.items() if v is not None}}
    if args.method == "bayes":
        options["progress"] = True
    return options


def _constraints(args, law) -> dict:
    """``--map``, ``--fix``, ``--tie``, ``--bound``: merged, names checked against the law."""
    from . import _validate as check

    mapping, fix = _merge(args.map, "--map"), _merge(args.fix, "--fix")
    tie, bounds = _merge(args.tie, "--tie"), _merge(args.bound, "--bound")
    check.names(mapping, "--map", law.variables, what="law variable")
    for flag, given in (("--fix", fix), ("--tie", tie), ("--bound", bounds)):
        check.names(given, flag, law.parameters, what="parameter")
    for key, other in tie.items():
        if other not in law.parameters:
            raise ScalefitError(
                f"--tie {key}={other}: {other!r} is not a parameter of {law.name}"
                f"{check.suggest(other, law.parameters)}; known: {', '.join(law.parameters)}"
            )
    both = sorted(set(fix) & set(bounds))
    if both:
        raise ScalefitError(f"--fix and --bound both name {both[0]!r}; a fixed parameter has no bounds — give one")
    return dict(mapping=mapping or None, fix=fix or None, tie=tie or None, bounds=bounds or None)


def _cmd_fit(args) -> None:
    from ._fit import fit_law

    out = _out(args.out, (".json",))
    law = _resolve_law(args.law)
    constraints = _constraints(args, law)
    with _NotesOnce() as caught:
        fit = fit_law(
            law,
            _where(args.runs, args.where),
            target=args.target,
            objective=args.objective,
            delta=args.delta,
            seed=args.seed,
            method=args.method,
            by=args.by,
            **constraints,
            **_method_options(args),
        )
    caught.replay(n for f in (fit.values() if args.by else [fit]) for n in f.notes)
    if out is not None:  # saved before anything is printed: a closed stdout loses nothing
        _io.atomic_write(out, fit.to_json(), "--out")
    if args.by:
        _print_groups(fit)
    else:
        _print_fit(fit)
    if out is not None:
        print(f"\nsaved {'fits' if args.by else 'fit'} to {args.out}")


def _print_predictions(table) -> None:
    import pandas as pd

    with pd.option_context("display.width", 140, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))


def _table_bytes(table, suffix: str) -> bytes:
    if suffix.lower() == ".parquet":
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        return buf.getvalue()
    return table.to_csv(index=False).encode()


def _check_at_names(fit, at: Sequence[list[tuple[str, object]]]) -> None:
    """Every name given with ``predict --at`` is a law variable, the column it was mapped from,
    or (fits by group) a grouping column: a misspelt name is an error, never ignored. (A
    CSV of configurations may hold other columns; they are left out.)"""
    from ._validate import suggest

    fits = list(fit.values()) if hasattr(fit, "by") else [fit]
    allowed: list[str] = list(getattr(fit, "by", ()))
    for f in fits:
        for v in f.law.variables:
            for name in (v, f.mapping.get(v, v)):
                if name not in allowed:
                    allowed.append(name)
    for pairs in at:
        for name, _ in pairs:
            if name not in allowed:
                raise ScalefitError(
                    f"--at names {name!r}{suggest(name, allowed)}, which is not a variable of the law; with --at "
                    f"every name must be one of {', '.join(allowed)} (a law variable or the column it was mapped "
                    f"from{', or a grouping column' if hasattr(fit, 'by') else ''}) — fix the spelling or leave it out"
                )


def _cmd_predict(args) -> None:
    import pandas as pd

    if (args.at is None) == (args.csv is None):
        raise ScalefitError(
            "scalefit predict needs either --at Dp=...,M=...,Df=... (repeatable) or a CSV/Parquet of configurations"
            + (", not both" if args.at is not None else "")
        )
    out = _out(args.out, (".csv", ".parquet"))
    if out is not None and args.csv is not None and os.path.realpath(args.csv) == str(out):
        raise ScalefitError(f"--out {args.out!r} is the configurations file itself; give another name")
    fit = _load_fit(args.fit, groups=True)  # fits by group predict each row by its group's columns
    if args.at:
        _check_at_names(fit, args.at)
        data = pd.DataFrame([dict(pairs) for pairs in args.at])
    else:
        from ._data import read_table

        data, _ = read_table(_input(args.csv, "configurations file"))
    draws = all(f.draws is not None for f in fit.values()) if hasattr(fit, "by") else fit.draws is not None
    table = fit.predict(data, interval=args.interval if draws else None)
    if out is not None:  # saved before anything is printed
        _io.atomic_write(out, _table_bytes(table, out.suffix), "--out")
    if not draws:
        _say("scalefit: note: this fit has no bootstrap replicates, so no intervals are shown")
    _print_predictions(table)
    if out is not None:
        print(f"saved predictions to {args.out}")


def _cmd_boundary(args) -> None:
    import pandas as pd

    from ._boundary import distillation_boundary

    at = _merge(args.at, "--at")
    plain, distilled = _load_fit(args.plain, "plain fit file"), _load_fit(args.distilled, "distilled fit file")
    b = distillation_boundary(plain, distilled, at=at, domain=args.domain or DEFAULT_DOMAIN)
    print(b)
    if b.draws is not None:
        with pd.option_context("display.float_format", "{:.4g}".format):
            print(f"\n{args.interval:.0%} intervals over pairs of draws:")
            print(b.intervals(args.interval).to_string())
    if b.checked is not None:
        with pd.option_context("display.float_format", "{:.4g}".format):
            print("\nthe verdict against the runs, cell by cell (agree: the observed winner is the fitted one):")
            print(b.checked.to_string(index=False))


def _cmd_plot(args) -> None:
    n = len(args.fits)
    if n > 2:
        raise ScalefitError(
            f"scalefit plot takes one fit (against its runs) or two (plain and distilled), "
            f"got {n}: {' '.join(args.fits)}"
        )
    if n == 1:
        wrong = [
            f
            for f, v in (
                ("--difference", args.difference),
                ("--domain", args.domain),
                ("--axis", args.axis),
                ("--names", args.names),
            )  # fmt: skip
            if v
        ]
        if wrong:
            raise ScalefitError(f"{wrong[0]} applies to boundary plots (two fits); with one fit drop it")
    else:
        single = (("--runs", args.runs), ("--x", args.x), ("--by", args.by), ("--where", args.where),
                  ("--bin", args.bin), ("--hide-held-out", args.hide_held_out or None))  # fmt: skip
        wrong = [f for f, v in single if v is not None]
        if wrong:
            raise ScalefitError(
                f"{wrong[0]} applies to a plot of one fit against its runs; a boundary plot of two fits "
                "takes --at, --domain, --axis, --names and --difference"
            )
        if args.names is not None and args.axis is None:
            raise ScalefitError(
                "--names applies to crossover plots (with --axis); a distillation boundary names its fits "
                "'plain' and 'distill'"
            )
    out = _image_out(args.out)
    at = _merge(args.at, "--at")
    if args.runs is not None:
        _input(args.runs, "--runs table")
    fits = [_load_fit(f) for f in args.fits]

    from ._plot import plot_boundary, plot_difference, plot_fit

    if n == 1:
        fig = plot_fit(fits[0], args.runs, x=args.x, by=args.by, at=at or None, where=args.where, tolerance=args.bin,
                       held_out=not args.hide_held_out)  # fmt: skip
    else:
        from ._boundary import crossover, distillation_boundary

        domain = args.domain or DEFAULT_DOMAIN
        if args.axis is None:
            b = distillation_boundary(fits[0], fits[1], at=at, domain=domain)
        else:
            names = _fit_names(args.fits, args.names)
            b = crossover(fits[0], fits[1], axis=args.axis, at=at, domain=domain, names=names)
        fig = plot_difference(b) if args.difference else plot_boundary(b)
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix[1:].lower(), dpi=150)
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # noqa: BLE001 - closing is a courtesy to in-process callers
        pass
    _io.atomic_write(out, buf.getvalue(), "--out")
    print(f"saved {args.out}")
    for note in getattr(fig, "scalefit_notes", ()):
        print(f"note: {note}")


def _json_text(result: dict) -> str:
    import json

    from ._io import jsonable

    return json.dumps(jsonable(result), indent=2, allow_nan=False) + "\n"


def _fit_names(paths: Sequence[str], given: str | None, flag: str = "--names") -> tuple[str, ...]:
    """Labels of the fits: ``--names A,B,...`` (one per fit file, all different), else the
    files' names without ``.json`` (or ``a``, ``b``, ... where two files share a name)."""
    if given is not None:
        names = [n.strip() for n in given.split(",")]
        if len(names) != len(paths) or not all(names):
            raise ScalefitError(
                f"{flag} {given!r} gives {len(names)} label(s) for {len(paths)} fit files; give one non-empty "
                f"label per fit, separated by commas (e.g. {flag} {','.join('abcdefgh'[: len(paths)])})"
            )
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ScalefitError(f"{flag} {given!r} gives {twice[0]!r} twice; give each fit a different label")
        return tuple(names)
    stems = [Path(p).name.removesuffix(".json").removesuffix(".JSON") or p for p in paths]
    if len(set(stems)) == len(stems):
        return tuple(stems)
    return tuple("abcdefghijklmnopqrstuvwxyz"[i] if i < 26 else f"fit{i + 1}" for i in range(len(paths)))


def _write_and_print(result: dict, out, args, text) -> None:
    """``--out`` (JSON written atomically, before anything is printed), then strict JSON on
    stdout with ``--json``, or the text report otherwise."""
    data = _json_text(result)
    if out is not None:
        if out.suffix.lower() == ".json":
            _io.atomic_write(out, data, "--out")
        else:
            _io.atomic_write(out, text["table"](), "--out")
    if args.json:
        sys.stdout.write(data)
        return
    text["print"]()
    if out is not None:
        print(f"\nsaved {text['what']} to {args.out}")


class _as_flags:
    """Within ``with _as_flags({"at": "--at"}, {"fit_a": "the first fit"}):`` a ScalefitError (or
    a TypeError of a check) of the API is raised again with the API's argument names as given
    on the command line: ``at['D']`` -> ``--at D``, ``at=5`` -> ``--at 5``, ``at=`` -> ``--at``, ``at must`` (``names``,
    ``is missing``) -> ``--at must``; then the plain replacements of ``words``."""

    def __init__(self, flags: dict[str, str], words: dict[str, str] | None = None):
        self.flags, self.words = flags, words or {}

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        checked = isinstance(exc, ScalefitError) or (isinstance(exc, TypeError) and _raised_by_scalefit(exc))
        if not checked:  # a bug stays a bug (exit 1), with its own traceback
            return False
        text = str(exc)
        for api, flag in self.flags.items():
            text = re.sub(rf"\b{api}\['([^']*)'\]", rf"{flag} \1", text)
            text = re.sub(rf"\b{api}=(?=[\w.+-])", f"{flag} ", text)
            text = re.sub(rf"\b{api}= ?(?!\{{)", f"{flag} ", text).replace(f"{flag} ,", f"{flag},")
            text = re.sub(rf"(?<![\w-]){api} (?=names |is missing |must )", f"{flag} ", text)
        for old, new in self.words.items():
            text = text.replace(old, new)
        raise type(exc)(text) from None


def _crossover_result(c, interval: float, files: dict[str, str]) -> dict:
    table = None if c.draws is None else c.intervals(interval)
    with warnings.catch_warnings():  # the caveats are in the result (and printed with it), not repeated
        warnings.simplefilter("ignore", ScalingWarning)
        p_crossing = c.p_crossing
    return {
        "axis": c.axis,
        "at": dict(c.at),
        "domain": list(c.domain),
        "names": list(c.names),
        "fits": files,
        "coincide": c.coincide,
        "stationary": list(c.stationary),
        "closed_form": c.closed_form,
        "crossings": list(c.crossings),
        "regimes": [{"low": r.low, "high": r.high, "winner": r.winner} for r in c.regimes],
        "draws": None if c.draws is None else len(c.draws),
        "p_crossing": p_crossing,
        "p_coincide": c.p_coincide,
        "caveats": list(c.caveats),
        "disagreements": None if c.checked is None else int((~c.checked["agree"]).sum()),
        "cells_checked": None if c.checked is None else len(c.checked),
        "interval": interval,
        "intervals": None
        if table is None
        else {q: {k: row[k] for k in ("lower", "median", "upper", "p_exists")} for q, row in table.iterrows()},
    }


def _cmd_crossover(args) -> None:
    import pandas as pd

    from ._boundary import crossover

    out = _out(args.out, (".json",))
    at = _merge(args.at, "--at")
    names = _fit_names([args.fit_a, args.fit_b], args.names)
    a, b = _load_fit(args.fit_a, "first fit file"), _load_fit(args.fit_b, "second fit file")
    words = {"axis '": "--axis '", "names must": "--names must", "fit_a": "the first fit", "fit_b": "the second fit"}
    with _as_flags({"at": "--at"}, words):
        c = crossover(a, b, axis=args.axis, at=at, domain=args.domain or DEFAULT_DOMAIN, names=names)
    result = _crossover_result(c, args.interval, dict(zip(names, (args.fit_a, args.fit_b), strict=True)))

    def show() -> None:
        print(c)
        if c.draws is None:
            _say("scalefit: note: these fits have no bootstrap or posterior draws, so no intervals are shown")
            return
        with pd.option_context("display.float_format", "{:.4g}".format):
            print(f"\n{args.interval:.0%} intervals over {len(c.draws)} pairs of draws:")
            print(c.intervals(args.interval).to_string())

    _write_and_print(result, out, args, {"print": show, "what": "the crossover", "table": None})


def _cmd_compare(args) -> None:
    import pandas as pd

    from ._compare import compare_laws

    if len(args.fits) < 2:
        raise ScalefitError(
            f"scalefit compare needs at least two fit files (Bayesian fits of different laws to the same runs), "
            f"got {len(args.fits)}"
        )
    out = _out(args.out, (".json", ".csv"))
    names = _fit_names(args.fits, args.names)
    fits = {name: _load_fit(path) for name, path in zip(names, args.fits, strict=True)}
    table = compare_laws(fits, force=args.force)
    rows = [{"name": name, **row} for name, row in table.to_dict(orient="index").items()]
    result = {
        "criterion": "PSIS-LOO expected log predictive density (higher is better)",
        "best": table.index[0],
        "fits": dict(zip(names, args.fits, strict=True)),
        "laws": rows,
    }

    def show() -> None:
        with pd.option_context("display.width", 160, "display.float_format", "{:.4g}".format):
            print("laws by PSIS-LOO expected log predictive density (best first):")
            print(table.to_string())
        print(f"\nbest: {table.index[0]}")

    def csv() -> bytes:
        return table.rename_axis("name").reset_index().to_csv(index=False).encode()

    _write_and_print(result, out, args, {"print": show, "what": "the comparison", "table": csv})


def _cmd_allocate(args) -> None:
    from ._allocate import allocate

    out = _out(args.out, (".json",))
    at, limits = _merge(args.at, "--at"), _merge(args.limit, "--limit")
    fit = _load_fit(args.fit)
    flags = {"at": "--at", "limits": "--limit", "budget": "--budget", "target": "--target", "cost": "--cost"}
    with _as_flags(flags):
        a = allocate(
            fit, cost=args.cost, budget=args.budget, target=args.target, at=at or None, limits=limits or None,
            interval=args.interval, draws=args.draws, seed=args.seed,
        )  # fmt: skip
    result = {"fit": args.fit, **a.to_dict()}
    _write_and_print(result, out, args, {"print": lambda: print(a), "what": "the allocation", "table": None})


def _suggest_cost(given: Sequence[str] | None, names: Sequence[str] | None):
    """``--cost FORMULA`` (every run), or ``--cost NAME=FORMULA`` once per fit of a crossing."""
    if not given:
        return None
    split = [text.partition("=") for text in given]
    per_fit = [bool(sep) and key.strip().isidentifier() for key, sep, _ in split]
    if not any(per_fit):
        if len(given) > 1:
            raise ScalefitError(
                f"--cost is given {len(given)} times; give one formula for every run, or NAME=FORMULA once per fit"
            )
        return given[0]
    if not all(per_fit) or names is None:
        raise ScalefitError(
            "--cost NAME=FORMULA gives the runs of each fit of a crossing their own cost, once per fit "
            f"({', '.join(names or ('a', 'b'))}); do not mix it with a plain formula"
        )
    costs: dict[str, str] = {}
    for key, _, formula in split:
        key = key.strip()
        if key not in names:
            raise ScalefitError(f"--cost {key}=...: {key!r} is not one of the fits' labels ({', '.join(names)})")
        if key in costs:
            raise ScalefitError(f"--cost gives {key!r} twice; give each fit's cost once")
        costs[key] = formula
    return costs


def _cmd_suggest(args) -> None:
    from ._data import read_table
    from ._design import suggest_runs

    goal = args.goal or ("crossing" if len(args.fits) == 2 else "prediction")
    wanted = 2 if goal == "crossing" else 1
    if len(args.fits) != wanted:
        takes = "two fit files (the laws whose crossing to locate)" if wanted == 2 else "one fit file"
        raise ScalefitError(f"--goal {goal} takes {takes}, got {len(args.fits)}: {' '.join(args.fits)}")
    if goal == "prediction":
        given = [f for f, v in (("--axis", args.axis), ("--domain", args.domain), ("--which", args.which),
                                ("--names", args.names)) if v is not None]  # fmt: skip
        if given:
            raise ScalefitError(f"{given[0]} belongs to --goal crossing (two fits); --goal prediction takes --at only")
    out = _out(args.out, (".json", ".csv"))
    names = _fit_names(args.fits, args.names) if goal == "crossing" else None
    at, bounds = _merge(args.at, "--at"), _merge(args.bounds, "--bounds")
    for key, (low, high) in bounds.items():
        if low is None or high is None:
            raise ScalefitError(f"--bounds {key}: give both LOW and HIGH (> 0), e.g. --bounds {key}=1e4:1e8")
    cost = _suggest_cost(args.cost, names)
    candidates = None
    if args.candidates is not None:
        candidates, _ = read_table(_input(args.candidates, "candidates table"))
    loaded = [_load_fit(path) for path in args.fits]
    fits = dict(zip(names, loaded, strict=True)) if names else loaded[0]
    options = {"goal": goal, "at": at, "cost": cost, "n": args.n, "budget": args.budget, "interval": args.interval}
    options.update(method=args.method, seed=args.seed, bounds=bounds or None, points=args.points)
    if goal == "crossing":
        which = int(args.which) if args.which and args.which.isdigit() else args.which or "upper"
        options.update(axis=args.axis, domain=args.domain or DEFAULT_DOMAIN, which=which)
    flags = {k: f"--{k}" for k in ("at", "bounds", "cost", "budget", "n", "points", "axis", "domain", "which",
                                   "names", "method", "candidates")}  # fmt: skip
    words = {"axis '": "--axis '", "fits[0]": "the first fit", "fits[1]": "the second fit", "fits (": "the fit ("}
    with _as_flags(flags, words):
        s = suggest_runs(fits, candidates, **options)
    result = {"fits": dict(zip(names or ("fit",), args.fits, strict=True)), **s.to_dict(limit=args.top)}

    def show() -> None:
        print(s)
        print(f"method: {s.method}")

    def csv() -> bytes:
        return s.table.to_csv(index=False).encode()

    _write_and_print(result, out, args, {"print": show, "what": "the suggestions", "table": csv})


def _cmd_backtest(args) -> None:
    import pandas as pd

    from ._backtest import backtest

    laws = {name: _resolve_law(name) for name in dict.fromkeys(args.law)}
    mapping = _merge(args.map, "--map") or None
    options = {"starts": args.starts, "seed": args.seed}
    if args.bootstrap is not None:
        options["bootstrap"] = args.bootstrap
    bt = backtest(
        laws, _where(args.runs, args.where), target=args.target, holdout=args.holdout, mapping=mapping,
        levels=args.levels, rollout=args.rollout, splits=args.splits, interval=args.interval, **options,
    )  # fmt: skip
    with pd.option_context("display.width", 160, "display.max_rows", 500, "display.float_format", "{:.4g}".format):
        print(bt.table.drop(columns=["error"]).to_string(index=False))
        print("\nlaws by held-out score (RMSE of log predictions, splits with more training runs weigh more):")
        print(bt.ranking().to_string())
    failed = bt.table[bt.table["error"] != ""]
    for _, row in failed.iterrows():
        print(f"note [{row['law']}, {row['split']}]: not scored: {row['error']}")
    print(f"\nbest: {bt.best}")


def _cmd_demo(args) -> None:
    from ._demo import real_demo, synthetic_demo

    (synthetic_demo if args.synthetic else real_demo)(args.bootstrap, args.seed)


def _cmd_collect(args) -> None:
    from . import _validate as check
    from . import collect as sc
    from .collect.runner import check_execution, finished
    from .collect.store import existing_rows

    check.choice(args.executor, "--executor", sc.EXECUTORS)
    check.choice(args.trainer, "--trainer", ("stacked", "per-run"))
    if not args.dry_run:
        if not args.out:
            raise ScalefitError(
                "scalefit collect needs --out runs.parquet (or .csv), or --dry-run to only see the plan"
            )
        _out(args.out, (".parquet", ".csv"))
    slurm = {
        k: v
        for k, v in (
            ("slurm_partition", args.partition),
            ("timeout_min", args.timeout_min),
            ("gpus_per_node", args.gpus_per_node),
        )
        if v is not None
    }
    check_execution(args.device, args.executor, slurm)  # as collect() does, so a dry run refuses what a run would
    grid = sc.load_grid(args.grid)
    if args.dry_run:
        done = 0
        if args.out:
            jobs = sc.expand(grid)
            existing_rows(args.out, [j.run_id for j in jobs if j.evaluated], grid.name)  # refused as a run would be
            work = sc.WorkDir.for_table(args.out, args.work)
            done = sum(finished(j, work) for j in jobs)
        try:
            rows = sc.estimate(grid)
        except ScalefitError:  # no size hints in the grid: read the data (decoded once, cached)
            rows = sc.estimate(grid, sizes=sc.data_sizes(grid, args.cache))
        print(sc.describe_plan(grid, rows, args.tflops, done))
        return
    t0 = time.perf_counter()
    table = sc.collect(
        grid,
        args.out,
        work=args.work,
        device=args.device,
        executor=args.executor,
        cache_dir=args.cache,
        progress=not args.no_progress,
        slurm=slurm,
        limit=args.limit,
        trainer=args.trainer,
    )
    print(f"{len(table)} evaluated runs in {args.out} ({time.perf_counter() - t0:.0f} s this call)")


def build_parser() -> argparse.ArgumentParser:
    from . import _validate as check
    from ._catalogue import CATALOGUE
    from ._diagnostics import NOISES
    from ._lsq import OBJECTIVES

    parser = _Parser(prog="scalefit", description="Fit scaling laws of transfer learning to tables of training runs.")
    parser.add_argument("--debug", action="store_true", help="on an error, also print the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    seed = _integer("--seed", 0, 2**32 - 1)
    replicates = _integer("--bootstrap", 0, MAX_REPLICATES, fix="0 for none")
    interval = _probability("--interval")

    def command(name: str, func, **kwargs) -> argparse.ArgumentParser:
        p = sub.add_parser(name, **kwargs)
        # --debug after the command too; SUPPRESS keeps a --debug given before it
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    command("laws", _cmd_laws, help="list the catalogue of laws with their formulas")

    p = command("fit", _cmd_fit, help="fit a catalogue law to a runs table (CSV or Parquet)")
    p.add_argument("runs", help="runs table: .csv or .parquet")
    p.add_argument(
        "--law",
        required=True,
        type=_law_arg("--law", list(CATALOGUE)),
        help=f'catalogue law ({", ".join(CATALOGUE)}) or a formula, e.g. "e + b*x^-c"',
    )
    p.add_argument("--target", required=True, help="column the law predicts (e.g. error)")
    p.add_argument("--where", help="keep rows matching a filter, e.g. \"stage == 'finetune' and Dp > 1e5\"")
    p.add_argument(
        "--map", action="append", type=_pairs("--map", "Dp=pretrain_images"), metavar="VAR=COL",
        help="map a law variable to a column",
    )  # fmt: skip
    p.add_argument(
        "--objective", default="huber", type=_one_of("--objective", OBJECTIVES),
        help="huber (default), squared_log or squared",
    )  # fmt: skip
    p.add_argument(
        "--delta", type=_positive("--delta", "the Huber threshold on log-residuals, e.g. 1e-3"), default=None,
        help="Huber threshold (default 1e-3)",
    )  # fmt: skip
    p.add_argument(
        "--fix", action="append", type=_pairs("--fix", "E_inf=0.05", "number"), metavar="NAME=VALUE",
        help="hold a parameter at a value",
    )  # fmt: skip
    p.add_argument(
        "--tie", action="append", type=_pairs("--tie", "gamma_prime=gamma"), metavar="NAME=OTHER",
        help="set a parameter equal to another",
    )  # fmt: skip
    p.add_argument(
        "--bound", action="append", type=_pairs("--bound", "alpha=0.1:2", "range"), metavar="NAME=LOW:HIGH",
        help="bound a parameter (paper form); either side may be empty",
    )  # fmt: skip
    p.add_argument(
        "--starts", type=_starts, default="auto",
        help="random starting points: auto (default: until 8 polished starts agree, at most 1024) or a number",
    )  # fmt: skip
    p.add_argument(
        "--by", action="append", metavar="COL",
        help="fit every group of runs sharing this column's value (repeatable for several columns)",
    )  # fmt: skip
    p.add_argument("--bootstrap", type=replicates, default=None, help="bootstrap replicates (default 1000; 0: none)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--method", default="lsq", type=_one_of("--method", ("lsq", "bayes")),
        help="lsq (default) or bayes (NumPyro NUTS)",
    )  # fmt: skip
    p.add_argument(
        "--noise", default=None, type=_one_of("--noise", NOISES), help="bayes: lognormal (default), normal or student_t"
    )
    p.add_argument("--chains", type=_integer("--chains", 1, 1024), default=None, help="bayes: chains (default 4)")
    p.add_argument(
        "--draws", type=_integer("--draws", 1, 10_000_000), default=None, help="bayes: draws per chain (default 1000)"
    )
    p.add_argument(
        "--warmup", type=_integer("--warmup", 1, 10_000_000), default=None,
        help="bayes: warm-up steps per chain (default 1000)",
    )  # fmt: skip
    p.add_argument("--out", help="save the fit as JSON here (.json)")

    p = command("predict", _cmd_predict, help="predict with a saved fit")
    p.add_argument("fit", help="fit JSON written by `scalefit fit --out`")
    p.add_argument(
        "csv", nargs="?", help="CSV/Parquet of configurations (columns: the law's variables; other columns are ignored)"
    )
    p.add_argument(
        "--at", action="append", type=_pairs("--at", "Dp=1e6,M=1e7,Df=1e4", "number"), metavar="Dp=..,M=..,Df=..",
        help="one configuration (repeatable); every name must be a law variable (or the column it was mapped from)",
    )  # fmt: skip
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--out", help="save predictions here (.csv or .parquet)")

    p = command("boundary", _cmd_boundary, help="where distillation stops (or starts) paying, from two saved fits")
    p.add_argument("plain", help="fit JSON of the plain law (e.g. paper_error)")
    p.add_argument("distilled", help="fit JSON of the distilled law (e.g. paper_distilled)")
    p.add_argument(
        "--at", action="append", required=True, type=_pairs("--at", "M=22e6,Df=5e4,Mt=1e7", "number"),
        metavar="M=..,Df=..,Mt=..", help="the other variables",
    )  # fmt: skip
    p.add_argument("--domain", type=_domain, help="range of Dp to search, LOW:HIGH (default 1e3:1e9)")
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")

    p = command("plot", _cmd_plot, help="plot a fit against its runs, or a distillation boundary from two fits")
    p.add_argument("fits", nargs="+", help="one fit JSON (with --runs), or plain and distilled fit JSONs")
    p.add_argument("--runs", help="runs table the fit was made from (needed for least-squares fits)")
    p.add_argument("--x", help="variable on the horizontal axis (default: the law's first)")
    p.add_argument("--by", help="one curve per value of this variable")
    p.add_argument(
        "--at", action="append", type=_pairs("--at", "M=22e6,Df=5e4", "number"), metavar="VAR=VALUE,...",
        help="values of the other variables",
    )  # fmt: skip
    p.add_argument(
        "--where",
        help="the fit's runs: a row filter of --runs, e.g. \"stage == 'finetune'\" (default: the filter the fit "
        "was made with, from its file; '' for every run); runs outside it are drawn hollow as held out",
    )
    p.add_argument(
        "--bin", type=_positive("--bin", "a relative tolerance such as 0.25"), metavar="REL",
        help="draw the runs within this relative distance of --at, e.g. 0.25 (default 0.001): bins a continuous one",
    )  # fmt: skip
    p.add_argument(
        "--hide-held-out", action="store_true", help="draw only the fit's runs, not those outside its filter"
    )
    p.add_argument("--domain", type=_domain, help="boundary plots: range of Dp, LOW:HIGH (default 1e3:1e9)")
    p.add_argument(
        "--axis", help="two fits: plot their crossover along this variable (default: a distillation boundary in Dp)"
    )
    p.add_argument("--names", metavar="A,B", help="crossover plots: labels of the two fits (default: the file names)")
    p.add_argument("--difference", action="store_true", help="boundary plots: plot the difference curve")
    p.add_argument("--out", required=True, help="image file to write (.png, .pdf, .svg)")

    p = command("crossover", _cmd_crossover, help="where two fitted laws cross along one variable, with intervals")
    p.add_argument("fit_a", help="fit JSON of the first law")
    p.add_argument("fit_b", help="fit JSON of the second law (same metric)")
    p.add_argument("--axis", required=True, help="the variable along which the laws are compared, e.g. Df")
    p.add_argument(
        "--at", action="append", type=_pairs("--at", "Dp=1.28e6,M=22e6", "number"), metavar="VAR=VALUE,...",
        help="every other variable of either law (repeatable)",
    )  # fmt: skip
    p.add_argument("--domain", type=_domain, help="range of the axis to search, LOW:HIGH (default 1e3:1e9)")
    p.add_argument("--names", metavar="A,B", help="labels of the two fits (default: the file names)")
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout instead of text")
    p.add_argument("--out", help="save the result as JSON here (.json)")

    p = command("compare", _cmd_compare, help="rank Bayesian fits of different laws to the same runs (PSIS-LOO)")
    p.add_argument("fits", nargs="+", help="two or more fit JSONs written by `scalefit fit --method bayes --out`")
    p.add_argument("--names", metavar="A,B,...", help="labels of the fits (default: the file names)")
    p.add_argument("--force", action="store_true", help="rank fits whose sampler did not converge (with a warning)")
    p.add_argument("--json", action="store_true", help="print the table as JSON on stdout instead of text")
    p.add_argument("--out", help="save the table here (.json or .csv)")

    p = command("allocate", _cmd_allocate, help="the best amounts of a law's variables for a budget or a target")
    p.add_argument("fit", help="fit JSON written by `scalefit fit --out`")
    p.add_argument(
        "--cost", required=True,
        help="what the variables cost, a formula of them: \"6*N*D\" (FLOPs), \"N*D/3.6e12 + 100\", \"1e-4*Dp+1e-2*Df\"",
    )  # fmt: skip
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--budget", type=_positive("--budget"), help="the most to spend, in the units of --cost")
    goal.add_argument(
        "--target", type=_checked(check.number, "--target"), help="the value of the law to reach (above its floor)"
    )
    p.add_argument(
        "--at", action="append", type=_pairs("--at", "M=22e6", "number"), metavar="VAR=VALUE,...",
        help="values of the variables not bought (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--limit", action="append", type=_pairs("--limit", "D=:1.4e12", "range"), metavar="VAR=LOW:HIGH",
        help="cap a variable bought, e.g. the data that exist (either side may be empty; repeatable)",
    )  # fmt: skip
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability over the draws (default 0.9)")
    p.add_argument(
        "--draws", type=_integer("--draws", 0, 10_000_000, fix="0 for none"), default=200,
        help="solve again for at most this many of the fit's draws (default 200; 0: no intervals)",
    )  # fmt: skip
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout instead of text")
    p.add_argument("--out", help="save the result as JSON here (.json)")

    p = command("suggest", _cmd_suggest, help="the next runs that most narrow a crossing or a prediction, per cost")
    p.add_argument("fits", nargs="+", help="two fit JSONs (a crossing) or one (a prediction), holding their runs")
    p.add_argument(
        "--goal", type=_one_of("--goal", ("crossing", "prediction")),
        help="crossing (default with two fits) or prediction (default with one)",
    )  # fmt: skip
    p.add_argument("--axis", help="crossing: the variable along which the laws cross, e.g. Dp")
    p.add_argument(
        "--at", action="append", type=_pairs("--at", "M=22e6,Df=5e4", "number"), metavar="VAR=VALUE,...",
        help="crossing: the other variables; prediction: the target configuration (repeatable)",
    )  # fmt: skip
    p.add_argument("--domain", type=_domain, help="crossing: range of the axis to search, LOW:HIGH (default 1e3:1e9)")
    p.add_argument("--which", help="crossing: upper (default), lower, or the crossing's number counting up")
    p.add_argument("--names", metavar="A,B", help="crossing: labels of the two fits (default: the file names)")
    p.add_argument(
        "--bounds", action="append", type=_pairs("--bounds", "Dp=1e4:1e8", "range"), metavar="VAR=LOW:HIGH",
        help="candidate runs on a log grid of this range (repeatable; crossing default: the axis over --domain)",
    )  # fmt: skip
    p.add_argument("--points", type=_integer("--points", 2), help="values per variable of --bounds (default 25)")
    p.add_argument("--candidates", help="a table (.csv/.parquet) of possible runs instead of --bounds")
    p.add_argument(
        "--cost", action="append", metavar="FORMULA",
        help="cost of a run, e.g. \"6*M*Dp\" (default 1 per run); crossing: NAME=FORMULA once per fit",
    )  # fmt: skip
    p.add_argument("--n", type=_integer("--n", 1), help="how many runs to pick (default 1, or what --budget buys)")
    p.add_argument("--budget", type=_positive("--budget"), help="pick runs until their total cost would pass this")
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--method", default="auto", help="auto (default), draws, fisher or reweight")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--top", type=_integer("--top", 1), help="--json: keep only the first rows of the ranked table")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout instead of text")
    p.add_argument("--out", help="save the result here (.json; .csv: the ranked table)")

    p = command(
        "collect", _cmd_collect, help="train a grid of DeiT runs and write the runs table (needs scalefit[collect])"
    )
    p.add_argument("grid", help="grid TOML file, or a preset: tiny, paper, fmnist-mnist")
    p.add_argument("--out", help="runs table to write: .parquet or .csv (re-run the same command to resume)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (runs, FLOPs, GPU-hours) and stop")
    p.add_argument(
        "--tflops", type=_positive("--tflops"), default=100.0, help="dry run: sustained TFLOP/s for GPU-hours (100)"
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--executor", default="local", help="local (default), submitit-local or slurm")
    p.add_argument(
        "--trainer", default="stacked",
        help="stacked (default: runs of one model shape train together) or per-run (one timm model at a time)",
    )  # fmt: skip
    p.add_argument("--work", help="work directory (default: --out with suffix .collect)")
    p.add_argument("--cache", help="decoded-image cache directory (default: <work>/cache)")
    p.add_argument("--limit", type=_integer("--limit", 1), help="run at most this many pending runs, then stop")
    p.add_argument("--no-progress", action="store_true", help="one line per run instead of progress bars")
    p.add_argument("--partition", help="slurm: partition")
    p.add_argument(
        "--timeout-min", type=_integer("--timeout-min", 1),
        help="slurm/submitit: time limit per run in minutes (default 60)",
    )  # fmt: skip
    p.add_argument("--gpus-per-node", type=_integer("--gpus-per-node", 1), help="slurm: GPUs per job")

    p = command("backtest", _cmd_backtest, help="fit laws on part of the runs, score their predictions of the rest")
    p.add_argument("runs", help="runs table: .csv or .parquet")
    p.add_argument(
        "--law", action="append", required=True, type=_law_arg("--law", list(CATALOGUE)),
        help="a catalogue law or a formula (e.g. \"e + b*x^-c\") to score (repeatable)",
    )  # fmt: skip
    p.add_argument("--target", required=True, help="column the laws predict")
    p.add_argument(
        "--holdout", required=True,
        help="a law variable (hold out its largest values) or a query selecting held-out rows, e.g. 'Training == 0'",
    )  # fmt: skip
    p.add_argument("--levels", type=_integer("--levels", 1), default=1, help="largest values held out (default 1)")
    p.add_argument("--rollout", action="store_true", help="one split per number of fitted values of the variable")
    p.add_argument(
        "--splits", type=_integer("--splits", 1), help="with --rollout: at most this many splits, evenly spaced"
    )
    p.add_argument("--where", help="keep rows matching a filter first (as for fit --where)")
    p.add_argument(
        "--map", action="append", type=_pairs("--map", "Dp=pretrain_images"), metavar="VAR=COL",
        help="map a law variable to a column",
    )  # fmt: skip
    p.add_argument("--interval", type=interval, default=0.9, help="prediction interval scored (default 0.9)")
    p.add_argument("--starts", type=_starts, default="auto", help="random starts per fit (default auto)")
    p.add_argument("--bootstrap", type=replicates, default=None, help="replicates per fit (default 200)")
    p.add_argument("--seed", type=seed, default=0)

    p = command("demo", _cmd_demo, help="fit laws to the embedded real runs table (--synthetic: the synthetic one)")
    p.add_argument("--synthetic", action="store_true", help="the synthetic table, fitted against its known truth")
    p.add_argument("--bootstrap", type=replicates, default=1000)
    p.add_argument("--seed", type=seed, default=0)
    return parser


# -- output, errors and signals -----------------------------------------------------------------
def _one_line(text: object) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _silence(stream) -> None:
    """Point a closed pipe's file descriptor at /dev/null, so later writes (and the flush at exit) succeed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # not a real file (e.g. captured by a test)
        pass


def _open_missing_streams() -> dict[str, io.TextIOBase]:
    """Point a standard stream that was closed before scalefit started (``scalefit laws >&-``:
    Python then sets ``sys.stdout`` to None) at /dev/null for the run, so writes and flushes
    succeed; returns the streams opened, by name. A closed stdout then ends the run like a
    closed pipe (exit 141, silent); a closed stderr only loses the messages."""
    opened = {}
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            try:
                opened[name] = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed by main()
            except OSError:
                continue
            setattr(sys, name, opened[name])
    return opened


def _say(line: str) -> None:
    """One line on stderr; a closed stderr never aborts the work."""
    try:
        print(line, file=sys.stderr, flush=True)
    except BrokenPipeError:
        _silence(sys.stderr)
    except (OSError, ValueError):
        pass


def _show_warning(message, category, filename, lineno, file=None, line=None):
    _say(f"scalefit: warning: {_one_line(message)}")


def _raised_by_scalefit(exc: BaseException) -> bool:
    """Whether a TypeError/ValueError came from a ``raise`` statement in scalefit's own code (a check)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    last = frames[-1]
    package = os.path.dirname(os.path.abspath(__file__))
    return os.path.abspath(last.filename).startswith(package + os.sep) and (last.line or "").startswith("raise")


def _expected(exc: BaseException) -> bool:
    """A failure the user can fix (exit 2), as opposed to a bug in scalefit (exit 1)."""
    if isinstance(exc, ScalefitError | OSError | UnicodeError | MemoryError):
        return True
    if type(exc).__name__ == "JSONDecodeError":
        return True
    return isinstance(exc, TypeError | ValueError) and _raised_by_scalefit(exc)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory; use fewer --starts or --bootstrap replicates, or a smaller table"
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" + (f" -> {exc.filename2}" if exc.filename2 else "")
    return _one_line(exc) or type(exc).__name__


def _tracker() -> str:
    try:
        from importlib.metadata import metadata

        for entry in metadata("scalefit").get_all("Project-URL") or ():
            label, _, url = entry.partition(",")
            if any(w in label.lower() for w in ("issue", "bug", "tracker")):
                return url.strip()
    except Exception:  # noqa: BLE001 - the message must be printed whatever the metadata holds
        pass
    return "the scalefit issue tracker"


class _Interrupts:
    """Ctrl-C and SIGTERM, noticed even while the main thread is inside JAX/XLA.

    The C-level signal handler writes the signal number to a pipe (``signal.set_wakeup_fd``);
    a daemon thread reads it, waits for any file write in progress (:data:`scalefit._io.WRITING`),
    prints ``scalefit: interrupted`` and leaves with ``os._exit`` — no interpreter or JAX
    teardown, which is where a segfault or a swallowed interrupt came from. The Python-level
    handler does nothing: it exists so the C handler runs, and it must not exit itself (it
    runs in the main thread, which may hold ``WRITING`` mid-write). A signal that was ignored
    when scalefit started (``nohup``, a background job) stays ignored.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug
        self.installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread; leave them as they are
        wanted = [s for s in self.SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
        if not wanted:
            return
        try:
            self.read_fd, self.write_fd = os.pipe()
        except OSError:  # out of file descriptors: run without (Python's own Ctrl-C handling)
            return
        os.set_blocking(self.write_fd, False)
        self.old_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self.old_handlers = {s: signal.signal(s, self._noop) for s in wanted}
        self.thread = threading.Thread(target=self._watch, name="scalefit-interrupts", daemon=True)
        self.thread.start()
        self.installed = True

    def restore(self) -> None:
        if not self.installed:
            return
        self.installed = False
        signal.set_wakeup_fd(self.old_wakeup)
        for sig, handler in self.old_handlers.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        os.close(self.write_fd)  # the watcher reads end-of-file and stops
        self.thread.join(timeout=1.0)

    @staticmethod
    def _noop(signum, frame) -> None:
        pass

    def _watch(self) -> None:
        try:
            while True:
                data = os.read(self.read_fd, 64)
                if not data:
                    return
                for signum in data:  # one byte per signal with a Python handler; act on ours only
                    if signum in self.SIGNALS:
                        self._stop(signum)
        finally:
            os.close(self.read_fd)

    def _stop(self, signum: int) -> None:
        _io.WRITING.acquire()  # a file being written is finished (and renamed) first; never released
        if self.debug:
            import faulthandler

            faulthandler.dump_traceback(all_threads=True)
        try:
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - leaving anyway
            pass
        try:
            os.write(2, b"scalefit: interrupted\n")
        except OSError:
            pass
        os._exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``scalefit`` command; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # until the arguments are parsed
    interrupts = _Interrupts(debug)
    interrupts.install()
    show_warning = warnings.showwarning
    missing = _open_missing_streams()
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, or a usage error already printed in one line
            if exc.code is None and "stdout" in missing:
                return EXIT_BROKEN_PIPE
            return EXIT_OK if exc.code is None else exc.code if isinstance(exc.code, int) else EXIT_USAGE
        debug = interrupts.debug = args.debug
        warnings.showwarning = _show_warning
        args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not as "Exception ignored" at exit
        return EXIT_BROKEN_PIPE if "stdout" in missing else EXIT_OK
    except KeyboardInterrupt:
        with _io.WRITING:
            _say("scalefit: interrupted")
        return 128 + signal.SIGINT
    except BrokenPipeError:  # stdout piped into e.g. `head`, which stopped reading; files are already written
        _silence(sys.stdout)
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - every failure is one line; --debug shows the traceback
        if debug:
            traceback.print_exc()
        if _expected(exc):
            _say(f"scalefit: error: {_error_text(exc)}")
            return EXIT_USAGE
        _say(
            f"scalefit: internal error: {type(exc).__name__}: {_one_line(exc)} — please report this at "
            f"{_tracker()} with the command you ran; rerun with --debug for the traceback"
        )
        return EXIT_INTERNAL
    finally:
        warnings.showwarning = show_warning
        interrupts.restore()
        for name, stream in missing.items():
            setattr(sys, name, None)
            stream.close()


if __name__ == "__main__":
    sys.exit(main())
