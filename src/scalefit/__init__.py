"""scalefit: scaling laws of transfer learning.

Fit a law to a table of training runs with honest uncertainty, predict error for
configurations never run, and (in later releases) find where distilling a small model into
a larger one stops paying.

>>> from scalefit import fit_law, load_runs, paper_error
"""

from importlib.metadata import PackageNotFoundError, version

from ._allocate import Allocation, allocate
from ._boundary import Condition, Crossover, DistillationBoundary, Regime, crossover, distillation_boundary
from ._catalogue import (
    CATALOGUE,
    chinchilla,
    get_law,
    list_laws,
    paper_distilled,
    paper_error,
    paper_loss,
    transfer_gap,
)
from ._compare import compare_laws
from ._data import Runs, load_runs
from ._errors import ScalefitError, ScalingWarning
from ._fit import fit_law
from ._identify import Identifiability
from ._laws import Constant, Law, ParamSpec, Power, Product, Sum, Term, as_law
from ._lsq import Objective
from ._methods import NUTS, LeastSquares
from ._plot import plot_boundary, plot_difference, plot_fit
from ._result import Convergence, Fit, StartsReport, load_fit
from .datasets import example_runs

try:
    __version__ = version("scalefit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "Allocation",
    "CATALOGUE",
    "Condition",
    "Crossover",
    "DistillationBoundary",
    "Regime",
    "Constant",
    "Convergence",
    "Fit",
    "Identifiability",
    "Law",
    "LeastSquares",
    "NUTS",
    "Objective",
    "ParamSpec",
    "Power",
    "Product",
    "Runs",
    "ScalefitError",
    "ScalingWarning",
    "StartsReport",
    "Sum",
    "Term",
    "__version__",
    "allocate",
    "as_law",
    "chinchilla",
    "compare_laws",
    "crossover",
    "distillation_boundary",
    "example_runs",
    "fit_law",
    "get_law",
    "list_laws",
    "load_fit",
    "load_runs",
    "paper_distilled",
    "paper_error",
    "paper_loss",
    "plot_boundary",
    "plot_difference",
    "plot_fit",
    "transfer_gap",
]
