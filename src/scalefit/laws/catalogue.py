"""The catalogue of published laws, each built from the same terms a user composes.

Names follow ``design/paper.md``. Python names cannot carry primes, so the paper's
``alpha'`` is ``alpha_prime`` and ``alpha''`` is ``alpha_pprime`` (LaTeX output prints the
primes). Variables: ``Dp`` pre-training samples, ``M`` parameters of the trained model,
``Df`` fine-tuning samples, ``Mt`` parameters of the teacher; ``x`` the one variable of a
learning curve (training examples seen) in Alabdulmohsin et al.'s estimators.
"""

from __future__ import annotations

from scalefit.errors import ScalefitError
from scalefit.laws.formula import looks_like_formula
from scalefit.laws.function_terms import Bend, Implicit, Repeated, Saturate
from scalefit.laws.general import parse_law
from scalefit.laws.law import Law
from scalefit.laws.terms import Constant, Exponent, Power, Term
from scalefit.validate import suggest

_PAPER = "Yang et al. 2025, 'Scaling Laws for Data-Efficient Visual Transfer Learning', arXiv:2504.13219"

paper_error = Law(
    Constant("E_inf")
    + Power("Dp", "alpha", scale="lambda_p")
    + Power("M", "beta", scale="lambda_m")
    + Power("Df", "gamma", scale="lambda_f"),
    name="paper_error",
    metric="error_rate",
    reference=_PAPER + ", Eq. 1",
    description="downstream top-1 error vs pre-training data, model size, fine-tuning data",
)
"""Paper Eq. 1, downstream error rate.

``E(Dp, M, Df) = E_inf + Dp^-alpha / lambda_p + M^-beta / lambda_m + Df^-gamma / lambda_f``
"""

paper_loss = Law(
    Constant("L_inf")
    + Power("Dp", "alpha_pprime", scale="omega_p")
    + Power("M", "beta_pprime", scale="omega_m")
    + Power("Df", "gamma_pprime", scale="omega_f"),
    name="paper_loss",
    metric="loss",
    reference=_PAPER + ", Eq. 2",
    description="downstream cross-entropy loss; same shape as Eq. 1 with its own parameters",
)
"""Paper Eq. 2, downstream cross-entropy loss.

``L(Dp, M, Df) = L_inf + Dp^-alpha'' / omega_p + M^-beta'' / omega_m + Df^-gamma'' / omega_f``
(``alpha''`` is spelt ``alpha_pprime``).
"""

paper_distilled = Law(
    Constant("E_inf_prime")
    + Power("Dp", "alpha_prime", scale="lambda_p_prime")
    + Power("M", "beta_prime", scale="lambda_m_prime")
    + Power("Df", "gamma_prime", scale="lambda_f_prime")
    + Power("Mt", "eta_prime", scale="delta_prime"),
    name="paper_distilled",
    metric="error_rate",
    reference=_PAPER + ", Eq. 4 (student/teacher names as settled by its Table 2 and Lemma 1)",
    description="error of a student of size M distilled from a teacher of size Mt",
)
"""Paper Eq. 4, error of a distilled student.

``E'(Dp, M, Df, Mt) = E'_inf + Dp^-alpha' / lambda'_p + M^-beta' / lambda'_m
+ Df^-gamma' / lambda'_f + Mt^-eta' / delta'``. ``M`` is the student (the trained model),
``Mt`` the teacher. ``alpha'`` is spelt ``alpha_prime``, ``lambda'_p`` ``lambda_p_prime``.
"""

transfer_gap = Law(
    Constant("E") + (Power("Dp", "alpha", amplitude="A") + Constant("G")) * Power("Df", "beta"),
    name="transfer_gap",
    metric=None,
    reference=(
        "Barnett 2024, 'An Empirical Study of Scaling Laws for Transfer', arXiv:2408.16947; "
        "same shape as Mikami et al. 2022, arXiv:2206.04431"
    ),
    description="loss vs pre-training data Dp and fine-tuning data Df with a transfer gap G",
)
"""Transfer-gap law ``L(Dp, Df) = E + (A * Dp^-alpha + G) * Df^-beta``.

With unlimited pre-training the loss still falls only as ``G * Df^-beta``: a small ``G``
makes pre-training the cheap lever, a large ``G`` makes fine-tuning data the one to buy.
"""

chinchilla = Law(
    Constant("E") + Power("N", "alpha", amplitude="A") + Power("D", "beta", amplitude="B"),
    name="chinchilla",
    metric="loss",
    reference=(
        "Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models', "
        "arXiv:2203.15556 (Approach 3); refit by Besiroglu et al. 2024, arXiv:2404.10102"
    ),
    description="language-model loss vs parameters N and training tokens D",
)
"""Chinchilla ``L(N, D) = E + A * N^-alpha + B * D^-beta``."""

