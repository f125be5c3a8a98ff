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

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from scalefit import validate as check
from scalefit.laws.law import Law
from scalefit.laws.terms import Constant, Product, Sum

CORRELATION_LIMIT = 0.99
FLAT_LIMIT = 1e-8  # eigenvalue of the correlation-scaled curvature below this share of the largest
SMALL_EXPONENT = 0.05


@dataclass(frozen=True)
class IntervalRule:
    """When an interval is narrow enough to call its parameter identified.

    Every reported interval (95% by default: bootstrap percentile or posterior credible,
    one-sided from a bound where the parameter sits at one) must be finite and

    * for an exponent: ``upper - lower <= exponent_width`` (default 1.0: an exponent known
      only to within a unit changes a decade's extrapolation by a factor of 10);
    * for any other parameter (positive: amplitudes, scales, constants, locations, shapes):
      ``upper / lower <= max_ratio`` (default 1e3: three decades).

    A one-sided interval (a parameter at a bound, or a constant whose interval reaches 0)
    needs its far end finite (an exponent's within ``exponent_width`` of the bound, a
    constant's at most ``max_ratio`` times the target's typical size); it is reported as
    bounded on one side only. An amplitude or scale whose interval reaches 0 is not
    determined: the runs cannot tell whether its term is there at all.
    """

    max_ratio: float = 1e3
    exponent_width: float = 1.0
    interval: float = 0.95

    def __post_init__(self):
        object.__setattr__(
            self, "max_ratio", check.number(self.max_ratio, "max_ratio", low=1.0, low_open=True, fix="e.g. 1e3")
        )
        object.__setattr__(
            self,
            "exponent_width",
            check.number(self.exponent_width, "exponent_width", low=0.0, low_open=True, fix="e.g. 1.0"),
        )
        object.__setattr__(self, "interval", check.probability(self.interval, "interval"))

    def __str__(self) -> str:
        return (
            f"every {self.interval:.0%} interval finite, upper/lower <= {self.max_ratio:g} "
            f"(exponents: width <= {self.exponent_width:g})"
        )

    def to_dict(self) -> dict:
        return {"max_ratio": self.max_ratio, "exponent_width": self.exponent_width, "interval": self.interval}


