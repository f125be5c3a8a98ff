"""The work directory and the runs table, written so that a crash never corrupts anything.

Layout of a work directory (default: the table's path with ``.collect`` instead of its suffix)::

    plan.json               the grid's jobs (what a worker process reads)
    rows/<run_id>.json      one finished, evaluated run per file
    checkpoints/<run_id>.pt weights of pre-trained models and of fine-tuned teachers
    claims/<run_id>.lock    a run being trained right now (locked by the process training it)
    collect.lock            locked (shared) by every live collector and worker on this directory
    table.lock              locked while the runs table is rebuilt and written

**Writes.** Every file is written to a temporary name beside its final name
(``.<name>.tmp<pid>``), flushed, fsync-ed and renamed over the final name (``os.replace`` is
atomic on POSIX) while :data:`scalefit.files.WRITING` is held (the CLI's Ctrl-C handler waits
for it), so a reader sees the old file or the new one, never half of one; a write that fails
or is interrupted removes its temporary. A run is finished when its row (evaluated stages)
or its checkpoint (pre-training) exists; the table is rebuilt from the rows, so killing the
process at any instant loses at most the run in flight.

**JSON** (rows and plan) is strict RFC 8259 JSON: a non-finite float (``Mt`` of a run without
a teacher is NaN) is written as ``null``, and a row's ``null`` is read back as NaN (rows hold
no other nulls). Rows written by older versions with a bare ``NaN`` are still read.

**Several collectors on one work directory** (two ``scalefit collect`` with the same ``--out``,
one per GPU, or a restart while a Slurm array still runs) share the work instead of repeating
it: a run is trained only by the process that holds its *claim* — an exclusive
``fcntl.flock`` on ``claims/<run_id>.lock``, which records the holder's PID and host. Another
collector skips claimed runs (and waits for runs the remaining ones need); after taking a
claim it checks again that the run is unfinished. The kernel releases a lock when its
process dies, however it dies, so a crashed collector's claims never block anyone: the next
collector takes them over (a claim file left behind is just a file). ``table.lock`` orders
the table writes, so the last writer always writes every row on disk. Stale temporary files
(from a killed writer) are removed only by a collector that holds ``collect.lock``
exclusively, i.e. when no other collector or worker is live on the directory, so nobody's
in-flight temporary is ever removed. On a file system without ``flock`` (some NFS or Lustre
mounts) or a platform without ``fcntl``, a warning says that concurrent collectors are not
detected there, and collection proceeds as with one collector.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import socket
import warnings
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import ScalefitError
from scalefit.files import TEMPORARIES, TEMPORARY_SUFFIX, atomic_write, name_in_path, write_file

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Columns the fitting layer maps directly, first in the table.
LAW_COLUMNS = ("Dp", "M", "Df", "Mt", "error", "loss")


# --------------------------------------------------------------------------- writing


def atomic_write_bytes(path: Path, data: bytes, temporaries: Path | None = None) -> None:
    """Write ``data`` to ``path`` atomically (:func:`scalefit.files.replacing`), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, data, temporaries)


