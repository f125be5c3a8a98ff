"""Which parameters are free, fixed, tied or bounded, and the maps between their forms.

Three forms of a parameter vector appear in fitting:

* *paper form* — what users read and write (``lambda_p = 0.1``);
* *internal form* ``theta`` — log-amplitudes and exponents (``Law.to_internal``);
* *normalised internal form* — the internal form with every variable divided by a
  reference (its geometric mean over the runs): ``A * x^-a = (A * ref^-a) * (x / ref)^-a``,
  so the optimiser, the bootstrap, the identifiability report and the sampler work with
  amplitudes near O(1) whatever units the runs use. Only log-amplitudes change (the shift
  ``a * log ref`` goes to the parameter that carries the power's units: its own amplitude,
  or, for a bare ``x^-a`` inside a product, the other factor's amplitudes and constants);
  exponents and top-level constants are the same in both forms. A variable stays in the
  user's units when a parameter carrying its units is fixed, tied, bounded or given a prior
  by the user (those are statements in the user's units), or when no parameter can carry
  them. Powers of laws carry the shift through: in ``b * (x^-1 + g)^-c`` dividing ``x`` by
  ``ref`` multiplies ``g`` by ``ref`` and ``b`` by ``ref^-c`` (:func:`unit_carriers`);
* *unconstrained* ``u`` — what the optimiser moves: ``theta = lo + exp(u)`` under a lower
  bound (exponents are bounded below by 0 by default), ``hi - exp(u)`` under an upper one,
  ``lo + (hi - lo) * sigmoid(u)`` between two, ``theta = u`` when unbounded.

A :class:`Problem` holds that bookkeeping once, so the least-squares fitter, the
bootstrap, the identifiability report and (later) the Bayesian fitter share it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.laws.arrays import namespace
from scalefit.laws.catalogue import is_catalogued
from scalefit.laws.function_terms import Bend, Implicit, Repeated, Saturate
from scalefit.laws.general import is_general
from scalefit.laws.law import Law
from scalefit.laws.terms import Constant, Pow, Power, Product, Sum, Term

_FREE, _LOWER, _UPPER, _BOTH = 0, 1, 2, 3


def _internal_value(law: Law, name: str, value: float, what: str) -> float:
    spec = law.specs[name]
    value = float(value)
    if not math.isfinite(value):
        raise ScalefitError(f"{what} for {name!r} must be finite, got {value}")
    if spec.role == "exponent":
        return value
    if value < 0 or (value == 0 and spec.role != "constant"):
        fix = (  # a formula (a catalogue law's parameters keep their signs)
            f" — or, if {name} may be negative, declare it signed: parse_law(formula, signed=[{name!r}])"
            if is_general(law) or not is_catalogued(law)
            else ""
        )
        raise ScalefitError(
            f"{what} for {name!r} must be > 0 ({name} is a {spec.role}; its paper-form value is positive), "
            f"got {value}{fix}"
        )
    with np.errstate(divide="ignore"):
        return float(-np.log(value) if spec.role == "scale" else np.log(value))


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _carriers(term: Term) -> list[str] | None:
    """Parameters that shift ``log term`` by a constant when each is shifted by it
    (log-amplitudes, log-constants), or ``None`` if the term has none."""
    if isinstance(term, Constant):
        return [term.name]
    if isinstance(term, Power):
        return None if term.coefficient is None else [term.coefficient]
    if isinstance(term, Sum):
        parts = [_carriers(t) for t in term.terms]
        return None if any(p is None for p in parts) else [n for p in parts for n in p]
    if isinstance(term, Product):
        for t in term.terms:
            found = _carriers(t)
            if found is not None:
                return found
    return None  # a Pow: shifting its base's log by s shifts its log by c * s, not by s


def constant_places(law: Law) -> dict[str, str]:
    """Where each :class:`Constant` of ``law`` sits: ``"floor"`` (added at the top level, an
    irreducible term), ``"factor"`` (a factor of a product, e.g. ``b`` in ``b * (...)^-c``),
    ``"power"`` (inside the base of a :class:`Pow`, e.g. ``g`` in ``(x^-1 + g)^-c``: it is
    on the scale of its sibling terms, not of the target), ``"ceiling"`` (the upper limit of
    an :class:`Implicit` or :class:`Saturate` law; an implicit law's floor is a ``"floor"``),
    ``"count"`` (the ``R_star`` of :class:`Repeated`, in repetitions) or ``"other"`` (a constant in a
    sum inside a product, e.g. a transfer gap)."""
    out: dict[str, str] = {}

    def walk(t: Term, parent: Term | None, in_pow: bool):
        if isinstance(t, Constant):
            if in_pow:
                out[t.name] = "power"
            elif parent is None or (parent is law.expr and isinstance(parent, Sum)):
                out[t.name] = "floor"
            elif isinstance(parent, Product):
                out[t.name] = "factor"
            else:
                out[t.name] = "other"
        if isinstance(t, Implicit):
            out[t.floor], out[t.ceiling] = "floor", "ceiling"
        elif isinstance(t, Saturate):
            out[t.ceiling] = "ceiling"
        elif isinstance(t, Repeated):
            out[t.r_star] = "count"
        for child in t.children():
            walk(child, t, in_pow or isinstance(t, Pow))

    walk(law.expr, None, False)
    return out


#: A polynomial in exponent parameters: monomial (sorted names; () for a number) -> coefficient.
Poly = dict[tuple[str, ...], float]


def _poly_add(a: Poly, b: Poly, k: float = 1.0) -> Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0.0) + k * c
    return {m: c for m, c in out.items() if c != 0.0}


def _poly_times(a: Poly, exponent: str | float, k: float) -> Poly:
    if isinstance(exponent, str):
        return {tuple(sorted((*m, exponent))): k * c for m, c in a.items()}
    return {m: k * float(exponent) * c for m, c in a.items() if c != 0.0}


def _poly_value(poly, theta):
    """Value of a :data:`Poly` (or, as older plans wrote it, an exponent name) at ``theta``."""
    if isinstance(poly, str):
        return theta[poly]
    out = 0.0
    for coef, names in poly:
        term = coef
        for n in names:
            term = term * theta[n]
        out = out + term
    return out


class _NoPlan(Exception):
    pass


def _degree(term: Term, v: str, shifts: list[tuple[str, Poly]]) -> Poly:
    """How ``log term`` changes (per unit of ``log ref``) when variable ``v`` is divided by
    ``ref`` and the carriers are shifted as recorded in ``shifts``: a polynomial in exponents.
    Amplitudes absorb their own power's shift; a product's first carrier absorbs the rest of
    the product's; in a sum, terms with carriers are shifted to match the terms without
    (which must all agree). :class:`_NoPlan` when the terms of a sum disagree."""
    if isinstance(term, Constant):
        return {}
    if isinstance(term, Power):
        if term.variable != v:
            return {}
        d = _poly_times({(): 1.0}, term.exponent, -1.0)
        if term.coefficient is not None:
            shifts.append((term.coefficient, _poly_times({(): 1.0}, term.exponent, 1.0)))
            return {}
        return d
    if isinstance(term, Sum):
        degrees = [_degree(t, v, shifts) for t in term.terms]
        fixed = [d for t, d in zip(term.terms, degrees, strict=True) if _carriers(t) is None]
        target = fixed[0] if fixed else {}
        if any(_poly_add(d, target, -1.0) for d in fixed):
            raise _NoPlan
        if target:
            for t in term.terms:
                if _carriers(t) is not None:
                    shifts.extend((c, dict(target)) for c in _carriers(t))
        return target
    if isinstance(term, Product):
        total: Poly = {}
        for t in term.terms:
            total = _poly_add(total, _degree(t, v, shifts))
        carriers = _carriers(term)
        if total and carriers is not None:
            shifts.extend((c, _poly_add({}, total, -1.0)) for c in carriers)
            return {}
        return total
    if isinstance(term, Pow):
        return _poly_times(_degree(term.base, v, shifts), term.exponent, float(term.sign))
    if isinstance(term, Bend):  # (x / d)^(1/f): the break location d carries x's unit
        if term.variable == v:
            shifts.append((term.location, {(): 1.0}))
        return {}
    if isinstance(term, Implicit | Saturate):  # non-linear in their argument: it must not move at all
        if _degree(term.children()[0], v, shifts):
            raise _NoPlan
        return {}
    if isinstance(term, Repeated):  # compares D with U: both stay in the runs' units
        if v in term.variables():
            raise _NoPlan
        return {}
    raise _NoPlan


@functools.lru_cache(maxsize=64)
def _carriers_cached(law: Law) -> tuple:
    return tuple(_unit_carriers(law))


def unit_carriers(law: Law) -> list[tuple[str, object, list[str] | None]]:
    """:func:`_unit_carriers`, remembered per law (it is asked at every parameter conversion)."""
    try:
        return list(_carriers_cached(law))
    except TypeError:  # an unhashable law: work it out again
        return _unit_carriers(law)


def _unit_carriers(law: Law) -> list[tuple[str, object, list[str] | None]]:
    """Which parameters absorb a change of each variable's unit: ``(variable, multiplier,
    carriers)`` entries — dividing the variable by ``ref`` adds ``multiplier * log ref`` to
    each carrier's internal value (log-amplitude or log-constant). ``multiplier`` is a tuple
    of ``(coefficient, exponent names)`` monomials (e.g. ``((1.0, ("alpha",)),)`` for
    ``A * x^-alpha``; ``((-1.0, ("c",)),)`` for ``b`` in ``b * (x^-1 + g)^-c``). A variable
    whose unit nothing can absorb (a bare ``x^-a`` in a sum, a law of degree other than 0)
    gets one entry ``(variable, (), None)``: it stays in the user's units."""
    out: list[tuple[str, object, list[str] | None]] = []
    for v in law.variables:
        shifts: list[tuple[str, Poly]] = []
        try:
            if _degree(law.expr, v, shifts):
                raise _NoPlan
        except _NoPlan:
            out.append((v, (), None))
            continue
        for carrier, poly in shifts:
            if poly:
                out.append((v, tuple((c, m) for m, c in sorted(poly.items())), [carrier]))
    return out


