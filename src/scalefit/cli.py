"""The ``scalefit`` command: ``laws``, ``fit``, ``predict``, ``boundary``, ``plot``, ``collect``, ``demo``.

A thin layer over the Python API. Every error is one line on stderr and exit status 2;
warnings are one line each, prefixed ``scalefit: warning:``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence

import pandas as pd

from ._boundary import distillation_boundary
from ._catalogue import CATALOGUE, get_law
from ._data import Runs, read_table
from ._errors import ScalefitError
from ._fit import fit_law
from ._result import load_fit


def _pairs(items: Sequence[str] | None, flag: str, convert=str) -> dict:
    out = {}
    for item in items or ():
        for part in item.split(","):
            if "=" not in part:
                raise ScalefitError(f"{flag} expects NAME=VALUE, got {part!r} (e.g. {flag} Dp=pretrain_images)")
            key, value = (s.strip() for s in part.split("=", 1))
            try:
                out[key] = convert(value)
            except ValueError:
                raise ScalefitError(f"{flag} {key}={value!r}: {value!r} is not a number") from None
    return out


def _bounds(items: Sequence[str] | None) -> dict:
    out = {}
    for name, text in _pairs(items, "--bound").items():
        if ":" not in text:
            raise ScalefitError(f"--bound expects NAME=LOW:HIGH (either side may be empty), got {name}={text!r}")
        try:
            low, high = (float(v) if v.strip() else None for v in text.split(":", 1))
        except ValueError:
            raise ScalefitError(f"--bound {name}={text!r}: LOW and HIGH must be numbers or empty") from None
        out[name] = (low, high)
    return out


def _cmd_laws(args) -> None:
    for name, law in CATALOGUE.items():
        print(f"{name}  [{law.metric or 'any metric'}]")
        print(f"    {law.formula()}")
        print(f"    variables: {', '.join(law.variables)}; parameters: {', '.join(law.parameters)}")
        print(f"    {law.description}")
        print(f"    ref: {law.reference}")


def _print_fit(fit) -> None:
    print(fit)
    if fit.draws is not None:
        with pd.option_context("display.width", 120, "display.float_format", "{:.5g}".format):
            kind = "credible" if fit.method == "bayes" else "case-bootstrap percentile"
            print(f"\nparameters (95% {kind} intervals):")
            print(fit.summary())


def _where(source: str, where: str | None):
    """The runs table, filtered by a pandas query (e.g. ``stage == 'finetune'``) when one is given."""
    if not where:
        return source
    frame, name = read_table(source)
    try:
        kept = frame.query(where)
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for a bad expression
        raise ScalefitError(
            f"--where {where!r}: not a valid filter on {name} ({type(exc).__name__}: {exc}); "
            f"columns: {', '.join(map(str, frame.columns))}"
        ) from None
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


def _cmd_fit(args) -> None:
    law = get_law(args.law)
    fit = fit_law(
        law,
        _where(args.runs, args.where),
        target=args.target,
        mapping=_pairs(args.map, "--map") or None,
        objective=args.objective,
        delta=args.delta,
        fix=_pairs(args.fix, "--fix", float) or None,
        tie=_pairs(args.tie, "--tie") or None,
        bounds=_bounds(args.bound) or None,
        seed=args.seed,
        method=args.method,
        **_method_options(args),
    )
    _print_fit(fit)
    if args.out:
        fit.to_json(args.out)
        print(f"\nsaved fit to {args.out}")


def _print_predictions(table: pd.DataFrame) -> None:
    with pd.option_context("display.width", 140, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))


def _cmd_predict(args) -> None:
    fit = load_fit(args.fit)
    if (args.at is None) == (args.csv is None):
        raise ScalefitError("give either --at Dp=...,M=...,Df=... (repeatable) or a CSV of configurations")
    if args.at:
        rows = [_pairs([a], "--at", float) for a in args.at]
        data = pd.DataFrame(rows)
    else:
        data, _ = read_table(args.csv)
    if fit.draws is None:
        print("scalefit: note: this fit has no bootstrap replicates, so no intervals are shown", file=sys.stderr)
    table = fit.predict(data, interval=args.interval if fit.draws is not None else None)
    _print_predictions(table)
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"saved predictions to {args.out}")


def _domain(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise ScalefitError(f"--domain expects LOW:HIGH, e.g. --domain 1e4:1e8, got {text!r}") from None
    return lo, hi


def _cmd_boundary(args) -> None:
    plain, distilled = load_fit(args.plain), load_fit(args.distilled)
    at = _pairs(args.at, "--at", float)
    b = distillation_boundary(plain, distilled, at=at, domain=_domain(args.domain))
    print(b)
    if b.draws is not None:
        with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
            print(f"\n{args.interval:.0%} intervals over pairs of draws:")
            print(b.intervals(args.interval))


def _cmd_plot(args) -> None:
    from ._plot import plot_boundary, plot_difference, plot_fit

    fits = [load_fit(f) for f in args.fits]
    if len(fits) == 1:
        at = _pairs(args.at, "--at", float) or None
        fig = plot_fit(fits[0], args.runs, x=args.x, by=args.by, at=at)
    elif len(fits) == 2:
        b = distillation_boundary(fits[0], fits[1], at=_pairs(args.at, "--at", float), domain=_domain(args.domain))
        fig = plot_difference(b) if args.difference else plot_boundary(b)
    else:
        raise ScalefitError("scalefit plot takes one fit (against its runs) or two (plain and distilled)")
    fig.savefig(args.out, dpi=150)
    print(f"saved {args.out}")


def _cmd_demo(args) -> None:
    from ._demo import real_demo, synthetic_demo

    (synthetic_demo if args.synthetic else real_demo)(args.bootstrap, args.seed)


def _cmd_collect(args) -> None:
    from . import collect as sc
    from .collect.runner import finished

    grid = sc.load_grid(args.grid)
    if args.dry_run:
        done = 0
        if args.out:
            work = sc.WorkDir.for_table(args.out, args.work)
            done = sum(finished(j, work) for j in sc.expand(grid))
        try:
            rows = sc.estimate(grid)
        except ScalefitError:  # no size hints in the grid: read the data (decoded once, cached)
            rows = sc.estimate(grid, sizes=sc.data_sizes(grid, args.cache))
        print(sc.describe_plan(grid, rows, args.tflops, done))
        return
    if not args.out:
        raise ScalefitError("scalefit collect needs --out runs.parquet (or .csv), or --dry-run to only see the plan")
    slurm = {
        k: v
        for k, v in (
            ("slurm_partition", args.partition),
            ("timeout_min", args.timeout_min),
            ("gpus_per_node", args.gpus_per_node),
        )
        if v is not None
    }
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
    )
    print(f"{len(table)} evaluated runs in {args.out} ({time.perf_counter() - t0:.0f} s this call)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalefit", description="Fit scaling laws of transfer learning to tables of training runs."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("laws", help="list the catalogue of laws with their formulas").set_defaults(func=_cmd_laws)

    p = sub.add_parser("fit", help="fit a catalogue law to a runs table (CSV or Parquet)")
    p.add_argument("runs", help="runs table: .csv or .parquet")
    p.add_argument("--law", required=True, help=f"catalogue law: {', '.join(CATALOGUE)}")
    p.add_argument("--target", required=True, help="column the law predicts (e.g. error)")
    p.add_argument("--where", help="keep rows matching a pandas query, e.g. \"stage == 'finetune'\"")
    p.add_argument("--map", action="append", metavar="VAR=COL", help="map a law variable to a column")
    p.add_argument("--objective", default="huber", help="huber (default), squared_log or squared")
    p.add_argument("--delta", type=float, default=None, help="Huber threshold (default 1e-3)")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter at a value")
    p.add_argument("--tie", action="append", metavar="NAME=OTHER", help="set a parameter equal to another")
    p.add_argument("--bound", action="append", metavar="NAME=LOW:HIGH", help="bound a parameter (paper form)")
    p.add_argument("--starts", type=int, default=1000, help="random starting points (default 1000)")
    p.add_argument("--bootstrap", type=int, default=None, help="bootstrap replicates (default 1000; 0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="lsq", help="lsq (default) or bayes (NumPyro NUTS)")
    p.add_argument("--noise", default=None, help="bayes: lognormal (default), normal or student_t")
    p.add_argument("--chains", type=int, default=None, help="bayes: chains (default 4)")
    p.add_argument("--draws", type=int, default=None, help="bayes: draws per chain (default 1000)")
    p.add_argument("--warmup", type=int, default=None, help="bayes: warm-up steps per chain (default 1000)")
    p.add_argument("--out", help="save the fit as JSON here")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="predict with a saved fit")
    p.add_argument("fit", help="fit JSON written by `scalefit fit --out`")
    p.add_argument("csv", nargs="?", help="CSV/Parquet of configurations (columns: the law's variables)")
    p.add_argument("--at", action="append", metavar="Dp=..,M=..,Df=..", help="one configuration (repeatable)")
    p.add_argument("--interval", type=float, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--out", help="save predictions as CSV here")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("boundary", help="where distillation stops (or starts) paying, from two saved fits")
    p.add_argument("plain", help="fit JSON of the plain law (e.g. paper_error)")
    p.add_argument("distilled", help="fit JSON of the distilled law (e.g. paper_distilled)")
    p.add_argument("--at", action="append", required=True, metavar="M=..,Df=..,Mt=..", help="the other variables")
    p.add_argument("--domain", default="1e3:1e9", help="range of Dp to search, LOW:HIGH (default 1e3:1e9)")
    p.add_argument("--interval", type=float, default=0.9, help="interval probability (default 0.9)")
    p.set_defaults(func=_cmd_boundary)

    p = sub.add_parser("plot", help="plot a fit against its runs, or a distillation boundary from two fits")
    p.add_argument("fits", nargs="+", help="one fit JSON (with --runs), or plain and distilled fit JSONs")
    p.add_argument("--runs", help="runs table the fit was made from (needed for least-squares fits)")
    p.add_argument("--x", help="variable on the horizontal axis (default: the law's first)")
    p.add_argument("--by", help="one curve per value of this variable")
    p.add_argument("--at", action="append", metavar="VAR=VALUE,...", help="values of the other variables")
    p.add_argument("--domain", default="1e3:1e9", help="boundary plots: range of Dp, LOW:HIGH")
    p.add_argument("--difference", action="store_true", help="boundary plots: plot the difference curve")
    p.add_argument("--out", required=True, help="image file to write (.png, .pdf, .svg)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("collect", help="train a grid of DeiT runs and write the runs table (needs scalefit[collect])")
    p.add_argument("grid", help="grid TOML file, or a preset: tiny, paper, fmnist-mnist")
    p.add_argument("--out", help="runs table to write: .parquet or .csv (re-run the same command to resume)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (runs, FLOPs, GPU-hours) and stop")
    p.add_argument("--tflops", type=float, default=100.0, help="dry run: sustained TFLOP/s for GPU-hours (100)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--executor", default="local", help="local (default), submitit-local or slurm")
    p.add_argument("--work", help="work directory (default: --out with suffix .collect)")
    p.add_argument("--cache", help="decoded-image cache directory (default: <work>/cache)")
    p.add_argument("--limit", type=int, help="run at most this many pending runs, then stop")
    p.add_argument("--no-progress", action="store_true", help="one line per run instead of progress bars")
    p.add_argument("--partition", help="slurm: partition")
    p.add_argument("--timeout-min", type=int, help="slurm/submitit: time limit per run in minutes (default 60)")
    p.add_argument("--gpus-per-node", type=int, help="slurm: GPUs per job (1 for one run per GPU)")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("demo", help="fit laws to the embedded real runs table (--synthetic: the synthetic one)")
    p.add_argument("--synthetic", action="store_true", help="the synthetic table, fitted against its known truth")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"scalefit: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        args.func(args)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0
    except (ScalefitError, TypeError, OSError) as exc:
        print(f"scalefit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