def atomic_save(obj, path: Path, temporaries: Path | None = None) -> None:
    """``torch.save`` through a temporary file and a rename."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue(), temporaries)


def _strict(obj):
    """``obj`` with every non-finite float replaced by ``None`` and numpy scalars made Python ones."""
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Mapping):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    return obj


def dumps(obj) -> str:
    """Strict JSON (no ``NaN``/``Infinity``: a non-finite float is ``null``), keys sorted."""
    return json.dumps(_strict(obj), sort_keys=True, default=str, allow_nan=False)


# --------------------------------------------------------------------------- locks

_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}
_warned_no_locks = False


def _no_locks(why: str) -> None:
    global _warned_no_locks
    if not _warned_no_locks:
        _warned_no_locks = True
        warnings.warn(
            f"file locks are not available here ({why}); concurrent collectors on one work directory "
            f"are not detected — run one collector per work directory",
            stacklevel=3,
        )


def _lock(fd: int, *, exclusive: bool = True, block: bool = True) -> bool:
    """``flock`` ``fd``; ``False`` when another process holds it (only with ``block=False``)."""
    if fcntl is None:  # pragma: no cover - Windows
        _no_locks("no fcntl on this platform")
        return True
    flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if block else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, flags)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            _no_locks(f"{exc.strerror or exc}")
            return True
        raise
    return True


def _holder_text() -> bytes:
    return json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
    ).encode()


class Claim:
    """A run this process is training: an exclusive ``flock`` on ``claims/<run_id>.lock``.

    :meth:`release` (or leaving the ``with`` block) removes the claim file and unlocks it; if
    the process dies first, the kernel unlocks it and the next collector takes the run over.
    """

    def __init__(self, fd: int, path: Path):
        self.fd: int | None = fd
        self.path = path

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked: nobody else holds this file
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class WorkDir:
    """Finished rows, checkpoints and the plan of one collection (see the module docstring)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.rows = self.root / "rows"
        self.checkpoints = self.root / "checkpoints"
        self.claims = self.root / "claims"
        self.temporaries = self.root / TEMPORARIES
        self.cache = self.root / "cache"  # the image cache's default place

    @classmethod
    def for_table(cls, out: str | os.PathLike, work: str | os.PathLike | None = None) -> WorkDir:
        out = Path(out)
        return cls(work if work is not None else out.with_suffix(".collect"))

    def _make_dirs(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise ScalefitError(f"work directory {str(self.root)!r} exists and is not a directory; pass another --work")
        for d in (self.rows, self.checkpoints, self.claims, self.temporaries):
            d.mkdir(parents=True, exist_ok=True)

    def _open_lock(self, name: str) -> int:
        return os.open(self.root / name, os.O_RDWR | os.O_CREAT, 0o644)

    def create(self) -> WorkDir:
        """Create the directories; remove stale temporaries if no other collector is live here."""
        self._make_dirs()
        fd = self._open_lock("collect.lock")
        try:
            if _lock(fd, exclusive=True, block=False):
                self.remove_temporaries()
        finally:
            os.close(fd)
        return self

    @contextlib.contextmanager
    def session(self, *, clean: bool = True) -> Iterator[WorkDir]:
        """Hold ``collect.lock`` (shared) while collecting; first remove stale temporaries if alone.

        Every collector and every submitit worker on the directory holds it, so one that gets it
        exclusively knows that no one else is writing here, and any temporary file is stale.
        """
        self._make_dirs()
        fd = self._open_lock("collect.lock")
        try:
            if clean and _lock(fd, exclusive=True, block=False):
                self.remove_temporaries()
            _lock(fd, exclusive=False)  # converts an exclusive lock; waits out another's clean-up
            yield self
        finally:
            os.close(fd)

    def remove_temporaries(self) -> list[Path]:
        """Remove the temporary files of killed writers (call only while no other writer is live).

        Only scalefit's own temporaries folders are swept — ``<work>/.scalefit-tmp`` and the
        default image cache's ``<work>/cache/.scalefit-tmp`` — and in them only files named
        ``*.scalefit-tmp``: nothing else in the work directory is ever removed, whatever its name.
        """
        removed = []
        for folder in (self.temporaries, self.cache / TEMPORARIES):
            if folder.is_symlink() or not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.endswith(TEMPORARY_SUFFIX) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
        return removed

    @contextlib.contextmanager
    def table_lock(self) -> Iterator[None]:
        """Held while the runs table is rebuilt from the rows and written (orders concurrent writers)."""
        fd = self._open_lock("table.lock")
        try:
            _lock(fd, exclusive=True)
            yield
        finally:
            os.close(fd)

    def claim_path(self, run_id: str) -> Path:
        return self.claims / f"{name_in_path(run_id, 'run id')}.lock"

    def claim(self, run_id: str, *, block: bool = False) -> Claim | None:
        """Claim a run for this process; ``None`` if another process holds it (``block=False``).

        With ``block=True``, wait until the holder releases it (or dies). The caller checks
        again that the run is unfinished before training it.
        """
        path = self.claim_path(run_id)
        self.claims.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _lock(fd, exclusive=True, block=block):
                    os.close(fd)
                    return None
                try:
                    current = os.stat(path)
                    locked = os.fstat(fd)
                    same = (current.st_ino, current.st_dev) == (locked.st_ino, locked.st_dev)
                except FileNotFoundError:
                    same = False
                if not same:  # the holder removed the file as we locked it: lock the current one
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, _holder_text(), 0)
                return Claim(fd, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise

    def claim_holder(self, run_id: str) -> str:
        """Who holds a run's claim, for messages: ``pid 123 on host h (since ...)``."""
        try:
            info = json.loads(self.claim_path(run_id).read_text())
            return f"pid {info['pid']} on host {info['host']} (since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return "another process"

    def row_path(self, run_id: str) -> Path:
        return self.rows / f"{name_in_path(run_id, 'run id')}.json"

    def checkpoint_path(self, run_id: str) -> Path:
        return self.checkpoints / f"{name_in_path(run_id, 'run id')}.pt"

    def has_row(self, run_id: str) -> bool:
        return self.row_path(run_id).is_file()

    def has_checkpoint(self, run_id: str) -> bool:
        return self.checkpoint_path(run_id).is_file()

    def row_ids(self) -> set[str]:
        """Run ids of every row on disk (written by any collector)."""
        try:
            return {e.name[:-5] for e in os.scandir(self.rows) if e.name.endswith(".json") and e.is_file()}
        except FileNotFoundError:
            return set()

    def write_row(self, row: dict) -> None:
        atomic_write_bytes(self.row_path(row["run_id"]), dumps(row).encode(), self.temporaries)

    def read_row(self, run_id: str) -> dict:
        """One finished row; ``null`` (a non-finite value, e.g. ``Mt`` without a teacher) reads as NaN."""
        path = self.row_path(run_id)
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # cannot happen with atomic writes; say so if it does
            raise ScalefitError(
                f"{path}: unreadable finished row ({exc}); delete the file to re-run that run"
            ) from None
        if not isinstance(row, dict):
            raise ScalefitError(f"{path}: a finished row must be a JSON object; delete the file to re-run that run")
        return {k: math.nan if v is None else v for k, v in row.items()}

    def write_plan(self, payload: dict) -> None:
        atomic_write_bytes(self.root / "plan.json", dumps(payload).encode(), self.temporaries)

    def read_plan(self) -> dict:
        path = self.root / "plan.json"
        if not path.is_file():
            raise ScalefitError(f"{path}: no plan in this work directory; start the collection with scalefit collect")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ScalefitError(f"{path}: unreadable plan ({exc}); re-run scalefit collect to rewrite it") from None


def build_table(work: WorkDir, run_ids: Iterable[str]) -> pd.DataFrame:
    """The runs table (one row per finished, evaluated run, in plan order), law columns first."""
    return table_from_rows([work.read_row(r) for r in run_ids if work.has_row(r)])


def table_from_rows(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts, in order) as the runs table, law columns first."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    first = [c for c in ("run_id", "stage", *LAW_COLUMNS) if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def existing_rows(out: str | os.PathLike, ids: Iterable[str], grid: str) -> dict[str, dict]:
    """The rows of the runs table already at ``out``, by run id (``{}`` when there is none).

    ``collect`` rewrites ``out`` with every finished run of the grid, so a file already there
    must be a runs table it wrote for this grid — a ``.csv``/``.parquet`` table with a
    ``run_id`` column whose every value is a run of the grid, each once — and its rows are kept
    (appended to, never dropped, even those whose work directory is gone). Anything else is
    refused before any work, naming the file: scalefit never overwrites a file it did not write.
    """
    path = Path(out).expanduser()
    if not path.exists():
        return {}
    shown = f"--out {str(out)!r} exists and"
    keep = "; give another --out, or move the file away (scalefit never overwrites a file it did not write)"
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={"run_id": str})
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for a file that is not a table
        raise ScalefitError(
            f"{shown} cannot be read as a table ({type(exc).__name__}: {str(exc)[:120]}), so it is not a runs table "
            f"written by scalefit collect{keep}"
        ) from None
    if "run_id" not in frame.columns:
        raise ScalefitError(
            f"{shown} is not a runs table written by scalefit collect (it has {len(frame)} rows and no 'run_id' "
            f"column; columns: {', '.join(map(str, list(frame.columns)[:8]))}){keep}"
        )
    run_ids = frame["run_id"].astype(str).tolist()
    known = set(ids)
    foreign = [r for r in run_ids if r not in known]
    if foreign:
        raise ScalefitError(
            f"{shown} holds {len(foreign)} of its {len(run_ids)} runs that are not runs of grid {grid!r} (e.g. "
            f"run_id {foreign[0]!r}): it was collected for another grid, or the grid changed since; rewriting it "
            f"would drop them{keep}"
        )
    repeated = sorted({r for r in run_ids if run_ids.count(r) > 1})
    if repeated:
        raise ScalefitError(f"{shown} lists run {repeated[0]!r} more than once, so scalefit did not write it{keep}")
    return {str(row["run_id"]): row for row in frame.to_dict(orient="records")}


def write_table(frame: pd.DataFrame, out: str | os.PathLike) -> None:
    """Write ``.parquet`` or ``.csv`` atomically (see :func:`scalefit.files.atomic_write`)."""
    suffix = Path(out).suffix.lower()
    if suffix == ".parquet":
        import io

        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        atomic_write(out, buf.getvalue(), "out")
    elif suffix == ".csv":
        atomic_write(out, frame.to_csv(index=False).encode(), "out")
    else:
        raise ScalefitError(f"out {str(out)!r}: the file name must end in .parquet or .csv")
