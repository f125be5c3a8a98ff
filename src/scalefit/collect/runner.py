"""Run a grid: skip what is finished, run the rest in dependency order, write the table.

Two executors, no home-made scheduler:

* ``local`` — one process, one device (GPU or CPU), jobs in order, a progress bar with an
  ETA weighted by each job's FLOPs, the table rewritten after every finished run;
* ``submitit`` — each stage (pre-train; fine-tune; distil + control) is one ``submitit``
  job array on Slurm (``cluster="slurm"``) or on submitit's local executor
  (``cluster="local"``, how it is tested). Jobs are :class:`submitit.helpers.Checkpointable`:
  on preemption or time-out Slurm requeues them, and a requeued job resumes by skipping
  whatever already finished.

**Several collectors on one work directory share the work; none repeats it.** Before
training a run, a collector *claims* it (an exclusive ``flock`` on ``claims/<run_id>.lock``,
see :mod:`scalefit.collect.store`); a run claimed by another live process is skipped, a run
whose inputs another process is still producing waits for them, and a run finished by
another collector is not run again. So two ``scalefit collect`` on the same ``--out`` (say,
one per GPU) split the grid between them, and both end with the complete table. A claim
dies with its process, so a crashed collector blocks nothing: its run is taken over. Submitit
workers claim their run too (waiting if another process is training it).

Every argument of :func:`collect` is checked before any work starts (no data is read, no
directory created, nothing trained).
"""

from __future__ import annotations

import glob
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from scalefit.collect.grid import Grid
from scalefit.collect.jobs import Job, estimate, expand
from scalefit.collect.store import WorkDir, existing_rows, table_from_rows, write_table
from scalefit.collect.train import check_device
from scalefit.errors import ScalefitError
from scalefit.files import TEMPORARY_SUFFIX, output_path
from scalefit.validate import boolean, choice, integer, shown_value

EXECUTORS = ("local", "submitit-local", "slurm")
TRAINERS = ("stacked", "per-run")

#: Most runs one stacked bucket trains at once (``collect(max_bucket=...)``).
MAX_BUCKET = 16

#: Seconds between looks at the work directory while every pending run waits on other collectors.
POLL_S = 0.5


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
    from scalefit.collect.stages import DataCache

    if not isinstance(cache, DataCache):
        cache = DataCache(None if cache is None else str(cache))
    out = {}
    for d in (grid.upstream, *grid.downstream):
        train, test = cache.get(d.identity(), "train"), cache.get(d.identity(), "test")
        out[d.name] = (len(train), len(test), train.num_classes)
    return out


def _directory(value, name: str) -> Path | None:
    """An optional directory argument: a path that, if it exists, is a directory."""
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise TypeError(f"{name} must be a directory path or None, got {shown_value(value)} ({type(value).__name__})")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise ScalefitError(f"{name} {str(value)!r} exists and is not a directory; give a directory")
    return path


def _check_arguments(grid, out, work, device, executor, cache_dir, progress, slurm, limit, trainer, max_bucket):
    """Every argument of :func:`collect`, checked before any work; returns the canonical values."""
    if not isinstance(grid, Grid):
        raise TypeError(
            f"grid must be a scalefit.collect.Grid (from load_grid('grid.toml') or preset('tiny')), "
            f"got {shown_value(grid)} ({type(grid).__name__})"
        )
    output_path(out, "out", (".parquet", ".csv"))
    work = _directory(work, "work")
    cache_dir = _directory(cache_dir, "cache_dir")
    device, executor, slurm = check_execution(device, executor, slurm)
    progress = boolean(progress, "progress")
    if limit is not None:
        limit = integer(
            limit, "limit", minimum=1, fix="the number of pending runs to run in this call (--limit N), or None for all"
        )
    trainer = choice(trainer, "trainer", TRAINERS)
    max_bucket = integer(max_bucket, "max_bucket", minimum=1, fix="the most runs one stacked bucket trains at once")
    return work, device, executor, cache_dir, progress, slurm, limit, trainer, max_bucket


