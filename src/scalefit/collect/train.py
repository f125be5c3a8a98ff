"""One training run and one evaluation: the swappable unit under every stage.

:func:`train` is plain PyTorch: data held on the device as uint8, augmentation on the
device (random translation by padding and cropping, optional horizontal flip), AdamW with a
linear warm-up from ``warmup_lr`` and a cosine decay to ``min_lr`` stepped every iteration,
weight decay only on matrices (not on biases, norms, position embeddings or the class token),
and optionally online frozen teachers for distillation. A faster trainer (stacked models,
compiled steps) can replace it as long as it keeps this signature: the stacked trainer
(:mod:`scalefit.collect.stacked`) does, and this one stays as its reference.
"""

from __future__ import annotations

import contextvars
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from scalefit.collect.checks import check_fields, one_of, real, whole
from scalefit.collect.distill import DistillLoss, distillation_loss
from scalefit.errors import ScalefitError
from scalefit.validate import suggest

AUGMENTS = ("none", "crop", "crop+flip")
PRECISIONS = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


@dataclass(frozen=True)
class HParams:
    """Optimisation of one stage. Defaults: the paper's Table 3 pre-training row where it speaks."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 5e-4
    warmup_lr: float = 1e-6
    min_lr: float = 1e-6
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.999
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    augment: str = "crop"
    crop_padding: int = 2
    precision: str = "fp32"

    #: One check per field (see :mod:`scalefit.collect.checks`): exact types, finite values, ranges.
    CHECKS: ClassVar[dict] = {
        "epochs": whole(1),
        "batch_size": whole(1),
        "lr": real(0, low_open=True),
        "warmup_lr": real(0, low_open=True),
        "min_lr": real(0, low_open=True),
        "warmup_epochs": real(0),
        "weight_decay": real(0),
        "beta1": real(0, 1, high_open=True),
        "beta2": real(0, 1, high_open=True),
        "label_smoothing": real(0, 1, high_open=True),
        "grad_clip": real(0),
        "augment": one_of(*AUGMENTS),
        "crop_padding": whole(0),
        "precision": one_of(*PRECISIONS),
    }

    def __post_init__(self):
        check_fields(self, self.CHECKS)
        if self.warmup_epochs > self.epochs:
            raise ScalefitError(
                f"warmup_epochs must be in [0, epochs={self.epochs}] (warm-up is part of training), "
                f"got {self.warmup_epochs}; lower warmup_epochs or raise epochs"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    def steps(self, n: int) -> int:
        """Optimizer steps for ``n`` training samples (last partial batch kept)."""
        return self.epochs * math.ceil(n / self.batch_size)

    def lr_at(self, step: int, total: int) -> float:
        """Linear warm-up ``warmup_lr -> lr``, then cosine ``lr -> min_lr``; ``step`` counts from 0."""
        warm = int(round(self.warmup_epochs / self.epochs * total))
        if step < warm:
            return self.warmup_lr + (self.lr - self.warmup_lr) * step / warm
        progress = (step - warm) / max(1, total - warm)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))


def check_device(device: object, name: str = "device") -> str:
    """``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (checked without importing torch)."""
    allowed = ", ".join(repr(d) for d in DEVICES)
    if not isinstance(device, str):
        raise TypeError(f"{name} must be one of {allowed}, got {device!r} ({type(device).__name__})")
    if device in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", device):
        return device
    raise ScalefitError(
        f"{name} must be one of {allowed}, got {device!r}{suggest(device, ('auto', 'cpu', 'cuda', 'mps'))}"
    )


def pick_device(device: str = "auto") -> str:
    """The torch device to train on; a device that is asked for but not there is an error."""
    import torch

    device = check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ScalefitError(f"device {device!r} asked for but no CUDA device is visible; use --device cpu")
        count = torch.cuda.device_count()
        if ":" in device and int(device.split(":")[1]) >= count:
            raise ScalefitError(
                f"device {device!r}: only {count} CUDA device(s) are visible (cuda:0 … cuda:{count - 1}); "
                f"pick one of them or check CUDA_VISIBLE_DEVICES"
            )
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ScalefitError("device 'mps' asked for but Apple's MPS backend is not available; use --device cpu")
    return device


def to_device(images: np.ndarray, labels: np.ndarray, device: str):
    """uint8 images and int64 labels as device tensors (the whole set stays on the device)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).to(device), torch.from_numpy(labels).to(device)


def normalise(batch):
    """uint8 ``(B, C, H, W)`` -> float in [-1, 1]."""
    return batch.float().div_(127.5).sub_(1.0)


def augment(batch, how: str, padding: int, generator):
    """Random translation (zero-pad ``padding`` px, crop back) and optional horizontal flip, per sample."""
    import torch

    if how == "none" or batch.shape[0] == 0:
        return batch
    b, _, h, w = batch.shape
    dev = batch.device
    if padding:
        padded = torch.nn.functional.pad(batch, (padding,) * 4)
        oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device="cpu").to(dev)
        ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device="cpu").to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        idx_b = torch.arange(b, device=dev)[:, None, None, None]
        idx_c = torch.arange(batch.shape[1], device=dev)[None, :, None, None]
        batch = padded[idx_b, idx_c, rows, cols]
    if how == "crop+flip":
        flip = (torch.rand(b, generator=generator, device="cpu") < 0.5).to(dev)
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
    return batch


