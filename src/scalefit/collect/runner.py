"""Run a grid: skip what is finished, run the rest in dependency order, write the table.

Two executors, no home-made scheduler:

* ``local`` — one process, one device (GPU or CPU), jobs in order, a progress bar with an
  ETA weighted by each job's FLOPs, the table rewritten after every finished run;
* ``submitit`` — each stage (pre-train; fine-tune; distil + control) is one ``submitit``
  job array on Slurm (``cluster="slurm"``) or on submitit's local executor
  (``cluster="local"``, how it is tested). Jobs are :class:`submitit.helpers.Checkpointable`:
  on preemption or time-out Slurm requeues them, and a requeued job resumes by skipping
  whatever already finished.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from .._errors import ScalefitError
from .grid import Grid, Job, estimate, expand
from .store import WorkDir, build_table, table_from_rows, write_table

EXECUTORS = ("local", "submitit-local", "slurm")


def _need_torch() -> None:
    import importlib.util

    missing = [m for m in ("torch", "timm") if importlib.util.find_spec(m) is None]
    if missing:
        raise ScalefitError(
            f"scalefit collect needs {' and '.join(missing)}: pip install 'scalefit[collect]' (a dry run needs neither)"
        )


def finished(job: Job, work: WorkDir) -> bool:
    return work.has_row(job.run_id) if job.evaluated else work.has_checkpoint(job.run_id)


def teacher_ids(jobs: list[Job]) -> set[str]:
    """Fine-tuning runs whose weights a distillation run needs (their checkpoints are kept)."""
    return {t for j in jobs if j.stage == "distill" for t in j.needs[1:]}


def data_sizes(grid: Grid, cache) -> dict:
    """``name -> (n_train, n_test, num_classes)`` read from the data.

    ``cache`` is a :class:`~scalefit.collect.stages.DataCache` (reused: each set is decoded once
    per process) or the directory of the on-disk cache (``None``: none).
    """
    from .stages import DataCache

    if not isinstance(cache, DataCache):
        cache = DataCache(None if cache is None else str(cache))
    out = {}
    for d in (grid.upstream, *grid.downstream):
        train, test = cache.get(d.identity(), "train"), cache.get(d.identity(), "test")
        out[d.name] = (len(train), len(test), train.num_classes)
    return out


def collect(
    grid: Grid,
    out: str | os.PathLike,
    *,
    work: str | os.PathLike | None = None,
    device: str = "auto",
    executor: str = "local",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    slurm: dict | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Collect every run of ``grid``; write the runs table to ``out`` (``.parquet`` or ``.csv``) and return it.

    Parameters
    ----------
    work : path, optional
        Work directory (rows, checkpoints, plan); default ``out`` with suffix ``.collect``.
        Re-running with the same ``out`` resumes: finished run ids are skipped.
    device : ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` …
    executor : ``"local"``, ``"submitit-local"`` or ``"slurm"``
    cache_dir : path, optional
        Where decoded uint8 arrays are cached; default ``<work>/cache``.
    slurm : dict, optional
        Extra ``executor.update_parameters`` for submitit (partition, timeout_min, gpus_per_node …).
    limit : int, optional
        Run at most this many pending jobs, then stop (the table holds what finished).
    """
    if executor not in EXECUTORS:
        raise ScalefitError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if Path(out).suffix not in (".parquet", ".csv"):
        raise ScalefitError(f"out {str(out)!r}: use a .parquet or .csv file name")
    _need_torch()
    from .train import pick_device

    device = pick_device(device)
    jobs = expand(grid)
    wd = WorkDir.for_table(out, work).create()
    cache_dir = str(cache_dir) if cache_dir is not None else str(wd.root / "cache")
    wd.write_plan({"grid": grid.name, "device": device, "cache_dir": cache_dir, "jobs": [asdict(j) for j in jobs]})
    ids = [j.run_id for j in jobs if j.evaluated]
    pending = [j for j in jobs if not finished(j, wd)]
    if limit is not None:
        pending = pending[:limit]
    if executor == "local":
        _run_local(grid, jobs, pending, wd, device, cache_dir, out, ids, progress)
    else:
        _run_submitit(pending, wd, executor, slurm or {})
    table = build_table(wd, ids)
    write_table(table, out)
    return table


