"""Bayesian fitting with NumPyro: a model generated from any law, sampled with NUTS.

The model's sample sites are the law's parameter names (``alpha``, ``lambda_p``), plus
``sigma`` (and ``nu`` for Student-t noise). Default priors are weakly informative and
live in the law's well-conditioned parameterisation:

* exponents: ``LogNormal(log 0.5, 1.5)`` — positive, 95% mass in about [0.03, 9.5];
* amplitudes ``A`` and scales ``lambda``: log-normal with scale 10 in log space, centred
  where the term is the size of the median target at the median of its variable for an
  exponent of 0.5 (so ``log A`` and ``-log lambda`` are wide normals);
* a constant added at the top of the law (the irreducible term): ``Uniform(0, min(y))``;
  other constants (a transfer gap): ``LogNormal(log min(y), 5)``;
* ``sigma``: ``HalfNormal(0.5)`` on the log scale (log-normal and Student-t noise) or
  ``HalfNormal(std(y))`` (normal noise); ``nu`` (Student-t): ``Gamma(2, 0.1)``.

Override any of them by name with a NumPyro distribution: ``priors={"alpha":
dist.Uniform(0, 2)}``. Noise models: ``"lognormal"`` (multiplicative: ``log y ~
Normal(log f, sigma)``), ``"normal"`` (additive: ``y ~ Normal(f, sigma)``) and
``"student_t"`` (robust: ``log y ~ StudentT(nu, log f, sigma)``). Per-run ``weights``
scale each run's log-likelihood; a known per-run noise (``noise_scale``, e.g. the spread
over seeds) replaces ``sigma``.

Chains start at the least-squares optimum, with NUTS's dense mass matrix adapted during
warm-up (amplitudes and exponents are strongly correlated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import AffineTransform, ExpTransform
from numpyro.infer import MCMC, NUTS, init_to_value
from numpyro.infer.reparam import TransformReparam

from scalefit.errors import ScalefitError
from scalefit.fitting import jaxcache  # noqa: F401 - enables the persistent compilation cache
from scalefit.fitting.problem import Problem
from scalefit.laws.general import natural_value
from scalefit.laws.law import Law
from scalefit.laws.terms import Constant, Sum
from scalefit.results.diagnostics import diagnostics

TARGET_ACCEPT = 0.99
AMPLITUDE_PRIOR_SCALE = 10.0


@dataclass(frozen=True)
class CentredAmplitude:
    """Default prior of a power term's amplitude, centred on the term's own exponent.

    ``log A = t + alpha * m`` (``-log lambda`` for a scale) with ``t ~ Normal(loc, scale)``
    and ``m`` the median of ``log x``: the term at the median ``x`` is about the size of
    the median target. NUTS samples ``t`` (site ``<name>_base``) — centring removes the
    curved ``log A``–``log alpha`` ridge that otherwise causes divergences — and records the
    parameter itself under its own name.
    """

    exponent: str
    centre: float
    loc: float
    scale: float
    inverse: bool  # True for a scale lambda = 1/A

    def distribution(self, exponent_value):
        shift = exponent_value * self.centre
        affine = AffineTransform(-shift, -1.0) if self.inverse else AffineTransform(shift, 1.0)
        return dist.TransformedDistribution(dist.Normal(self.loc, self.scale), [affine, ExpTransform()])

    def base_value(self, value: float, exponent_value: float) -> float:
        log_a = -np.log(value) if self.inverse else np.log(value)
        return float(log_a - exponent_value * self.centre)

    def __repr__(self) -> str:
        lhs = "-log" if self.inverse else "log"
        return (
            f"{lhs}(.) ~ Normal({self.loc:.3g} + {self.exponent} * {self.centre:.3g}, {self.scale:g}) "
            "[centred on its exponent]"
        )


def _top_constants(law: Law) -> set[str]:
    terms = law.expr.terms if isinstance(law.expr, Sum) else (law.expr,)
    return {t.name for t in terms if isinstance(t, Constant)}


#: Sample sites of the model besides the law's parameters: the noise model, the observations, their plate.
OTHER_SITES = ("sigma", "nu", "y", "runs")


def check_site_names(law: Law) -> None:
    """Refuse a law whose parameter is named like another sample site of the model (``sigma``,
    ``nu``, ``y``, ``runs``, or ``<amplitude>_base``, the site of a centred amplitude): NumPyro
    needs every site name once, and ``priors=`` addresses sites by name."""
    for n in law.parameters:
        base = n.endswith("_base") and n[: -len("_base")] in law.parameters
        if n in OTHER_SITES or base:
            what = "the noise model's or the observations'" if not base else f"the centred site of {n[:-5]!r}"
            raise ScalefitError(
                f"method='bayes': parameter {n!r} of law {law.name!r} has the name of {what} sample site "
                f"(the model's other sites: {', '.join(OTHER_SITES)} and <amplitude>_base); rename it in the law, "
                f"e.g. {n + '0'!r} (least squares does not mind the name)"
            )


def noise_sites(noise: str, known_noise: bool) -> tuple[str, ...]:
    """Sample sites of the noise model besides the law's parameters."""
    sites = () if known_noise else ("sigma",)
    return sites + (("nu",) if noise == "student_t" else ())


