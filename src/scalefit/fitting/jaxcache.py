"""JAX's persistent compilation cache, so a second process pays no XLA compile — opt-in.

scalefit's solvers are compiled once per law structure, options and table-size bucket
(see :func:`scalefit.fitting.lsq.bucket`). Within a process they are kept in memory. Across
processes JAX's on-disk cache can keep them: set ``SCALEFIT_CACHE_DIR`` to a directory
(e.g. ``~/.cache/scalefit/jax``) and the second process skips XLA compilation (JAX still
traces and lowers each program, ~1 s).

The cache is off unless that variable is set: in a long test run, XLA aborted the
process while serialising an executable for the cache (``Fatal Python error: Aborted`` in
``executable.serialize()``, jax 0.10.2 on CPU), and a crash that loses a fit is worse than
a compile. It is left alone when the user configured JAX's own
(``jax_compilation_cache_dir``). Entries are keyed by JAX on the program, the JAX/XLA
versions and the device, so a stale entry is never used; the directory can be deleted at
any time.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "SCALEFIT_CACHE_DIR"
#: Compiles shorter than this are not written to disk (0: every program is kept).
MIN_COMPILE_SECONDS = 0.0


def cache_dir() -> Path | None:
    """Where compiled programs are kept on disk: ``$SCALEFIT_CACHE_DIR``, or ``None`` (off)."""
    value = os.environ.get(ENV)
    if value is None or value.strip().lower() in ("", "off", "0", "none"):
        return None
    return Path(value).expanduser()


def enable() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (unless JAX's is already set)."""
    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the disk cache rather than fail
        return None
    if not os.access(path, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


enable()  # on import: by every module that compiles (the least-squares solver, the NUTS sampler)
