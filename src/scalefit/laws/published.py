"""Published laws that need the general expression path (:mod:`scalefit.laws.general`).

Each is written as its paper writes it, with a citation, and a one-line note on what the
runs must vary for its parameters to be identified (:data:`IDENTIFIABILITY`). Where the
form or a constant is our reading of the paper rather than a quotation, the docstring says
so. Each has a known-answer test on synthetic data (``tests/test_catalogue_general.py``).

Laws with inputs computed from the runs' own variables write them out inside the formula:
the fixed supervised-student term of :func:`busbridge_distillation`, the effective
parameters ``N'`` of :data:`muennighoff_full`. Schedule integrals of whole loss curves
(Tissue et al.'s ``S1``, ``S2``) come from :func:`lr_schedule_areas`, one row per step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.laws.general import parse_general
from scalefit.laws.law import Law

#: What each law needs from the runs to identify its parameters (one line each).
IDENTIFIABILITY: dict[str, str] = {}


def _law(name, formula, variables, reference, description, identifiability, **kw) -> Law:
    IDENTIFIABILITY[name] = identifiability
    return parse_general(
        formula, variables, name=name, metric="loss", reference=reference,
        description=f"{description}; identifiability: {identifiability}", **kw,
    )  # fmt: skip


#: Supervised-student law of Busbridge et al. used inside :func:`busbridge_distillation` by
#: default: ``L_S(N, D) = E + (A N^-alpha + B D^-beta)^gamma``. These constants are our reading
#: of the paper's supervised fit, not verified against its tables: pass your own fit's values.
BUSBRIDGE_SUPERVISED = {"E": 1.2204, "A": 3355.0, "alpha": 0.4080, "B": 18186.0, "beta": 0.4311, "gamma": 0.4521}


def busbridge_distillation(
    supervised: Mapping[str, float] | None = None, *, name: str = "busbridge_distillation"
) -> Law:
    """Busbridge et al. 2025 distillation scaling law, with the supervised term fixed.

    ``L_S = L_T + L_T^-c0 * (1 + (L_T / (d1 * LS))^(1/f1))^(-c1*f1) * (A*N^-alpha + B*D^-beta)^gamma``

    with ``N`` the student's parameters, ``D`` its distillation tokens, ``L_T`` the teacher's
    cross-entropy, and ``LS = E + (A_s N^-alpha_s + B_s D^-beta_s)^gamma_s`` the loss the same
    student would reach by supervised training — a derived quantity computed inside the law
    from ``N`` and ``D`` with fixed numbers (``supervised``, default
    :data:`BUSBRIDGE_SUPERVISED`; keys ``E, A, alpha, B, beta, gamma``). The form is our
    reading of the paper's Eq. 8.

    Parameters
    ----------
    supervised : dict, optional
        The supervised law's fixed constants (``E, A, alpha, B, beta, gamma``).
    name : str
        The law's name.

    Returns
    -------
    Law
    """
    s = dict(BUSBRIDGE_SUPERVISED if supervised is None else supervised)
    need = set(BUSBRIDGE_SUPERVISED)
    if set(s) != need or not all(isinstance(v, int | float) and np.isfinite(v) and v > 0 for v in s.values()):
        raise ScalefitError(
            f"supervised= must give positive finite numbers for exactly {sorted(need)}, got {supervised!r}"
        )
    ls = f"({s['E']!r} + ({s['A']!r}*N^-{s['alpha']!r} + {s['B']!r}*D^-{s['beta']!r})^{s['gamma']!r})"
    return _law(
        name,
        f"L_T + L_T^-c0 * (1 + (L_T/(d1*{ls}))^(1/f1))^(-c1*f1) * (A*N^-alpha + B*D^-beta)^gamma",
        ["L_T", "N", "D"],
        "Busbridge et al. 2025, 'Distillation Scaling Laws', arXiv:2502.08606, Eq. 8 (form as we read it; the "
        "supervised constants are placeholders to replace with your own supervised fit)",
        "distilled-student cross-entropy vs student size N, distillation tokens D and teacher loss L_T",
        "needs several teacher losses L_T on both sides of the student's supervised loss to place d1, f1, c1; "
        "c0 trades off with A and B unless L_T varies by more than ~0.5 nats",
        starts={"d1": (0.5, 2.0), "f1": (0.3, 3.0), "c1": (0.1, 2.0), "c0": (0.0, 1.0)},
    )


busbridge_distillation_law = busbridge_distillation()

farseer = _law(
    "farseer",
    "exp(s*N^q + S) + exp(B*N^b + Q) * D^(-exp(A*N^a + E))",
    ["N", "D"],
    "Li et al. 2025, 'Farseer: A Refined Scaling Law in Large Language Models', arXiv:2506.10972 (form as we read it)",
    "loss vs model size N and tokens D with an N-dependent data exponent exp(A N^a + E)",
    "needs >= 4 model sizes, each over >= 3 token counts: every N-dependence (q, b, a) is a curve across sizes; "
    "B and b trade off (exp(B N^b) is nearly flat across sizes when b is small) and B/b/Q need sizes over >= 2 "
    "decades; q, a and S are the best identified",
    signed=["q", "b", "a"],
    starts={"q": (-0.6, 0.0), "b": (-0.6, 0.0), "a": (-0.6, 0.0)},
)

clark_moe = _law(
    "clark_moe",
    "exp(a*log(N) + b*log(E) + c*log(N)*log(E) + d)",
    ["N", "E"],
    "Clark et al. 2022, 'Unified Scaling Laws for Routed Language Models', ICML 2022, arXiv:2202.01169, Eq. 1 "
    "(log L bilinear in log N and log E; their saturating transform of E is left out)",
    "routed (mixture-of-experts) language-model loss vs dense parameters N and number of experts E",
    "linear in its parameters on the log scale: identified with >= 2 values of N and of E and a 2x2 design "
    "for c; E = 1 (dense) is allowed",
)

parscale = _law(
    "parscale",
    "(A/(N*(k*log(P) + 1)))^alpha + E",
    ["N", "P"],
    "Chen et al. 2025, 'Parallel Scaling Law for Language Models', arXiv:2505.10475, Eq. 5",
    "loss vs parameters N and number of parallel streams P (P = 1 is the plain model)",
    "k needs P >= 2 at several N; A and alpha trade off (A carries N's unit) unless N spans >= 1 decade",
)


def data_mixing_law(domains: int = 3, *, name: str | None = None) -> Law:
    """Ye et al. 2024 data-mixing law for one validation domain and ``domains`` training domains.

    ``L(r_1, ..., r_M) = c + k * exp(t1*r1 + ... + tM*rM)`` with mixture proportions ``r_j``
    (0 allowed). Proportions that sum to 1 make ``k`` and a common shift of the ``t_j``
    redundant: fix one, e.g. ``fix={"t1": 0.0}``.

    Parameters
    ----------
    domains : int
        The number of training domains (variables ``r1`` ... ``rM``).
    name : str, optional
        The law's name.

    Returns
    -------
    Law
    """
    if not isinstance(domains, int) or isinstance(domains, bool) or not 1 <= domains <= 64:
        raise ScalefitError(f"domains must be an integer in [1, 64], got {domains!r}")
    inner = " + ".join(f"t{j}*r{j}" for j in range(1, domains + 1))
    return _law(
        name or ("data_mixing" if domains == 3 else f"data_mixing_{domains}"),
        f"c + k*exp({inner})",
        [f"r{j}" for j in range(1, domains + 1)],
        "Ye et al. 2024, 'Data Mixing Laws: Optimizing Data Mixtures by Predicting Language Modeling "
        "Performance', arXiv:2403.16952, Eq. 2",
        f"validation loss vs the mixture proportions r1..r{domains} of {domains} training domains",
        "with proportions summing to 1, k and a common shift of the t_j are one direction: fix one t_j (e.g. "
        "fix={'t1': 0}); each t_j needs >= 3 values of r_j",
    )


data_mixing = data_mixing_law(3)

gao_sae = _law(
    "gao_sae",
    "exp(alpha + beta_k*log(k) + beta_n*log(n) + gamma*log(k)*log(n)) + exp(zeta + eta*log(k))",
    ["n", "k"],
    "Gao et al. 2024, 'Scaling and evaluating sparse autoencoders', arXiv:2406.04093, Eq. for L(n, k) "
    "(form as we read it)",
    "sparse-autoencoder reconstruction loss vs number of latents n and active latents k",
    "the irreducible term exp(zeta + eta log k) is separated from the first only when n spans >= 2 decades at "
    "each k; gamma needs >= 3 values of both n and k",
)

tao_vocabulary = _law(
    "tao_vocabulary",
    "-E + A1*Nnv^-alpha1 + A2*Nv^-alpha2 + B*D^-beta",
    ["Nnv", "Nv", "D"],
    "Tao et al. 2024, 'Scaling Laws with Vocabulary: Larger Models Deserve Larger Vocabularies', NeurIPS 2024, "
    "arXiv:2407.13623, Eq. 5 (unigram-normalised loss, which may be negative)",
    "unigram-normalised loss vs non-vocabulary parameters Nnv, vocabulary parameters Nv and tokens D",
    "targets may be < 0: fit with objective='squared' (with NUTS: noise='normal' as well); E trades off with the "
    "amplitudes unless every variable spans >= 1 decade",
)


def muennighoff_full_law(tokens_per_parameter: float = 20.0, *, name: str = "muennighoff_full") -> Law:
    """Muennighoff et al. 2023 data-constrained law in full (repeated data and excess parameters).

    ``L = E + A * N'^-alpha + B * D'^-beta`` with effective data
    ``D' = U + U*RD*(1 - exp(-(D/U - 1)/RD))`` and effective parameters
    ``N' = UN + UN*RN*(1 - exp(-(N/UN - 1)/RN))``, ``UN = min(N, U / tokens_per_parameter)``:
    the compute-optimal size for ``U`` unique tokens, which we read as Chinchilla's ~20 tokens
    per parameter (the paper derives it from its own fit; pass another ratio if you have one).

    Parameters
    ----------
    tokens_per_parameter : float
        The ratio that sets ``UN``.
    name : str
        The law's name.

    Returns
    -------
    Law
    """
    r = float(tokens_per_parameter)
    if not (np.isfinite(r) and r > 0):
        raise ScalefitError(f"tokens_per_parameter must be a positive number, got {tokens_per_parameter!r}")
    un = f"min(N, U/{r!r})"
    return _law(
        name,
        f"E + A*({un} + {un}*RN*(1 - exp(-(N/{un} - 1)/RN)))^-alpha + B*(U + U*RD*(1 - exp(-(D/U - 1)/RD)))^-beta",
        ["N", "D", "U"],
        "Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', NeurIPS 2023, arXiv:2305.16264, "
        "Eq. 5 with both D' and N' (UN = min(N, U/20) is our reading)",
        "language-model loss vs parameters N, tokens D and unique tokens U, discounting repeated data and "
        "parameters beyond compute-optimal for U",
        "RD needs runs repeating data several times (D/U >= 4); RN needs models well beyond U/20 parameters; "
        "otherwise fix them at the paper's 15.4 and 5.3",
        starts={"RD": (2.0, 40.0), "RN": (1.0, 20.0)},
    )


muennighoff_full = muennighoff_full_law()

tissue_annealing = _law(
    "tissue_annealing",
    "L0 + A*S1^-alpha - C*S2",
    ["S1", "S2"],
    "Tissue et al. 2024, 'Scaling Law with Learning Rate Annealing', arXiv:2408.11029, Eq. 1",
    "loss along a training run vs the forward area S1 and annealing area S2 of its learning-rate schedule "
    "(lr_schedule_areas)",
    "C needs schedules that anneal (S2 > 0 in some rows) at several depths; L0 and A trade off unless S1 spans "
    ">= 1 decade",
)

kumar_precision = _law(
    "kumar_precision",
    "A*(N*(1 - exp(-Pw/gw))*(1 - exp(-Pa/ga))*(1 - exp(-Pkv/gkv)))^-alpha + B*D^-beta + E",
    ["N", "D", "Pw", "Pa", "Pkv"],
    "Kumar et al. 2024, 'Scaling Laws for Precision', arXiv:2411.04330, Eq. for quantisation-aware training "
    "(effective parameters; the post-training-quantisation term is left out)",
    "loss vs parameters N, tokens D and the bit precision of weights Pw, activations Pa and KV cache Pkv",
    "each gamma needs >= 3 precisions of its own tensor below ~8 bits (above, 1 - exp(-P/gamma) ~ 1 and gamma is flat)",
    starts={"gw": (0.5, 5.0), "ga": (0.5, 5.0), "gkv": (0.5, 5.0)},
)

GENERAL_LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        busbridge_distillation_law,
        farseer,
        clark_moe,
        parscale,
        data_mixing,
        gao_sae,
        tao_vocabulary,
        muennighoff_full,
        tissue_annealing,
        kumar_precision,
    )
}


def lr_schedule_areas(lr, decay: float = 0.999) -> tuple[np.ndarray, np.ndarray]:
    """Tissue et al.'s schedule integrals ``(S1, S2)`` after each step of a learning-rate schedule.

    ``S1`` is the forward area ``sum_{i<=s} lr_i``; ``S2`` the annealing area
    ``sum_{i<=s} m_i`` with momentum ``m_i = decay * m_{i-1} + (lr_{i-1} - lr_i)`` (``lr_0 = lr_1``).
    One value per step: fit :data:`tissue_annealing` to a whole loss curve, one row per step.
    Pass the schedule after its warm-up, as Tissue et al. do: a rising learning rate makes the
    momentum negative, and ``S2`` with it (a :class:`~scalefit.ScalefitError` says where).

    Parameters
    ----------
    lr : array of float
        The learning rate at each step.
    decay : float
        The momentum's decay per step.

    Returns
    -------
    (ndarray, ndarray)
        ``S1`` and ``S2`` after each step.
    """
    lr = np.asarray(lr, dtype=float)
    if lr.ndim != 1 or lr.size == 0 or not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise ScalefitError("lr must be a non-empty 1-D sequence of finite learning rates >= 0, one per step")
    if not (isinstance(decay, int | float) and 0.0 <= decay < 1.0):
        raise ScalefitError(f"decay (the momentum lambda) must be in [0, 1), got {decay!r}; the paper uses 0.999")
    drop = np.concatenate([[0.0], lr[:-1] - lr[1:]])
    m = np.zeros_like(lr)
    acc = 0.0
    for i, d in enumerate(drop):
        acc = decay * acc + d
        m[i] = acc
    s2 = np.cumsum(m)
    if np.any(s2 < 0):
        rise = int(np.flatnonzero(drop < 0)[0])
        raise ScalefitError(
            f"lr rises at step {rise} (a warm-up?), which makes the annealing area S2 negative (down to "
            f"{s2.min():.3g}); Tissue et al.'s S2 counts annealing after warm-up: pass the schedule from the end of "
            "its warm-up on (e.g. lr[warmup_steps:]) and fit the rows of those steps"
        )
    return np.cumsum(lr), s2


#: A typical point of each law, for examples and tests: parameter values (made up in each
#: paper's regime — not the paper's fitted values unless its docstring says so) and the range
#: of each variable, ``(low, high)``. Targets are positive on these ranges except
#: ``tao_vocabulary``'s (its unigram-normalised loss is negative).
EXAMPLES: dict[str, tuple[dict[str, float], dict[str, tuple[float, float]]]] = {
    "busbridge_distillation": (
        dict(c0=0.3, d1=1.0, f1=1.0, c1=1.0, A=3000.0, alpha=0.4, B=18000.0, beta=0.43, gamma=0.45),
        dict(L_T=(2.0, 3.5), N=(1e8, 1e10), D=(1e9, 1e11)),
    ),
    "farseer": (
        dict(s=30.0, q=-0.25, S=0.2, B=20.0, b=-0.2, Q=8.7, A=5.0, a=-0.1, E=-1.5),
        dict(N=(1e8, 1e10), D=(1e9, 1e11)),
    ),
    "clark_moe": (dict(a=-0.08, b=-0.03, c=0.002, d=2.8), dict(N=(1e7, 1e9), E=(1.0, 512.0))),
    "parscale": (dict(A=2e7, k=0.4, alpha=0.2, E=1.8), dict(N=(5e8, 5e9), P=(1.0, 8.0))),
    "data_mixing": (dict(c=2.0, k=1.5, t1=0.0, t2=-1.0, t3=0.8), dict(r1=(0.0, 1.0), r2=(0.0, 1.0), r3=(0.0, 1.0))),
    "gao_sae": (
        dict(alpha=1.0, beta_k=-0.3, beta_n=-0.25, gamma=0.01, zeta=-3.0, eta=-0.1),
        dict(n=(2.0**12, 2.0**20), k=(16.0, 256.0)),
    ),
    "tao_vocabulary": (
        dict(E=5.0, A1=600.0, alpha1=0.3, A2=800.0, alpha2=0.4, B=3000.0, beta=0.35),
        dict(Nnv=(1e8, 3e9), Nv=(1e7, 3e8), D=(1e9, 1e11)),
    ),
    "muennighoff_full": (
        dict(E=1.87, A=521.0, alpha=0.35, B=1488.0, beta=0.353, RN=5.3, RD=15.4),
        dict(N=(1e8, 9e9), D=(1e10, 4e12), U=(1e9, 1e10)),  # D >= U: tokens include the unique ones
    ),
    "tissue_annealing": (dict(L0=2.6, A=0.45, alpha=0.55, C=0.9), dict(S1=(0.05, 5.0), S2=(0.0, 0.3))),
    "kumar_precision": (
        dict(A=400.0, alpha=0.34, B=2000.0, beta=0.36, E=1.8, gw=2.5, ga=2.0, gkv=1.5),
        dict(N=(3e7, 1e9), D=(1e9, 3e10), Pw=(3.0, 16.0), Pa=(3.0, 16.0), Pkv=(3.0, 16.0)),
    ),
}