def default_priors(
    law: Law, problem: Problem, x: Mapping[str, np.ndarray], y: np.ndarray, noise: str, known_noise: bool
) -> dict[str, dist.Distribution]:
    """The documented default prior of every free parameter and noise site.

    Besides the module's list: a constant that multiplies (``b`` in ``b * (...)^-c``) gets
    ``LogNormal(log median(y), 10)`` like an amplitude; a constant inside the base of a
    power of a law (``g`` in ``(x^-1 + g)^-c``, on the scale of its sibling terms, O(1) in
    normalised units) ``LogNormal(0, 5)``; an amplitude of a power with a fixed exponent
    ``e`` is not centred (there is no exponent to centre on): ``log A ~ Normal(log median(y)
    + e * m, 10)``.
    """
    from scalefit.fitting.problem import constant_places

    ay = np.abs(np.asarray(y, dtype=float))  # |y|: a general law's target may be <= 0
    ymin, ymed = float(np.min(ay[ay > 0], initial=np.inf)), float(np.median(ay))
    top = _top_constants(law)
    places = constant_places(law)
    exponent_of = {p.coefficient: p.exponent for p in law.powers()}
    logx = problem.log_variables(x)
    priors: dict[str, dist.Distribution | CentredAmplitude] = {}
    for name in problem.free:
        spec = law.specs[name]
        if spec.role == "exponent":
            priors[name] = dist.Normal(0.0, 5.0) if spec.signed else dist.LogNormal(np.log(0.5), 1.5)
        elif spec.role == "constant":
            place = places.get(name)
            if name in top:
                priors[name] = dist.Uniform(0.0, ymin)
            elif place == "factor":
                priors[name] = dist.LogNormal(np.log(ymed), AMPLITUDE_PRIOR_SCALE)
            elif place == "power":
                priors[name] = dist.LogNormal(0.0, 5.0)
            elif place == "ceiling":
                priors[name] = dist.LogNormal(float(np.log(np.max(y))) + 0.3, 1.0)
            elif place == "count":
                priors[name] = dist.LogNormal(np.log(10.0), 2.0)
            else:
                priors[name] = dist.LogNormal(np.log(ymin), 5.0)
        elif spec.role == "location":  # anywhere around the runs' range of its variable
            lv = np.asarray(logx[spec.variable], dtype=float)
            priors[name] = dist.LogNormal(float(np.mean([lv.min(), lv.max()])), float(lv.max() - lv.min()) + 1.0)
        elif spec.role == "shape":
            priors[name] = dist.LogNormal(np.log(0.3), 1.5)
        elif not isinstance(exponent_of[name], str):  # a fixed exponent: nothing to centre on
            loc = float(np.log(ymed)) + exponent_of[name] * float(np.median(logx[spec.variable]))
            priors[name] = dist.LogNormal(-loc if spec.role == "scale" else loc, AMPLITUDE_PRIOR_SCALE)
        else:
            priors[name] = CentredAmplitude(
                exponent=exponent_of[name],
                centre=float(np.median(logx[spec.variable])),
                loc=float(np.log(ymed)),
                scale=AMPLITUDE_PRIOR_SCALE,
                inverse=spec.role == "scale",
            )
    if not known_noise:
        priors["sigma"] = dist.HalfNormal(float(np.std(y)) if noise == "normal" else 0.5)
    if noise == "student_t":
        priors["nu"] = dist.Gamma(2.0, 0.1)
    return priors


