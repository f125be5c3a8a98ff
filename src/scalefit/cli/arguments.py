"""Argument types of the command line: each checks one flag's text and names the flag in its error."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from scalefit import files
from scalefit.errors import ScalefitError
from scalefit.syntax import shown
from scalefit.validate import MAX_STARTS

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BROKEN_PIPE = 0, 1, 2, 141
DEFAULT_DOMAIN = (1e3, 1e9)


# -- messages -------------------------------------------------------------------------


def one_line(text: object) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def silence(stream) -> None:
    """Point a closed pipe's file descriptor at /dev/null, so later writes (and the flush at exit) succeed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # not a real file (e.g. captured by a test)
        pass


def say(line: str) -> None:
    """One line on stderr; a closed stderr never aborts the work."""
    try:
        print(line, file=sys.stderr, flush=True)
    except BrokenPipeError:
        silence(sys.stderr)
    except (OSError, ValueError):
        pass


def raised_by_scalefit(exc: BaseException) -> bool:
    """Whether a TypeError/ValueError came from a ``raise`` statement in scalefit's own code (a check)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    last = frames[-1]
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # scalefit/, not cli/
    return os.path.abspath(last.filename).startswith(package + os.sep) and (last.line or "").startswith("raise")


# -- argument types: checked at parse time, so argparse names the argument ------------------------
class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``scalefit: error: <what>; see 'scalefit fit --help'``."""

    def error(self, message: str):
        # "argument --starts: --starts must be ..." -> "--starts must be ..."
        message = re.sub(r"^argument (\S+): (?=\1\b)", "", message)
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if choice:
            from scalefit.validate import suggest

            options = re.findall(r"'([^']*)'", choice.group(2))
            message = message.replace("argument command: ", "") + suggest(choice.group(1), options)
        hint = "" if "see `scalefit" in message else f"; see '{self.prog} --help'"
        say(f"scalefit: error: {one_line(message)}{hint}")
        self.exit(EXIT_USAGE)


def number_text(text: str) -> int | float | str:
    """``"5"`` -> 5, ``"0.05"`` -> 0.05, anything else unchanged (the check then refuses it)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def arg_checked(check, name: str):
    """An argparse ``type=`` from a :mod:`scalefit.validate` check, with the check's message."""

    def parse(text: str):
        value = number_text(text)
        try:
            return check(value, name)
        except (ScalefitError, TypeError) as exc:
            message = str(exc).replace(f" ({type(value).__name__})", "") if isinstance(value, str) else str(exc)
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = name
    return parse


def arg_integer(name: str, minimum: int, maximum: int | None = None, fix: str = ""):
    from scalefit import validate as check

    return arg_checked(lambda v, n: check.integer(v, n, minimum, maximum, fix=fix), name)


def arg_starts(text: str):
    """``--starts``: ``auto`` or an integer number of random starts."""
    return text if text == "auto" else arg_integer("--starts", 1, MAX_STARTS, "or 'auto'")(text)


def positive(name: str, fix: str = ""):
    from scalefit import validate as check

    return arg_checked(lambda v, n: check.number(v, n, low=0.0, low_open=True, fix=fix), name)


def arg_probability(name: str):
    from scalefit import validate as check

    return arg_checked(check.probability, name)


def one_of(name: str, options: Sequence[str], fix: str = ""):
    from scalefit import validate as check

    def parse(text: str) -> str:
        try:
            return check.choice(text, name, options)
        except ScalefitError as exc:
            raise argparse.ArgumentTypeError(f"{exc}{fix}") from None

    parse.__name__ = name
    return parse


def law_arg(name: str, options: Sequence[str], declared: bool = False):
    """``--law``: a catalogue name, or a formula (a string with an operator, e.g.
    ``"e + b*x^-c"``; see :func:`scalefit.parse_law`), checked when the arguments are parsed —
    a formula only for its syntax where the command declares its variables (``declared``:
    ``scalefit fit --variables``; :func:`resolve_law` reads it whole with them, before any work)."""
    catalogue = one_of(name, options, "; see `scalefit laws`, or give a formula such as 'e + b*x^-c'")

    def parse(text: str) -> str:
        from scalefit.laws.formula import looks_like_formula
        from scalefit.laws.general import parse_law

        if not looks_like_formula(text):
            return catalogue(text)
        try:
            if declared:
                from scalefit import syntax

                try:
                    syntax.parse(text.strip().replace("^", "**"), f"formula {shown(text)}")
                except SyntaxError as exc:
                    raise ScalefitError(f"formula {shown(text)} cannot be parsed ({exc.msg})") from None
                return text.strip()
            parse_law(text, name=text.strip())
        except ScalefitError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text.strip()

    parse.__name__ = name
    return parse


