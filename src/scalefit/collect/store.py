"""The work directory and the runs table, written so that a crash never corrupts anything.

Layout of a work directory (default: the table's path with ``.collect`` instead of its suffix)::

    plan.json               the grid's jobs (what a worker process reads)
    rows/<run_id>.json      one finished, evaluated run per file
    checkpoints/<run_id>.pt weights of pre-trained models and of fine-tuned teachers

Every file is written to a temporary name in the same directory, flushed, fsync-ed and
renamed over its final name (``os.replace`` is atomic on POSIX), so a reader sees the old
file or the new one, never half of one. A run is finished when its row (evaluated stages)
or its checkpoint (pre-training) exists; the table is rebuilt from the rows, so killing the
process at any instant loses at most the run in flight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .._errors import ScalefitError

#: Columns the fitting layer maps directly, first in the table.
LAW_COLUMNS = ("Dp", "M", "Df", "Mt", "error", "loss")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` through a temporary file and a rename."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class WorkDir:
    """Finished rows, checkpoints and the plan of one collection."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.rows = self.root / "rows"
        self.checkpoints = self.root / "checkpoints"

    @classmethod
    def for_table(cls, out: str | os.PathLike, work: str | os.PathLike | None = None) -> WorkDir:
        out = Path(out)
        return cls(work if work is not None else out.with_suffix(".collect"))

    def create(self) -> WorkDir:
        for d in (self.rows, self.checkpoints):
            d.mkdir(parents=True, exist_ok=True)
        for stale in self.root.rglob(".*.tmp*"):  # a temporary file left by a killed writer
            stale.unlink(missing_ok=True)
        return self

    def row_path(self, run_id: str) -> Path:
        return self.rows / f"{run_id}.json"

    def checkpoint_path(self, run_id: str) -> Path:
        return self.checkpoints / f"{run_id}.pt"

    def has_row(self, run_id: str) -> bool:
        return self.row_path(run_id).is_file()

    def has_checkpoint(self, run_id: str) -> bool:
        return self.checkpoint_path(run_id).is_file()

    def write_row(self, row: dict) -> None:
        atomic_write_bytes(self.row_path(row["run_id"]), json.dumps(row, sort_keys=True, default=str).encode())

    def read_row(self, run_id: str) -> dict:
        path = self.row_path(run_id)
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:  # cannot happen with atomic writes; say so if it does
            raise ScalefitError(
                f"{path}: unreadable finished row ({exc}); delete the file to re-run that run"
            ) from None

    def write_plan(self, payload: dict) -> None:
        atomic_write_bytes(self.root / "plan.json", json.dumps(payload, sort_keys=True, default=str).encode())

    def read_plan(self) -> dict:
        path = self.root / "plan.json"
        if not path.is_file():
            raise ScalefitError(f"{path}: no plan in this work directory; start the collection with scalefit collect")
        return json.loads(path.read_text())


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


def write_table(frame: pd.DataFrame, out: str | os.PathLike) -> None:
    """Write ``.parquet`` or ``.csv`` atomically."""
    out = Path(out)
    if out.suffix == ".parquet":
        import io

        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        atomic_write_bytes(out, buf.getvalue())
    elif out.suffix == ".csv":
        atomic_write_bytes(out, frame.to_csv(index=False).encode())
    else:
        raise ScalefitError(f"--out {str(out)!r}: use a .parquet or .csv file name")