def check_execution(device: object, executor: object, slurm: object) -> tuple[str, str, dict]:
    """Where :func:`collect` runs — ``device``, ``executor`` and the ``slurm`` parameters —
    checked without importing torch (also by ``scalefit collect --dry-run``); returns the
    canonical values."""
    device = check_device(device)
    executor = choice(executor, "executor", EXECUTORS)
    if slurm is not None:
        if not isinstance(slurm, Mapping) or not all(isinstance(k, str) for k in slurm):
            raise TypeError(
                "slurm must be a dict of submitit parameters (e.g. {'slurm_partition': 'gpu'}), "
                f"got {shown_value(slurm)}"
            )
        if slurm and executor == "local":
            raise ScalefitError(
                f"slurm parameters {sorted(slurm)} apply only to executor 'slurm' or 'submitit-local', "
                f"not 'local'; choose one of those executors or drop the parameters"
            )
    return device, executor, dict(slurm or {})


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
    trainer: str = "stacked",
    max_bucket: int = MAX_BUCKET,
) -> pd.DataFrame:
    """Collect every run of ``grid``; write the runs table to ``out`` (``.parquet`` or ``.csv``) and return it.

    Parameters
    ----------
    grid : Grid
        The grid to collect (:func:`preset`, :func:`load_grid` or :func:`grid_from_dict`).
    out : path
        The runs table to write, ``.parquet`` or ``.csv``. An existing one must be a table
        this grid wrote: its rows are kept and added to.
    work : path, optional
        Work directory (rows, checkpoints, plan); default ``out`` with suffix ``.collect``.
        Re-running with the same ``out`` resumes: finished run ids are skipped. Several
        collectors may run on one work directory at once: they share the runs (each run is
        trained once, by the collector that claims it) and each writes the table.
    device : ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``
    executor : ``"local"``, ``"submitit-local"`` or ``"slurm"``
    cache_dir : path, optional
        Where decoded uint8 arrays are cached; default ``<work>/cache``.
    progress : bool
        Progress bars (``False``: one line per finished run on standard error).
    slurm : dict, optional
        Extra ``executor.update_parameters`` for submitit (partition, timeout_min, gpus_per_node …);
        only with executor ``"slurm"`` or ``"submitit-local"``.
    limit : int >= 1, optional
        Run at most this many pending jobs in this call, then stop (the table holds what finished).
    trainer : ``"stacked"`` (default) or ``"per-run"``
        ``"stacked"``: with executor ``"local"``, ready runs that share a model shape, data set,
        batch size and precision train together as one stacked model
        (:mod:`scalefit.collect.stacked`; up to ``max_bucket`` at a time; runs of different
        lengths leave the stack as they finish, and each run's row is written as it finishes).
        Equal to ``"per-run"`` (one timm model at a time, the reference) up to float rounding.
        The submitit executors always train per run.
    max_bucket : int >= 1
        Most runs in one stacked bucket (GPU memory grows with it).

    Returns
    -------
    DataFrame
        The runs table, one row per evaluated run (also written to ``out``).

    Notes
    -----
    Every argument is checked before any work starts (``out`` too: its directory must exist
    and be writable), so a bad argument never costs a run.
    """
    work, device, executor, cache_dir, progress, slurm, limit, trainer, max_bucket = _check_arguments(
        grid, out, work, device, executor, cache_dir, progress, slurm, limit, trainer, max_bucket
    )
    _need_torch()
    from scalefit.collect.train import pick_device

    jobs = expand(grid)
    ids = [j.run_id for j in jobs if j.evaluated]
    kept = existing_rows(out, ids, grid.name)  # an existing --out must be this grid's table: checked first
    device = pick_device(device)
    wd = WorkDir.for_table(Path(out).expanduser(), work)
    with wd.session():
        cache = str(cache_dir) if cache_dir is not None else str(wd.cache)
        wd.write_plan({"grid": grid.name, "device": device, "cache_dir": cache, "jobs": [asdict(j) for j in jobs]})
        if executor == "local":
            _run_local(grid, jobs, wd, device, cache, out, ids, progress, limit, trainer, max_bucket, kept)
        else:
            pending = [j for j in jobs if not finished(j, wd)]
            _run_submitit(pending[:limit] if limit is not None else pending, wd, executor, slurm)
        with wd.table_lock():
            _remove_stale_table_temporaries(out)
            table = _table(wd, ids, out, kept)
    return table