@dataclass(frozen=True)
class Identifiability:
    """Is each parameter pinned down by these runs? One verdict from all the evidence.

    Three kinds of evidence, each able to say "not identified":

    * **curvature** at the optimum: ``condition_number`` is that of the curvature with every
      parameter scaled to unit curvature (so it measures trade-offs, not units), over the
      parameters not at a bound; a flat direction is an eigenvalue below ``FLAT_LIMIT`` of
      the largest. ``not_identified`` are the parameters in flat directions;
      ``combinations`` the combinations of them that are determined
      (``{"members": [...], "kind": "sum" | "product"}``);
    * **agreement of starts**: parameters on which starts reaching the same objective
      disagree (:func:`with_unresolved`) join the flat directions;
    * **intervals** (bootstrap replicates or posterior draws): ``undetermined`` lists the
      parameters whose interval breaks ``rule`` (:class:`IntervalRule`), each with its
      interval and why (:func:`with_intervals`). ``rule`` is ``None`` when the fit has no
      intervals (``bootstrap=0``): widths were not checked, and the verdict says so.

    ``ok`` ("identified") requires all three to pass.
    """

    condition_number: float
    eigenvalues: list[float]
    correlated: list[tuple[str, str, float]] = field(default_factory=list)
    flat: list[list[str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    combinations: list[dict] = field(default_factory=list)
    undetermined: list[dict] = field(default_factory=list)
    rule: dict | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing is flagged: no message, no parameter undetermined, no flat direction."""
        return not self.messages and not self.undetermined and not (self.condition_number > 1.0 / FLAT_LIMIT)

    @property
    def not_identified(self) -> list[str]:
        """The parameters in a flat direction of the curvature at the optimum, sorted."""
        return sorted({n for names in self.flat for n in names})

    @property
    def not_determined(self) -> list[str]:
        """Every parameter the verdict names: flat directions, disagreeing starts, intervals too wide."""
        return sorted({*self.not_identified, *(u["name"] for u in self.undetermined)})

    def _rule_text(self) -> str:
        if self.rule is None:
            return "interval widths not checked: the fit has no bootstrap replicates or draws"
        r = self.rule
        return (
            f"rule: {IntervalRule(r['max_ratio'], r['exponent_width'], r['interval'])}; "
            f"intervals from {r.get('source', 'the draws')}"
        )

    def __str__(self) -> str:
        head = f"scaled condition number {self.condition_number:.3g}"
        lines = [f"  - {m}" for m in self.messages]
        lines += [f"  - {u['name']}: {u['why']}" for u in self.undetermined]
        if self.ok:
            return (
                f"identified ({head}; no parameter pair correlated beyond {CORRELATION_LIMIT}; starts agree; "
                f"{self._rule_text()})"
            )
        if not lines:
            return f"not identified ({head}; {self._rule_text()})"
        label = "not identified" if self.flat or self.undetermined else "weakly identified"
        return f"{label} ({head}; {self._rule_text()}):\n" + "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form (the fit file's ``identifiability`` entry)."""
        out = {
            "condition_number": self.condition_number,
            "eigenvalues": self.eigenvalues,
            "correlated": [list(c) for c in self.correlated],
            "flat": self.flat,
            "messages": self.messages,
            "combinations": self.combinations,
            "undetermined": self.undetermined,
        }
        if self.rule is not None:
            out["rule"] = self.rule
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Identifiability:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(
            d["condition_number"],
            d["eigenvalues"],
            [(a, b, c) for a, b, c in d["correlated"]],
            d["flat"],
            d["messages"],
            list(d.get("combinations", [])),
            list(d.get("undetermined", [])),
            d.get("rule"),
        )


def _span_text(lower: float, upper: float) -> str:
    if lower > 0 and np.isfinite(upper):
        return f"spans {np.log10(upper / lower):.3g} decades"
    return "is unbounded" if not np.isfinite(upper) else "reaches 0"


def interval_problems(rows, roles: Mapping[str, str], rule: IntervalRule, y_scale: float) -> list[dict]:
    """Parameters whose interval breaks ``rule``: ``{"name", "lower", "upper", "why"}`` each.

    ``rows`` are ``(name, estimate, lower, upper, one_sided)`` of every free parameter with
    an interval (a parameter at a bound is ``one_sided``); ``roles`` map names to their
    role (``"exponent"``, ``"constant"``, ...), ``y_scale`` is the target's typical size.
    """
    out = []
    level = f"{rule.interval:.0%} interval"
    for name, _estimate, lower, upper, one_sided in rows:
        role = roles.get(name, "constant")
        shown = f"[{lower:.3g}, {upper:.3g}]"
        why = None
        if not (np.isfinite(lower) and np.isfinite(upper)) and not (
            one_sided and (np.isfinite(lower) or np.isfinite(upper))
        ):
            why = f"its {level} {shown} is not finite"
        elif role == "exponent":
            width = upper - lower
            if not np.isfinite(width) or width > rule.exponent_width:
                why = f"its {level} {shown} is {width:.3g} wide (rule: exponents within {rule.exponent_width:g})"
        elif one_sided:
            far = upper if np.isfinite(upper) else lower
            if not np.isfinite(far):
                why = f"its {level} {shown} is not finite on its far side"
        elif lower <= 0:
            if role != "constant":
                why = (
                    f"its {level} {shown} reaches 0: the runs cannot tell whether its term is there at all "
                    f"(rule: upper/lower <= {rule.max_ratio:g})"
                )
            elif not upper <= rule.max_ratio * y_scale:
                why = (
                    f"its {level} {shown} reaches 0 and its upper end is {upper / y_scale:.3g} times the target's size"
                )
        elif not upper / lower <= rule.max_ratio:
            why = f"its {level} {shown} {_span_text(lower, upper)} (rule: upper/lower <= {rule.max_ratio:g})"
        if why is not None:
            out.append({"name": name, "lower": float(lower), "upper": float(upper), "why": why})
    return out


def with_intervals(ident: Identifiability, problems: list[dict], rule: IntervalRule, source: str) -> Identifiability:
    """The verdict with the interval evidence (:func:`interval_problems`) added: parameters
    already in a flat direction are not listed twice."""
    flat = set(ident.not_identified)
    return dataclasses.replace(
        ident,
        undetermined=[p for p in problems if p["name"] not in flat],
        rule={**rule.to_dict(), "source": source},
    )


def _spans(x: Mapping[str, np.ndarray] | None) -> dict[str, tuple[int, float]]:
    """Levels and decades spanned by each variable over the runs."""
    if x is None:
        return {}
    out = {}
    for v, a in x.items():
        a = np.asarray(a, dtype=float)
        positive = a[a > 0]  # a variable may be 0 in some runs (a mixture proportion): decades over the rest
        decades = float(np.log10(positive.max() / positive.min())) if len(positive) else 0.0
        out[v] = (len(np.unique(a)), decades)
    return out


def _advice(law: Law, a: str, b: str, params: Mapping[str, float], x: Mapping[str, np.ndarray] | None) -> str:
    """Why ``a`` and ``b`` trade off, judged against the runs actually given."""
    va, vb = law.specs[a].variable, law.specs[b].variable
    spans = _spans(x)
    if va is not None and va == vb:
        levels, decades = spans.get(va, (0, 0.0))
        if decades < 1.0:
            return (
                f"the runs span {decades:.2g} decades of {va}, too little to pin its power law; add runs at larger {va}"
            )
        return (
            f"the runs span {decades:.2g} decades of {va} ({levels} levels) and still do not pin its power law: "
            f"the error may not follow a single power of {va} (check the lack-of-fit report along {va})"
        )
    if va is None and vb is None:
        return "the runs do not separate their effects; fix one of them, or add runs that vary what they act on"
    if va is None or vb is None:
        v = va or vb
        other = a if va is None else b
        from scalefit.fitting.problem import constant_places

        if constant_places(law).get(other) not in (None, "floor"):  # not a floor: a factor, a ceiling, ...
            return (
                f"the runs do not separate {other} from the {v} dependence; fix {other} from other evidence, "
                f"or add runs over a wider range of {v}"
            )
        exponent = next((p.exponent for p in law.powers() if v in p.variables()), None)
        slope = params.get(exponent) if isinstance(exponent, str) else None
        if slope is not None and slope < SMALL_EXPONENT:
            return (
                f"{exponent} = {slope:.3g}: the {v} term is nearly constant over the runs, so it and the "
                f"constant explain the same data — the runs show little dependence on {v}; fix {exponent} "
                f"or drop the {v} term"
            )
        return (
            f"the error has not yet flattened towards its floor along {v}, so the floor and the "
            f"{v} term explain the same data; add runs at larger {v}"
        )
    if x is not None and va in x and vb in x:
        la, lb = np.log(np.asarray(x[va], dtype=float)), np.log(np.asarray(x[vb], dtype=float))
        r = float(np.corrcoef(la, lb)[0, 1]) if la.std() > 0 and lb.std() > 0 else 1.0
        if abs(r) < 0.5 and spans[va][0] >= 3 and spans[vb][0] >= 3:
            return (
                f"the runs already vary {va} and {vb} independently (correlation of their logs {r:+.2f}), "
                f"yet the law cannot separate their effects: one of the terms is small over these runs, or the "
                "law does not describe them (check the lack-of-fit report)"
            )
    return f"the effects of {va} and {vb} are confounded; add runs that vary {va} and {vb} independently"


def _combination(law: Law, names: list[str]) -> dict | None:
    """The combination of a flat direction's members that the runs do determine, if simple:
    their sum (constants added at one level) or their product (scale factors of one product).
    Anything else (e.g. a floor and an amplitude) has no simple determined combination."""
    if len(names) < 2:
        return None
    kind = next((k for k, group in _scale_groups(law) if set(names) <= set(group)), None)
    if kind == "sum":
        return {"members": list(names), "kind": "sum", "text": " + ".join(names)}
    if kind is None:
        return None
    inverse = [n for n in names if law.specs[n].role == "scale"]
    text = " * ".join(f"(1/{n})" if n in inverse else n for n in names)
    return {"members": list(names), "kind": "product", "text": text, "inverse": inverse}


def _scale_groups(law: Law) -> list[tuple[str, list[str]]]:
    """``("sum", constants added at one level)`` and ``("product", scale factors of one
    product: constants and power coefficients)`` for every sum and product of the law."""
    groups: list[tuple[str, list[str]]] = []

    def walk(t):
        kids = t.children()
        if isinstance(t, Sum):
            groups.append(("sum", [k.name for k in kids if isinstance(k, Constant)]))
        elif isinstance(t, Product):
            factors = [k.name if isinstance(k, Constant) else getattr(k, "coefficient", None) for k in kids]
            groups.append(("product", [n for n in factors if n is not None]))
        for k in kids:
            walk(k)

    walk(law.expr)
    return groups


def combination_values(combo: Mapping, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """Value of a determined combination from parameter values (paper form; arrays or floats)."""
    members = combo["members"]
    if combo["kind"] == "sum":
        return sum(np.asarray(values[n], dtype=float) for n in members)
    out = 1.0
    for n in members:
        v = np.asarray(values[n], dtype=float)
        out = out * (1.0 / v if n in combo.get("inverse", []) else v)
    return out


def structural_redundancy(law: Law) -> list[tuple[str, list[str]]]:
    """Groups of parameters of which only a combination can ever be determined, whatever the
    runs, with that combination's kind: ``("sum", constants added at the same level)`` or
    ``("product", scale factors multiplied together)``."""
    return [(kind, group) for kind, group in _scale_groups(law) if len(group) > 1]


def centre(law: Law, free: tuple[str, ...], J: np.ndarray, log_means: dict[str, float]) -> np.ndarray:
    """Jacobian in centred coordinates: ``log A = t + alpha * mean(log x)``, so ``d/d alpha``
    at fixed ``t`` is ``d/d alpha + mean(log x) * d/d log A``."""
    J = np.array(J, dtype=float)
    index = {n: i for i, n in enumerate(free)}
    for p in law.powers():
        if p.exponent in index and p.coefficient in index:
            J[:, index[p.exponent]] += log_means[p.variable] * J[:, index[p.coefficient]]
    return J


def identifiability(
    law: Law,
    free: tuple[str, ...],
    J: np.ndarray,
    log_means: dict[str, float],
    *,
    skip: tuple[str, ...] = (),
    params: Mapping[str, float] | None = None,
    x: Mapping[str, np.ndarray] | None = None,
) -> Identifiability:
    """Report from the residual Jacobian ``J`` (runs x free parameters, internal form) and
    the mean log of each variable over the runs (as the fit saw them).

    Parameters in ``skip`` (at a bound: their column is ~0) are left out — the fit reports
    them separately. ``params`` (paper form) and ``x`` (the runs) let the advice be checked
    against the fitted values and the design.
    """
    params = dict(params or {})
    J = centre(law, free, J, log_means)
    keep = [i for i, n in enumerate(free) if n not in skip]
    free = tuple(free[i] for i in keep)
    J = J[:, keep]
    F = J.T @ J
    messages: list[str] = []
    d = np.sqrt(np.diag(F))
    dead = [n for n, di in zip(free, d, strict=True) if not di > 0]
    for n in dead:
        messages.append(f"{n} does not affect the predictions at all at the optimum; fix it or drop its term")
    live = [i for i, di in enumerate(d) if di > 0]
    correlated: list[tuple[str, str, float]] = []
    flat: list[list[str]] = []
    combos: list[dict] = []
    eig = np.array([1.0])
    if live:
        Fl = F[np.ix_(live, live)] / np.outer(d[live], d[live])
        eig, V = np.linalg.eigh(Fl)
    cond = float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")
    if len(live) >= 2:
        for j in np.flatnonzero(eig < FLAT_LIMIT * eig[-1]):
            names = [free[live[i]] for i in np.flatnonzero(np.abs(V[:, j]) > 0.3)]
            flat.append(names)
        cov = np.linalg.pinv(Fl)
        s = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
        with np.errstate(all="ignore"):
            corr = cov / np.outer(s, s)
        in_flat = {n for names in flat for n in names}
        for i in range(len(live)):
            for j in range(i + 1, len(live)):
                a, b = free[live[i]], free[live[j]]
                if abs(corr[i, j]) > CORRELATION_LIMIT and not {a, b} <= in_flat:
                    correlated.append((a, b, float(corr[i, j])))
                    messages.append(
                        f"{a} and {b} trade off (correlation {corr[i, j]:+.3f}): {_advice(law, a, b, params, x)}"
                    )
        for names in flat:
            combo = _combination(law, names)
            if combo is not None:
                combos.append(combo)
                messages.append(
                    f"{', '.join(names)} are not identified separately — only {combo['text']} is determined by "
                    "these runs; fix all but one of them (or tie them)"
                )
            else:
                messages.append(
                    f"flat direction in ({', '.join(names)}): the data do not determine this combination; "
                    "fix one of them or add runs that separate them"
                )
    return Identifiability(cond, [float(e) for e in eig], correlated, flat, messages, combos)


def with_unresolved(ident: Identifiability, spread: Mapping[str, float], limit: float = 0.05) -> Identifiability:
    """Add to the report parameters that the multi-start search found at equal objective with
    values differing by more than ``limit`` (relative): whatever the local curvature says,
    the runs do not determine them."""
    loose = [n for n, s in spread.items() if s > limit and n not in ident.not_identified]
    if not loose:
        return ident
    worst = max(loose, key=spread.get)
    message = (
        f"{', '.join(loose)} are not identified: starts that reach the same objective disagree on them "
        f"({worst} by {spread_text(spread[worst])}); fix some of them, or add runs that vary their variables more"
    )
    return dataclasses.replace(ident, flat=[*ident.flat, loose], messages=[*ident.messages, message])


def spread_text(spread: float) -> str:
    """A relative spread as words with enough digits to be true: '1.2%', '0.15%', or 'a
    factor of 3.4e+05'."""
    if not np.isfinite(spread):
        return "an unbounded amount (a start overflowed)"
    return f"{100 * spread:.2g}%" if spread < 10 else f"a factor of {1 + spread:.2g}"
