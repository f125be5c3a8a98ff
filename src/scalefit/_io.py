"""Files scalefit writes: checked before any work, written atomically into the real target.

* :func:`output_path` checks an output path *before* the work that produces it (the parent
  directory exists and is writable, the target is not a directory, a device, a FIFO or a
  socket, the suffix is one the writer understands) and returns the real target: a symlink
  is followed, so writing it updates the file the link points to and keeps the link.
* :func:`atomic_write` writes to a temporary file beside the real target, flushes and
  fsyncs it, keeps an existing file's permissions and renames it over the target (atomic on
  POSIX): a reader — or a crash, or Ctrl-C — sees the old file or the new one, never half.
  ``"-"`` means standard output.
* :data:`WRITING` is held during every write; the CLI's interrupt handler waits for it, so
  Ctrl-C never leaves a half-written file or a stray temporary.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from ._errors import ScalefitError

#: Held while a file is being written (the CLI's Ctrl-C handler waits for it).
WRITING = threading.RLock()

STDOUT = "-"


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
    return real


def atomic_write(path: str | os.PathLike, data: bytes | str, argument: str = "out") -> None:
    """Write ``data`` to the real target of ``path`` through a temporary file and a rename."""
    target = output_path(path, argument, stdout=True)
    payload = data.encode() if isinstance(data, str) else data
    if target == STDOUT:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return
    with WRITING:
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
            if not target.exists():
                os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def _umask() -> int:
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
