"""Readers that cannot execute, and data sets that cannot escape their folder (issue 21).

CIFAR folders were read with plain ``pickle.load``: a ``batches.meta`` defining ``__reduce__``
ran its payload in ``read_cifar``, ``read_images`` and ``scalefit collect --dry-run``. IDX
headers could overflow, 0-pixel images, 1-class sets and dangling symlinks passed in silence,
and a data-set name with ``../`` wrote the image cache outside its folder.
"""

import json
import os
import pickle
import struct

import numpy as np
import pytest

from scalefit import ScalefitError
from scalefit.cli.main import main
from scalefit.collect import grid_from_dict, load_grid
from scalefit.collect.loading import load_images, read_images
from scalefit.collect.readers import read_cifar, read_idx, read_image_folder

GRID = """name = "g"
[model]
heads = [1]
depth = 1
head_dim = 8
patch = 8
[upstream]
name = NAME
format = FORMAT
num_classes = 2
fractions = [1.0]
[[downstream]]
name = "down"
format = "synthetic"
n_train = 40
n_test = 20
num_classes = 2
fractions = [1.0]
[pretrain]
epochs = 1
batch_size = 8
[finetune]
epochs = 1
batch_size = 8
"""


class _Payload:
    """What a hostile pickle holds: unpickling it calls os.system."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def _cifar10(root, meta=None, batch=None):
    root.mkdir(parents=True, exist_ok=True)
    names = meta if meta is not None else {b"label_names": [f"c{i}".encode() for i in range(10)]}
    rng = np.random.default_rng(0)
    good = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}
    (root / "batches.meta").write_bytes(pickle.dumps(names))
    (root / "test_batch").write_bytes(pickle.dumps(batch if batch is not None else good))
    return root


@pytest.mark.parametrize("where", ["meta", "batch", "label list"])
def test_a_hostile_cifar_pickle_runs_nothing(tmp_path, where):
    flag = tmp_path / "pwned"
    evil = _Payload(flag)
    if where == "meta":
        root = _cifar10(tmp_path / "c10", meta={b"label_names": evil})
    elif where == "batch":
        root = _cifar10(tmp_path / "c10", batch=evil)
    else:
        root = _cifar10(tmp_path / "c10", batch={b"data": np.zeros((1, 3072), np.uint8), b"labels": [evil]})
    for read in (lambda: read_cifar(root, "test"), lambda: read_images("cifar", "test", root=str(root), size=32)):
        with pytest.raises(ScalefitError, match=r"refused to unpickle: it names posix\.system, which a CIFAR file"):
            read()
        assert not flag.exists()


def test_a_hostile_cifar_pickle_runs_nothing_in_a_dry_run(tmp_path, capsys):
    flag = tmp_path / "pwned"
    root = _cifar10(tmp_path / "c10", meta={b"label_names": _Payload(flag)})
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.replace("NAME", '"up"').replace("FORMAT", f'"cifar"\nroot = {json.dumps(str(root))}'))
    assert main(["collect", str(grid), "--dry-run", "--cache", str(tmp_path / "cache")]) == 2
    assert "refused to unpickle: it names posix.system" in capsys.readouterr().err
    assert not flag.exists()


def test_real_cifar_pickles_still_load(tmp_path):
    """Python 3 pickles (protocols 2-5) and python-2-era names (numpy.core.multiarray) load."""
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (20, 3072), dtype=np.uint8)
    for protocol in (2, 4, 5):
        root = tmp_path / f"p{protocol}"
        root.mkdir()
        meta = pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}, protocol=protocol)
        (root / "batches.meta").write_bytes(meta)
        batch = pickle.dumps({b"data": data, b"labels": list(range(10)) * 2}, protocol=protocol)
        if protocol == 2:  # as numpy 1.x wrote it (the CIFAR files predate numpy._core)
            assert b"numpy._core.multiarray" in batch
            batch = batch.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (root / "test_batch").write_bytes(batch)
        got = read_cifar(root, "test")
        np.testing.assert_array_equal(got.images.reshape(20, -1), data)
        assert got.classes[:2] == ("c0", "c1")


def _idx(path, magic, dims, body):
    path.write_bytes(struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims) + body)


def test_idx_headers_are_checked_without_overflow(tmp_path):
    _idx(tmp_path / "t10k-images-idx3-ubyte", 0x0803, (2**31, 2**31, 4), b"")
    _idx(tmp_path / "t10k-labels-idx1-ubyte", 0x0801, (2,), bytes([0, 1]))
    with pytest.raises(ScalefitError, match=r"2147483648 x 2147483648 x 4 = 18446744073709551616 bytes .* holds 0"):
        read_idx(tmp_path, "test")
    _idx(tmp_path / "t10k-images-idx3-ubyte", 0x0803, (2, 0, 28), b"")
    with pytest.raises(ScalefitError, match=r"2 images of 0 x 28 pixels; an image needs at least one pixel"):
        read_idx(tmp_path, "test")


def test_a_single_class_is_not_a_data_set(tmp_path):
    _idx(tmp_path / "t10k-images-idx3-ubyte", 0x0803, (3, 2, 2), bytes(12))
    _idx(tmp_path / "t10k-labels-idx1-ubyte", 0x0801, (3,), bytes(3))
    with pytest.raises(ScalefitError, match=r"holds 1 class \('0'\); a classification data set needs at least 2"):
        read_idx(tmp_path, "test")
    folder = tmp_path / "folder" / "only"
    folder.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "a.png")
    with pytest.raises(ScalefitError, match=r"holds 1 class \('only'\)"):
        read_image_folder(tmp_path / "folder", size=4)


def test_a_dangling_image_link_is_named(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / c / "x.png")
    (tmp_path / "b" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ScalefitError, match=r"gone\.png: a symbolic link to .*nowhere\.png', which does not exist"):
        read_image_folder(tmp_path, size=4)
    (tmp_path / "b" / "gone.png").unlink()
    (tmp_path / "c").symlink_to(tmp_path / "no-such-class")
    with pytest.raises(ScalefitError, match=r"/c: a symbolic link to .*no-such-class', which does not exist"):
        read_image_folder(tmp_path, size=4)


@pytest.mark.parametrize("name", ["../../../escaped_up", "a/b", "/abs/path", "..", ".hidden", "a\\b", "tab\there"])
def test_data_set_names_stay_in_their_folder(tmp_path, name):
    spec = {
        "name": "g",
        "model": {"heads": [1], "depth": 1, "head_dim": 8, "patch": 8},
        "upstream": {
            "name": name,
            "format": "synthetic",
            "n_train": 40,
            "n_test": 20,
            "num_classes": 2,
            "fractions": [1.0],
        },  # fmt: skip
        "downstream": [
            {"name": "down", "format": "synthetic", "n_train": 40, "n_test": 20, "num_classes": 2, "fractions": [1.0]}
        ],  # fmt: skip
        "pretrain": {"epochs": 1, "batch_size": 8},
        "finetune": {"epochs": 1, "batch_size": 8},
    }
    with pytest.raises(ScalefitError, match=r"name:? .* it is used in file names, which must stay inside their dir"):
        grid_from_dict(spec)
    path = tmp_path / "g.toml"
    path.write_text(GRID.replace("NAME", json.dumps(name)).replace("FORMAT", '"synthetic"\nn_train = 40\nn_test = 20'))
    with pytest.raises(ScalefitError, match=r"g\.toml.* must stay inside their directory"):
        load_grid(path)
    cache = tmp_path / "tcache" / "a" / "b" / "c"
    with pytest.raises(ScalefitError, match=r"data set name .* must stay inside their directory"):
        load_images(cache, format="synthetic", split="test", n_synthetic=10, num_classes=2, size=8, channels=1,
                    name=name)  # fmt: skip
    assert not [p for p in tmp_path.rglob("*") if p.suffix == ".npz"]