@dataclass(frozen=True)
class Problem:
    """Free/fixed/tied/bounded parameters of a law, and ``u <-> theta <-> paper`` maps."""

    law: Law
    free: tuple[str, ...]
    fixed: dict[str, float]  # name -> paper-form value
    tied: dict[str, str]  # name -> free or fixed name it equals
    lo: np.ndarray  # internal lower bounds of free parameters (-inf: none)
    hi: np.ndarray  # internal upper bounds of free parameters (+inf: none)
    centres: dict[str, float] = field(default_factory=dict)  # variable -> log reference (normalised form)

    def __post_init__(self):
        # read-only copies: the masks of the maps below are cached from them
        for name in ("lo", "hi"):
            a = np.array(getattr(self, name), dtype=float)
            a.flags.writeable = False
            object.__setattr__(self, name, a)

    @classmethod
    def build(
        cls,
        law: Law,
        fix: Mapping[str, float] | None = None,
        tie: Mapping[str, str] | None = None,
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        x: Mapping[str, np.ndarray] | None = None,
        user_units: tuple[str, ...] = (),
    ) -> Problem:
        """Validate ``fix``/``tie``/``bounds`` (all in paper form) against ``law``.

        With the runs' variables ``x``, each variable whose unit-carrying parameters are all
        free, untied, unbounded and not in ``user_units`` (e.g. parameters given a prior) is
        normalised by its geometric mean over the runs (see the module docstring).
        """
        fix, tie, bounds = dict(fix or {}), dict(tie or {}), dict(bounds or {})
        names = law.parameters
        for arg, d in (("fix", fix), ("tie", tie), ("bounds", bounds)):
            unknown = [n for n in d if n not in names]
            if unknown:
                raise ScalefitError(
                    f"{arg}= names {unknown}, which law {law.name!r} does not have; its parameters are {list(names)}"
                )
        both = sorted(set(fix) & set(tie))
        if both:
            raise ScalefitError(f"{both[0]!r} is both fixed and tied; give it one of fix= or tie=")
        for n, v in fix.items():
            _internal_value(law, n, v, "fix= value")
        fixed = {n: float(v) for n, v in fix.items()}
        for n, target in tie.items():
            if target not in names:
                raise ScalefitError(
                    f"tie={{{n!r}: {target!r}}}: {target!r} is not a parameter of law "
                    f"{law.name!r}; its parameters are {list(names)}"
                )
            if target in tie:
                raise ScalefitError(
                    f"tie={{{n!r}: {target!r}}}: {target!r} is itself tied; tie both to the same "
                    "free parameter instead of chaining ties"
                )
            ra, rb = law.specs[n].role, law.specs[target].role
            same = {ra, rb} <= {"amplitude", "constant"} or ra == rb
            if not same:
                raise ScalefitError(
                    f"tie={{{n!r}: {target!r}}} ties {_a(ra)} {ra} to {_a(rb)} {rb}; only parameters of the "
                    "same kind (exponent with exponent, scale with scale) can be tied"
                )
            if n in bounds:
                raise ScalefitError(f"{n!r} is tied to {target!r}; put its bounds on {target!r}")
        free = tuple(n for n in names if n not in fixed and n not in tie)
        if not free:
            raise ScalefitError("every parameter is fixed or tied; leave at least one free to fit")
        lo = np.full(len(free), -np.inf)
        hi = np.full(len(free), np.inf)
        for i, n in enumerate(free):
            spec = law.specs[n]
            if spec.role == "exponent" and not spec.signed:
                lo[i] = 0.0
            if n not in bounds:
                continue
            b = bounds[n]
            if not isinstance(b, tuple | list) or len(b) != 2:
                raise ScalefitError(f"bounds[{n!r}] must be a (low, high) pair (None for open), got {b!r}")
            blo, bhi = b
            if blo is not None and bhi is not None and float(blo) == float(bhi):
                raise ScalefitError(
                    f"bounds[{n!r}] = ({blo}, {bhi}): equal low and high leave a fixed value, not a range to fit "
                    f"in; write fix={{{n!r}: {float(blo)!r}}} instead (or give low below high)"
                )
            if blo is not None and bhi is not None and not float(blo) < float(bhi):
                raise ScalefitError(
                    f"bounds[{n!r}] = ({blo}, {bhi}): low must be below high; write ({bhi}, {blo}) "
                    "if that is what you meant (scalefit does not swap them for you)"
                )
            if spec.role != "exponent" and blo is not None and float(blo) == 0.0:
                blo = None  # a lower bound of 0 on a positive parameter is no bound
            if spec.role == "scale":  # theta = -log(lambda) reverses the order
                ilo = -np.inf if bhi is None else _internal_value(law, n, bhi, "bounds high")
                ihi = np.inf if blo is None else _internal_value(law, n, blo, "bounds low")
            else:
                ilo = -np.inf if blo is None else _internal_value(law, n, blo, "bounds low")
                ihi = np.inf if bhi is None else _internal_value(law, n, bhi, "bounds high")
            lo[i], hi[i] = ilo, ihi
        centres = {}
        if x is not None:
            pinned = set(fixed) | set(tie) | set(tie.values()) | set(bounds) | set(user_units)
            plans = unit_carriers(law)
            for v in law.variables:
                mine = [c for var, _, c in plans if var == v]
                if all(c is not None and not pinned & set(c) for c in mine):
                    centres[v] = float(np.mean(np.log(np.asarray(x[v], dtype=float))))
        return cls(law, free, fixed, tie, lo, hi, centres)

    # -- normalised <-> user internal form -------------------------------------------
    def _shifts(self, theta: Mapping[str, object]) -> dict[str, object]:
        """Log-shift of each carrier parameter: user = normalised + shift."""
        out: dict[str, object] = {}
        for v, multiplier, carriers in unit_carriers(self.law):
            c = self.centres.get(v)
            if not c or carriers is None:
                continue
            for n in carriers:
                out[n] = out.get(n, 0.0) + _poly_value(multiplier, theta) * c
        return out

    def to_user(self, theta: Mapping[str, object]) -> dict[str, object]:
        """Every internal parameter, normalised form -> the user's units."""
        shift = self._shifts(theta)
        return {n: (v + shift[n] if n in shift else v) for n, v in theta.items()}

    def to_normalised(self, theta: Mapping[str, object]) -> dict[str, object]:
        """Every internal parameter, the user's units -> normalised form."""
        shift = self._shifts(theta)  # exponents are the same in both forms
        return {n: (v - shift[n] if n in shift else v) for n, v in theta.items()}

    def log_variables(self, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``log(x / ref)`` of the runs' variables for normalised variables, ``log x`` for the
        others — what the fitters and the sampler evaluate the law at."""
        with np.errstate(divide="ignore"):  # log 0 = -inf: a variable a general law allows to be 0
            return {v: np.log(np.asarray(a, dtype=float)) - self.centres.get(v, 0.0) for v, a in x.items()}

    def paper_normalised(self, params: Mapping[str, float]) -> dict[str, float]:
        """Paper-form parameters in the user's units -> paper form in normalised units."""
        return self.law.from_internal(self.to_normalised(self.law.to_internal(params)))

    def paper_from_normalised(self, params: Mapping[str, object]) -> dict[str, object]:
        """Paper form in normalised units -> the user's units (numpy, batched)."""
        with np.errstate(over="ignore", divide="ignore"):
            return self.law.from_internal(self.to_user(self.law.to_internal(params)))

    # -- u <-> theta_free ------------------------------------------------------------
    @functools.cached_property
    def _codes(self) -> np.ndarray:
        has_lo, has_hi = np.isfinite(self.lo), np.isfinite(self.hi)
        return np.where(has_lo & has_hi, _BOTH, np.where(has_lo, _LOWER, np.where(has_hi, _UPPER, _FREE)))

    @functools.cached_property
    def _masks(self) -> tuple[np.ndarray, ...]:
        """Per free parameter: unbounded, bounded below only, above only; the finite ends (0 for none)."""
        codes = self._codes
        return (
            codes == _FREE, codes == _LOWER, codes == _UPPER,
            np.where(np.isfinite(self.lo), self.lo, 0.0), np.where(np.isfinite(self.hi), self.hi, 0.0),
        )  # fmt: skip

    def theta_and_slope(self, u):
        """Free internal parameters from unconstrained ``u``, and ``d theta / d u``.

        JAX in, JAX out (for the solver); numpy in, numpy out (for results, with no JAX
        dispatch). Batched over leading axes.
        """
        xp = namespace(u)
        free, lower, upper, lo, hi = self._masks
        with np.errstate(over="ignore", invalid="ignore"):  # branches not taken may overflow
            e = xp.exp(xp.where(free, 0.0, u))
            sig = 1.0 / (1.0 + xp.exp(-u))
            # nested where, not select: the same values, without select's broadcasting (a
            # thousand-group fit maps 16,000 points here several times)
            theta = xp.where(free, u, xp.where(lower, lo + e, xp.where(upper, hi - e, lo + (hi - lo) * sig)))
            slope = xp.where(free, 1.0, xp.where(lower, e, xp.where(upper, -e, (hi - lo) * sig * (1.0 - sig))))
        return theta, slope

    def theta_from_u(self, u):
        """Free internal parameters from unconstrained ``u`` (JAX or numpy)."""
        return self.theta_and_slope(u)[0]

    def u_from_theta(self, theta: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`theta_from_u` (numpy), clipped just inside the bounds."""
        theta = np.asarray(theta, dtype=float)
        codes = self._codes
        width = np.where(codes == _BOTH, self.hi - self.lo, 1.0)
        eps = 1e-9 * np.where(np.isfinite(width), width, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            lo_gap = np.maximum(theta - self.lo, 1e-12)
            hi_gap = np.maximum(self.hi - theta, 1e-12)
            frac = np.clip((theta - self.lo) / width, eps / width, 1 - eps / width)
            return np.select(
                [codes == _FREE, codes == _LOWER, codes == _UPPER],
                [theta, np.log(lo_gap), np.log(hi_gap)],
                np.log(frac) - np.log1p(-frac),
            )

    # -- theta_free -> all parameters ------------------------------------------------
    def theta_dict(self, theta_free) -> dict:
        """Internal value (normalised form) of every law parameter from the free ones (JAX or
        numpy, batched last axis). Fixed and tied values are never unit carriers of a
        normalised variable, so they are the same in both forms."""
        out = {n: theta_free[..., i] for i, n in enumerate(self.free)}
        for n, v in self.fixed.items():
            out[n] = _internal_value(self.law, n, v, "fix= value") + 0.0 * theta_free[..., 0]
        for n, t in self.tied.items():
            out[n] = out[t]
        return {n: out[n] for n in self.law.parameters}

    def paper(self, theta_free: np.ndarray) -> dict[str, np.ndarray]:
        """Paper-form value of every parameter (numpy; batched over leading axes)."""
        theta_free = np.asarray(theta_free, dtype=float)
        with np.errstate(over="ignore"):
            out = self.law.from_internal(self.to_user(self.theta_dict(theta_free)))
        for n, v in self.fixed.items():  # exactly the value given, not exp(log(value))
            out[n] = np.full(theta_free.shape[:-1], v)
        return out

    def free_theta(self, params: Mapping[str, float]) -> np.ndarray:
        """Internal values (normalised form) of the free parameters from a paper-form
        mapping of them in the user's units."""
        user = np.array([_internal_value(self.law, n, params[n], "start value") for n in self.free])
        norm = self.to_normalised(self.theta_dict(user))
        return np.array([float(norm[n]) for n in self.free])

    def to_dict(self, structure_only: bool = False) -> dict:
        """JSON-ready form; ``structure_only`` leaves out the data-dependent ``centres``
        (compiled code depends on the structure only: variables arrive already centred)."""
        out = {
            "free": list(self.free),
            "fixed": dict(self.fixed),
            "tied": dict(self.tied),
            "lo": [None if not np.isfinite(v) else float(v) for v in self.lo],
            "hi": [None if not np.isfinite(v) else float(v) for v in self.hi],
        }
        if not structure_only:
            out["centres"] = dict(self.centres)
        return out

    @classmethod
    def from_dict(cls, law: Law, d: Mapping) -> Problem:
        fixed = {n: float(v) for n, v in d["fixed"].items()}
        lo = np.array([-np.inf if v is None else v for v in d["lo"]], dtype=float)
        hi = np.array([np.inf if v is None else v for v in d["hi"]], dtype=float)
        centres = {str(k): float(v) for k, v in d.get("centres", {}).items()}
        return cls(law, tuple(d["free"]), fixed, dict(d["tied"]), lo, hi, centres)