def _table(wd: WorkDir, ids: list[str], out, kept: dict[str, dict], rows: dict | None = None) -> pd.DataFrame:
    """Write the runs table (call under the table lock): the rows of ``ids`` on disk (other
    collectors' too) over ``rows`` read before, over the rows of the table ``out`` held before
    (``kept``: never dropped), in plan order; returns it."""
    rows = {} if rows is None else rows
    for r in wd.row_ids() & set(ids) - rows.keys():
        rows[r] = wd.read_row(r)
    merged = {**kept, **rows}
    table = table_from_rows([merged[r] for r in ids if r in merged])
    write_table(table, out)
    return table


def _remove_stale_table_temporaries(out) -> None:
    """Temporaries of the table left by a killed writer: ``.<name>.<random>.scalefit-tmp``
    beside it, a name only scalefit's writer makes (never a user's file).

    Called under the table lock, which every writer of this table holds while writing it.
    """
    real = Path(os.path.realpath(Path(out).expanduser()))
    pattern = re.compile(rf"^\.{re.escape(real.name)}\.[A-Za-z0-9_]{{8}}{re.escape(TEMPORARY_SUFFIX)}$")
    for path in real.parent.glob(f".{glob.escape(real.name)}.*{TEMPORARY_SUFFIX}"):
        if pattern.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