def decayed(model) -> dict[str, bool]:
    """Which parameters AdamW decays: matrices only, not biases, norms, position embeddings or the
    class token — decided on the unstacked (timm) shapes and timm's ``no_weight_decay`` names."""
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    return {name: not (p.ndim <= 1 or name in skip) for name, p in model.named_parameters()}


def param_groups(model, weight_decay: float):
    """AdamW's two groups: :func:`decayed` parameters with ``weight_decay``, the rest without."""
    decay_of = decayed(model)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if decay_of[name] else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


#: Set (per thread) by the runner's stacked trainer: :func:`train` then hands its run to the
#: bucket (a :class:`scalefit.collect.stacked.Slot`), which trains it with the other runs.
BUCKET: contextvars.ContextVar = contextvars.ContextVar("scalefit_collect_bucket", default=None)


def train(
    model,
    images,
    labels,
    hp: HParams,
    *,
    seed: int,
    teachers: Sequence = (),
    distill: DistillLoss | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train ``model`` in place on device tensors ``images`` (uint8) and ``labels``; return statistics.

    ``teachers`` (frozen, evaluated on the student's exact augmented batch) and ``distill``
    switch on the distillation loss; ``on_step(step, total, loss)`` is called every 25 steps
    and at the end (the only host syncs in the loop).

    Inside a stacked bucket (:data:`BUCKET` set by the runner) the run is handed to
    :func:`scalefit.collect.stacked.train_bucket` instead, which trains it with the bucket's
    other runs to the same result (to float rounding) and returns the same statistics.
    """
    slot = BUCKET.get()
    if slot is not None:
        return slot.submit(model, images, labels, hp, seed=seed, teachers=teachers, distill=distill, on_step=on_step)
    import torch
    import torch.nn.functional as F

    from scalefit.collect.models import forward_with_attention

    if teachers and distill is None:
        raise ScalefitError("teachers given without a DistillLoss")
    n = int(images.shape[0])
    if n == 0:
        raise ScalefitError("no training samples")
    device = images.device
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for t in teachers:
        t.eval().requires_grad_(False)
    opt = torch.optim.AdamW(param_groups(model, hp.weight_decay), lr=hp.lr, betas=(hp.beta1, hp.beta2))
    total = hp.steps(n)
    per_epoch = math.ceil(n / hp.batch_size)
    use_attention = bool(teachers) and distill.attention_weight > 0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=hp.precision == "bf16")
    step, running = 0, torch.zeros((), device=device)
    for _ in range(hp.epochs):
        order = torch.randperm(n, generator=generator).to(device)
        for i in range(per_epoch):
            idx = order[i * hp.batch_size : (i + 1) * hp.batch_size]
            x = normalise(augment(images[idx], hp.augment, hp.crop_padding, generator))
            y = labels[idx]
            for g in opt.param_groups:
                g["lr"] = hp.lr_at(step, total)
            with autocast:
                if teachers:
                    with torch.no_grad():
                        outs = [forward_with_attention(t, x) if use_attention else (t(x), None) for t in teachers]
                    if use_attention:
                        logits, scores = forward_with_attention(model, x)
                    else:
                        logits, scores = model(x), None
                    loss, _ = distillation_loss(
                        logits,
                        y,
                        [o[0] for o in outs],
                        distill,
                        student_scores=scores,
                        teacher_scores=[o[1] for o in outs] if use_attention else None,
                        label_smoothing=hp.label_smoothing,
                    )
                else:
                    loss = F.cross_entropy(model(x).float(), y, label_smoothing=hp.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if hp.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
            opt.step()
            running = 0.9 * running + 0.1 * loss.detach() if step else loss.detach()
            step += 1
            if on_step is not None and (step % 25 == 0 or step == total):
                value = float(running)
                if not math.isfinite(value):
                    raise ScalefitError(
                        f"training diverged at step {step}/{total} (loss {value}); lower lr "
                        f"(now {hp.lr}) or raise warmup_epochs"
                    )
                on_step(step, total, value)
    final = float(running)
    if not math.isfinite(final):
        raise ScalefitError(f"training diverged (final loss {final}); lower lr (now {hp.lr}) or raise warmup_epochs")
    return {"steps": total, "train_loss": final}


def evaluate(model, images, labels, batch_size: int = 512) -> dict:
    """Top-1 error and mean cross-entropy on device tensors (no augmentation, eval mode)."""
    import torch
    import torch.nn.functional as F

    model.eval()
    wrong, loss, n = 0, 0.0, int(images.shape[0])
    with torch.no_grad():
        for i in range(0, n, batch_size):
            logits = model(normalise(images[i : i + batch_size])).float()
            y = labels[i : i + batch_size]
            wrong += int((logits.argmax(-1) != y).sum())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
    model.train()
    return {"error": wrong / n, "loss": loss / n, "n_test": n}
