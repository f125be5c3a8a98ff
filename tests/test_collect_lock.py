"""Several collectors on one work directory: no run is trained twice, the table ends complete,
a dead collector's claims block nobody, temporaries are removed only when nobody is writing.

Design under test (see scalefit.collect.store): each run is claimed with an exclusive flock on
``claims/<run_id>.lock`` before it is trained; a claimed run is skipped (and waited for by the
runs that need it); the kernel drops a dead process's locks.
"""

import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib

import numpy as np
import pandas as pd
import pytest

from scalefit.collect import WorkDir, collect, expand, grid_from_dict, runner
from scalefit.collect import loading as images_module
from scalefit.collect import store as store_module
from scalefit.files import WRITING

MICRO = """
name = "micro"
[model]
heads = [1, 2]
depth = 1
head_dim = 8
patch = 8
[upstream]
name = "up"
format = "synthetic"
n_train = 300
n_test = 100
num_classes = 4
task_seed = 1
size = 16
channels = 1
fractions = [0.5, 1.0]
[downstream]
name = "down"
format = "synthetic"
n_train = 120
n_test = 100
num_classes = 4
task_seed = 1
task_shift = 1
size = 16
channels = 1
fractions = [0.5, 1.0]
[pretrain]
epochs = 2
batch_size = 32
lr = 2e-3
warmup_epochs = 0.5
[finetune]
epochs = 2
batch_size = 16
lr = 1e-3
warmup_epochs = 0.5
[distill]
pairs = [{ student = 2, teachers = [1] }]
control_smoothing = 0.1
"""

DONE = re.compile(r"^\[\d+/\d+\] (.+) done \(\d+ s\)$")


def _grid():
    return grid_from_dict(tomllib.loads(MICRO))


def _leftovers(work):
    """Claims and temporaries left behind (scalefit's own, empty, temporaries folders aside)."""
    return sorted(
        p.name
        for p in work.rglob("*")
        if (p.name.startswith(".") and not (p.is_dir() and p.name == ".scalefit-tmp")) or p.parent.name == "claims"
    )


