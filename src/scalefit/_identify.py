"""Identifiability at the optimum: is each parameter pinned down by these runs?

From the Jacobian ``J`` of the residuals with respect to the free parameters in internal
form (log-amplitudes, exponents) — with each power term's log-amplitude *centred* at the
mean log of its variable, so that ``log A`` and ``alpha`` are not reported as trading off
merely because ``log x`` is far from 0 — ``F = J^T J`` is the Gauss-Newton curvature (Fisher
information up to the noise scale). The report gives its condition number, the
correlations implied by ``F^-1``, and the flat directions of the correlation-scaled ``F``,
and turns them into plain advice: which parameters trade off and which runs to add.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._laws import Law

CORRELATION_LIMIT = 0.99
FLAT_LIMIT = 1e-8


@dataclass(frozen=True)
class Identifiability:
    """Curvature of the objective at the optimum, and what it means for the user."""

    condition_number: float
    eigenvalues: list[float]
    correlated: list[tuple[str, str, float]] = field(default_factory=list)
    flat: list[list[str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.messages

    def __str__(self) -> str:
        head = f"condition number {self.condition_number:.3g}"
        if self.ok:
            return f"identified ({head}; no parameter pair correlated beyond {CORRELATION_LIMIT})"
        return f"weakly identified ({head}):\n" + "\n".join(f"  - {m}" for m in self.messages)

    def to_dict(self) -> dict:
        return {
            "condition_number": self.condition_number,
            "eigenvalues": self.eigenvalues,
            "correlated": [list(c) for c in self.correlated],
            "flat": self.flat,
            "messages": self.messages,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Identifiability:
        return cls(
            d["condition_number"],
            d["eigenvalues"],
            [(a, b, c) for a, b, c in d["correlated"]],
            d["flat"],
            d["messages"],
        )


def _advice(law: Law, a: str, b: str) -> str:
    va, vb = law.specs[a].variable, law.specs[b].variable
    if va is not None and va == vb:
        return f"the runs span too little of {va} to pin its power law; add runs at larger {va}"
    if va is None or vb is None:
        v = va or vb
        return (
            f"the error has not yet flattened towards its floor along {v}, so the floor and the "
            f"{v} term explain the same data; add runs at larger {v}"
        )
    return f"the effects of {va} and {vb} are confounded; add runs that vary {va} and {vb} independently"


def centre(law: Law, free: tuple[str, ...], J: np.ndarray, log_means: dict[str, float]) -> np.ndarray:
    """Jacobian in centred coordinates: ``log A = t + alpha * mean(log x)``, so ``d/d alpha``
    at fixed ``t`` is ``d/d alpha + mean(log x) * d/d log A``."""
    J = np.array(J, dtype=float)
    index = {n: i for i, n in enumerate(free)}
    for p in law.powers():
        if p.exponent in index and p.coefficient in index:
            J[:, index[p.exponent]] += log_means[p.variable] * J[:, index[p.coefficient]]
    return J


def identifiability(law: Law, free: tuple[str, ...], J: np.ndarray, log_means: dict[str, float]) -> Identifiability:
    """Report from the residual Jacobian ``J`` (runs x free parameters, internal form) and
    the mean log of each variable over the runs."""
    J = centre(law, free, J, log_means)
    F = J.T @ J
    eig = np.linalg.eigvalsh(F)
    cond = float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")
    messages: list[str] = []
    d = np.sqrt(np.diag(F))
    dead = [n for n, di in zip(free, d, strict=True) if not di > 0]
    for n in dead:
        messages.append(f"{n} does not affect the predictions at all at the optimum; fix it or drop its term")
    live = [i for i, di in enumerate(d) if di > 0]
    correlated: list[tuple[str, str, float]] = []
    flat: list[list[str]] = []
    if len(live) >= 2:
        Fl = F[np.ix_(live, live)] / np.outer(d[live], d[live])
        w, V = np.linalg.eigh(Fl)
        for j in np.flatnonzero(w < FLAT_LIMIT * w[-1]):
            names = [free[live[i]] for i in np.flatnonzero(np.abs(V[:, j]) > 0.3)]
            flat.append(names)
        cov = np.linalg.pinv(Fl)
        s = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
        corr = cov / np.outer(s, s)
        for i in range(len(live)):
            for j in range(i + 1, len(live)):
                if abs(corr[i, j]) > CORRELATION_LIMIT:
                    a, b = free[live[i]], free[live[j]]
                    correlated.append((a, b, float(corr[i, j])))
                    messages.append(f"{a} and {b} trade off (correlation {corr[i, j]:+.3f}): {_advice(law, a, b)}")
        for names in flat:
            messages.append(
                f"flat direction in ({', '.join(names)}): the data do not determine this combination; "
                "fix one of them or add runs that separate them"
            )
    return Identifiability(cond, [float(e) for e in eig], correlated, flat, messages)
