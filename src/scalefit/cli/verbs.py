"""The command line's verbs that fit, predict, draw and collect: one function per subcommand
(``laws``, ``fit``, ``predict``, ``plot``, ``backtest``, ``demo``, ``collect``), taking the
parsed arguments. The verbs that decide from saved fits are :mod:`scalefit.cli.decide_verbs`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
import warnings
from collections.abc import Sequence

from scalefit import files
from scalefit.cli.arguments import (
    DEFAULT_DOMAIN,
    arg_finite,
    arg_input,
    arg_load_fit,
    arg_out,
    as_fit_flags,
    fit_flags,
    image_out,
    merge,
    resolve_law,
    say,
)
from scalefit.cli.decide_verbs import fit_names
from scalefit.errors import ScalefitError
from scalefit.syntax import shown


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

    print(as_fit_flags(str(fit)))  # the notes' advice in this command's flags
    if fit.draws is not None:
        with pd.option_context("display.float_format", "{:.5g}".format):
            kind = (
                "credible"
                if fit.setup.method == "bayes"
                else "case-bootstrap percentile"
                if fit.bootstrap.clusters is None
                else f"cluster-bootstrap ({fit.bootstrap.clusters} resampled whole) percentile"
            )
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


#: Groups (and notes) ``scalefit fit --by`` prints in full; beyond, the first of them and a count.
SHOWN_GROUPS = 50


def print_groups(fits, saved: bool = False) -> None:
    import pandas as pd

    def first_groups(table: pd.DataFrame, rows_per_group: int) -> str:
        limit = SHOWN_GROUPS * rows_per_group
        text = table.head(limit).to_string(index=False)
        if len(table) > limit:
            where = "the --out file" if saved else "--out FILE.json"
            text += f"\n... and {len(table) - limit} more rows: every group's are in {where} (fits.table() in Python)"
        return text

    print(as_fit_flags(str(fits)))
    with pd.option_context("display.float_format", "{:.5g}".format):  # to_string: every row and column
        print("\none row per group:")
        print(first_groups(fits.table(), 1))
        clustered = sorted({f.bootstrap.clusters for f in fits.values() if f.bootstrap.clusters is not None})
        how = f"cluster-bootstrap, {', '.join(clustered)} resampled whole, " if clustered else ""
        drawn = any(f.draws is not None for f in fits.values())
        heading = f"95% {how}intervals" if drawn else "no intervals: no bootstrap replicates"
        print(f"\nparameters ({heading}):")
        summary = fits.summary()
        print(first_groups(summary, max(1, len(summary) // max(1, len(fits)))))
    notes = [(key, note) for key, group in fits.notes.items() for note in group]
    for key, note in notes[:SHOWN_GROUPS]:
        print(f"note [{key}]: {as_fit_flags(note)}")
    if len(notes) > SHOWN_GROUPS:
        print(f"... and {len(notes) - SHOWN_GROUPS} more notes (fits.notes in Python)")


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
        given = {k: getattr(args, k) for k in ("bootstrap", "clusters") if getattr(args, k, None) is not None}
        return LeastSquares(starts=args.starts, **given)
    if args.clusters is not None:
        raise ScalefitError("--clusters applies to --method lsq (the bootstrap); --method bayes has no bootstrap")
    if args.bootstrap is not None:
        raise ScalefitError("--bootstrap applies to --method lsq; --method bayes gives intervals from posterior draws")
    return NUTS(init=LeastSquares(starts=args.starts, bootstrap=0), progress=True, **bayes)


def verb_constraints(args, law) -> dict:
    """``--map``, ``--fix``, ``--tie``, ``--bound``: merged, names checked against the law (and
    ``--clusters``, which names a law variable, in the command line's own words)."""
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
    clusters = getattr(args, "clusters", None)
    if clusters is not None and clusters not in law.variables:
        mapped = {c: v for v, c in (mapping or {}).items()}
        fix_it = (
            f"--clusters takes the law variable, not its column: --clusters {mapped[clusters]}"
            if clusters in mapped
            else f"give one of {', '.join(law.variables)}{check.suggest(clusters, law.variables)}"
        )
        raise ScalefitError(f"--clusters {clusters}: not a variable of law {law.name}; {fix_it}")
    if clusters is not None and args.bootstrap == 0:
        raise ScalefitError(
            f"--clusters {clusters} sets how the bootstrap resamples, but --bootstrap 0 makes none; drop one"
        )
    return dict(mapping=mapping or None, fix=fix or None, tie=tie or None, bounds=bounds or None)


def cmd_fit(args) -> None:
    with fit_flags():  # the API's advice given as this command's flags
        _fit(args)


def _fit(args) -> None:
    from scalefit.fitting.fit import fit_groups, fit_law

    out = arg_out(args.out, (".json",))
    law = resolve_law(args.law, args.variables, args.general, args.signed)
    constraints = verb_constraints(args, law)
    with NotesOnce() as caught:
        if args.by and args.where:  # the file's own labels, before the filter makes it a table
            from scalefit.tables.runs import check_group_labels

            check_group_labels(args.runs, list(args.by))
        runs = verb_where(args.runs, args.where)
        options = dict(target=args.target, objective=args.objective, delta=args.delta, seed=args.seed, **constraints)
        if args.by:
            fit = fit_groups(law, runs, args.by, method=verb_method(args), **options)
        else:
            fit = fit_law(law, runs, method=verb_method(args), **options)
    caught.replay(n for f in (fit.values() if args.by else [fit]) for n in f.notes)
    if out is not None:  # saved before anything is printed: a closed stdout loses nothing
        keep_or_fall_back(out, args.out, fit.to_json(), "fits" if args.by else "fit")
    if args.by:
        print_groups(fit, saved=out is not None)
    else:
        print_fit(fit)
    if out is not None:
        print(f"\nsaved {'fits' if args.by else 'fit'} to {args.out}")


def keep_or_fall_back(out, given: str, data: str, what: str) -> None:
    """Write ``data`` to ``--out``; if that fails after the work (a disk that filled, a share that
    refused), keep it in the system's temporary folder and say where, so no work is lost."""
    import tempfile

    try:
        files.write_file(out, data.encode())  # the path checked before the work: no second check to fail
    except OSError as exc:
        reason = exc.strerror or str(exc)
        try:
            fd, kept = tempfile.mkstemp(prefix="scalefit-", suffix=".json")
            os.close(fd)
            files.write_file(kept, data.encode())
        except OSError as again:
            raise ScalefitError(
                f"--out {given!r}: could not write it ({reason}), nor keep the {what} in the temporary folder "
                f"({again.strerror or again}); free some space and run again"
            ) from None
        raise ScalefitError(
            f"--out {given!r}: could not write it ({reason}); the {what} {'were' if what == 'fits' else 'was'} "
            f"kept in {kept} — move that file where you want it"
        ) from None


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


def at_configurations(fit, at: Sequence[list[tuple[str, str]]]):
    """The configurations of ``predict --at`` as a table. Every name is a law variable, the
    column it was mapped from, or (fits by group) a grouping column: a misspelt name is an error,
    never ignored (a CSV of configurations may hold other columns; they are left out). A
    variable's value must be a finite number; a grouping column's value names a fitted group
    (``--at task=b,x=1e9``; a number matches a numeric key)."""
    import pandas as pd

    from scalefit.validate import suggest

    by = tuple(getattr(fit, "by", ()))
    fits = list(fit.values()) if by else [fit]
    allowed: list[str] = list(by)
    variable: dict[str, str] = {}  # a mapped column's name -> its law variable: every row names the same columns
    for f in fits:
        for v in f.law.variables:
            for name in (v, f.setup.mapping.get(v, v)):
                variable.setdefault(name, v)
                if name not in allowed:
                    allowed.append(name)
    keys = [k if len(by) > 1 else (k,) for k in fit] if by else []
    if by and not keys:
        raise ScalefitError("this fits file holds no groups, so there is no fit to predict with")
    fitted = {c: sorted({k[i] for k in keys}, key=str) for i, c in enumerate(by)}  # each column's group values
    rows = []
    for pairs in at:
        row: dict[str, object] = {}
        for name, raw in pairs:
            if name not in allowed:
                raise ScalefitError(
                    f"--at names {name!r}{suggest(name, allowed)}, which is not a variable of the law; with --at "
                    f"every name must be one of {', '.join(allowed)} (a law variable or the column it was mapped "
                    f"from{', or a grouping column' if by else ''}) — fix the spelling or leave it out"
                )
            if name in by:
                row[name] = _group_value(name, raw, fitted[name])
            else:
                try:
                    value = arg_finite(raw, f"--at {name}", "--at Dp=1e6,M=1e7,Df=1e4")
                except argparse.ArgumentTypeError as exc:
                    raise ScalefitError(str(exc)) from None
                if variable[name] in row:
                    raise ScalefitError(
                        f"--at gives {variable[name]} twice ({name!r} is the column of law variable "
                        f"{variable[name]!r}); give each variable once"
                    )
                row[variable[name]] = value
        missing = [c for c in by if c not in row]
        if missing:
            raise ScalefitError(
                f"this file holds fits by group ({', '.join(by)}): --at needs {missing[0]}=VALUE to say which "
                f"group predicts, e.g. --at {missing[0]}={fitted[missing[0]][0]},... "
                f"(fitted: {', '.join(map(str, fitted[missing[0]]))[:200]})"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _group_value(column: str, raw: str, fitted: list) -> object:
    """The fitted group key value of ``column`` that ``--at column=raw`` names: equal as text,
    or as a number for a numeric key."""
    import numpy as np

    for value in fitted:
        if str(value) == raw:
            return value
    with contextlib.suppress(ValueError):
        number = float(raw)
        for value in fitted:
            if isinstance(value, int | float | np.integer | np.floating) and float(value) == number:
                return value
    raise ScalefitError(
        f"--at {column}={shown(raw)} names no fitted group; {column} takes "
        f"{', '.join(map(repr, fitted))[:200]} in this file (a key with commas or spaces goes in double "
        f"quotes: --at '{column}=\"a, b\",...')"
    )


def cmd_predict(args) -> None:
    with fit_flags():  # advice to refit, in `scalefit fit`'s flags (--bootstrap, --clusters)
        _predict(args)


def _predict(args) -> None:
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
        data = at_configurations(fit, args.at)
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

    from scalefit.plotting.boundary_figures import plot_boundary, plot_difference
    from scalefit.plotting.fit_figure import plot_fit

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