def test_two_concurrent_collects_share_the_runs(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    grid_path = tmp_path / "micro.toml"
    grid_path.write_text(MICRO)
    out = tmp_path / "runs.parquet"
    cmd = [sys.executable, "-m", "scalefit", "collect", str(grid_path), "--out", str(out)]
    cmd += ["--device", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    trained = [DONE.match(line).group(1) for _, err in results for line in err.splitlines() if DONE.match(line)]
    jobs = expand(_grid())
    assert len({j.label for j in jobs}) == len(jobs)
    assert sorted(trained) == sorted(j.label for j in jobs)  # every run trained once, by one of the two
    evaluated = [j.run_id for j in jobs if j.evaluated]
    table = pd.read_parquet(out)
    assert list(table["run_id"]) == evaluated  # the table is complete, in plan order
    assert np.isfinite(table["error"]).all()
    for stdout, _ in results:  # each collector returned (and reported) the complete table
        assert stdout.startswith(f"{len(evaluated)} evaluated runs in")
    work = tmp_path / "runs.collect"
    assert len(list((work / "rows").glob("*.json"))) == len(evaluated)
    assert _leftovers(work) == []  # no claim and no temporary left behind


def _fake_run_job(calls):
    """A stand-in for stages.run_job: records the call and writes what a finished run leaves."""

    def run_job(job, work, data, device, *, keep_checkpoint=False, on_step=None):
        calls.append(job.run_id)
        if not job.evaluated:
            store_module.atomic_write_bytes(work.checkpoint_path(job.run_id), b"weights")
            return None
        row = {"run_id": job.run_id, "stage": job.stage, "error": 0.5, "loss": 1.0, "Mt": math.nan}
        work.write_row(row)
        return row

    return run_job


def test_a_run_claimed_elsewhere_is_skipped_and_waited_for(tmp_path, monkeypatch, capsys):
    from scalefit.collect import stages

    calls = []
    monkeypatch.setattr(stages, "run_job", _fake_run_job(calls))
    monkeypatch.setattr(runner, "POLL_S", 0.02)
    grid, out = _grid(), tmp_path / "runs.csv"
    jobs = expand(grid)
    other = jobs[0]  # a pre-training "another collector" is training; half the grid needs it
    dependents = {other.run_id}
    for job in jobs:
        if dependents & set(job.needs):
            dependents.add(job.run_id)
    independent = [j for j in jobs if j.run_id not in dependents]
    assert independent and len(dependents) > 1

    work = WorkDir(tmp_path / "runs.collect")
    claim = work.claim(other.run_id)  # held on its own open file: to flock, another process

    def other_collector():
        deadline = time.monotonic() + 60
        while len(calls) < len(independent) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the collector now waits for this run
        store_module.atomic_write_bytes(work.checkpoint_path(other.run_id), b"weights")
        claim.release()

    thread = threading.Thread(target=other_collector)
    thread.start()
    try:
        table = collect(grid, out, device="cpu", progress=False)
    finally:
        thread.join()
    assert other.run_id not in calls and sorted(calls) == sorted(j.run_id for j in jobs if j is not other)
    # what could run, ran first (the stacked trainer starts runs of one bucket together, in any order)
    assert set(calls[: len(independent)]) == {j.run_id for j in independent}
    assert list(table["run_id"]) == [j.run_id for j in jobs if j.evaluated]
    err = capsys.readouterr().err
    assert f"waiting: 1 run(s) are being trained by other collectors on {work.root}" in err
    assert f"{other.label} by pid {os.getpid()} on host {socket.gethostname()}" in err
    assert f"1 of the {len(jobs)} pending runs were trained by other collectors" in err


HOLDER = """
import sys
from scalefit.collect import WorkDir
claim = WorkDir(sys.argv[1]).claim(sys.argv[2])
print("claimed" if claim else "refused", flush=True)
sys.stdin.readline()
"""


def test_a_dead_collectors_claim_is_taken_over(tmp_path):
    work = WorkDir(tmp_path / "runs.collect")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(work.root), "0123456789abcdef"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "claimed\n"
        assert work.claim("0123456789abcdef") is None  # a live holder keeps it
        holder = work.claim_holder("0123456789abcdef")
        assert holder.startswith(f"pid {proc.pid} on host {socket.gethostname()} (since ")
    finally:
        proc.send_signal(signal.SIGKILL)  # dies without releasing anything
        proc.communicate()  # reaps it and closes its pipes
    assert work.claim_path("0123456789abcdef").is_file()  # its claim file is left behind ...
    with work.claim("0123456789abcdef") as claim:  # ... and blocks nobody: the kernel dropped the lock
        assert claim is not None and work.claim_holder("0123456789abcdef").startswith(f"pid {os.getpid()} ")
    assert not work.claim_path("0123456789abcdef").exists()  # released: the file is gone
    with work.claim("0123456789abcdef", block=True) as again:  # a free claim is taken without waiting
        assert again is not None


def test_stale_temporaries_are_removed_only_when_no_collector_is_live(tmp_path):
    root = tmp_path / "runs.collect"
    WorkDir(root).create()
    (root / "cache" / ".scalefit-tmp").mkdir(parents=True)
    (root / "sub").mkdir()
    temporaries = [  # every writer's temporary is in scalefit's own folder, uniquely named
        root / ".scalefit-tmp" / ".0123456789abcdef.json.k2j4h5g6.scalefit-tmp",  # a row writer's
        root / ".scalefit-tmp" / ".plan.json.a1b2c3d4.scalefit-tmp",
        root / "cache" / ".scalefit-tmp" / ".up-train-0123.npz.zz99yy88.scalefit-tmp",  # the image cache's
    ]
    kept = [
        root / "rows" / "0123456789abcdef.json",
        root / "cache" / "up-train-0123.npz",
        root / "plan.json",
        # the user's own files, named like the temporaries of older versions (issue 21: they were deleted)
        root / "results.tmp2024.npz",
        root / "sub" / ".notes.tmp1",
        root / "rows" / ".0123456789abcdef.json.tmp4242",
        root / ".scalefit-tmp" / "notes.txt",  # not a temporary's name, even in scalefit's folder
    ]
    with WorkDir(root).session():  # a live collector (or submitit worker) on the directory, writing
        for path in temporaries + kept:
            path.write_bytes(b"x")
        WorkDir(root).create()
        with WorkDir(root).session():  # a second collector starting
            pass
        assert all(p.exists() for p in temporaries)  # maybe in flight: never removed
    with WorkDir(root).session():  # alone: whatever is there is stale
        assert not any(p.exists() for p in temporaries)
    assert all(p.exists() for p in kept)


def test_a_killed_table_writers_temporary_is_removed(tmp_path, monkeypatch):
    from scalefit.collect import stages

    monkeypatch.setattr(stages, "run_job", _fake_run_job([]))
    out = tmp_path / "runs.csv"
    stale = tmp_path / ".runs.csv.q8w7e6r5.scalefit-tmp"
    others = [tmp_path / ".runs.csv.tmp99999", tmp_path / ".runs.csv.tmp-notes", tmp_path / ".runs.csv.x.scalefit-tmp"]
    stale.write_bytes(b"half a table")
    for other in others:
        other.write_bytes(b"not ours")
    table = collect(_grid(), out, device="cpu", progress=False)
    assert not stale.exists() and all(other.exists() for other in others)
    assert len(pd.read_csv(out)) == len(table) == sum(j.evaluated for j in expand(_grid()))


def test_writers_remove_their_temporary_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "rows" / "row.json"
    store_module.atomic_write_bytes(target, b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            store_module.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and sorted(p.name for p in target.parent.iterdir()) == ["row.json"]

    kwargs = dict(format="synthetic", split="train", n_synthetic=20, num_classes=2, size=8, channels=1, name="s")
    cache = tmp_path / "cache"
    with monkeypatch.context() as m:
        m.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            images_module.load_images(cache, **kwargs)
    assert [p.name for p in cache.rglob("*")] == [".scalefit-tmp"]  # its own folder, empty
    with monkeypatch.context() as m:  # a cache that cannot be written is a warning naming the file, not lost work
        m.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left on device")))
        with pytest.warns(
            UserWarning, match=r"cannot write the image cache .*s-train-\w+\.npz \(\[Errno 28\] No space.*s-train"
        ):
            data = images_module.load_images(cache, **kwargs)
    assert len(data) == 20 and [p.name for p in cache.rglob("*")] == [".scalefit-tmp"]
    assert len(images_module.load_images(cache, **kwargs)) == 20
    assert [p.suffix for p in cache.iterdir() if p.is_file()] == [".npz"]


def test_every_write_holds_the_writing_lock(tmp_path, monkeypatch):
    """The CLI's Ctrl-C handler waits for WRITING: rows, plan, table and cache are written under it."""
    held = []
    real_replace = os.replace

    def replace(src, dst):
        free = []
        probe = threading.Thread(target=lambda: free.append(WRITING.acquire(blocking=False)))
        probe.start()
        probe.join()
        if free[0]:
            WRITING.release()
        held.append((os.path.basename(dst), not free[0]))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    work = WorkDir(tmp_path / "w").create()
    work.write_row({"run_id": "r1", "Mt": math.nan})
    work.write_plan({"jobs": []})
    store_module.write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "runs.csv")
    images_module.load_images(tmp_path / "cache", format="synthetic", split="test", n_synthetic=10, num_classes=2,
                              size=8, channels=1, name="s")  # fmt: skip
    assert len(held) == 4 and all(ok for _, ok in held), held
    assert work.read_row("r1")["Mt"] != work.read_row("r1")["Mt"]  # null is read back as NaN
