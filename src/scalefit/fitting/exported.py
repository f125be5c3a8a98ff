"""Solver programs kept across processes as serialised JAX exports, so a fresh process does not
trace them again.

A fresh process spends most of its first fit tracing and lowering the solver programs to
XLA (about 0.8 s for a Chinchilla fit; the persistent compilation cache of
:mod:`scalefit.fitting.jaxcache` only saves the compilation after that). :class:`Stored` wraps a
jitted function: the first call with a given structure of arguments (shapes, dtypes, static
options) exports the lowered program (:func:`jax.export.export`) and writes it, serialised, to
``<cache dir>/exported/``; a later process reads it back and calls it
(``jax.jit(exported.call)``), which needs no tracing of the solver.

Keys. An entry's file name is a SHA-256 of: the format version, the digest of scalefit's
own source files and the JAX/jaxlib versions (:func:`code_digest`: any change to the code or to
JAX makes every entry a miss), the backend, the law structure and options the functions were
built for, the function's name, its static options and its arguments' shapes and dtypes —
never the data.

Safety. Entries are written whole, to a temporary file moved into place
(:func:`scalefit.files.write_file`), behind a header holding the entry's key and the payload's
SHA-256, which a reader checks before deserialising: a truncated, damaged, planted or swapped
entry is a miss, never bytes for XLA nor another program's results; a program read back whose
first call fails is replaced by the one traced here. Any failure to export, write, read or
deserialise falls back to the plain jitted function — the same program, traced in this process.
``SCALEFIT_CACHE_DIR=off`` turns this off with the compilation cache.

Housekeeping. File names start with the code digest's first 16 hex digits; entries of other
versions are deleted once a week old (:func:`prune`, on a process's first write), so upgrades
and edits do not grow the directory without end.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jaxlib
import numpy as np
from jax import export

from scalefit.files import write_file
from scalefit.fitting import jaxcache
from scalefit.fitting.solver import Solution

#: How a program names a call to a kernel outside XLA (a LAPACK routine, ``lapack_dgetrf_ffi``,
#: among them): a program without one needs no kernels set up (see :func:`lapack_free`).
_CUSTOM_CALL = b"custom_call"

#: Bumped when the layout of an entry changes.
FORMAT = 1
_MAGIC = b"scalefit-export\x00"

# the solvers' result type, by a stable name, so programs returning it serialise
export.register_namedtuple_serialization(Solution, serialized_name="scalefit.Solution")


@functools.cache
def code_digest() -> str:
    """SHA-256 of every scalefit source file (path and bytes) and the JAX and jaxlib versions."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(f"{FORMAT} {jax.__version__} {jaxlib.__version__}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def store_dir() -> Path | None:
    """Where exports are kept: ``exported/`` in the compilation cache's directory; ``None``
    when that cache is off."""
    base = jaxcache.cache_dir()
    return None if base is None else base / "exported"


#: Entries written by another version of scalefit or JAX are deleted once this old (seconds):
#: never used again by this one, and old enough that no other install still running uses them.
PRUNE_AFTER = 7 * 24 * 3600.0


@functools.cache
def prune(directory: Path) -> int:
    """Delete entries of other code versions (see :func:`code_digest`) not written for
    :data:`PRUNE_AFTER` seconds, once per process and directory; returns how many. Errors
    (another process deleting the same file, a read-only disk) are ignored."""
    mine, now, gone = code_digest()[:16], time.time(), 0
    for path in directory.glob("*.jaxexport"):
        with contextlib.suppress(OSError):
            if not path.name.startswith(mine + "-") and now - path.stat().st_mtime > PRUNE_AFTER:
                path.unlink()
                gone += 1
    return gone


#: XLA options of the solver programs: LLVM's optimisation level 1 rather than the default 3.
#: Measured on the 2-core dev machine: the first Chinchilla fit compiles in 2.16-2.18 s instead
#: of 2.28-2.41 s and the first 10-group ``by=`` call in 3.2 s instead of 4.7 s, while warm
#: fits run as fast (Chinchilla 0.034 s both; 1,000 groups 2.74-2.89 s vs 2.92-3.01 s) with the
#: same results to the last bit on both. Level 0 compiles faster still but runs 2x slower.
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
_TAKES_OPTIONS = "compiler_options" in inspect.signature(jax.jit).parameters


def jit(fn: Callable, **kwargs):
    """``jax.jit`` with :data:`COMPILER_OPTIONS`, where this JAX takes compiler options. JAX
    takes them on a top-level jit only: the programs are jitted without them and called
    through this (a stored program is exported from the plain one)."""
    if _TAKES_OPTIONS:
        kwargs = {**kwargs, "compiler_options": COMPILER_OPTIONS}
    return jax.jit(fn, **kwargs)


def _spec(a) -> jax.ShapeDtypeStruct:
    a = np.asarray(a)
    return jax.ShapeDtypeStruct(a.shape, a.dtype)