_REVISITING = (
    "Alabdulmohsin, Neyshabur & Zhai 2022, 'Revisiting Neural Scaling Laws in Language and Vision', "
    "NeurIPS 2022, arXiv:2209.06640"
)

revisiting_m1 = Law(
    Power("x", "c", amplitude="b"),
    name="revisiting_m1",
    metric=None,
    reference=_REVISITING + ", estimator M1",
    description="a pure power law in one variable x (learning curve without a floor)",
)
"""Estimator M1: ``y = b * x^-c``.

The paper writes ``y = b x^c`` with ``c < 0``; here the exponent ``c >= 0`` carries the sign.
"""

revisiting_m2 = Law(
    Constant("e_inf") + Power("x", "c", amplitude="b"),
    name="revisiting_m2",
    metric=None,
    reference=_REVISITING + ", estimator M2",
    description="a power law in one variable x plus an irreducible floor e_inf",
)
"""Estimator M2: ``y = e_inf + b * x^-c`` (the paper's ``y - e_inf = b x^c``, ``c < 0``)."""

revisiting_m3 = Law(
    Constant("b") * (Power("x", 1) + Constant("g")) ** Exponent("c"),
    name="revisiting_m3",
    metric=None,
    reference=_REVISITING + ", estimator M3",
    description="a power law in x that bends to the floor b * g^c: y = b (1/x + g)^c",
)
"""Estimator M3: ``y = b * (x^-1 + g)^c``, ``c >= 0``.

Falls as ``b * x^-c`` while ``1/x`` dominates ``g`` and flattens towards ``b * g^c`` for
``x >> 1/g``. The paper writes the exponent with its own sign convention (``(x^-1 + g)^-c``
with ``c < 0``); its released estimator fits ``beta * (1/x + gamma)^c`` with ``c >= 0``,
as here.
"""

revisiting_m4 = Law(
    Implicit(Power("x", "c", amplitude="b"), "e_inf", "e_0", "a"),
    name="revisiting_m4",
    metric=None,
    reference=_REVISITING + ", estimator M4",
    description="a learning curve from a ceiling e_0 to a floor e_inf, power law in between",
)
"""Estimator M4: ``y`` solves ``(y - e_inf) / (e_0 - y)^a = b * x^-c`` (the paper's
``beta x^c`` with ``c < 0``): ``y`` starts near ``e_0`` (the error of a model that has
learnt nothing), falls as a power law and flattens to ``e_inf``; ``a`` shapes the start
(``a = 0`` is M2 capped at ``e_0``). The paper's best extrapolator on its benchmark.
"""


def broken_power_law(variable: str = "x", breaks: int = 1, *, name: str | None = None) -> Law:
    """Caballero et al.'s broken neural scaling law (BNSL) with ``breaks`` breaks.

    ``y = a + b * x^-c0 * prod_i (1 + (x / d_i)^(1 / f_i))^(-c_i * f_i)``: a power law of
    slope ``c0`` whose slope becomes ``c0 + c1 + ... + c_i`` past the ``i``-th break ``d_i``,
    each break of sharpness ``f_i`` (:class:`~scalefit.Bend`), above a floor ``a``. The
    ``c_i`` are ``>= 0`` by default (each break steepens the curve); give ``bounds`` for
    breaks that flatten it.

    Parameters
    ----------
    variable : str
        The law's one variable (default ``"x"``).
    breaks : int
        Number of breaks, at least 1.
    name : str, optional
        The law's name (default ``"bnsl"`` for one break, ``"bnsl_<breaks>"`` otherwise).

    Returns
    -------
    Law

    Examples
    --------
    >>> print(broken_power_law("x", 2))
    a + b * x^-c0 * bend(x, c1, d1, f1) * bend(x, c2, d2, f2)
    """
    from scalefit.validate import integer

    breaks = integer(breaks, "breaks", minimum=1)
    term = Power(variable, "c0", amplitude="b")
    for i in range(1, breaks + 1):
        term = term * Bend(variable, f"c{i}", f"d{i}", f"f{i}")
    return Law(
        Constant("a") + term,
        name=name or ("bnsl" if breaks == 1 else f"bnsl_{breaks}"),
        metric=None,
        reference="Caballero, Gupta, Rish & Krueger 2023, 'Broken Neural Scaling Laws', ICLR 2023, arXiv:2210.14891",
        description=f"a smoothly broken power law with {breaks} break{'s' if breaks > 1 else ''} above a floor a",
    )


bnsl = broken_power_law("x", 1)
"""BNSL with one break: ``y = a + b * x^-c0 * (1 + (x / d1)^(1 / f1))^(-c1 * f1)``."""

bnsl_2 = broken_power_law("x", 2)
"""BNSL with two breaks."""

