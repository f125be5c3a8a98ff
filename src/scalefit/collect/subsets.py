"""Nested, class-stratified subsets: 5% ⊂ 10% ⊂ … ⊂ 100%, every class kept, fixed seed.

Each class's indices are shuffled once (a seed per class, derived from ``seed``); the
subset for fraction ``f`` takes the first ``max(1, round(f * n_c))`` of every class. So
the subsets are nested by construction, stratified to within one sample per class, and
the data axis of a grid is not confounded by *which* samples were drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scalefit.collect.checks import SEED_MAX, item, whole
from scalefit.errors import ScalefitError
from scalefit.validate import number

PAPER_FRACTIONS = (0.05, 0.10, 0.25, 0.33, 0.50, 0.70, 1.00)


def check_fractions(fractions: Sequence[float], what: str = "fractions") -> tuple[float, ...]:
    """Validate a list of data fractions: each a finite number in (0, 1], no duplicates; returned sorted.

    ``what`` names the list in messages; element ``i`` is called ``what[i]`` (a trailing ``:``,
    as in ``"grid.toml [upstream] fractions:"``, stays at the end).
    """
    if isinstance(fractions, str | bytes) or not isinstance(fractions, Sequence | np.ndarray):
        raise TypeError(
            f"{what} must be a list of fractions in (0, 1], e.g. [0.05, 0.1, 1.0], got "
            f"{fractions!r} ({type(fractions).__name__})"
        )
    out = [
        number(f, item(what, i), low=0.0, high=1.0, low_open=True, fix="a fraction of the data set, e.g. 0.25 for 25%")
        for i, f in enumerate(fractions)
    ]
    if not out:
        raise ScalefitError(f"{what} is empty; give at least one fraction in (0, 1], e.g. [0.05, 0.1, 1.0]")
    repeated = sorted({f for f in out if out.count(f) > 1})
    if repeated:
        raise ScalefitError(f"{what} repeats {repeated} in {list(fractions)}; list each fraction once")
    return tuple(sorted(out))


def subset_size(counts: np.ndarray, fraction: float) -> int:
    """Number of samples in the subset for ``fraction`` given per-class ``counts``."""
    return int(sum(max(1, int(round(fraction * n))) for n in counts))


def nested_subsets(
    labels: np.ndarray, fractions: Sequence[float] = PAPER_FRACTIONS, seed: int = 0, num_classes: int | None = None
) -> dict[float, np.ndarray]:
    """Sorted index arrays, one per fraction, nested and class-stratified.

    Parameters
    ----------
    labels : int array (N,)
        Class of every sample.
    fractions : floats in (0, 1]
        Default: the paper's 5, 10, 25, 33, 50, 70, 100%.
    seed : int
        Same seed, same subsets (on any machine: numpy's PCG64 via ``default_rng``).
    num_classes : int, optional
        Declared number of classes; a class with no samples is an error.
    """
    fractions = check_fractions(fractions)
    seed = whole(0, SEED_MAX)(seed, "seed")
    if num_classes is not None:
        num_classes = whole(1)(num_classes, "num_classes")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ScalefitError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ScalefitError(f"labels must be >= 0; rows {np.flatnonzero(labels < 0)[:10].tolist()} are negative")
    k = int(num_classes if num_classes is not None else (labels.max() + 1 if labels.size else 0))
    if labels.size and labels.max() >= k:
        bad = np.flatnonzero(labels >= k)
        raise ScalefitError(
            f"labels must be in [0, {k - 1}] for num_classes={k}; rows {bad[:10].tolist()} hold "
            f"{sorted(set(labels[bad[:10]].tolist()))}"
        )
    counts = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(counts == 0)
    if empty.size or k == 0:
        raise ScalefitError(
            f"class(es) {empty[:10].tolist()} have no samples; every class must be present to "
            f"stratify (check the labels or num_classes={k})"
        )
    orders = [np.random.default_rng([seed, c]).permutation(np.flatnonzero(labels == c)) for c in range(k)]
    return {f: np.sort(np.concatenate([o[: max(1, int(round(f * o.size)))] for o in orders])) for f in fractions}
