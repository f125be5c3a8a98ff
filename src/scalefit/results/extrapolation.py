"""How wrong a law is beyond its runs: an extrapolation-error model pooled over real curves.

Bootstrap (or posterior) intervals cover the noise and the parameter uncertainty of a law
that is assumed right. Beyond the runs the law is not exactly right, and on real learning
curves the error of an extrapolation grows with how far it goes. ``Fit.predict`` therefore
widens its prediction intervals beyond the runs by an *empirical extrapolation-error model*:
the distribution of the errors real laws made on real curves at the same relative distance,
pooled across a corpus of public scaling curves and shipped with the library
(``datasets/extrapolation_model.json``, with its provenance).

For a prediction at ``x`` the model reads three things off the fit:

* ``distance``: the log-distance beyond the fitted runs, summed over the law's variables
  (``sum_v max(0, log(x_v / max_v), log(min_v / x_v))``; 0 inside the runs);
* ``slope_distance``: the change of ``log y`` a straight line in log-log space would make over
  that distance, ``sum_v |d log f / d log x_v| * d_v``, the slope taken where the runs end;
* ``sigma``: the fit's residual scale (rms log-residual of the fitted runs).

* ``spread``: half the log-width of the fit's own 90% prediction interval there (bootstrap
  or posterior predictive): how uncertain the fit itself already is.

A scale is learnt from the corpus: ``log u = c_0 + sum_k c_k log(f_k + eps_k)``, fitted by
weighted least squares to the log of the absolute errors (the terms ``f_k`` are among
:data:`TERMS`, chosen by leave-one-source-out cross-validation; see
``benchmarks/bench_loso.py``). The model holds the quantiles of the signed scores
``z = (log y - log y_hat) / u`` over the corpus, every source weighing the same. A
prediction's interval at level ``L`` beyond the runs is the union of the fit's own interval
and ``[y_hat * exp(z_(1-L)/2 * u), y_hat * exp(z_(1+L)/2 * u)]``. This is split-conformal
prediction with a normalised (locally weighted) score (Papadopoulos et al. 2008; Lei et al.
2018, "Distribution-Free Predictive Inference for Regression", Sec. 5.2) whose
exchangeability is across *curves*, not within one: its coverage holds for a new curve like
the corpus's, which is what the leave-one-source-out scores in ``benchmarks/RESULTS.md``
measure, source by source.

Predictions further beyond the runs than any held-out point of the corpus (``supported``
False in the predict table) get the interval of the largest calibrated distance, widened
in proportion, and a warning: nothing in the corpus says how wrong a law gets that far out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

from scalefit.errors import ScalefitError

#: Features a scale may use, with the floor added before taking their log.
TERMS = {"spread": 1e-6, "slope_distance": 1e-4, "sigma": 1e-6, "distance": 1e-6}
#: Level of the fit's own prediction interval whose half-width is the ``spread`` feature.
SPREAD_LEVEL = 0.9
#: Probabilities at which the shipped model keeps the quantiles of the scores.
GRID = np.round(np.linspace(0.005, 0.995, 199), 6)
#: Finite-difference step (natural log of x) of the local log-slope.
_STEP = 1e-4


@dataclass(frozen=True)
class ExtrapolationModel:
    """Quantiles of calibrated extrapolation scores, and where they come from.

    ``ExtrapolationModel.default()`` is the model shipped with the library;
    ``ExtrapolationModel.calibrate(...)`` builds one from records of held-out errors (how
    the shipped one was made, by ``benchmarks/bench_loso.py``). Pass either to
    ``Fit.predict(..., extrapolation=model)``; ``extrapolation=None`` turns it off.
    """

    terms: tuple[str, ...]
    coefficients: tuple[float, ...]
    probabilities: tuple[float, ...]
    quantiles: tuple[float, ...]
    max_distance: float
    provenance: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        unknown = [t for t in self.terms if t not in TERMS]
        if unknown or len(self.coefficients) != len(self.terms) + 1:
            raise ScalefitError(
                f"an extrapolation model's terms must be among {sorted(TERMS)} with one coefficient each plus an "
                f"intercept; got terms {list(self.terms)} and {len(self.coefficients)} coefficients"
            )
        if not all(np.isfinite(self.coefficients)):
            raise ScalefitError(f"an extrapolation model's coefficients must be finite, got {self.coefficients}")
        p, q = np.asarray(self.probabilities, float), np.asarray(self.quantiles, float)
        if p.shape != q.shape or p.ndim != 1 or len(p) < 2 or np.any(np.diff(p) <= 0) or np.any(np.diff(q) < 0):
            raise ScalefitError(
                "an extrapolation model needs increasing probabilities and non-decreasing quantiles of equal length"
            )
        if not (np.isfinite(self.max_distance) and self.max_distance > 0):
            raise ScalefitError(f"max_distance={self.max_distance!r} must be a finite distance > 0")

    # -- building ------------------------------------------------------------------------
    @classmethod
    def default(cls) -> ExtrapolationModel:
        """The model shipped with scalefit (see the module docstring and its provenance)."""
        return _shipped()

    @classmethod
    def calibrate(
        cls,
        errors: np.ndarray,
        features: Mapping[str, np.ndarray],
        weights: np.ndarray,
        *,
        terms: tuple[str, ...] = ("spread", "slope_distance"),
        provenance: Mapping | None = None,
    ) -> ExtrapolationModel:
        """A model from held-out log errors ``log y - log y_hat`` of extrapolated points
        (``distance > 0``), their ``features`` (as :meth:`features` gives, plus ``spread``)
        and a weight per point (e.g. each source weighing the same): the scale's
        coefficients by weighted least squares of ``log |error|``, then the weighted
        quantiles of the scores."""
        unknown = [t for t in terms if t not in TERMS]
        if unknown:
            raise ScalefitError(f"terms={list(terms)}: {unknown} not among {sorted(TERMS)}")
        errors = np.asarray(errors, float)
        weights = np.asarray(weights, float)
        design = _design(terms, features)
        ok = np.isfinite(errors) & np.all(np.isfinite(design), axis=1) & (weights > 0)
        if ok.sum() < 20:
            raise ScalefitError(f"calibrate(): {int(ok.sum())} usable points; an extrapolation model needs >= 20")
        root = np.sqrt(weights[ok])
        target = np.log(np.abs(errors[ok]) + 1e-5)
        coef = np.linalg.lstsq(design[ok] * root[:, None], target * root, rcond=None)[0]
        z = errors[ok] / np.exp(design[ok] @ coef)
        q = weighted_quantiles(z, weights[ok], GRID)
        far = float(np.max(np.asarray(features["distance"], float)[ok]))
        return cls(tuple(terms), tuple(coef.tolist()), tuple(GRID.tolist()), tuple(q.tolist()), far,
                   dict(provenance or {}))  # fmt: skip

    # -- using ----------------------------------------------------------------------------
    @staticmethod
    def features(law, params: Mapping[str, float], ranges: Mapping, sigma: float, x: Mapping) -> dict:
        """``distance``, ``slope_distance`` and ``sigma`` of predictions at ``x`` (arrays per
        law variable) from a law fitted at ``params`` to runs spanning ``ranges``."""
        x = {v: np.asarray(x[v], float) for v in law.variables}
        n = len(next(iter(x.values())))
        distance = np.zeros(n)
        slope_distance = np.zeros(n)
        edge = {v: np.clip(x[v], *ranges[v]) if v in ranges else x[v] for v in law.variables}
        with np.errstate(all="ignore"):
            base = np.log(np.asarray(law.evaluate(params, edge), float))
            for v, (lo, hi) in ranges.items():
                # beyond on either side only: a 0 inside runs that include 0 is not beyond (log 0/0)
                d = np.where(x[v] > hi, np.log(x[v] / hi), 0.0) + np.where(x[v] < lo, np.log(lo / x[v]), 0.0)
                if not np.any(d > 0):
                    continue
                up = {**edge, v: edge[v] * np.exp(np.where(x[v] > hi, -_STEP, _STEP))}
                slope = np.abs(np.log(np.asarray(law.evaluate(params, up), float)) - base) / _STEP
                distance += d
                slope_distance += np.where(d > 0, np.nan_to_num(slope, nan=0.0, posinf=0.0) * d, 0.0)
        return {"distance": distance, "slope_distance": slope_distance, "sigma": np.full(n, float(sigma))}

    def limits(self, features: Mapping[str, np.ndarray], interval: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper log-offsets from the prediction at central probability
        ``interval``: ``log y`` lies in ``[log y_hat + lower, log y_hat + upper]``. Beyond
        ``max_distance`` the offsets grow in proportion to the distance."""
        p = np.asarray(self.probabilities, float)
        q = np.asarray(self.quantiles, float)
        lo_p, hi_p = (1.0 - interval) / 2.0, (1.0 + interval) / 2.0
        z_lo = float(np.interp(lo_p, p, q))
        z_hi = float(np.interp(hi_p, p, q))
        u = self.scale(features)
        d = np.asarray(features["distance"], float)
        stretch = np.maximum(d / self.max_distance, 1.0)
        return np.minimum(z_lo, 0.0) * u * stretch, np.maximum(z_hi, 0.0) * u * stretch

    def scale(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """The score scale ``u`` at each prediction (see the module docstring)."""
        return np.exp(_design(self.terms, features) @ np.asarray(self.coefficients, float))

    def supported(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Whether each prediction lies within the distances the model was calibrated on."""
        return np.asarray(features["distance"], float) <= self.max_distance

    # -- files --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready form (the format of the shipped model's file)."""
        return {
            "terms": list(self.terms),
            "coefficients": list(self.coefficients),
            "probabilities": list(self.probabilities),
            "quantiles": list(self.quantiles),
            "max_distance": self.max_distance,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ExtrapolationModel:
        """Rebuild a model from :meth:`to_dict` output."""
        try:
            return cls(
                tuple(str(t) for t in d["terms"]),
                tuple(float(v) for v in d["coefficients"]),
                tuple(float(v) for v in d["probabilities"]),
                tuple(float(v) for v in d["quantiles"]),
                float(d["max_distance"]),
                dict(d.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScalefitError(f"not an extrapolation model ({type(exc).__name__}: {exc})") from None

    def __repr__(self) -> str:
        formula = " * ".join(
            [f"{np.exp(self.coefficients[0]):.3g}"]
            + [f"({t} + {TERMS[t]:g})^{c:.3g}" for t, c in zip(self.terms, self.coefficients[1:], strict=True)]
        )
        p, q = np.asarray(self.probabilities), np.asarray(self.quantiles)
        lo, hi = np.interp(0.05, p, q), np.interp(0.95, p, q)
        src = self.provenance.get("sources")
        return (
            f"ExtrapolationModel(scale u = {formula}, 90% scores [{lo:.3g}, {hi:.3g}] x u, "
            f"calibrated to {self.max_distance / np.log(10):.2g} decades beyond the runs"
            + (f", {len(src)} sources)" if src else ")")
        )


def _design(terms: tuple[str, ...], features: Mapping[str, np.ndarray]) -> np.ndarray:
    """Columns ``1, log(f_k + eps_k)`` of the scale's regression."""
    n = len(np.atleast_1d(features["distance"]))
    cols = [np.ones(n)]
    for t in terms:
        if t not in features:
            raise ScalefitError(f"the extrapolation model needs the feature {t!r}; got {sorted(features)}")
        with np.errstate(divide="ignore", invalid="ignore"):
            cols.append(np.log(np.asarray(features[t], float) + TERMS[t]))
    return np.column_stack(cols)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Quantiles of ``values`` under ``weights`` (the inverse of the weighted empirical
    distribution function, interpolated at mid-points)."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cum = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return np.interp(probabilities, cum, v)


@cache
def _shipped() -> ExtrapolationModel:
    text = resources.files("scalefit.datasets").joinpath("extrapolation_model.json").read_text()
    return ExtrapolationModel.from_dict(json.loads(text))
