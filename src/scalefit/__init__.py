"""scalefit: scaling laws of transfer learning.

Fit a law to a table of training runs with honest uncertainty, predict error for
configurations never run, and (in later releases) find where distilling a small model into
a larger one stops paying.

>>> from scalefit import fit_law, load_runs, paper_error
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

#: Public name -> the private module defining it. Modules load on first use (PEP 562), so
#: ``import scalefit`` and the ``scalefit`` command start at once, and JAX loads only when a
#: fit needs it — which also lets the command install its Ctrl-C handler before any import.
_EXPORTS = {
    "_allocate": ("Allocation", "Frontier", "allocate", "compute_optimal"),
    "_backtest": ("Backtest", "Selection", "backtest", "select_law"),
    "_boundary": ("Condition", "Crossover", "DistillationBoundary", "Regime", "crossover", "distillation_boundary"),
    "_catalogue": (
        "CATALOGUE", "bnsl", "bnsl_2", "broken_power_law", "chinchilla", "get_law", "list_laws", "muennighoff",
        "paper_distilled", "paper_error", "paper_loss", "revisiting_m1", "revisiting_m2", "revisiting_m3",
        "revisiting_m4", "saturating_error", "transfer_gap",
    ),
    "_catalogue_general": (
        "busbridge_distillation", "clark_moe", "data_mixing", "data_mixing_law", "farseer", "gao_sae",
        "kumar_precision", "lr_schedule_areas", "muennighoff_full", "muennighoff_full_law", "parscale",
        "tao_vocabulary", "tissue_annealing",
    ),
    "_compare": ("compare_laws",),
    "_data": ("Runs", "load_runs"),
    "_design": ("RunSuggestions", "suggest_runs"),
    "_errors": ("ScalefitError", "ScalingWarning"),
    "_extrapolation": ("ExtrapolationModel",),
    "_fit": ("fit_law",),
    "_fitfile": ("load_fit",),
    "_fits": ("Fits",),
    "_identify": ("Identifiability",),
    "_formula": ("parse_law",),
    "_general": ("Expression", "Variable", "exp", "log", "maximum", "minimum", "sigmoid", "softplus", "sqrt"),
    "_path": ("Path", "compute_path"),
    "_laws": (
        "Bend", "Constant", "Exponent", "Implicit", "Law", "ParamSpec", "Pow", "Power", "Product", "Repeated",
        "Saturate", "Sum", "Term", "as_law",
    ),
    "_lsq": ("Objective",),
    "_methods": ("NUTS", "LeastSquares"),
    "_plot": ("plot_boundary", "plot_difference", "plot_fit"),
    "_result": ("Convergence", "Fit", "StartsReport"),
    "datasets": ("example_runs",),
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'scalefit' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from ._allocate import Allocation, Frontier, allocate, compute_optimal
    from ._backtest import Backtest, Selection, backtest, select_law
    from ._boundary import Condition, Crossover, DistillationBoundary, Regime, crossover, distillation_boundary
    from ._catalogue import (
        CATALOGUE,
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
    from ._catalogue_general import (
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
    from ._compare import compare_laws
    from ._data import Runs, load_runs
    from ._design import RunSuggestions, suggest_runs
    from ._errors import ScalefitError, ScalingWarning
    from ._extrapolation import ExtrapolationModel
    from ._fit import fit_law
    from ._fitfile import load_fit
    from ._fits import Fits
    from ._formula import parse_law
    from ._general import Expression, Variable, exp, log, maximum, minimum, sigmoid, softplus, sqrt
    from ._path import Path, compute_path
    from ._identify import Identifiability
    from ._laws import (
        Bend,
        Constant,
        Exponent,
        Implicit,
        Law,
        ParamSpec,
        Pow,
        Power,
        Product,
        Repeated,
        Saturate,
        Sum,
        Term,
        as_law,
    )
    from ._lsq import Objective
    from ._methods import NUTS, LeastSquares
    from ._plot import plot_boundary, plot_difference, plot_fit
    from ._result import Convergence, Fit, StartsReport
    from .datasets import example_runs

try:
    __version__ = version("scalefit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "Allocation",
    "Backtest",
    "Bend",
    "CATALOGUE",
    "Condition",
    "Constant",
    "Convergence",
    "Crossover",
    "DistillationBoundary",
    "Exponent",
    "Expression",
    "Fit",
    "Fits",
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
