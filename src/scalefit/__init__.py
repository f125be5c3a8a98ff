"""scalefit: scaling laws of transfer learning.

Fit a law to a table of training runs with honest uncertainty, predict error for
configurations never run, and (in later releases) find where distilling a small model into
a larger one stops paying.

>>> from scalefit import fit_law, load_runs, paper_error
"""

from importlib import import_module
from typing import TYPE_CHECKING

from scalefit.version import __version__

#: Public name -> the module defining it. Modules load on first use (PEP 562), so
#: ``import scalefit`` and the ``scalefit`` command start at once, and JAX loads only when a
#: fit needs it — which also lets the command install its Ctrl-C handler before any import.
_EXPORTS = {
    "decide.allocate": ("allocate",),
    "decide.allocation_result": ("Allocation",),
    "decide.frontier": ("Frontier", "compute_optimal"),
    "evaluate.backtest": ("Backtest", "backtest"),
    "evaluate.selection": ("Selection", "select_law"),
    "decide.boundary": ("crossover", "distillation_boundary"),
    "decide.crossover_result": ("Condition", "Crossover", "DistillationBoundary", "Regime"),
    "laws.catalogue": (
        "CATALOGUE", "bnsl", "bnsl_2", "broken_power_law", "chinchilla", "get_law", "list_laws", "muennighoff",
        "paper_distilled", "paper_error", "paper_loss", "revisiting_m1", "revisiting_m2", "revisiting_m3",
        "revisiting_m4", "saturating_error", "transfer_gap", "as_law",
    ),
    "laws.published": (
        "busbridge_distillation", "clark_moe", "data_mixing", "data_mixing_law", "farseer", "gao_sae",
        "kumar_precision", "lr_schedule_areas", "muennighoff_full", "muennighoff_full_law", "parscale",
        "tao_vocabulary", "tissue_annealing",
    ),
    "laws.general": ("Expression", "parse_law"),
    "laws.expression_algebra": ("Variable", "exp", "log", "maximum", "minimum", "sigmoid", "softplus", "sqrt"),
    "decide.path": ("Path", "compute_path"),
    "evaluate.compare": ("compare_laws",),
    "tables.runs": ("Runs", "load_runs"),
    "decide.design": ("suggest_runs",),
    "decide.design_result": ("RunSuggestions",),
    "errors": ("ScalefitError", "ScalingWarning"),
    "results.extrapolation": ("ExtrapolationModel",),
    "fitting.fit": ("fit_groups", "fit_law"),
    "serialize.fitfile": ("load_fit",),
    "results.fits": ("Fits",),
    "results.identify": ("Identifiability",),

    "laws.terms": ("Constant", "Exponent", "Pow", "Power", "Product", "Sum", "Term"),
    "laws.function_terms": ("Bend", "Implicit", "Repeated", "Saturate"),
    "laws.law": ("Law",),
    "laws.params": ("ParamSpec",),
    "fitting.lsq": ("Objective",),
    "fitting.methods": ("NUTS", "LeastSquares"),
    "plotting.boundary_figures": ("plot_boundary", "plot_difference"),
    "plotting.fit_figure": ("plot_fit",),
    "results.fit": ("Fit",),
    "results.reports": ("BayesReport", "BootstrapReport", "Convergence", "FittedRuns", "Setup", "StartsReport"),
    "datasets": ("example_runs",),
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'scalefit' has no attribute {name!r}")
    value = getattr(import_module(f"scalefit.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from scalefit.datasets import example_runs
    from scalefit.decide.allocate import allocate
    from scalefit.decide.allocation_result import Allocation
    from scalefit.decide.boundary import crossover, distillation_boundary
    from scalefit.decide.crossover_result import Condition, Crossover, DistillationBoundary, Regime
    from scalefit.decide.design import suggest_runs
    from scalefit.decide.design_result import RunSuggestions
    from scalefit.decide.frontier import Frontier, compute_optimal
    from scalefit.decide.path import Path, compute_path
    from scalefit.errors import ScalefitError, ScalingWarning
    from scalefit.evaluate.backtest import Backtest, backtest
    from scalefit.evaluate.compare import compare_laws
    from scalefit.evaluate.selection import Selection, select_law
    from scalefit.fitting.fit import fit_groups, fit_law
    from scalefit.fitting.methods import NUTS, LeastSquares
    from scalefit.fitting.objective import Objective
    from scalefit.laws.catalogue import (
        CATALOGUE,
        as_law,
        bnsl,
        bnsl_2,
        broken_power_law,
        chinchilla,
        get_law,
        list_laws,
        muennighoff,
        paper_distilled,
        paper_error,
        paper_loss,
        revisiting_m1,
        revisiting_m2,
        revisiting_m3,
        revisiting_m4,
        saturating_error,
        transfer_gap,
    )
    from scalefit.laws.expression_algebra import (
        Variable,
        exp,
        log,
        maximum,
        minimum,
        sigmoid,
        softplus,
        sqrt,
    )
    from scalefit.laws.function_terms import Bend, Implicit, Repeated, Saturate
    from scalefit.laws.general import Expression, parse_law
    from scalefit.laws.law import Law
    from scalefit.laws.params import ParamSpec
    from scalefit.laws.published import (
        busbridge_distillation,
        clark_moe,
        data_mixing,
        data_mixing_law,
        farseer,
        gao_sae,
        kumar_precision,
        lr_schedule_areas,
        muennighoff_full,
        muennighoff_full_law,
        parscale,
        tao_vocabulary,
        tissue_annealing,
    )
    from scalefit.laws.terms import Constant, Exponent, Pow, Power, Product, Sum, Term
    from scalefit.plotting.boundary_figures import plot_boundary, plot_difference
    from scalefit.plotting.fit_figure import plot_fit
    from scalefit.results.extrapolation import ExtrapolationModel
    from scalefit.results.fit import Fit
    from scalefit.results.fits import Fits
    from scalefit.results.identify import Identifiability
    from scalefit.results.reports import BayesReport, BootstrapReport, Convergence, FittedRuns, Setup, StartsReport
    from scalefit.serialize.fitfile import load_fit
    from scalefit.tables.runs import Runs, load_runs


__all__ = [
    "Allocation",
    "Backtest",
    "BayesReport",
    "Bend",
    "BootstrapReport",
    "CATALOGUE",
    "Condition",
    "Constant",
    "Convergence",
    "Crossover",
    "DistillationBoundary",
    "Exponent",
    "Expression",
    "ExtrapolationModel",
    "Fit",
    "Fits",
    "FittedRuns",
    "Frontier",
    "Identifiability",
    "Implicit",
    "Law",
    "LeastSquares",
    "NUTS",
    "Objective",
    "ParamSpec",
    "Path",
    "Pow",
    "Power",
    "Product",
    "Regime",
    "Repeated",
    "RunSuggestions",
    "Runs",
    "Saturate",
    "ScalefitError",
    "ScalingWarning",
    "Selection",
    "Setup",
    "StartsReport",
    "Sum",
    "Term",
    "Variable",
    "__version__",
    "allocate",
    "as_law",
    "backtest",
    "bnsl",
    "bnsl_2",
    "broken_power_law",
    "busbridge_distillation",
    "chinchilla",
    "clark_moe",
    "compare_laws",
    "compute_optimal",
    "compute_path",
    "crossover",
    "data_mixing",
    "data_mixing_law",
    "distillation_boundary",
    "example_runs",
    "exp",
    "farseer",
    "fit_groups",
    "fit_law",
    "gao_sae",
    "get_law",
    "kumar_precision",
    "list_laws",
    "load_fit",
    "load_runs",
    "log",
    "lr_schedule_areas",
    "maximum",
    "minimum",
    "muennighoff",
    "muennighoff_full",
    "muennighoff_full_law",
    "paper_distilled",
    "paper_error",
    "paper_loss",
    "parscale",
    "parse_law",
    "plot_boundary",
    "plot_difference",
    "plot_fit",
    "revisiting_m1",
    "revisiting_m2",
    "revisiting_m3",
    "revisiting_m4",
    "saturating_error",
    "select_law",
    "sigmoid",
    "softplus",
    "sqrt",
    "suggest_runs",
    "tao_vocabulary",
    "tissue_annealing",
    "transfer_gap",
]