def describe(prior) -> str:
    """A prior as text, e.g. ``LogNormal(loc=-0.693, scale=1.5)``."""
    if isinstance(prior, CentredAmplitude):
        return repr(prior)
    args = ", ".join(f"{k}={float(np.asarray(getattr(prior, k))):.4g}" for k in prior.arg_constraints)
    return f"{type(prior).__name__}({args})"


def _value(name: str, values: Mapping[str, float], problem: Problem) -> float:
    """A parameter's value from free values, following fix= and tie=."""
    if name in problem.fixed:
        return problem.fixed[name]
    return float(values[problem.tied.get(name, name)])


def resolve_priors(defaults: dict, priors: Mapping[str, object] | None, problem: Problem) -> dict:
    """Defaults overridden by the user's priors, each checked to be a NumPyro distribution."""
    out = dict(defaults)
    for name, d in (priors or {}).items():
        if name not in defaults:
            held = " (it is fixed or tied)" if name in problem.fixed or name in problem.tied else ""
            raise ScalefitError(
                f"priors= names {name!r}, which is not a sampled parameter{held}; the sampled sites are "
                f"{list(defaults)}"
            )
        if not isinstance(d, dist.Distribution):
            raise TypeError(
                f"priors[{name!r}] must be a numpyro distribution (e.g. numpyro.distributions.Uniform(0, 2)), "
                f"got {type(d).__name__}"
            )
        out[name] = d
    return out


def log_likelihood(law: Law, problem: Problem, noise: str, draws: Mapping[str, np.ndarray], x, y, scale=None):
    """Pointwise log-density of each run's target ``y`` (not ``log y``) under each draw.

    Returns an array (draws, runs). For log-scale noise the Jacobian ``-log y`` is
    included, so laws and noise models are compared on the same scale.
    """
    params = {n: np.asarray(draws[n])[:, None] for n in law.parameters}
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        mean = np.asarray(law.evaluate(params, x), dtype=float)
    sigma = np.asarray(draws["sigma"])[:, None] if scale is None else np.asarray(scale)[None, :]
    if noise == "normal":
        return np.asarray(dist.Normal(mean, sigma).log_prob(y))
    logy = np.log(y)
    if noise == "lognormal":
        lp = dist.Normal(np.log(mean), sigma).log_prob(logy)
    else:
        lp = dist.StudentT(np.asarray(draws["nu"])[:, None], np.log(mean), sigma).log_prob(logy)
    return np.asarray(lp) - logy


def _mixed(blocks: list[dict], sites: list[str], chains: int) -> bool:
    """Whether the draws so far meet the diagnostics' R-hat and ESS for every sampled site."""
    frame = {n: np.concatenate([np.asarray(b[n], dtype=float) for b in blocks], axis=1).reshape(-1) for n in sites}
    diag = diagnostics(frame, chains, sites, {"divergences": 0, "max_tree_depth_hits": 0})
    return bool(diag["ok"])


