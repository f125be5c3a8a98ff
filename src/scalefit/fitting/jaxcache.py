"""JAX's persistent compilation cache, on by default, so a second process pays no XLA compile.

scalefit's solvers are compiled once per law structure, options and table-size bucket
(see :func:`scalefit.fitting.lsq.bucket`). Within a process they are kept in memory. Across
processes JAX's on-disk cache keeps them, in a user cache directory:
``$XDG_CACHE_HOME/scalefit/jax`` (default ``~/.cache/scalefit/jax``; ``~/Library/Caches`` on
macOS, ``%LOCALAPPDATA%`` on Windows). ``SCALEFIT_CACHE_DIR=<dir>`` puts it elsewhere;
``SCALEFIT_CACHE_DIR=off`` (or ``0``, ``none``, empty) turns it off. It is left alone when
the user configured JAX's own (``jax_compilation_cache_dir``). Entries are keyed by JAX on
the program, the JAX/XLA versions and the device, so a stale entry is never used; the
directory can be deleted at any time.

Safety. The cache used to be opt-in: in a long test run, XLA aborted the process while
serialising an executable (``Fatal Python error: Aborted`` in ``executable.serialize()``,
jax 0.10.2 on CPU; not reproduced since). JAX's own file cache writes an entry in place
(``Path.write_bytes``), so a second process — a test worker, a second CLI call — can read a
half-written entry, and an interrupted write leaves a truncated one that every later
process reads; handing truncated bytes to XLA's deserialiser is the kind of input that
aborts rather than raises. scalefit therefore installs its own file cache
(:class:`AtomicFileCache`): each entry is written to a temporary file in the same directory
and moved into place with ``os.replace`` (:func:`scalefit.files.write_file`, the package's one
atomic write; atomic on POSIX and Windows), so a reader sees a
whole entry or none; every read or write error is swallowed (a miss, or an entry not kept),
never raised; and an entry is checked to decompress before JAX deserialises it. Programs
that compile in under ``MIN_COMPILE_SECONDS`` are not written (fewer serialisations, nothing
lost). Where JAX's internals differ from what this expects (another JAX version), the
default-on cache stays off rather than fall back to the in-place writer; an explicit
``SCALEFIT_CACHE_DIR`` still turns on JAX's own.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import jax

from scalefit.files import write_file

ENV = "SCALEFIT_CACHE_DIR"
#: Compiles shorter than this are not written to disk.
MIN_COMPILE_SECONDS = 0.05
_SUFFIX = "-cache"  # JAX's own file naming, so either reader can use the other's entries


def default_dir() -> Path:
    """The user cache directory for compiled programs."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "scalefit" / "jax"


def cache_dir() -> Path | None:
    """Where compiled programs are kept on disk: ``$SCALEFIT_CACHE_DIR``, else :func:`default_dir`;
    ``None`` when turned off."""
    value = os.environ.get(ENV)
    if value is None:
        return default_dir()
    if value.strip().lower() in ("", "off", "0", "none", "false", "no"):
        return None
    return Path(value).expanduser()


class AtomicFileCache:
    """JAX's ``CacheInterface`` on a directory: whole-file entries moved into place atomically;
    I/O errors are misses, never exceptions."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _file(self, key: str) -> Path:
        return self.path / f"{key}{_SUFFIX}"

    def get(self, key: str) -> bytes | None:
        if not key:
            return None
        try:
            data = self._file(key).read_bytes()
        except OSError:
            return None
        try:  # a damaged entry is a miss, not bytes for XLA's deserialiser
            from jax._src import compilation_cache as cc

            cc.decompress_executable(data)
        except Exception:  # noqa: BLE001 - any failure to decompress means: compile again
            with contextlib.suppress(OSError):
                self._file(key).unlink()
            return None
        return data

    def put(self, key: str, value: bytes) -> None:
        if not key:
            return
        target = self._file(key)
        try:
            if not target.exists():
                write_file(target, value)  # the package's one atomic write: a temporary and a rename
        except OSError:
            pass  # a full or read-only disk: the entry is not kept, the fit goes on

    def clear(self) -> None:
        for p in self.path.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                p.unlink()


def _install(path: Path) -> bool:
    """Make :class:`AtomicFileCache` JAX's persistent cache; ``False`` where JAX's internals differ."""
    try:
        from jax._src import compilation_cache as cc

        with cc._cache_initialized_mutex:
            if cc._cache is not None or cc._cache_initialized:
                return False
            cc._cache = AtomicFileCache(path)
            cc._cache_initialized = True
        return True
    except Exception:  # noqa: BLE001 - another JAX: no default-on cache rather than an error
        return False


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
    if not _install(path) and os.environ.get(ENV) is None:
        return None  # default-on only with the atomic writer
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


enable()  # on import: by every module that compiles (the least-squares solver, the NUTS sampler)
