"""The command line's verbs: one function per subcommand, taking the parsed arguments."""

from __future__ import annotations

import io
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from scalefit import files
from scalefit.cli.arguments import (
    DEFAULT_DOMAIN,
    arg_input,
    arg_load_fit,
    arg_out,
    image_out,
    merge,
    raised_by_scalefit,
    resolve_law,
    say,
)
from scalefit.errors import ScalefitError, ScalingWarning


# -- commands -----------------------------------------------------------------------------------
def cmd_laws(args) -> None:
    from scalefit.laws.catalogue import CATALOGUE

    for name, law in CATALOGUE.items():
        print(f"{name}  [{law.metric or 'any metric'}]")
        print(f"    {law.formula()}")
        print(f"    variables: {', '.join(law.variables)}; parameters: {', '.join(law.parameters)}")
        print(f"    {law.description}")
        print(f"    ref: {law.reference}")


def print_fit(fit) -> None:
    import pandas as pd

    print(fit)
    if fit.draws is not None:
        with pd.option_context("display.float_format", "{:.5g}".format):
            kind = "credible" if fit.setup.method == "bayes" else "case-bootstrap percentile"
            print(f"\nparameters (95% {kind} intervals):")
            print(fit.summary().to_string())  # whole: every column (R-hat, ESS, how), never cut


class NotesOnce:
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


def print_groups(fits) -> None:
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


def verb_where(source: str, where: str | None):
    """The runs table, filtered by a row filter (e.g. ``stage == 'finetune'``, see
    :mod:`scalefit.tables.query`) when one is given."""
    arg_input(source, "runs table")
    if not where:
        return source
    from scalefit.tables.query import row_mask
    from scalefit.tables.runs import Runs, read_table

    frame, name = read_table(source)
    kept = frame[row_mask(frame, where, argument="--where")]
    if kept.empty:
        raise ScalefitError(f"--where {where!r} keeps no rows of {name} ({len(frame)} rows)")
    return Runs(kept, source=f"{name} where {where}")


def verb_method(args):
    """The method object of the command line's options; an option of the other method is refused."""
    from scalefit.fitting.methods import NUTS, LeastSquares

    bayes = {k: getattr(args, k) for k in ("noise", "chains", "draws", "warmup") if getattr(args, k) is not None}
    if args.method == "lsq":
        if bayes:
            flags = ", ".join(f"--{k}" for k in bayes)
            raise ScalefitError(f"{flags} apply to --method bayes (NUTS); least squares has no such option")
        return LeastSquares(starts=args.starts, **({} if args.bootstrap is None else {"bootstrap": args.bootstrap}))
    if args.bootstrap is not None:
        raise ScalefitError("--bootstrap applies to --method lsq; --method bayes gives intervals from posterior draws")
    return NUTS(init=LeastSquares(starts=args.starts, bootstrap=0), progress=True, **bayes)


def verb_constraints(args, law) -> dict:
    """``--map``, ``--fix``, ``--tie``, ``--bound``: merged, names checked against the law."""
    from scalefit import validate as check

    mapping, fix = merge(args.map, "--map"), merge(args.fix, "--fix")
    tie, bounds = merge(args.tie, "--tie"), merge(args.bound, "--bound")
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


def cmd_fit(args) -> None:
    from scalefit.fitting.fit import fit_groups, fit_law

    out = arg_out(args.out, (".json",))
    law = resolve_law(args.law)
    constraints = verb_constraints(args, law)
    with NotesOnce() as caught:
        runs = verb_where(args.runs, args.where)
        options = dict(target=args.target, objective=args.objective, delta=args.delta, seed=args.seed, **constraints)
        if args.by:
            fit = fit_groups(law, runs, args.by, method=verb_method(args), **options)
        else:
            fit = fit_law(law, runs, method=verb_method(args), **options)
    caught.replay(n for f in (fit.values() if args.by else [fit]) for n in f.notes)
    if out is not None:  # saved before anything is printed: a closed stdout loses nothing
        files.atomic_write(out, fit.to_json(), "--out")
    if args.by:
        print_groups(fit)
    else:
        print_fit(fit)
    if out is not None:
        print(f"\nsaved {'fits' if args.by else 'fit'} to {args.out}")


def print_predictions(table) -> None:
    import pandas as pd

    with pd.option_context("display.width", 140, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))


def table_bytes(table, suffix: str) -> bytes:
    if suffix.lower() == ".parquet":
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        return buf.getvalue()
    return table.to_csv(index=False).encode()