def _run_local(grid, jobs, pending, wd, device, cache_dir, out, ids, progress) -> None:
    from .stages import DataCache, run_job

    data = DataCache(cache_dir)
    keep = teacher_ids(jobs)
    if not pending:
        return
    sizes = data_sizes(grid, data)
    rows = {r: wd.read_row(r) for r in ids if wd.has_row(r)}  # the table so far, read once
    cost = {j.run_id: estimate(grid, [j], sizes)[0].flops for j in pending}
    bar = _bar(sum(cost.values()) / 1e9, "collect", "GFLOP", progress)
    t0 = time.perf_counter()
    for n, job in enumerate(pending, 1):
        inner = _bar(None, f"[{n}/{len(pending)}] {job.label}", "step", progress, leave=False)

        def on_step(step, total, loss, inner=inner):
            inner.total = total
            inner.update(step - inner.n)
            inner.set_postfix(loss=f"{loss:.3f}", refresh=False)

        try:
            row = run_job(job, wd, data, device, keep_checkpoint=job.run_id in keep, on_step=on_step)
        except ScalefitError:
            raise
        except Exception as exc:  # torch/timm failures: say which run, and that finished work is kept
            raise ScalefitError(
                f"run {job.label} ({job.run_id}) failed: {type(exc).__name__}: {exc}; the {n - 1} runs finished "
                f"in this call are kept in {wd.root} — fix the cause and re-run the same command to resume"
            ) from exc
        finally:
            inner.close()
        bar.update(cost[job.run_id] / 1e9)
        if job.evaluated:
            rows[job.run_id] = row
            write_table(table_from_rows([rows[r] for r in ids if r in rows]), out)
        if not progress:
            print(f"[{n}/{len(pending)}] {job.label} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    bar.close()


def _bar(total, desc, unit, enabled, leave=True):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled,
        leave=leave,
        dynamic_ncols=True,
        smoothing=0.05,
        bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} {unit} [{elapsed}<{remaining}]" if unit == "GFLOP" else None,
    )


def run_one(work_root: str, run_id: str) -> str:
    """Run one job of the plan in ``work_root`` (what a submitit worker calls); skip it if finished."""
    from .stages import DataCache, run_job

    wd = WorkDir(work_root)
    plan = wd.read_plan()
    jobs = [Job(**{**j, "needs": tuple(j["needs"])}) for j in plan["jobs"]]
    job = next((j for j in jobs if j.run_id == run_id), None)
    if job is None:
        raise ScalefitError(f"run {run_id} is not in the plan of {work_root}")
    if finished(job, wd):
        return "skipped"
    missing = [r for r in job.needs if not finished(next(j for j in jobs if j.run_id == r), wd)]
    if missing:
        raise ScalefitError(f"run {run_id} ({job.label}) needs unfinished run(s) {missing}")
    run_job(job, wd, DataCache(plan["cache_dir"]), plan["device"], keep_checkpoint=run_id in teacher_ids(jobs))
    return "done"


def _worker():
    import submitit

    class RunOne(submitit.helpers.Checkpointable):
        """A resumable job: on preemption submitit requeues it with the same arguments."""

        def __call__(self, work_root: str, run_id: str) -> str:
            return run_one(work_root, run_id)

    return RunOne()


def _run_submitit(pending: list[Job], wd: WorkDir, executor: str, params: dict) -> None:
    try:
        import submitit
    except ImportError:
        raise ScalefitError("executor 'submitit-local'/'slurm' needs submitit: pip install submitit") from None
    ex = submitit.AutoExecutor(
        folder=str(wd.root / "submitit" / "%j"), cluster="local" if executor == "submitit-local" else "slurm"
    )
    ex.update_parameters(**({"timeout_min": 60} | params))
    worker = _worker()
    for stages in (("pretrain",), ("finetune",), ("distill", "control")):
        batch = [j for j in pending if j.stage in stages]
        if not batch:
            continue
        subs = ex.map_array(worker, [str(wd.root)] * len(batch), [j.run_id for j in batch])
        failed = []
        for job, sub in zip(batch, subs, strict=True):
            try:
                sub.result()
            except Exception as exc:  # noqa: BLE001 - report every failure with its run
                failed.append(f"{job.label} ({job.run_id}): {str(exc).strip().splitlines()[-1][:300]}")
        if failed:
            raise ScalefitError(
                f"{len(failed)} {'/'.join(stages)} run(s) failed (logs in {wd.root / 'submitit'}):\n  "
                + "\n  ".join(failed)
            )
