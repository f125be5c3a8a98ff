"""The objective of a least-squares fit: which loss of which residuals is summed over the runs.

* ``"huber"`` (default) — Huber loss (``delta = 1e-3``) of log-residuals
  ``log f(x) - log y``, as Hoffmann et al. 2022 and Besiroglu et al. 2024 fit Chinchilla;
* ``"squared_log"`` — sum of squared log-residuals;
* ``"squared"`` — sum of squared residuals ``f(x) - y`` (use for targets that can be 0).

Plain data, without JAX: a saved fit names its objective, and reading or predicting from it
imports no solver.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalefit.errors import ScalefitError

OBJECTIVES = ("huber", "squared_log", "squared")


@dataclass(frozen=True)
class Objective:
    """The loss that was minimised: its name and Huber ``delta`` (``None`` otherwise)."""

    name: str
    delta: float | None = None

    @classmethod
    def make(cls, name: str, delta: float | None) -> Objective:
        if name not in OBJECTIVES:
            raise ScalefitError(f"objective must be one of {list(OBJECTIVES)}, got {name!r}")
        if name == "huber":
            d = 1e-3 if delta is None else float(delta)
            if not d > 0:
                raise ScalefitError(f"delta (the Huber threshold) must be > 0, got {delta!r}")
            return cls(name, d)
        return cls(name, None)

    @property
    def log(self) -> bool:
        """Whether residuals are taken on log values."""
        return self.name != "squared"

    def __str__(self) -> str:
        if self.name == "huber":
            return f"Huber(delta={self.delta:g}) on log-residuals, summed"
        if self.name == "squared_log":
            return "squared log-residuals, summed"
        return "squared residuals, summed"
