"""A fit and a group of fits as the JSON objects of a fit file (the writing half).

The layout is documented in :mod:`scalefit.serialize.fitfile`, which reads these objects
back and checks every field; this module depends on no result type (it reads attributes),
so results can write themselves without the reader depending on them in a circle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from scalefit.files import encode

FORMAT = "scalefit.fit/1"
FITS_FORMAT = "scalefit.fits/1"


def fit_dict(fit) -> dict[str, Any]:
    """The fit file's object for ``fit`` (strict-JSON-ready: see :func:`encode`)."""
    from scalefit.version import __version__

    return encode(
        {
            "format": FORMAT,
            "scalefit_version": __version__,
            "law": fit.law.to_dict(),
            "method": fit.setup.method,
            "objective": {"name": fit.setup.objective.name, "delta": fit.setup.objective.delta},
            "target": fit.target,
            "mapping": fit.setup.mapping,
            "problem": fit.setup.problem.to_dict(),
            "params": fit.params,
            "value": fit.value,
            "status": fit.status.to_dict(),
            "starts": fit.starts.to_dict(),
            "identifiability": fit.identifiability.to_dict(),
            "residuals": np.asarray(fit.runs.residuals, dtype=float),
            "ranges": {k: list(v) for k, v in fit.runs.ranges.items()},
            "n_runs": fit.runs.n_runs,
            "draws": None if fit.draws is None else {str(k): v.to_numpy(dtype=float) for k, v in fit.draws.items()},
            "bootstrap_converged": fit.bootstrap.converged,
            "seed": fit.setup.seed,
            "source": fit.setup.source,
            "notes": list(fit.notes),
            "chains": fit.bayes.chains if fit.bayes is not None else 1,
            "noise": fit.bayes.noise if fit.bayes is not None else None,
            "diagnostics": fit.bayes.diagnostics if fit.bayes is not None else None,
            "data": fit.runs.data,
            "priors": fit.bayes.priors if fit.bayes is not None else None,
            "bounds": fit.bounds,
            "misfit": fit.runs.misfit,
            "bootstrap_requested": fit.bootstrap.requested,
            "bootstrap_clusters": None
            if fit.bootstrap.clusters is None
            else {"variable": fit.bootstrap.clusters, "count": fit.bootstrap.cluster_count},
            "extrapolation": fit.runs.extrapolation,
        }
    )


def fits_dict(by: Iterable[str], groups: Iterable[tuple[tuple, Any]]) -> dict[str, Any]:
    """The group file's object for ``groups``: ``(key values, fit)`` pairs, one value per
    column of ``by``. A key value must be a string, a finite number or a boolean."""
    from scalefit.version import __version__

    by = list(by)
    out = []
    for values, fit in groups:
        key = []
        for v in values:
            v = v.item() if isinstance(v, np.generic) else v
            if not isinstance(v, str | bool | int | float) or (isinstance(v, float) and not math.isfinite(v)):
                shown = values[0] if len(by) == 1 else tuple(values)
                raise TypeError(
                    f"cannot write group {shown!r}: its key value {v!r} ({type(v).__name__}) is not a string, a "
                    "finite number or a boolean"
                )
            key.append(v)
        out.append({"key": key, "fit": fit_dict(fit)})
    return {"format": FITS_FORMAT, "scalefit_version": __version__, "by": by, "groups": out}
