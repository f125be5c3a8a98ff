"""Compiled programs held in memory, kept within what the operating system allows.

Every XLA:CPU executable maps its machine code into the process as many separate memory
regions: about 600 for one law's least-squares point fit on one table size, about 1,200
with its bootstrap (measured with jax 0.10.2 on Linux). Linux caps a process at
``vm.max_map_count`` regions (65,530 by default). A long session that fits many law
structures and table sizes — a notebook, a ``select_law`` over a catalogue, a test suite —
kept every program alive (JAX's jit caches, and scalefit's own per law structure) and
crossed that cap after some 50-100 of them; XLA then crashed the process (a segmentation
fault while loading a program from the persistent cache, seen twice in the test suite at
~65,000 regions) instead of raising. The abort while writing the cache that once made it
opt-in was, most likely, the same exhaustion.

:func:`release_when_crowded` runs before every fit: when the process maps more than
``SHARE`` of the cap, it drops the compiled programs held in memory (JAX's caches and every
cache registered with :func:`register`) so that they are freed; programs needed again are
compiled again, or read back from the persistent cache. Where the count cannot be read
(not Linux), nothing is dropped and the per-structure caches' own sizes bound it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

#: Drop compiled programs once the process maps more than this share of ``vm.max_map_count``.
SHARE = 0.5
MAPS = "/proc/self/maps"
LIMIT = "/proc/sys/vm/max_map_count"

_clearers: list[Callable[[], None]] = []


def register(clear: Callable[[], None]) -> None:
    """Have :func:`release_when_crowded` call ``clear`` (e.g. an ``lru_cache``'s ``cache_clear``)."""
    _clearers.append(clear)


def mapped_regions() -> int | None:
    """Memory regions this process maps now (lines of ``/proc/self/maps``); ``None`` where unknown."""
    try:
        with open(MAPS, "rb") as f:
            return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None


def region_limit() -> int | None:
    """The most memory regions a process may map (``vm.max_map_count``); ``None`` where unknown."""
    try:
        with open(LIMIT) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def release_when_crowded() -> bool:
    """Drop the compiled programs held in memory if the process maps more than ``SHARE`` of
    the regions it may; whether it did."""
    n, limit = mapped_regions(), region_limit()
    if n is None or limit is None or n <= SHARE * limit:
        return False
    import jax

    for clear in _clearers:
        clear()
    jax.clear_caches()
    gc.collect()
    return True
