"""Files scalefit writes: checked before any work, written atomically into the real target.

* :func:`output_path` checks an output path *before* the work that produces it (the parent
  directory exists and is writable, the target is not a directory, a device, a FIFO or a
  socket, the suffix is one the writer understands) and returns the real target: a symlink
  is followed, so writing it updates the file the link points to and keeps the link.
* :func:`replacing` (and :func:`write_file`, :func:`atomic_write` on top of it) is the one way
  scalefit writes a file: to a uniquely named temporary (beside the target, or in scalefit's
  own temporaries folder), flushed and fsync-ed, with an existing file's permissions, renamed
  over the target (atomic on POSIX): a reader — or a crash, or Ctrl-C — sees the old file or
  the new one, never half. A failed write names the target. ``"-"`` means standard output.
* :data:`WRITING` is held during every write; the CLI's interrupt handler waits for it, so
  Ctrl-C never leaves a half-written file or a stray temporary.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from scalefit import validate as check
from scalefit.errors import ScalefitError

#: Held while a file is being written (the CLI's Ctrl-C handler waits for it).
WRITING = threading.RLock()

STDOUT = "-"

#: The suffix of every temporary file scalefit writes (``.<name>.<random>.scalefit-tmp``).
TEMPORARY_SUFFIX = ".scalefit-tmp"
#: The folder of scalefit's own temporaries inside a folder it owns (a work directory, an image cache).
TEMPORARIES = ".scalefit-tmp"


def output_path(
    path: str | os.PathLike, argument: str = "out", suffixes: Iterable[str] | None = None, *, stdout: bool = False
) -> Path | str:
    """The real file to write for ``path``, checked before any work is done.

    Parameters
    ----------
    path : str or path
        Where the user asked for the output.
    argument : str
        The argument's name as the user wrote it (``"--out"``, ``"path"``), for messages.
    suffixes : iterable of str, optional
        Allowed suffixes (``(".json",)``); the check is case-insensitive.
    stdout : bool
        Whether ``"-"`` (standard output) is allowed; it is returned as ``"-"``.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{argument} must be a file path, got {path!r} ({type(path).__name__})")
    text = os.fspath(path)
    if text == STDOUT and stdout:
        return STDOUT
    if not text or text.endswith(os.sep):
        raise ScalefitError(f"{argument} {text!r}: give a file name, not a directory")
    given = Path(text).expanduser()
    real = Path(os.path.realpath(given))
    if real.exists():
        mode = real.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ScalefitError(f"{argument} {text!r} is a directory; give a file name inside it")
        if not stat.S_ISREG(mode):
            kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
            raise ScalefitError(
                f"{argument} {text!r} is {kind}; scalefit writes only regular files"
                + (" (use '-' for standard output)" if stdout else "")
            )
        if not os.access(real, os.W_OK):
            raise ScalefitError(f"{argument} {text!r}: the file exists and is not writable by you")
    suffixes = tuple(s.lower() for s in suffixes) if suffixes else None
    if suffixes and real.suffix.lower() not in suffixes:
        raise ScalefitError(
            f"{argument} {text!r}: the file name must end in {' or '.join(suffixes)} "
            f"(got {real.suffix or 'no suffix'!r})"
        )
    parent = real.parent
    if not parent.is_dir():
        raise ScalefitError(
            f"{argument} {text!r}: the directory {str(parent)!r} does not exist; create it first (mkdir -p)"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScalefitError(f"{argument} {text!r}: the directory {str(parent)!r} is not writable by you")
    # os.access trusts permission bits; a read-only or special file system refuses only a real
    # create: the temporary the write will make (same name pattern, held like a write)
    with WRITING:
        try:
            fd, probe = tempfile.mkstemp(prefix=f".{real.name}.", suffix=TEMPORARY_SUFFIX, dir=parent)
        except OSError as exc:
            raise ScalefitError(
                f"{argument} {text!r}: cannot create a file in {str(parent)!r} ({exc.strerror or exc}); "
                "write somewhere else"
            ) from None
        os.close(fd)
        os.unlink(probe)
    return real


def name_in_path(name: str, what: str) -> str:
    """``name`` checked for use inside a file name scalefit writes (a data set's cache file, a run's
    row): it must stay in its directory — no path separator, no ``.``/``..``, no leading dot, no
    control character — or a name like ``../../x`` or ``/etc/x`` would write elsewhere."""
    bad = [c for c in ("/", "\\", os.sep, os.altsep) if c and c in name]
    if bad or name in (".", "..") or name.startswith(".") or any(ord(c) < 32 for c in name):
        why = (
            f"holds {bad[0]!r}, a path separator"
            if bad
            else "starts with a dot"
            if name.startswith(".")
            else "holds a control character"
        )
        raise ScalefitError(
            f"{what} {name!r} {why}; it is used in file names, which must stay inside their directory — "
            "use letters, digits, spaces, '-' and '_' (e.g. 'cifar-10')"
        )
    return name


def atomic_write(path: str | os.PathLike, data: bytes | str, argument: str = "out") -> None:
    """Write ``data`` to the real target of ``path`` (checked by :func:`output_path`) through a
    temporary file beside it and a rename (:func:`replacing`); ``"-"`` writes standard output."""
    target = output_path(path, argument, stdout=True)
    payload = data.encode() if isinstance(data, str) else data
    if target == STDOUT:
        try:
            sys.stdout.buffer.write(payload)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _naming(exc, "<standard output>") from None
        return
    write_file(target, payload)


def write_file(target: str | os.PathLike, data: bytes, temporaries: str | os.PathLike | None = None) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`replacing`)."""
    with replacing(target, temporaries) as f:
        f.write(data)


@contextlib.contextmanager
def replacing(target: str | os.PathLike, temporaries: str | os.PathLike | None = None) -> Iterator[BinaryIO]:
    """A binary file whose content replaces ``target`` atomically when the block ends without error.

    The one way scalefit writes a file: into a uniquely named temporary
    (``.<name>.<random>.scalefit-tmp``) in ``temporaries`` — scalefit's own folder, created if
    needed, on the same file system — or, without it, beside ``target``; flushed, fsync-ed,
    given an existing target's permissions (else the umask's) and renamed over ``target``
    (atomic on POSIX) while :data:`WRITING` is held. A write that fails or is interrupted removes
    its temporary and leaves ``target`` as it was; an ``OSError`` (a full disk: errno 28) names
    ``target``, never just the temporary or nothing.
    """
    target = Path(target)
    with WRITING:
        try:
            folder = Path(temporaries) if temporaries is not None else target.parent
            if temporaries is not None:
                folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=folder)
        except OSError as exc:
            raise _naming(exc, target) from None
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            try:
                mode = stat.S_IMODE(target.stat().st_mode)
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
                raise _naming(exc, target) from None
            raise


def _naming(exc: OSError, target: str | os.PathLike) -> OSError:
    """``exc`` naming ``target`` (the same errno, so the same ``OSError`` subclass)."""
    if exc.errno is None:
        return OSError(f"{target}: {exc}")
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), os.fspath(target))


@functools.cache
def _umask() -> int:
    """The process's umask, read once (reading it means setting it: never while threads write)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def jsonable(value):
    """``value`` with numpy scalars and arrays as Python numbers and lists, mappings as dicts
    with string keys, and NaN or infinite numbers as None, so that ``json.dumps(...,
    allow_nan=False)`` writes strict JSON (the CLI's ``--json`` and result ``to_dict()``)."""
    import math
    from collections.abc import Mapping

    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