muennighoff = Law(
    Constant("E")
    + Power("N", "alpha", amplitude="A")
    + Constant("B") * Repeated("D", "U", "R_star") ** -Exponent("beta"),
    name="muennighoff",
    metric="loss",
    reference=(
        "Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', NeurIPS 2023, arXiv:2305.16264, "
        "Eq. 5 with the data term only"
    ),
    description="language-model loss vs parameters N, tokens D and unique tokens U (repeated data)",
)
"""Muennighoff et al.'s data-constrained law, data side:
``L(N, D, U) = E + A * N^-alpha + B * D'^-beta`` with the effective data
``D' = U + U * R_star * (1 - exp(-R / R_star))``, ``R = D / U - 1`` repetitions
(:class:`~scalefit.Repeated`). Their Eq. 5 also discounts excess parameters (``N'`` with
``R_N*``); that part needs the compute-optimal model size for ``U`` and is not included.
They report ``R_D* = 15.4``.
"""

saturating_error = Law(
    Saturate(Constant("E") + Power("x", "alpha", amplitude="A"), "chance"),
    name="saturating_error",
    metric="error_rate",
    reference=(
        "this library: the power law E + A x^-alpha passed through chance (1 - exp(-law / chance)), "
        "the soft minimum with the chance error used for bounded metrics"
    ),
    description="an error rate that is a power law when small and bends towards chance, never above it",
)
"""Saturating error law: ``y = chance * (1 - exp(-(E + A * x^-alpha) / chance))``.

Equal to ``E + A x^-alpha`` well below ``chance`` and never above it: fit error rates whose
small-data end lies near chance (fix ``chance`` at ``1 - 1/classes`` when it is known).
"""

CATALOGUE: dict[str, Law] = {
    law.name: law
    for law in (
        paper_error,
        paper_loss,
        paper_distilled,
        transfer_gap,
        chinchilla,
        revisiting_m1,
        revisiting_m2,
        revisiting_m3,
        revisiting_m4,
        bnsl,
        bnsl_2,
        muennighoff,
        saturating_error,
    )
}
"""Every catalogue law by its name (``get_law`` and ``list_laws`` read it; ``scalefit laws`` prints it)."""


from scalefit.laws.published import GENERAL_LAWS  # noqa: E402 - laws on the general expression path

CATALOGUE.update(GENERAL_LAWS)


def list_laws() -> dict[str, Law]:
    """The catalogue: name -> :class:`Law` (a copy of the mapping).

    Returns
    -------
    dict of str to Law
    """
    return dict(CATALOGUE)


def is_catalogued(law: Law) -> bool:
    """Whether ``law`` is the catalogue's law of its name (declared variables, signs kept)."""
    known = CATALOGUE.get(law.name)
    return known is law or known == law


def get_law(name: str) -> Law:
    """A catalogue law by name, with an error listing the names if it is unknown.

    Parameters
    ----------
    name : str
        A key of :data:`CATALOGUE`, e.g. ``"paper_error"`` (``scalefit laws`` lists them).

    Returns
    -------
    Law
    """
    if not isinstance(name, str):
        raise TypeError(f"law name must be a string, got {type(name).__name__} {name!r}; known: {sorted(CATALOGUE)}")
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ScalefitError(
            f"unknown law {name!r}{suggest(name, CATALOGUE)}; the catalogue has {sorted(CATALOGUE)} "
            "(see `scalefit laws`)"
        ) from None


def as_law(law: Law | Term | str) -> Law:
    """Accept a :class:`Law`, a bare :class:`Term` or a formula string (one with an
    operator, e.g. ``"E + A*N^-alpha"``: :func:`scalefit.parse_law`) wherever a law is
    expected. A catalogue name is refused with a pointer to :func:`scalefit.get_law`.

    Parameters
    ----------
    law : Law, Term or str
        The law, a term to wrap as one, or a formula.

    Returns
    -------
    Law
    """
    if isinstance(law, Law):
        return law
    if isinstance(law, Term):
        return Law(law)
    if isinstance(law, str):
        if looks_like_formula(law):
            return parse_law(law)
        if law in CATALOGUE:
            also = f" (or pass scalefit.{law})" if isinstance(globals().get(law), Law) else ""
            raise TypeError(
                f"law must be a scalefit Law or term object, got the name {law!r} of a catalogue law; pass the "
                f"law itself: scalefit.get_law({law!r}){also}"
            )
        raise TypeError(
            f"law must be a scalefit Law or term (e.g. scalefit.paper_error) or a formula with an operator (e.g. "
            f"'E + A*N^-alpha'), got the string {law!r}, which is neither a catalogue name"
            f"{suggest(law, CATALOGUE)} nor a formula; catalogue laws are listed by scalefit.list_laws() (pass "
            "scalefit.get_law(name))"
        )
    raise TypeError(
        f"law must be a scalefit Law or term (e.g. scalefit.paper_error) or a formula string (e.g. "
        f"'E + A*N^-alpha'), got {type(law).__name__} {law!r}; catalogue laws are listed by scalefit.list_laws()"
    )