#: The API's spelling in messages -> ``scalefit fit``'s flags (:class:`fit_flags`).
FIT_FLAGS = (
    (r"LeastSquares\(clusters='([^']+)'\)", r"--clusters \1"),
    (r"fix=\{'([^']+)': ([^{}]*)\}", r"--fix \1=\2"),
    (r"fix=\{(name: value|\.\.\.)\}", "--fix NAME=VALUE"),
    (r"objective='(\w+)'", r"--objective \1"),
    (r"NUTS\(noise='(\w+)'\)", r"--noise \1"),
    (r"\b(use|refit with|with) bootstrap=(\d+)", r"\1 --bootstrap \2"),
    (r"give variables=\(\.\.\.\)", "give --variables NAME,..."),
    (r"\bsigned= names", "--signed names"),
    (r"mapping=\{'([^']+)': '([^']+)'\}", r"--map \1=\2"),
    (r"mapping=\{'([^']+)': <([^>]+)>\}", r"--map \1=<\2>"),
    (r"choose a different target= or mapping", "choose a different --target or --map"),
    (r"fit without by=", "fit without --by"),
    (r"\bby='([^']+)'", r"--by \1"),
    (r"tie=\{'([^']+)': '([^']+)'\}", r"--tie \1=\2"),
    (r"drop clusters=", "drop --clusters"),
    (r"\bclusters='([^']+)'", r"--clusters \1"),
    (r"parse_law\(formula, variables=\[\.\.\.\]\) \(CLI: (--variables [^)]*)\)", r"\1"),
    (r"parse_law\(formula, general=True\) \(CLI: --general\)", "--general"),
    (r"parse_law\(formula, signed=\['([^']+)'\]\)", r"--signed \1"),
)


def as_fit_flags(text: str) -> str:
    """``text`` with the API's arguments written as ``scalefit fit``'s flags (:data:`FIT_FLAGS`)."""
    for api, flag in FIT_FLAGS:
        text = re.sub(api, flag, text)
    return text


class fit_flags:
    """Within, the advice of a ScalefitError and of the warnings shown is given as ``scalefit
    fit``'s flags, not the API's arguments: ``fix={'alpha': ...}`` -> ``--fix alpha=...``,
    ``objective='squared'`` -> ``--objective squared`` (:func:`as_fit_flags`)."""

    def __enter__(self):
        self.show = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            return self.show(as_fit_flags(str(message)), category, filename, lineno, file, line)

        warnings.showwarning = show
        return self

    def __exit__(self, kind, exc, tb):
        warnings.showwarning = self.show
        if not isinstance(exc, ScalefitError) or as_fit_flags(str(exc)) == str(exc):
            return False
        raise ScalefitError(as_fit_flags(str(exc))) from None


def resolve_law(
    text: str, variables: Sequence[str] | None = None, general: bool = False, signed: Sequence[str] | None = None
):
    """The law a checked ``--law`` value names; ``variables`` (``--variables``) declares a
    formula's variables, ``general`` (``--general``) makes it a general expression law and
    ``signed`` (``--signed``) names its parameters that may take either sign."""
    from scalefit.laws.catalogue import get_law
    from scalefit.laws.formula import looks_like_formula
    from scalefit.laws.general import parse_law

    if not looks_like_formula(text):
        law = get_law(text)
        if variables:
            raise ScalefitError(
                f"--variables declares a formula's variables; catalogue law {shown(text)} has its own "
                f"({', '.join(law.variables)}) — drop --variables, or map columns with --map VAR=COLUMN"
            )
        if general or signed:
            flag = "--general" if general else "--signed"
            raise ScalefitError(f"{flag} applies to a formula --law, not to catalogue law {shown(text)}")
        return law
    return parse_law(text, variables, name=text, general=True if general else None, signed=signed or None)


def arg_names(name: str, example: str):
    """``NAME,NAME,...``: names, each given once."""

    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",")]
        if not text.strip() or any(not n for n in names):
            raise argparse.ArgumentTypeError(f"{name} expects NAME,NAME,... (e.g. {example}), got {shown(text)}")
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise argparse.ArgumentTypeError(f"{name} names {twice!r} twice in {shown(text)}; give each name once")
        return names

    parse.__name__ = name
    return parse


def arg_finite(text: str, what: str, example: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{what}={shown(text)}: {shown(text)} is not a number (e.g. {example})"
        ) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what}={shown(text)}: the value must be a finite number, not {shown(text)}")
    return value