#: How a non-finite number is written in a fit file (strict JSON has no NaN or Infinity).
NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def encode(obj: Any) -> Any:
    """``obj`` as strict-JSON-ready Python: non-finite floats as ``"NaN"``/``"Infinity"``/
    ``"-Infinity"``, numpy scalars and arrays as Python numbers and lists."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        if math.isfinite(v):
            return v
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(obj, np.ndarray):
        return [encode(v) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"cannot write a fit with a non-string key {k!r} ({type(k).__name__})")
            out[k] = encode(v)
        return out
    if isinstance(obj, list | tuple):
        return [encode(v) for v in obj]
    raise TypeError(f"cannot write {type(obj).__name__} {obj!r} to a fit file")


def write_json(build: Callable[[], dict], path: str | os.PathLike | None, indent: int | None) -> str:
    """Strict JSON text of ``build()``, written atomically to ``path`` if given (``"-"``:
    standard output). ``indent`` and ``path`` are checked before ``build`` is called."""
    if indent is not None:
        indent = check.integer(indent, "indent", minimum=0, fix="or None for one line")
    if path is not None:
        output_path(path, "path", stdout=True)
    text = json.dumps(build(), indent=indent, allow_nan=False)
    if path is not None:
        atomic_write(path, text, "path")
    return text