def sample(
    law: Law,
    problem: Problem,
    x: Mapping[str, np.ndarray],
    y: np.ndarray,
    *,
    noise: str,
    priors: dict[str, dist.Distribution],
    init: Mapping[str, float],
    weights: np.ndarray | None,
    noise_scale: np.ndarray | None,
    chains: int,
    draws: int,
    warmup: int,
    max_draws: int,
    seed: int,
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict]:
    """Run NUTS; return draws of every parameter (chain-major, paper form) and NUTS stats.

    ``draws`` per chain are taken; while the sampled sites fall short of the ESS and R-hat
    the diagnostics require (:func:`~scalefit.results.diagnostics.diagnostics`), the
    chains continue from where they stopped (no new warm-up) in blocks of ``draws``, up to
    ``max_draws`` per chain in all.

    The sample sites are the parameters in normalised units (:class:`Problem`: each
    normalised variable divided by its geometric mean over the runs), so NUTS's geometry and
    the default priors are the same whatever units the runs use; ``init`` is in the user's
    units and the draws are returned in normalised units — convert them with
    ``problem.paper_from_normalised``.
    """
    logx = {v: jnp.asarray(a) for v, a in problem.log_variables(x).items()}
    init = {**init, **problem.paper_normalised({n: init[n] for n in law.parameters})}
    obs = jnp.asarray(y if noise == "normal" else np.log(y))
    w = None if weights is None else jnp.asarray(weights)
    known = None if noise_scale is None else jnp.asarray(noise_scale)
    fixed = dict(problem.fixed)

    def model():
        params = {n: jnp.asarray(v) for n, v in fixed.items()}
        for n in sorted(problem.free, key=lambda n: law.specs[n].role != "exponent"):  # exponents first
            prior = priors[n]
            if isinstance(prior, CentredAmplitude):
                prior = prior.distribution(params[prior.exponent])
            params[n] = numpyro.sample(n, prior)
            params.update({m: params[t] for m, t in problem.tied.items() if t == n})
        internal = law.to_internal({n: params[n] for n in law.parameters})
        logf = law.log_evaluate(internal, logx)
        sigma = numpyro.sample("sigma", priors["sigma"]) if known is None else known
        if noise == "normal":
            likelihood = dist.Normal(natural_value(law, internal, logx), sigma)
        elif noise == "lognormal":
            likelihood = dist.Normal(logf, sigma)
        else:
            likelihood = dist.StudentT(numpyro.sample("nu", priors["nu"]), logf, sigma)
        with numpyro.plate("runs", obs.shape[0]), numpyro.handlers.scale(scale=1.0 if w is None else w):
            numpyro.sample("y", likelihood, obs=obs)

    init_values = {n: float(init[n]) for n in (*problem.free, *noise_sites(noise, known is not None))}
    centred = {n: p for n, p in priors.items() if isinstance(p, CentredAmplitude)}
    for n, p in centred.items():
        init_values[f"{n}_base"] = p.base_value(init_values.pop(n), _value(p.exponent, init, problem))
    model = numpyro.handlers.reparam(model, config={n: TransformReparam() for n in centred})
    kernel = NUTS(
        model, dense_mass=True, target_accept_prob=TARGET_ACCEPT, init_strategy=init_to_value(values=init_values)
    )
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method="vectorized" if chains > 1 else "sequential",
        progress_bar=progress,
    )
    fields = ("diverging", "num_steps")
    mcmc.run(jax.random.PRNGKey(seed), extra_fields=fields)
    blocks = [mcmc.get_samples(group_by_chain=True)]
    extras = [mcmc.get_extra_fields(group_by_chain=True)]
    sites = [*problem.free, *noise_sites(noise, known is not None)]
    # more draws while the chains are short of the ESS / R-hat the diagnostics require
    while len(blocks) * draws < max_draws and not _mixed(blocks, sites, chains):
        mcmc.post_warmup_state = mcmc.last_state
        mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=fields)
        blocks.append(mcmc.get_samples(group_by_chain=True))
        extras.append(mcmc.get_extra_fields(group_by_chain=True))
    kept = min(len(blocks) * draws, max_draws)  # per chain: a last block past max_draws is cut
    samples = {k: np.concatenate([np.asarray(b[k], dtype=float) for b in blocks], axis=1)[:, :kept] for k in blocks[0]}
    extra = {k: np.concatenate([np.asarray(e[k]) for e in extras], axis=1)[:, :kept] for k in fields}
    stats = {
        "divergences": int(np.asarray(extra["diverging"]).sum()),
        "max_tree_depth_hits": int((np.asarray(extra["num_steps"]) >= 2**10 - 1).sum()),
        "mean_steps": float(np.asarray(extra["num_steps"]).mean()),
    }
    out = {}
    n_total = chains * kept
    for n in law.parameters:
        if n in problem.fixed:
            out[n] = np.full(n_total, problem.fixed[n])
        elif n in problem.tied:
            out[n] = samples[problem.tied[n]].reshape(-1)
        else:
            out[n] = samples[n].reshape(-1)
    for site in ("sigma", "nu"):
        if site in samples:
            out[site] = samples[site].reshape(-1)
    return out, stats