def _say(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def _next_job(remaining: dict[str, Job], by_id: dict[str, Job], wd: WorkDir):
    """The first remaining job that is unfinished, whose inputs are finished, claimed for this process.

    ``remaining`` maps run ids to jobs in dependency order. Returns ``(job, claim, held)``:
    ``job`` is ``None`` when nothing can start now, and ``held`` lists the runs other processes
    hold (what this process waits for). Jobs found finished (by another collector) are dropped
    from ``remaining``.
    """
    held: list[Job] = []
    for run_id, job in list(remaining.items()):
        if finished(job, wd):
            del remaining[run_id]
            continue
        waiting = [r for r in job.needs if not finished(by_id[r], wd)]
        if waiting:
            lost = [r for r in waiting if r not in remaining]
            if lost:
                raise ScalefitError(
                    f"run {job.label} ({run_id}) needs run(s) {lost}, which are neither finished nor pending "
                    f"(were their files deleted while collecting?); re-run the same command"
                )
            continue
        claim = wd.claim(run_id)
        if claim is None:
            held.append(job)
            continue
        if finished(job, wd):  # finished by another collector between our look and our claim
            claim.release()
            del remaining[run_id]
            continue
        return job, claim, held
    return None, None, held


def bucket_key(job: Job) -> tuple:
    """Runs with equal keys can train as one stacked bucket: model shape, data set, batch size,
    precision, and whether the student's attention maps are needed (distillation with
    attention alignment computes attention explicitly). Step counts may differ (ragged)."""
    import json

    cfg = job.config
    model = cfg["pretrain"]["model"] if "pretrain" in cfg else cfg["model"]
    hp = cfg["hparams"]
    attention = job.stage == "distill" and cfg["loss"].get("attention_weight", 0) > 0
    group = "pretrain" if job.stage == "pretrain" else "attention" if attention else "tune"
    return (group, json.dumps(model, sort_keys=True), json.dumps(cfg["data"], sort_keys=True),
            hp["batch_size"], hp["precision"])  # fmt: skip


def _companions(job, claim, remaining, by_id, wd, room: int) -> list:
    """``job`` and up to ``room - 1`` other ready runs of its bucket, each claimed for this process."""
    bucket = [(job, claim)]
    key = bucket_key(job)
    for run_id, other in remaining.items():
        if len(bucket) >= room:
            break
        if run_id == job.run_id or bucket_key(other) != key or finished(other, wd):
            continue
        if any(not finished(by_id[r], wd) for r in other.needs):
            continue
        c = wd.claim(run_id)
        if c is None:
            continue
        if finished(other, wd):
            c.release()
            continue
        bucket.append((other, c))
    return bucket


def _run_bucket(bucket, wd, data, device, keep, progress, label: str, on_done) -> None:
    """Train ``bucket`` (jobs with their claims) as one stacked model.

    Each job's unchanged ``run_job`` runs in its own thread (one after another up to its
    ``train`` call, which hands the run to the bucket; so data loading, model init and the
    global RNG see what they see per run); the bucket trains them together; each thread then
    evaluates and writes its row as soon as its run finishes. The bucket trains in a thread of
    its own, so ``on_done(job, row, exc)`` (the table rewrite) is called in this thread for each
    run as it ends, while the others still train; each claim is released then.
    """
    import queue
    import threading

    from scalefit.collect import stages
    from scalefit.collect.stacked import Gather, Slot
    from scalefit.collect.train import BUCKET

    gather = Gather()
    ended: queue.Queue = queue.Queue()
    inner = _bar(None, label, "step", progress, leave=False)

    def on_step(step, total, loss):
        inner.total = max(inner.total or 0, total)
        inner.update(max(0, step - inner.n))
        inner.set_postfix(loss=f"{loss:.3f}", refresh=False)

    def work(slot, job):
        BUCKET.set(Slot(gather, slot))  # this thread's context only
        try:
            row = stages.run_job(job, wd, data, device, keep_checkpoint=job.run_id in keep, on_step=on_step)
            ended.put((slot, row, None))
        except BaseException as exc:  # noqa: BLE001 - reported by the collecting thread
            ended.put((slot, None, exc))
        finally:
            gather.leave(slot)

    threads = []
    try:
        for slot, (job, _) in enumerate(bucket):
            thread = threading.Thread(target=work, args=(slot, job), name=f"scalefit-{job.run_id}", daemon=True)
            thread.start()
            threads.append(thread)
            gather.wait(slot)  # set-up one run at a time
        trainer = threading.Thread(target=gather.train, name="scalefit-bucket", daemon=True)
        trainer.start()
        threads.append(trainer)
        for _ in bucket:  # as each run ends (its row written), while the rest train
            while True:
                try:
                    slot, row, exc = ended.get(timeout=0.5)
                    break
                except queue.Empty:
                    continue
            job, claim = bucket[slot]
            claim.release()
            on_done(job, row, exc)
    finally:
        inner.close()
        for _, claim in bucket:
            claim.release()
        for thread in threads:
            thread.join(timeout=60)


def _run_failed(job, exc: Exception, done: int, wd) -> ScalefitError:
    """The error for a run that failed in torch/timm: which run, and that finished work is kept."""
    return ScalefitError(
        f"run {job.label} ({job.run_id}) failed: {type(exc).__name__}: {exc}; the {done} runs finished in this "
        f"call are kept in {wd.root} — fix the cause and re-run the same command to resume"
    )


def _run_local(
    grid, jobs, wd, device, cache_dir, out, ids, progress, limit, trainer="stacked", max_bucket=1, kept=None
) -> None:
    from scalefit.collect.stages import DataCache, run_job

    pending = [j for j in jobs if not finished(j, wd)]
    if not pending:
        return
    data = DataCache(cache_dir)
    keep = teacher_ids(jobs)
    by_id = {j.run_id: j for j in jobs}
    sizes = data_sizes(grid, data)
    rows = {r: wd.read_row(r) for r in ids if wd.has_row(r)}  # the table so far, read once
    cost = {j.run_id: estimate(grid, [j], sizes)[0].flops for j in pending}
    bar = _bar(sum(cost.values()) / 1e9, "collect", "GFLOP", progress)
    remaining = {j.run_id: j for j in pending}
    uncounted = set(remaining)  # runs not yet on the progress bar
    t0 = time.perf_counter()
    n, waiting_for = 0, None

    def finished_run(job, row, count) -> None:
        """Bookkeeping of a run that finished here: off the bar, its row into the table."""
        del remaining[job.run_id]
        uncounted.discard(job.run_id)
        bar.update(cost[job.run_id] / 1e9)
        if job.evaluated:
            rows[job.run_id] = row
            with wd.table_lock():  # rows other collectors wrote meanwhile go in too
                _table(wd, ids, out, kept or {}, rows)
        if not progress:
            print(f"[{count}/{len(pending)}] {job.label} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    try:
        while remaining and (limit is None or n < limit):
            job, claim, held = _next_job(remaining, by_id, wd)
            for gone in uncounted - remaining.keys():  # finished by another collector: off the bar
                uncounted.discard(gone)
                bar.update(cost[gone] / 1e9)
            if job is None:
                if not remaining:
                    break
                if not held:  # cannot happen: the first unfinished run's inputs are finished or held
                    first = next(iter(remaining.values()))
                    raise ScalefitError(
                        f"run {first.label} ({first.run_id}) cannot start and no other collector holds a run "
                        f"it needs; re-run the same command"
                    )
                if waiting_for != held[0].run_id:
                    waiting_for = held[0].run_id
                    _say(
                        f"waiting: {len(held)} run(s) are being trained by other collectors on {wd.root}, e.g. "
                        f"{held[0].label} by {wd.claim_holder(held[0].run_id)} (lock "
                        f"{wd.claim_path(held[0].run_id)}); the rest need their results"
                    )
                time.sleep(POLL_S)
                continue
            room = max_bucket if limit is None else min(max_bucket, limit - n)
            if trainer == "stacked" and room > 1:
                bucket = _companions(job, claim, remaining, by_id, wd, room)
                if len(bucket) > 1:
                    failures = []

                    def on_done(job, row, exc, failures=failures):
                        nonlocal n
                        if exc is not None:
                            failures.append((job, exc))
                            return
                        n += 1
                        finished_run(job, row, n)

                    label = (
                        f"[{n + 1}-{n + len(bucket)}/{len(pending)}] {bucket[0][0].label} +{len(bucket) - 1} stacked"
                    )
                    _run_bucket(bucket, wd, data, device, keep, progress, label, on_done)
                    if failures:
                        job, exc = failures[0]
                        if isinstance(exc, ScalefitError):
                            raise exc
                        raise _run_failed(job, exc, n, wd) from exc
                    continue
            n += 1
            with claim:  # released however the run ends (the kernel releases it if the process dies)
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
                    raise _run_failed(job, exc, n - 1, wd) from exc
                finally:
                    inner.close()
            finished_run(job, row, n)
    finally:
        bar.close()
    others = len(pending) - n - len(remaining)
    if others:
        _say(f"{others} of the {len(pending)} pending runs were trained by other collectors on {wd.root}")


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
    """Run one job of the plan in ``work_root`` (what a submitit worker calls); skip it if finished.

    The worker holds the work directory's session lock and the run's claim while it trains,
    so a second collector on the directory never trains the same run at the same time.
    """
    from scalefit.collect.stages import DataCache, run_job

    wd = WorkDir(work_root)
    with wd.session(clean=False):
        plan = wd.read_plan()
        jobs = [Job(**{**j, "needs": tuple(j["needs"])}) for j in plan["jobs"]]
        job = next((j for j in jobs if j.run_id == run_id), None)
        if job is None:
            raise ScalefitError(f"run {run_id} is not in the plan of {work_root}")
        if finished(job, wd):
            return "skipped"
        with wd.claim(run_id, block=True):  # waits while another process trains this run
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
