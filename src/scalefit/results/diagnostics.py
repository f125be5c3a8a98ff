"""Sampler diagnostics and the names that need no sampler: what least-squares code may import.

Judging a posterior (R-hat, ESS, divergences) reads only stored numbers, and the noise
models' names are plain strings, so fit files, the CLI's parser and least-squares fits use
this module without loading NumPyro (:mod:`scalefit.fitting.bayes`) — a least-squares fit imports
only what it needs. ArviZ is imported only when diagnostics are computed from draws.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Noise models of the Bayesian fit (see :mod:`scalefit.fitting.bayes`).
NOISES = ("lognormal", "normal", "student_t")

RHAT_LIMIT = 1.01  # split-R-hat above this: the chains disagree (Vehtari et al. 2021)
MIN_CHAINS = 2  # R-hat compares chains: with one chain convergence cannot be checked
RECOMMENDED_CHAINS = 4
MIN_DRAWS_PER_CHAIN = 100  # fewer draws per chain: R-hat, ESS and the intervals are noise
ESS_PER_CHAIN = 100  # bulk and tail ESS of every site must reach ESS_PER_CHAIN * chains ...
MIN_ESS = 400  # ... and at least MIN_ESS, for 95% intervals whose ends mean something


def to_inference_data(frame, chains: int, names, log_lik: np.ndarray | None = None, y: np.ndarray | None = None):
    """ArviZ InferenceData from chain-major draws (and, if given, pointwise log-likelihood)."""
    import arviz as az

    def by_chain(a):
        a = np.asarray(a)
        return a.reshape((chains, a.shape[0] // chains) + a.shape[1:])

    kwargs = {"posterior": {n: by_chain(np.asarray(frame[n])) for n in names}}
    if log_lik is not None:
        kwargs["log_likelihood"] = {"y": by_chain(log_lik)}
        kwargs["observed_data"] = {"y": np.asarray(y)}
    return az.from_dict(**kwargs)


def diagnostics(frame, chains: int, names, stats: dict) -> dict:
    """R-hat and bulk/tail ESS from ArviZ for each sampled site, plus NUTS's counts.

    Also ``ok`` (bool) and ``problems`` (short strings) from :func:`diagnostics_ok`; code
    that reads a stored dict should call :func:`diagnostics_ok` rather than trust them
    (fits saved before they existed lack them). R-hat is NaN with one chain or fewer than
    8 draws per chain, and ESS is NaN with fewer than 4: both count as failures.
    """
    import arviz as az

    names = list(names)
    idata = to_inference_data(frame, chains, names)
    with np.errstate(divide="ignore", invalid="ignore"):  # a stuck chain: ArviZ returns NaN/inf, judged below
        rhat = az.rhat(idata)
        bulk = az.ess(idata, method="bulk")
        tail = az.ess(idata, method="tail")
    diag = {
        "chains": chains,
        "draws_per_chain": len(np.asarray(frame[names[0]])) // chains,
        "r_hat": {n: float(rhat[n]) for n in names},
        "ess_bulk": {n: float(bulk[n]) for n in names},
        "ess_tail": {n: float(tail[n]) for n in names},
        **stats,
    }
    ok, problems = diagnostics_ok(diag)
    return {**diag, "ok": ok, "problems": problems}


def min_ess(chains: int) -> int:
    """The bulk and tail ESS every site needs: ``max(400, 100 * chains)``."""
    return max(MIN_ESS, ESS_PER_CHAIN * int(chains))


def stored_number(v) -> float:
    """A stored diagnostic as a float; ``None`` (a NaN written as null) reads as NaN."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _checks(diag: Mapping) -> list[tuple[str | None, str]]:
    """Every diagnostic out of bounds as ``(problem, note)``: ``problem`` is a short string, or
    None when the finding does not make the fit unreliable (only inefficient); ``note`` is the
    plain-language warning with advice. Reads only the stored numbers, so old fit files work.
    """
    chains = int(diag.get("chains") or 0)
    per_chain = int(diag.get("draws_per_chain") or 0)
    rhat = {n: stored_number(v) for n, v in (diag.get("r_hat") or {}).items()}
    bulk = {n: stored_number(v) for n, v in (diag.get("ess_bulk") or {}).items()}
    tail = {n: stored_number(v) for n, v in (diag.get("ess_tail") or {}).items()}
    out: list[tuple[str | None, str]] = []

    if chains < MIN_CHAINS:
        out.append(
            (
                f"{chains} chain (R-hat needs >= {MIN_CHAINS})",
                f"R-hat cannot be computed with {chains} chain: run chains>={MIN_CHAINS} ({RECOMMENDED_CHAINS} "
                "recommended) — with one chain, convergence cannot be checked",
            )
        )
    if per_chain < MIN_DRAWS_PER_CHAIN:
        out.append(
            (
                f"{per_chain} draws per chain (need >= {MIN_DRAWS_PER_CHAIN})",
                f"only {per_chain} draws per chain (fewer than {MIN_DRAWS_PER_CHAIN}): R-hat, ESS and the "
                "intervals are noise — increase draws= (1000 recommended) and warmup=",
            )
        )

    undefined = sorted(n for n, v in rhat.items() if not np.isfinite(v))
    if undefined and chains >= MIN_CHAINS:  # with one chain the note above names the cause
        if per_chain < 2 * 4:  # ArviZ splits each chain in two and needs 4 draws per half
            cause = f"cannot be computed from {per_chain} draws per chain: run draws>={MIN_DRAWS_PER_CHAIN}"
        else:
            cause = (
                "is undefined (NaN/inf): a chain did not move (every draw identical) — NUTS is stuck; "
                "check the priors, the start, and the identifiability report"
            )
        kinds = "/".join(sorted({str(rhat[n]) for n in undefined}))
        out.append((f"R-hat undefined ({kinds}) for {', '.join(undefined)}", f"R-hat for {undefined} {cause}"))
    high = {n: v for n, v in rhat.items() if np.isfinite(v) and v > RHAT_LIMIT}
    if high:
        worst = max(high, key=high.get)
        more = f" (+{len(high) - 1} more)" if len(high) > 1 else ""
        out.append(
            (
                f"R-hat {high[worst]:.3f} for {worst}{more}",
                f"R-hat exceeds {RHAT_LIMIT} for {sorted(high)} (worst {worst}: {high[worst]:.3f}): the chains "
                "disagree — run longer (warmup=, draws=), or check the identifiability report for a flat direction",
            )
        )

    need = min_ess(chains)
    ess = {n: min(bulk.get(n, np.nan), tail.get(n, np.nan)) for n in {**bulk, **tail}}
    no_ess = sorted(n for n, v in ess.items() if np.isnan(v))
    if no_ess:
        out.append(
            (
                f"ESS NaN for {', '.join(no_ess)}",
                f"effective sample size cannot be computed for {no_ess} from {per_chain} draws per chain: the "
                f"intervals are noise — run draws>={MIN_DRAWS_PER_CHAIN}",
            )
        )
    low = {n: v for n, v in ess.items() if not np.isnan(v) and v < need}
    if low:
        worst = min(low, key=low.get)
        out.append(
            (
                f"min ESS {low[worst]:.0f} for {worst} (need >= {need})",
                f"effective sample size below {need} for {sorted(low)} (lowest {worst}: {low[worst]:.0f}): "
                "intervals are noise — increase draws= or reparameterise (fix or tie weakly identified parameters)",
            )
        )

    divergences = int(diag.get("divergences") or 0)
    if divergences:
        out.append(
            (
                f"{divergences} divergences",
                f"{divergences} divergent transitions: the posterior has regions NUTS cannot explore; results may "
                "be biased — tighten priors on weakly identified parameters or fix them",
            )
        )
    depth = int(diag.get("max_tree_depth_hits") or 0)
    if depth:
        out.append((None, f"{depth} transitions hit the maximum tree depth: sampling is inefficient"))
    return out


def diagnostics_ok(diag: Mapping | None) -> tuple[bool, list[str]]:
    """Whether a posterior can be trusted, recomputed from the stored numbers, and why not.

    ``ok`` is True only with at least 2 chains and 100 draws per chain, a finite R-hat
    <= 1.01 for every site, finite bulk and tail ESS >= ``max(400, 100 * chains)`` for every
    site, and no divergent transitions. ``problems`` are short strings such as ``"R-hat
    1.106 for alpha"`` or ``"min ESS 25 for alpha (need >= 400)"``. Works on dicts saved
    before ``ok``/``problems`` were stored (it never reads them).
    """
    if not diag:
        return False, ["no sampler diagnostics stored"]
    problems = [p for p, _ in _checks(diag) if p is not None]
    return not problems, problems


def diagnostic_notes(diag: Mapping):
    """Plain-language warnings, with advice, for diagnostics that are out of bounds.

    Non-finite R-hat or ESS is a failure with its cause named (one chain, too few draws, a
    stuck chain), never a silent pass.
    """
    for _, note in _checks(diag):
        yield note