def _read(path: Path, key: bytes) -> export.Exported | None:
    """The entry at ``path`` if it is whole and was written for ``key``; else ``None``."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 64
    if len(data) <= head or data[: len(_MAGIC)] != _MAGIC or data[len(_MAGIC) : len(_MAGIC) + 32] != key:
        return None  # not ours, or written for another program (a planted or swapped file)
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(_MAGIC) + 32 : head]:
        return None
    try:
        return export.deserialize(bytearray(payload))
    except Exception:  # noqa: BLE001 - an entry that does not read back is a miss
        return None


def _write(path: Path, exp: export.Exported, key: bytes) -> None:
    try:
        payload = bytes(exp.serialize())
    except Exception:  # noqa: BLE001 - a program that does not serialise is used, not kept
        return
    with contextlib.suppress(OSError):  # a full or read-only disk: not kept, the fit goes on
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, _MAGIC + key + hashlib.sha256(payload).digest() + payload)


class Stored:
    """A jitted function whose programs are exported to disk and read back in later processes.

    Called like the function (positional arrays, static options as keywords). ``key`` names what
    the function was built for (law structure, objective, tolerances): the same name in another
    process must mean the same program.
    """

    def __init__(self, name: str, fn: Callable, key: str):
        self.name = name
        self.fn = fn
        self.key = key
        self._calls: dict[tuple, Callable] = {}
        self._first = threading.Lock()
        #: How each program was obtained, in order: "read" (from disk), "exported" (traced here
        #: and written) or "traced" (the plain jitted function: store off, or export failed).
        self.origins: list[str] = []

    def __call__(self, *args, **static):
        leaves, tree = jax.tree_util.tree_flatten(args)
        shapes = tuple((np.shape(a), np.result_type(a).str) for a in leaves)
        k = (tuple(sorted(static.items())), str(tree), shapes)
        call = self._calls.get(k)
        if call is not None:
            return call(*args)
        with self._first:  # threads (run_replicates' streams) load and compile a program once
            call = self._calls.get(k)
            if call is not None:
                return call(*args)
            call, free = self._load(args, static, k)
            with _lapack_setup_skipped(free):
                out = call(*args)  # the first call lowers and compiles
            self._calls[k] = call
            return out

    def _load(self, args, static, k) -> tuple[Callable, bool]:
        """The program for these arguments, and whether it is a stored one that makes no LAPACK
        call (:func:`lapack_free`: its first call is lowered without setting those up)."""
        function = functools.partial(self.fn, **static)
        plain = jit(function)  # traced here, compiled with COMPILER_OPTIONS (which only a top-level jit takes)
        directory = store_dir()
        if directory is None:
            self.origins.append("traced")
            return plain, False
        x64 = bool(jax.config.jax_enable_x64)
        text = json.dumps([code_digest(), jax.default_backend(), x64, self.key, self.name, repr(k)])
        key = hashlib.sha256(text.encode()).digest()
        path = directory / f"{code_digest()[:16]}-{key.hex()}.jaxexport"
        exp = _read(path, key)
        if exp is not None:
            self.origins.append("read")
            return _checked(jit(exp.call), plain, self.origins, len(self.origins) - 1), lapack_free(exp)
        try:
            exp = export.export(jax.jit(function))(*jax.tree_util.tree_map(_spec, args))
        except Exception:  # noqa: BLE001 - a program that cannot be exported runs as it is
            self.origins.append("traced")
            return plain, False
        _write(path, exp, key)
        prune(directory)
        self.origins.append("exported")
        return jit(exp.call), lapack_free(exp)


def _checked(read: Callable, plain: Callable, origins: list[str], slot: int) -> Callable:
    """``read`` (a program read from disk), falling back for good to ``plain`` (the same
    program traced here) if its first call fails: an entry that matches its key and checksum
    but does not run as this call needs is a miss, never an error or a result. ``origins[slot]``
    says which was used."""
    state: dict[str, Callable] = {}

    def call(*args):
        if "use" in state:
            return state["use"](*args)
        try:
            out = jax.block_until_ready(read(*args))
        except Exception:  # noqa: BLE001 - the plain program raises what is really wrong
            origins[slot] = "traced"
            state["use"] = plain
            return plain(*args)
        state["use"] = read
        return out

    return call


def lapack_free(exp: export.Exported) -> bool:
    """Whether the stored program calls no kernel outside XLA (its module has no custom call),
    so no LAPACK kernel either.

    JAX lowers a call to a stored program by first setting up its CPU LAPACK kernels, used or
    not (jax 0.10: ``_ensure_backends_initialized``); that set-up imports ``scipy.linalg``
    (0.1-0.3 s in a fresh process). A program lowered from JAX code sets them up only when it
    has a LAPACK call; this lets a stored program do the same. The solvers make none for up
    to :data:`~scalefit.fitting.solver.SMALL_SYSTEM` parameters. The check is deliberately
    broad — any custom call at all, not only those named ``lapack_``, so a kernel that a
    later JAX sets up in the same hook is still set up (running such a program without its
    kernel would crash the process, not raise). It reads the serialised module's bytes: a
    program whose source locations happen to contain the words is told "not free", the
    safe side."""
    return _CUSTOM_CALL not in bytes(exp.mlir_module_serialized)


#: Set, per thread, while a LAPACK-free stored program is lowered (:func:`_lapack_setup_skipped`).
_skipping = threading.local()


def _skip_lapack_setup_while_flagged() -> bool:
    """Wrap JAX's set-up hook once so that it does nothing in a thread that set ``_skipping``;
    ``False`` where this JAX has no such hook (its lowering then runs as it is)."""
    try:
        from jax._src.export import _export as lowering  # noqa: PLC0415 - JAX's own lowering module
    except ImportError:
        return False
    setup = getattr(lowering, "_ensure_backends_initialized", None)
    if setup is None:
        return False
    if getattr(setup, "scalefit_wrapped", False):
        return True

    def ensure_backends_initialized(platforms):
        if not getattr(_skipping, "on", False):
            setup(platforms)

    ensure_backends_initialized.scalefit_wrapped = True
    lowering._ensure_backends_initialized = ensure_backends_initialized
    return True


@contextlib.contextmanager
def _lapack_setup_skipped(skip: bool):
    """Within, when ``skip``: this thread's lowering of stored programs does not set up LAPACK
    kernels (other threads' lowering is unchanged)."""
    if not (skip and _skip_lapack_setup_while_flagged()):
        yield
        return
    _skipping.on = True
    try:
        yield
    finally:
        _skipping.on = False