def check_at_names(fit, at: Sequence[list[tuple[str, object]]]) -> None:
    """Every name given with ``predict --at`` is a law variable, the column it was mapped from,
    or (fits by group) a grouping column: a misspelt name is an error, never ignored. (A
    CSV of configurations may hold other columns; they are left out.)"""
    from scalefit.validate import suggest

    fits = list(fit.values()) if hasattr(fit, "by") else [fit]
    allowed: list[str] = list(getattr(fit, "by", ()))
    for f in fits:
        for v in f.law.variables:
            for name in (v, f.setup.mapping.get(v, v)):
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


def cmd_predict(args) -> None:
    import pandas as pd

    if (args.at is None) == (args.csv is None):
        raise ScalefitError(
            "scalefit predict needs either --at Dp=...,M=...,Df=... (repeatable) or a CSV/Parquet of configurations"
            + (", not both" if args.at is not None else "")
        )
    out = arg_out(args.out, (".csv", ".parquet"))
    if out is not None and args.csv is not None and os.path.realpath(args.csv) == str(out):
        raise ScalefitError(f"--out {args.out!r} is the configurations file itself; give another name")
    fit = arg_load_fit(args.fit, groups=True)  # fits by group predict each row by its group's columns
    if args.at:
        check_at_names(fit, args.at)
        data = pd.DataFrame([dict(pairs) for pairs in args.at])
    else:
        from scalefit.tables.runs import read_table

        data, _ = read_table(arg_input(args.csv, "configurations file"))
    draws = all(f.draws is not None for f in fit.values()) if hasattr(fit, "by") else fit.draws is not None
    table = fit.predict(data, interval=args.interval if draws else None)
    if out is not None:  # saved before anything is printed
        files.atomic_write(out, table_bytes(table, out.suffix), "--out")
    if not draws:
        say("scalefit: note: this fit has no bootstrap replicates, so no intervals are shown")
    print_predictions(table)
    if out is not None:
        print(f"saved predictions to {args.out}")


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


def cmd_plot(args) -> None:
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
    out = image_out(args.out)
    at = merge(args.at, "--at")
    if args.runs is not None:
        arg_input(args.runs, "--runs table")
    fits = [arg_load_fit(f) for f in args.fits]

    from scalefit.plotting.figures import plot_boundary, plot_difference, plot_fit

    if n == 1:
        fig = plot_fit(fits[0], args.runs, x=args.x, by=args.by, at=at or None, where=args.where, tolerance=args.bin,
                       held_out=not args.hide_held_out)  # fmt: skip
    else:
        from scalefit.decide.boundary import crossover, distillation_boundary

        domain = args.domain or DEFAULT_DOMAIN
        if args.axis is None:
            b = distillation_boundary(fits[0], fits[1], at=at, domain=domain)
        else:
            names = fit_names(args.fits, args.names)
            b = crossover(fits[0], fits[1], axis=args.axis, at=at, domain=domain, names=names)
        fig = plot_difference(b) if args.difference else plot_boundary(b)
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix[1:].lower(), dpi=150)
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # noqa: BLE001 - closing is a courtesy to in-process callers
        pass
    files.atomic_write(out, buf.getvalue(), "--out")
    print(f"saved {args.out}")
    for note in getattr(fig, "scalefit_notes", ()):
        print(f"note: {note}")


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
            say("scalefit: note: these fits have no bootstrap or posterior draws, so no intervals are shown")
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


def cmd_backtest(args) -> None:
    import pandas as pd

    from scalefit.evaluate.backtest import backtest, default_method

    laws = {name: resolve_law(name) for name in dict.fromkeys(args.law)}
    mapping = merge(args.map, "--map") or None
    given = {} if args.bootstrap is None else {"bootstrap": args.bootstrap}
    options = {"method": default_method(args.interval, starts=args.starts, **given), "seed": args.seed}
    bt = backtest(
        laws, verb_where(args.runs, args.where), target=args.target, holdout=args.holdout, mapping=mapping,
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


def cmd_demo(args) -> None:
    from scalefit.cli.demo import real_demo, synthetic_demo

    (synthetic_demo if args.synthetic else real_demo)(args.bootstrap, args.seed)


def cmd_collect(args) -> None:
    from scalefit import collect as sc
    from scalefit import validate as check
    from scalefit.collect.runner import check_execution, finished
    from scalefit.collect.store import existing_rows

    check.choice(args.executor, "--executor", sc.EXECUTORS)
    check.choice(args.trainer, "--trainer", ("stacked", "per-run"))
    if not args.dry_run:
        if not args.out:
            raise ScalefitError(
                "scalefit collect needs --out runs.parquet (or .csv), or --dry-run to only see the plan"
            )
        arg_out(args.out, (".parquet", ".csv"))
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