def arg_range(
    text: str, what: str, flag: str = "--bound", example: str = "alpha=0.1:2"
) -> tuple[float | None, float | None]:
    """``LOW:HIGH`` of ``--bound`` (``--limit``, ``--bounds``), either side empty for no limit."""
    if ":" not in text:
        raise argparse.ArgumentTypeError(
            f"{flag} expects NAME=LOW:HIGH (either side may be empty), got {what}={shown(text)}; e.g. {flag} {example}"
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
                f"{flag} {what}={shown(text)}: LOW and HIGH must be numbers or empty, got {shown(side)}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"{flag} {what}={shown(text)}: {shown(side)} is not a usable limit; leave that side empty for no limit"
            )
        sides.append(value)
    low, high = sides
    if low is not None and high is not None and not low < high:
        raise argparse.ArgumentTypeError(f"{flag} {what}={shown(text)}: LOW must be below HIGH")
    return low, high


def _pairs(text: str, flag: str) -> list[str]:
    """``text`` split at the commas outside double quotes (a quoted value may hold commas)."""
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise argparse.ArgumentTypeError(f'{flag} {shown(text)} opens a double quote it does not close')
    return [*parts, "".join(current)]


def arg_pairs(flag: str, example: str, value: str = "text"):
    """``type=`` for ``NAME=VALUE[,NAME=VALUE...]``: a list of (name, value) pairs. A value in
    double quotes is taken exactly as written between them (commas and spaces included)."""

    def parse(text: str) -> list[tuple[str, object]]:
        out: dict[str, object] = {}
        for part in _pairs(text, flag):
            if "=" not in part:
                raise argparse.ArgumentTypeError(f"{flag} expects NAME=VALUE, got {part!r} (e.g. {flag} {example})")
            key, raw = (s.strip() for s in part.split("=", 1))
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':  # quoted: exactly what is inside
                raw = part.split("=", 1)[1].strip()[1:-1]
                if not raw:
                    raise argparse.ArgumentTypeError(f'{flag} {key}="" has an empty value (e.g. {flag} {example})')
            if not key:
                raise argparse.ArgumentTypeError(f"{flag} {part!r} has no name before '=' (e.g. {flag} {example})")
            if not raw:
                raise argparse.ArgumentTypeError(f"{flag} {key}= has no value after '=' (e.g. {flag} {example})")
            if key in out:
                raise argparse.ArgumentTypeError(f"{flag} {shown(text)} gives {key!r} twice; give each name once")
            if value == "number":
                out[key] = arg_finite(raw, f"{flag} {key}", f"{flag} {example}")
            elif value == "range":
                out[key] = arg_range(raw, key, flag, example)
            else:
                out[key] = raw
        return list(out.items())

    parse.__name__ = flag
    return parse


def arg_domain(text: str) -> tuple[float, float]:
    what = f"--domain must be LOW:HIGH with 0 < low < high (finite numbers), got {shown(text)}; e.g. --domain 1e4:1e8"
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


arg_domain.__name__ = "--domain"


def arg_shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def merge(items: Sequence[list[tuple[str, object]]] | None, flag: str) -> dict:
    """Repeated ``--fix a=1 --fix b=2`` into one dict; a name given twice is an error, not last-wins."""
    out: dict = {}
    for pairs in items or ():
        for key, value in pairs:
            if key in out:
                raise ScalefitError(
                    f"{flag} gives {key!r} twice ({arg_shown(out[key])} and {arg_shown(value)}); give each name once"
                )
            out[key] = value
    return out


# -- files --------------------------------------------------------------------------------------
def arg_input(path: str, what: str) -> str:
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


def arg_load_fit(path: str, what: str = "fit file", groups: bool = False):
    """The fit in ``path``; a file of fits by group (``scalefit fit --by``) only where ``groups``."""
    fit = read_fit(path, what)
    from scalefit.results.fits import Fits

    if isinstance(fit, Fits) and not groups:
        raise ScalefitError(
            f"{what} {path!r} holds fits of {len(fit)} groups (by {', '.join(fit.by)}), not one fit; this command "
            "takes one — refit one group, e.g. with --where \"COL == 'VALUE'\""
        )
    return fit


def read_fit(path: str, what: str):
    from scalefit.serialize.fitfile import load_fit

    arg_input(path, what)
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


def arg_out(path: str | None, suffixes: Sequence[str]):
    """The real target of ``--out``, checked before the work (None when not given)."""
    return None if path is None else files.output_path(path, "--out", suffixes)


def image_out(path: str):
    """``plot --out``: a suffix matplotlib can write here, then the checks of every ``--out``."""
    try:
        from scalefit.plotting.output import check_image_path
    except ImportError:  # an older _plot: matplotlib's own list of formats
        from matplotlib.figure import Figure

        kinds = Figure().canvas.get_supported_filetypes()
        return arg_out(path, tuple(f".{k}" for k in kinds if k != "pgf"))  # pgf needs a TeX install
    check_image_path(path, "--out")
    return arg_out(path, ())
