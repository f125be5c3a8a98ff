"""JAX's persistent compilation cache, so a second process pays no compile.

scalefit's solvers are compiled once per law structure, options and table-size bucket
(see :func:`scalefit._lsq.bucket`). Within a process they are kept in memory; across
processes JAX's on-disk cache keeps them, in

* ``$SCALEFIT_CACHE_DIR`` if set (``off`` or an empty value disables the cache), else
* ``$XDG_CACHE_HOME/scalefit/jax`` (default ``~/.cache/scalefit/jax``).

The cache is enabled when the solver or the sampler is first imported, unless the user already configured JAX's
own (``jax_compilation_cache_dir``), which is then left alone. Entries are keyed by JAX on
the program, the JAX/XLA versions and the device, so a stale entry is never used; the
directory can be deleted at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "SCALEFIT_CACHE_DIR"
#: Compiles shorter than this are not written to disk (0: every program is kept).
MIN_COMPILE_SECONDS = 0.0


def cache_dir() -> Path | None:
    """Where compiled programs are kept on disk, or ``None`` when the cache is off."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "none") else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scalefit" / "jax"


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
