"""The command line's parser: every subcommand, its flags and their help."""

from __future__ import annotations

import argparse

from scalefit.cli import decide_verbs, verbs
from scalefit.cli.arguments import (
    Parser,
    arg_checked,
    arg_domain,
    arg_integer,
    arg_names,
    arg_pairs,
    arg_probability,
    arg_starts,
    law_arg,
    one_of,
    positive,
)
from scalefit.validate import MAX_REPLICATES


def build_parser() -> argparse.ArgumentParser:
    from scalefit import validate as check
    from scalefit.fitting.objective import OBJECTIVES
    from scalefit.laws.catalogue import CATALOGUE
    from scalefit.results.diagnostics import NOISES

    parser = Parser(prog="scalefit", description="Fit scaling laws of transfer learning to tables of training runs.")
    parser.add_argument("--debug", action="store_true", help="on an error, also print the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    seed = arg_integer("--seed", 0, 2**32 - 1)
    replicates = arg_integer("--bootstrap", 0, MAX_REPLICATES, fix="0 for none")
    interval = arg_probability("--interval")

    def command(name: str, func, **kwargs) -> argparse.ArgumentParser:
        p = sub.add_parser(name, **kwargs)
        # --debug after the command too; SUPPRESS keeps a --debug given before it
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    command("laws", verbs.cmd_laws, help="list the catalogue of laws with their formulas")

    p = command("fit", verbs.cmd_fit, help="fit a catalogue law to a runs table (CSV or Parquet)")
    p.add_argument("runs", help="runs table: .csv or .parquet")
    p.add_argument(
        "--law",
        required=True,
        type=law_arg("--law", list(CATALOGUE), declared=True),
        help=f'catalogue law ({", ".join(CATALOGUE)}) or a formula, e.g. "e + b*x^-c"',
    )
    p.add_argument(
        "--variables", type=arg_names("--variables", "Dp,Df"), metavar="NAME,NAME",
        help="a formula's variables (default: every name raised to a power), e.g. --variables Dp,Df",
    )  # fmt: skip
    p.add_argument(
        "--signed", type=arg_names("--signed", "c,E"), metavar="NAME,NAME",
        help="a formula's parameters that may take either sign (a floor a paper lets go negative)",
    )  # fmt: skip
    p.add_argument(
        "--general", action="store_true",
        help="fit a formula as a general expression law (evaluated without logs: variables may be 0)",
    )  # fmt: skip
    p.add_argument("--target", required=True, help="column the law predicts (e.g. error)")
    p.add_argument("--where", help="keep rows matching a filter, e.g. \"stage == 'finetune' and Dp > 1e5\"")
    p.add_argument(
        "--map", action="append", type=arg_pairs("--map", "Dp=pretrain_images"), metavar="VAR=COL",
        help="map a law variable to a column",
    )  # fmt: skip
    p.add_argument(
        "--objective", default="huber", type=one_of("--objective", OBJECTIVES),
        help="huber (default), squared_log or squared",
    )  # fmt: skip
    p.add_argument(
        "--delta", type=positive("--delta", "the Huber threshold on log-residuals, e.g. 1e-3"), default=None,
        help="Huber threshold (default 1e-3)",
    )  # fmt: skip
    p.add_argument(
        "--fix", action="append", type=arg_pairs("--fix", "E_inf=0.05", "number"), metavar="NAME=VALUE",
        help="hold a parameter at a value",
    )  # fmt: skip
    p.add_argument(
        "--tie", action="append", type=arg_pairs("--tie", "gamma_prime=gamma"), metavar="NAME=OTHER",
        help="set a parameter equal to another",
    )  # fmt: skip
    p.add_argument(
        "--bound", action="append", type=arg_pairs("--bound", "alpha=0.1:2", "range"), metavar="NAME=LOW:HIGH",
        help="bound a parameter (paper form); either side may be empty",
    )  # fmt: skip
    p.add_argument(
        "--starts", type=arg_starts, default="auto",
        help="random starting points: auto (default: until 8 polished starts agree, at most 1024) or a number",
    )  # fmt: skip
    p.add_argument(
        "--by", action="append", metavar="COL",
        help="fit every group of runs sharing this column's value (repeatable for several columns)",
    )  # fmt: skip
    p.add_argument("--bootstrap", type=replicates, default=None, help="bootstrap replicates (default 1000; 0: none)")
    p.add_argument(
        "--clusters", default=None, metavar="VAR",
        help="bootstrap: resample this law variable's values whole (e.g. N for checkpoints of a few models)",
    )  # fmt: skip
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--method", default="lsq", type=one_of("--method", ("lsq", "bayes")),
        help="lsq (default) or bayes (NumPyro NUTS)",
    )  # fmt: skip
    p.add_argument(
        "--noise", default=None, type=one_of("--noise", NOISES), help="bayes: lognormal (default), normal or student_t"
    )
    p.add_argument("--chains", type=arg_integer("--chains", 1, 1024), default=None, help="bayes: chains (default 4)")
    p.add_argument(
        "--draws",
        type=arg_integer("--draws", 1, 10_000_000),
        default=None,
        help="bayes: draws per chain (default 1000)",
    )
    p.add_argument(
        "--warmup", type=arg_integer("--warmup", 1, 10_000_000), default=None,
        help="bayes: warm-up steps per chain (default 1000)",
    )  # fmt: skip
    p.add_argument("--out", help="save the fit as JSON here (.json)")

    p = command("predict", verbs.cmd_predict, help="predict with a saved fit")
    p.add_argument("fit", help="fit JSON written by `scalefit fit --out`")
    p.add_argument(
        "csv", nargs="?", help="CSV/Parquet of configurations (columns: the law's variables; other columns are ignored)"
    )
    p.add_argument(
        "--at", action="append", type=arg_pairs("--at", "Dp=1e6,M=1e7,Df=1e4"), metavar="Dp=..,M=..,Df=..",
        help="one configuration (repeatable); every name must be a law variable (or the column it was mapped "
        "from); with fits by group, also the grouping column(s): --at task=b,x=1e9",
    )  # fmt: skip
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--out", help="save predictions here (.csv or .parquet)")

    p = command(
        "boundary", decide_verbs.cmd_boundary, help="where distillation stops (or starts) paying, from two saved fits"
    )
    p.add_argument("plain", help="fit JSON of the plain law (e.g. paper_error)")
    p.add_argument("distilled", help="fit JSON of the distilled law (e.g. paper_distilled)")
    p.add_argument(
        "--at", action="append", required=True, type=arg_pairs("--at", "M=22e6,Df=5e4,Mt=1e7", "number"),
        metavar="M=..,Df=..,Mt=..", help="the other variables",
    )  # fmt: skip
    p.add_argument("--domain", type=arg_domain, help="range of Dp to search, LOW:HIGH (default 1e3:1e9)")
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")

    p = command("plot", verbs.cmd_plot, help="plot a fit against its runs, or a distillation boundary from two fits")
    p.add_argument("fits", nargs="+", help="one fit JSON (with --runs), or plain and distilled fit JSONs")
    p.add_argument("--runs", help="runs table the fit was made from (needed for least-squares fits)")
    p.add_argument("--x", help="variable on the horizontal axis (default: the law's first)")
    p.add_argument("--by", help="one curve per value of this variable")
    p.add_argument(
        "--at", action="append", type=arg_pairs("--at", "M=22e6,Df=5e4", "number"), metavar="VAR=VALUE,...",
        help="values of the other variables",
    )  # fmt: skip
    p.add_argument(
        "--where",
        help="the fit's runs: a row filter of --runs, e.g. \"stage == 'finetune'\" (default: the filter the fit "
        "was made with, from its file; '' for every run); runs outside it are drawn hollow as held out",
    )
    p.add_argument(
        "--bin", type=positive("--bin", "a relative tolerance such as 0.25"), metavar="REL",
        help="draw the runs within this relative distance of --at, e.g. 0.25 (default 0.001): bins a continuous one",
    )  # fmt: skip
    p.add_argument(
        "--hide-held-out", action="store_true", help="draw only the fit's runs, not those outside its filter"
    )
    p.add_argument("--domain", type=arg_domain, help="boundary plots: range of Dp, LOW:HIGH (default 1e3:1e9)")
    p.add_argument(
        "--axis", help="two fits: plot their crossover along this variable (default: a distillation boundary in Dp)"
    )
    p.add_argument("--names", metavar="A,B", help="crossover plots: labels of the two fits (default: the file names)")
    p.add_argument("--difference", action="store_true", help="boundary plots: plot the difference curve")
    p.add_argument("--out", required=True, help="image file to write (.png, .pdf, .svg)")

    p = command(
        "crossover", decide_verbs.cmd_crossover, help="where two fitted laws cross along one variable, with intervals"
    )
    p.add_argument("fit_a", help="fit JSON of the first law")
    p.add_argument("fit_b", help="fit JSON of the second law (same metric)")
    p.add_argument("--axis", required=True, help="the variable along which the laws are compared, e.g. Df")
    p.add_argument(
        "--at", action="append", type=arg_pairs("--at", "Dp=1.28e6,M=22e6", "number"), metavar="VAR=VALUE,...",
        help="every other variable of either law (repeatable)",
    )  # fmt: skip
    p.add_argument("--domain", type=arg_domain, help="range of the axis to search, LOW:HIGH (default 1e3:1e9)")
    p.add_argument("--names", metavar="A,B", help="labels of the two fits (default: the file names)")
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout instead of text")
    p.add_argument("--out", help="save the result as JSON here (.json)")

    p = command(
        "compare", decide_verbs.cmd_compare, help="rank Bayesian fits of different laws to the same runs (PSIS-LOO)"
    )
    p.add_argument("fits", nargs="+", help="two or more fit JSONs written by `scalefit fit --method bayes --out`")
    p.add_argument("--names", metavar="A,B,...", help="labels of the fits (default: the file names)")
    p.add_argument("--force", action="store_true", help="rank fits whose sampler did not converge (with a warning)")
    p.add_argument("--json", action="store_true", help="print the table as JSON on stdout instead of text")
    p.add_argument("--out", help="save the table here (.json or .csv)")

    p = command(
        "allocate", decide_verbs.cmd_allocate, help="the best amounts of a law's variables for a budget or a target"
    )
    p.add_argument("fit", help="fit JSON written by `scalefit fit --out`")
    p.add_argument(
        "--cost", required=True,
        help="what the variables cost, a formula of them: \"6*N*D\" (FLOPs), \"N*D/3.6e12 + 100\", \"1e-4*Dp+1e-2*Df\"",
    )  # fmt: skip
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--budget", type=positive("--budget"), help="the most to spend, in the units of --cost")
    goal.add_argument(
        "--target", type=arg_checked(check.number, "--target"), help="the value of the law to reach (above its floor)"
    )
    p.add_argument(
        "--at", action="append", type=arg_pairs("--at", "M=22e6", "number"), metavar="VAR=VALUE,...",
        help="values of the variables not bought (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--limit", action="append", type=arg_pairs("--limit", "D=:1.4e12", "range"), metavar="VAR=LOW:HIGH",
        help="cap a variable bought, e.g. the data that exist (either side may be empty; repeatable)",
    )  # fmt: skip
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability over the draws (default 0.9)")
    p.add_argument(
        "--draws", type=arg_integer("--draws", 0, 10_000_000, fix="0 for none"), default=200,
        help="solve again for at most this many of the fit's draws (default 200; 0: no intervals)",
    )  # fmt: skip
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout instead of text")
    p.add_argument("--out", help="save the result as JSON here (.json)")

    p = command(
        "suggest", decide_verbs.cmd_suggest, help="the next runs that most narrow a crossing or a prediction, per cost"
    )
    p.add_argument("fits", nargs="+", help="two fit JSONs (a crossing) or one (a prediction), holding their runs")
    p.add_argument(
        "--goal", type=one_of("--goal", ("crossing", "prediction")),
        help="crossing (default with two fits) or prediction (default with one)",
    )  # fmt: skip
    p.add_argument("--axis", help="crossing: the variable along which the laws cross, e.g. Dp")
    p.add_argument(
        "--at", action="append", type=arg_pairs("--at", "M=22e6,Df=5e4", "number"), metavar="VAR=VALUE,...",
        help="crossing: the other variables; prediction: the target configuration (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--domain", type=arg_domain, help="crossing: range of the axis to search, LOW:HIGH (default 1e3:1e9)"
    )
    p.add_argument("--which", help="crossing: upper (default), lower, or the crossing's number counting up")
    p.add_argument("--names", metavar="A,B", help="crossing: labels of the two fits (default: the file names)")
    p.add_argument(
        "--bounds", action="append", type=arg_pairs("--bounds", "Dp=1e4:1e8", "range"), metavar="VAR=LOW:HIGH",
        help="candidate runs on a log grid of this range (repeatable; crossing default: the axis over --domain)",
    )  # fmt: skip
    p.add_argument("--points", type=arg_integer("--points", 2), help="values per variable of --bounds (default 25)")
    p.add_argument("--candidates", help="a table (.csv/.parquet) of possible runs instead of --bounds")
    p.add_argument(
        "--cost", action="append", metavar="FORMULA",
        help="cost of a run, e.g. \"6*M*Dp\" (default 1 per run); crossing: NAME=FORMULA once per fit",
    )  # fmt: skip
    p.add_argument("--n", type=arg_integer("--n", 1), help="how many runs to pick (default 1, or what --budget buys)")
    p.add_argument("--budget", type=positive("--budget"), help="pick runs until their total cost would pass this")
    p.add_argument("--interval", type=interval, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--method", default="auto", help="auto (default), draws, fisher or reweight")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--top", type=arg_integer("--top", 1), help="--json: keep only the first rows of the ranked table")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout instead of text")
    p.add_argument("--out", help="save the result here (.json; .csv: the ranked table)")

    p = command(
        "collect",
        verbs.cmd_collect,
        help="train a grid of DeiT runs and write the runs table (needs scalefit[collect])",
    )
    p.add_argument("grid", help="grid TOML file, or a preset: tiny, paper, fmnist-mnist")
    p.add_argument("--out", help="runs table to write: .parquet or .csv (re-run the same command to resume)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (runs, FLOPs, GPU-hours) and stop")
    p.add_argument(
        "--tflops", type=positive("--tflops"), default=100.0, help="dry run: sustained TFLOP/s for GPU-hours (100)"
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--executor", default="local", help="local (default), submitit-local or slurm")
    p.add_argument(
        "--trainer", default="stacked",
        help="stacked (default: runs of one model shape train together) or per-run (one timm model at a time)",
    )  # fmt: skip
    p.add_argument("--work", help="work directory (default: --out with suffix .collect)")
    p.add_argument("--cache", help="decoded-image cache directory (default: <work>/cache)")
    p.add_argument("--limit", type=arg_integer("--limit", 1), help="run at most this many pending runs, then stop")
    p.add_argument("--no-progress", action="store_true", help="one line per run instead of progress bars")
    p.add_argument("--partition", help="slurm: partition")
    p.add_argument(
        "--timeout-min", type=arg_integer("--timeout-min", 1),
        help="slurm/submitit: time limit per run in minutes (default 60)",
    )  # fmt: skip
    p.add_argument("--gpus-per-node", type=arg_integer("--gpus-per-node", 1), help="slurm: GPUs per job")

    p = command(
        "backtest", verbs.cmd_backtest, help="fit laws on part of the runs, score their predictions of the rest"
    )
    p.add_argument("runs", help="runs table: .csv or .parquet")
    p.add_argument(
        "--law", action="append", required=True, type=law_arg("--law", list(CATALOGUE)),
        help="a catalogue law or a formula (e.g. \"e + b*x^-c\") to score (repeatable)",
    )  # fmt: skip
    p.add_argument("--target", required=True, help="column the laws predict")
    p.add_argument(
        "--holdout", required=True,
        help="a law variable (hold out its largest values) or a query selecting held-out rows, e.g. 'Training == 0'",
    )  # fmt: skip
    p.add_argument("--levels", type=arg_integer("--levels", 1), default=1, help="largest values held out (default 1)")
    p.add_argument("--rollout", action="store_true", help="one split per number of fitted values of the variable")
    p.add_argument(
        "--splits", type=arg_integer("--splits", 1), help="with --rollout: at most this many splits, evenly spaced"
    )
    p.add_argument("--where", help="keep rows matching a filter first (as for fit --where)")
    p.add_argument(
        "--map", action="append", type=arg_pairs("--map", "Dp=pretrain_images"), metavar="VAR=COL",
        help="map a law variable to a column",
    )  # fmt: skip
    p.add_argument("--interval", type=interval, default=0.9, help="prediction interval scored (default 0.9)")
    p.add_argument("--starts", type=arg_starts, default="auto", help="random starts per fit (default auto)")
    p.add_argument("--bootstrap", type=replicates, default=None, help="replicates per fit (default 200)")
    p.add_argument("--seed", type=seed, default=0)

    p = command(
        "demo", verbs.cmd_demo, help="fit laws to the embedded real runs table (--synthetic: the synthetic one)"
    )
    p.add_argument("--synthetic", action="store_true", help="the synthetic table, fitted against its known truth")
    p.add_argument("--bootstrap", type=replicates, default=1000)
    p.add_argument("--seed", type=seed, default=0)
    return parser
