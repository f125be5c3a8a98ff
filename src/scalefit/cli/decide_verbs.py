"""The command line's verbs that decide from saved fits: ``boundary``, ``crossover``,
``compare``, ``allocate`` and ``suggest``, one function per subcommand taking the parsed
arguments; with the fits' labels, the JSON results (``--json``, ``--out``) and the API's
errors restated in the flags' names.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from scalefit import files
from scalefit.cli.arguments import DEFAULT_DOMAIN, arg_input, arg_load_fit, arg_out, merge, raised_by_scalefit, say
from scalefit.errors import ScalefitError, ScalingWarning


def cmd_boundary(args) -> None:
    import pandas as pd

    from scalefit.decide.boundary import distillation_boundary

    at = merge(args.at, "--at")
    plain, distilled = arg_load_fit(args.plain, "plain fit file"), arg_load_fit(args.distilled, "distilled fit file")
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


def json_text(result: dict) -> str:
    import json

    from scalefit.files import jsonable

    return json.dumps(jsonable(result), indent=2, allow_nan=False) + "\n"


def fit_names(paths: Sequence[str], given: str | None, flag: str = "--names") -> tuple[str, ...]:
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


def write_and_print(result: dict, out, args, text) -> None:
    """``--out`` (JSON written atomically, before anything is printed), then strict JSON on
    stdout with ``--json``, or the text report otherwise."""
    data = json_text(result)
    if out is not None:
        if out.suffix.lower() == ".json":
            files.atomic_write(out, data, "--out")
        else:
            files.atomic_write(out, text["table"](), "--out")
    if args.json:
        sys.stdout.write(data)
        return
    text["print"]()
    if out is not None:
        print(f"\nsaved {text['what']} to {args.out}")


class as_flags:
    """Within ``with as_flags({"at": "--at"}, {"fit_a": "the first fit"}):`` a ScalefitError (or
    a TypeError of a check) of the API is raised again with the API's argument names as given
    on the command line: ``at['D']`` -> ``--at D``, ``at=5`` -> ``--at 5``, ``at=`` -> ``--at``, ``at must`` (``names``,
    ``is missing``) -> ``--at must``; then the plain replacements of ``words``."""

    def __init__(self, flags: dict[str, str], words: dict[str, str] | None = None):
        self.flags, self.words = flags, words or {}

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        checked = isinstance(exc, ScalefitError) or (isinstance(exc, TypeError) and raised_by_scalefit(exc))
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


def crossover_result(c, interval: float, files: dict[str, str]) -> dict:
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


def cmd_crossover(args) -> None:
    import pandas as pd

    from scalefit.decide.boundary import crossover

    out = arg_out(args.out, (".json",))
    at = merge(args.at, "--at")
    names = fit_names([args.fit_a, args.fit_b], args.names)
    a, b = arg_load_fit(args.fit_a, "first fit file"), arg_load_fit(args.fit_b, "second fit file")
    words = {"axis '": "--axis '", "names must": "--names must", "fit_a": "the first fit", "fit_b": "the second fit"}
    with as_flags({"at": "--at"}, words):
        c = crossover(a, b, axis=args.axis, at=at, domain=args.domain or DEFAULT_DOMAIN, names=names)
    result = crossover_result(c, args.interval, dict(zip(names, (args.fit_a, args.fit_b), strict=True)))

    def show() -> None:
        print(c)
        if c.draws is None:
            say(f"scalefit: note: {c.without_draws()}, so no intervals are shown")
            return
        with pd.option_context("display.float_format", "{:.4g}".format):
            print(f"\n{args.interval:.0%} intervals over {len(c.draws)} pairs of draws:")
            print(c.intervals(args.interval).to_string())

    write_and_print(result, out, args, {"print": show, "what": "the crossover", "table": None})


def cmd_compare(args) -> None:
    import pandas as pd

    from scalefit.evaluate.compare import compare_laws

    if len(args.fits) < 2:
        raise ScalefitError(
            f"scalefit compare needs at least two fit files (Bayesian fits of different laws to the same runs), "
            f"got {len(args.fits)}"
        )
    out = arg_out(args.out, (".json", ".csv"))
    names = fit_names(args.fits, args.names)
    fits = {name: arg_load_fit(path) for name, path in zip(names, args.fits, strict=True)}
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

    write_and_print(result, out, args, {"print": show, "what": "the comparison", "table": csv})


def cmd_allocate(args) -> None:
    from scalefit.decide.allocate import allocate

    out = arg_out(args.out, (".json",))
    at, limits = merge(args.at, "--at"), merge(args.limit, "--limit")
    fit = arg_load_fit(args.fit)
    flags = {"at": "--at", "limits": "--limit", "budget": "--budget", "target": "--target", "cost": "--cost"}
    with as_flags(flags):
        a = allocate(
            fit, cost=args.cost, budget=args.budget, target=args.target, at=at or None, limits=limits or None,
            interval=args.interval, draws=args.draws, seed=args.seed,
        )  # fmt: skip
    result = {"fit": args.fit, **a.to_dict()}
    write_and_print(result, out, args, {"print": lambda: print(a), "what": "the allocation", "table": None})


def suggest_cost(given: Sequence[str] | None, names: Sequence[str] | None):
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


def cmd_suggest(args) -> None:
    from scalefit.decide.design import suggest_runs
    from scalefit.tables.runs import read_table

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
    out = arg_out(args.out, (".json", ".csv"))
    names = fit_names(args.fits, args.names) if goal == "crossing" else None
    at, bounds = merge(args.at, "--at"), merge(args.bounds, "--bounds")
    for key, (low, high) in bounds.items():
        if low is None or high is None:
            raise ScalefitError(f"--bounds {key}: give both LOW and HIGH (> 0), e.g. --bounds {key}=1e4:1e8")
    cost = suggest_cost(args.cost, names)
    candidates = None
    if args.candidates is not None:
        candidates, _ = read_table(arg_input(args.candidates, "candidates table"))
    loaded = [arg_load_fit(path) for path in args.fits]
    fits = dict(zip(names, loaded, strict=True)) if names else loaded[0]
    options = {"goal": goal, "at": at, "cost": cost, "n": args.n, "budget": args.budget, "interval": args.interval}
    options.update(method=args.method, seed=args.seed, bounds=bounds or None, points=args.points)
    if goal == "crossing":
        which = int(args.which) if args.which and args.which.isdigit() else args.which or "upper"
        options.update(axis=args.axis, domain=args.domain or DEFAULT_DOMAIN, which=which)
    flags = {k: f"--{k}" for k in ("at", "bounds", "cost", "budget", "n", "points", "axis", "domain", "which",
                                   "names", "method", "candidates")}  # fmt: skip
    words = {"axis '": "--axis '", "fits[0]": "the first fit", "fits[1]": "the second fit", "fits (": "the fit ("}
    with as_flags(flags, words):
        s = suggest_runs(fits, candidates, **options)
    result = {"fits": dict(zip(names or ("fit",), args.fits, strict=True)), **s.to_dict(limit=args.top)}

    def show() -> None:
        print(s)
        print(f"method: {s.method}")

    def csv() -> bytes:
        return s.table.to_csv(index=False).encode()

    write_and_print(result, out, args, {"print": show, "what": "the suggestions", "table": csv})
