"""The catalogue of published laws, each built from the same terms a user composes.

Names follow ``design/paper.md``. Python names cannot carry primes, so the paper's
``alpha'`` is ``alpha_prime`` and ``alpha''`` is ``alpha_pprime`` (LaTeX output prints the
primes). Variables: ``Dp`` pre-training samples, ``M`` parameters of the trained model,
``Df`` fine-tuning samples, ``Mt`` parameters of the teacher; ``x`` the one variable of a
learning curve (training examples seen) in Alabdulmohsin et al.'s estimators.
"""

from __future__ import annotations

from ._errors import ScalefitError
from ._laws import Constant, Exponent, Law, Power
from ._validate import suggest

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
    )
}


def list_laws() -> dict[str, Law]:
    """The catalogue: name -> :class:`Law` (a copy of the mapping)."""
    return dict(CATALOGUE)


def get_law(name: str) -> Law:
    """A catalogue law by name, with an error listing the names if it is unknown."""
    if not isinstance(name, str):
        raise TypeError(f"law name must be a string, got {type(name).__name__} {name!r}; known: {sorted(CATALOGUE)}")
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ScalefitError(
            f"unknown law {name!r}{suggest(name, CATALOGUE)}; the catalogue has {sorted(CATALOGUE)} "
            "(see `scalefit laws`)"
        ) from None
