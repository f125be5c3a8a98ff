"""Stacked training: many runs of one DeiT shape trained as one model with a leading run dimension.

Runs that share a model shape (width, depth, patch, classes), input size, batch size and
precision train together: every weight carries a leading run dimension ``R``, the linear
layers are batched matmuls (``torch.baddbmm``), and attention folds the runs into the
attention batch (``(R * B, heads, T, head_dim)`` through ``F.scaled_dot_product_attention``).
It is written by hand, not ``torch.func.vmap`` over timm (SDPA's backward has no batching rule).

* :class:`StackedViT` is built from R timm ``VisionTransformer`` models made by
  :func:`~scalefit.collect.models.build_model` (:meth:`StackedViT.from_timm`) and copies its
  slices back (:meth:`StackedViT.copy_to`). Slice ``r`` computes what timm computes for model
  ``r`` (same logits and gradients to float rounding; tested). Its parameters are views into
  one ``(R, P)`` buffer (weight-decayed leaves first), and so are their gradients.
* :class:`StackedAdamW` is AdamW over that buffer with per-run learning-rate schedules, betas
  and weight decay: AdamW is element-wise, so it equals R independent ``torch.optim.AdamW``;
  which leaves are decayed is decided on the unstacked timm shapes
  (:func:`~scalefit.collect.train.decayed`, the per-run trainer's rule).
* :func:`train_bucket` trains R runs (:class:`Run`) as :func:`~scalefit.collect.train.train`
  trains one each, with the same batches and augmentation (each run replays its own seeded
  generator), and returns the same per-run statistics. Schedules may be ragged: a run leaves
  the stack at its last step (the stack is re-bucketed; no run is stepped with lr = 0); a short
  last batch is padded and masked out of the loss. Distillation: frozen teachers are stacked
  too, and runs that share a teacher and a batch stream (same data, seed and batching) share
  its forward pass.
* :class:`Gather` lets :func:`~scalefit.collect.stages.run_job` run unchanged: each job runs
  in its own thread, its ``train`` call is handed to the gather, and the gather trains them
  all as one bucket (see :mod:`scalefit.collect.runner`).

bf16 autocast follows ``HParams.precision``; ``compile=True`` compiles the stacked forward
once per shape (a GPU option; off by default).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from scalefit.collect.distill import DistillLoss, distillation_loss
from scalefit.collect.train import HParams, decayed, normalise
from scalefit.errors import ScalefitError

# Leaves and their gradients are views into (R, P) buffers, so they are not dense; the in-place
# accumulation autograd does into them is what keeps the gradient buffer in one piece.
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")

#: Parameter names of one transformer block, in timm's order.
BLOCK_PARAMS = (
    "norm1.weight",
    "norm1.bias",
    "attn.qkv.weight",
    "attn.qkv.bias",
    "attn.proj.weight",
    "attn.proj.bias",
    "norm2.weight",
    "norm2.bias",
    "mlp.fc1.weight",
    "mlp.fc1.bias",
    "mlp.fc2.weight",
    "mlp.fc2.bias",
)


def param_names(depth: int) -> list[str]:
    """The timm parameter names a stacked model holds (those of a DeiT from ``build_model``)."""
    names = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    names += [f"blocks.{i}.{n}" for i in range(depth) for n in BLOCK_PARAMS]
    return names + ["norm.weight", "norm.bias", "head.weight", "head.bias"]


@dataclass(frozen=True)
class Shape:
    """What runs must share to be stacked (read off a timm model)."""

    depth: int
    embed_dim: int
    heads: int
    patch: int
    img_size: int
    in_chans: int
    num_classes: int
    eps: float
    drop_path: tuple[float, ...]

    @property
    def tokens(self) -> int:
        return (self.img_size // self.patch) ** 2 + 1


def shape_of(model) -> Shape:
    """The :class:`Shape` of a timm ``VisionTransformer``; refuses features the stacked model lacks."""
    from torch import nn

    try:
        blocks = list(model.blocks)
        attn = blocks[0].attn
        ok = (
            getattr(model, "global_pool", None) == "token"
            and model.cls_token is not None
            and getattr(model, "reg_token", None) is None
            and not getattr(model, "no_embed_class", False)
            and not getattr(model, "dynamic_img_size", False)
            and all(isinstance(m, nn.Identity) for m in (model.norm_pre, model.fc_norm, model.patch_embed.norm))
            and all(
                isinstance(m, nn.Identity)
                for b in blocks
                for m in (b.ls1, b.ls2, b.attn.q_norm, b.attn.k_norm, getattr(b.attn, "norm", nn.Identity()))
            )
            and all(getattr(b.attn, "gate", None) is None for b in blocks)
            and isinstance(model.head, nn.Linear)
            and getattr(model, "patch_drop", nn.Identity()).__class__ is nn.Identity
        )
        patch = model.patch_embed.patch_size[0]
        img = model.patch_embed.img_size[0]
    except AttributeError as exc:
        raise ScalefitError(f"not a timm VisionTransformer from build_model ({exc})") from None
    names = [n for n, _ in model.named_parameters()]
    if not ok or sorted(names) != sorted(param_names(len(blocks))):
        raise ScalefitError(
            "the stacked trainer mirrors the DeiT that scalefit.collect.models.build_model makes (class token, "
            "pre-norm, no layer scale, token pooling); this model differs — use trainer='per-run'"
        )
    return Shape(
        depth=len(blocks),
        embed_dim=model.embed_dim,
        heads=attn.num_heads,
        patch=int(patch),
        img_size=int(img),
        in_chans=int(model.patch_embed.proj.weight.shape[1]),
        num_classes=model.num_classes,
        eps=float(model.norm.eps),
        drop_path=tuple(float(getattr(b.drop_path1, "drop_prob", 0.0) or 0.0) for b in blocks),
    )


def _layer_norm(x, w, b, eps):
    return torch.addcmul(b.unsqueeze(1), F.layer_norm(x, x.shape[-1:], eps=eps), w.unsqueeze(1))


def _linear(x, w, b):
    """``x @ w^T + b`` per run: ``x (R, N, in)``, ``w (R, out, in)``, ``b (R, out)``."""
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


def _drop_path(x, prob: float, batch: int):
    """Stochastic depth per sample (timm's ``DropPath``, drawn from torch's global generator)."""
    r, n, d = x.shape
    keep = x.new_empty(r, batch, 1, 1).bernoulli_(1 - prob).div_(1 - prob)
    return (x.view(r, batch, n // batch, d) * keep).view(r, n, d)


def stacked_forward(p: dict, x, shape: Shape, attention: bool = False, training: bool = False):
    """Logits ``(R, B, classes)`` of input ``x (R, B, C, H, W)``; with ``attention`` also the
    per-layer attention scores ``(R, B, heads, T, T)`` (pre-softmax, as
    :func:`~scalefit.collect.models.forward_with_attention` returns them per run)."""
    r, b, c, hgt, wid = x.shape
    ps, d, heads = shape.patch, shape.embed_dim, shape.heads
    gh, gw = hgt // ps, wid // ps
    n, t, hd = gh * gw, gh * gw + 1, d // heads
    patches = x.reshape(r, b, c, gh, ps, gw, ps).permute(0, 1, 3, 5, 2, 4, 6).reshape(r, b * n, c * ps * ps)
    h = _linear(patches, p["patch_embed.proj.weight"].reshape(r, d, -1), p["patch_embed.proj.bias"])
    cls = p["cls_token"].reshape(r, 1, 1, d).expand(r, b, 1, d)
    h = torch.cat([cls, h.reshape(r, b, n, d)], dim=2) + p["pos_embed"].reshape(r, 1, t, d)
    h = h.reshape(r, b * t, d)
    scores = []
    for i in range(shape.depth):
        k = f"blocks.{i}."
        y = _layer_norm(h, p[k + "norm1.weight"], p[k + "norm1.bias"], shape.eps)
        qkv = _linear(y, p[k + "attn.qkv.weight"], p[k + "attn.qkv.bias"])
        q, kk, v = qkv.reshape(r * b, t, 3, heads, hd).permute(2, 0, 3, 1, 4).unbind(0)
        if attention:
            s = (q * hd**-0.5) @ kk.transpose(-2, -1)
            scores.append(s.reshape(r, b, heads, t, t))
            o = s.softmax(dim=-1) @ v
        else:
            o = F.scaled_dot_product_attention(q, kk, v)
        o = _linear(o.transpose(1, 2).reshape(r, b * t, d), p[k + "attn.proj.weight"], p[k + "attn.proj.bias"])
        drop = shape.drop_path[i] if training else 0.0
        h = h + (_drop_path(o, drop, b) if drop else o)
        y = _layer_norm(h, p[k + "norm2.weight"], p[k + "norm2.bias"], shape.eps)
        y = _linear(F.gelu(_linear(y, p[k + "mlp.fc1.weight"], p[k + "mlp.fc1.bias"])), *_fc2(p, k))
        h = h + (_drop_path(y, drop, b) if drop else y)
    cls = h.reshape(r, b, t, d)[:, :, 0]  # the final norm is per token: only the class token is needed
    cls = _layer_norm(cls, p["norm.weight"], p["norm.bias"], shape.eps)
    logits = _linear(cls, p["head.weight"], p["head.bias"])
    return logits, (scores if attention else None)


def _fc2(p, k):
    return p[k + "mlp.fc2.weight"], p[k + "mlp.fc2.bias"]


_COMPILED: dict = {}


def _compiled_forward():
    """``stacked_forward`` compiled once per process (torch.compile specialises per shape)."""
    if "fn" not in _COMPILED:
        _COMPILED["fn"] = torch.compile(stacked_forward, dynamic=False)
    return _COMPILED["fn"]


class StackedViT:
    """R DeiTs of one :class:`Shape` as stacked tensors (views into one ``(R, P)`` buffer).

    ``params[name]`` has shape ``(R, *timm_shape)``; leaves decayed by AdamW come first in
    the buffer (``flat[:, :n_decay]``).
    """

    def __init__(self, flat, shape: Shape, layout: list, n_decay: int, requires_grad: bool = True):
        self.flat, self.shape, self.layout, self.n_decay = flat, shape, layout, n_decay
        self.requires_grad = requires_grad
        self.grad = torch.zeros_like(flat) if requires_grad else None
        self.params = {}
        for name, start, size, shp in layout:
            leaf = flat[:, start : start + size].view(flat.shape[0], *shp)
            if requires_grad:
                leaf.requires_grad_(True)
                leaf.grad = self.grad[:, start : start + size].view(flat.shape[0], *shp)
            self.params[name] = leaf
        self.compile = False

    @property
    def runs(self) -> int:
        return self.flat.shape[0]

    @classmethod
    def from_timm(cls, models: Sequence, requires_grad: bool = True) -> StackedViT:
        """Stack R timm models of one shape (their current weights, copied)."""
        if not models:
            raise ScalefitError("no models to stack")
        shape = shape_of(models[0])
        for i, m in enumerate(models[1:], 1):
            if shape_of(m) != shape:
                raise ScalefitError(f"model {i} has shape {shape_of(m)}, model 0 {shape}; stack runs of one shape")
        named = [dict(m.named_parameters()) for m in models]
        decay = decayed(models[0])
        names = param_names(shape.depth)
        names = [n for n in names if decay[n]] + [n for n in names if not decay[n]]
        layout, start = [], 0
        for name in names:
            shp = tuple(named[0][name].shape)
            layout.append((name, start, math.prod(shp), shp))
            start += math.prod(shp)
        ref = named[0][names[0]]
        flat = torch.empty(len(models), start, dtype=torch.float32, device=ref.device)
        with torch.no_grad():
            for name, s, size, _ in layout:
                flat[:, s : s + size] = torch.stack([nm[name].detach().reshape(-1).float() for nm in named])
        n_decay = sum(size for name, _, size, _ in layout if decay[name])
        return cls(flat, shape, layout, n_decay, requires_grad)

    def select(self, keep: Sequence[int]) -> StackedViT:
        """The runs ``keep`` (positions), as a new stack (re-bucketing)."""
        idx = torch.as_tensor(list(keep), device=self.flat.device)
        new = StackedViT(
            self.flat.detach().index_select(0, idx), self.shape, self.layout, self.n_decay, self.requires_grad
        )
        new.compile = self.compile
        return new

    def copy_to(self, r: int, model) -> None:
        """Write slice ``r`` into the timm ``model`` (in place)."""
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(self.params[name][r].detach())

    def zero_grad(self) -> None:
        self.grad.zero_()

    def __call__(self, x, attention: bool = False, training: bool = True):
        fn = _compiled_forward() if self.compile else stacked_forward
        return fn(self.params, x, self.shape, attention, training and self.requires_grad)


class StackedAdamW:
    """AdamW over a :class:`StackedViT`'s buffer with one schedule per run (``torch.optim.AdamW``'s math).

    ``hps[r]`` gives run r's lr schedule (``lr_at(step, totals[r])``), betas and weight decay;
    the coefficients of every step are tabulated on the device once (no per-step transfers).
    """

    eps = 1e-8  # torch.optim.AdamW's default, as the per-run trainer uses

    def __init__(self, model: StackedViT, hps: Sequence[HParams], totals: Sequence[int]):
        import numpy as np

        dev = model.flat.device
        steps = max(totals)
        s = np.arange(1, steps + 1, dtype=np.float64)
        lr = np.array(
            [[hp.lr_at(i, tot) if i < tot else 0.0 for i in range(steps)] for hp, tot in zip(hps, totals, strict=True)]
        )
        b1 = np.array([hp.beta1 for hp in hps])[:, None]
        b2 = np.array([hp.beta2 for hp in hps])[:, None]
        wd = np.array([hp.weight_decay for hp in hps])[:, None]

        def dev32(a):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)

        self.table = {
            "decay": dev32(1 - lr * wd),
            "step_size": dev32(lr / (1 - b1**s)),
            "bc2_sqrt": dev32((1 - b2**s) ** 0.5),
        }
        self.b1, self.b2 = dev32(b1), dev32(b2)
        self.m = torch.zeros_like(model.flat)
        self.v = torch.zeros_like(model.flat)

    def select(self, keep: Sequence[int]) -> None:
        idx = torch.as_tensor(list(keep), device=self.m.device)
        self.table = {k: v.index_select(0, idx) for k, v in self.table.items()}
        self.b1, self.b2 = self.b1.index_select(0, idx), self.b2.index_select(0, idx)
        self.m, self.v = self.m.index_select(0, idx), self.v.index_select(0, idx)

    @torch.no_grad()
    def step(self, model: StackedViT, step: int) -> None:
        """One AdamW step of every run at (0-based) ``step`` of its schedule."""
        p, g = model.flat, model.grad
        col = {k: v[:, step : step + 1] for k, v in self.table.items()}
        if model.n_decay:
            p[:, : model.n_decay].mul_(col["decay"])
        self.m.lerp_(g, 1 - self.b1)
        self.v.mul_(self.b2).addcmul_(g, g * (1 - self.b2))
        denom = (self.v.sqrt() / col["bc2_sqrt"]).add_(self.eps)
        p.sub_(self.m / denom * col["step_size"])


@dataclass
class Run:
    """One run of a bucket: what :func:`~scalefit.collect.train.train` takes for it."""

    model: object
    images: object
    labels: object
    hp: HParams
    seed: int
    teachers: Sequence = ()
    distill: DistillLoss | None = None
    on_step: Callable[[int, int, float], None] | None = None

    def __post_init__(self):
        if self.teachers and self.distill is None:
            raise ScalefitError("teachers given without a DistillLoss")
        if int(self.images.shape[0]) == 0:
            raise ScalefitError("no training samples")


class _Stream:
    """A run's batches: replays :func:`~scalefit.collect.train.train`'s generator call for call."""

    def __init__(self, data: int, offset: int, n: int, hp: HParams, seed: int, pad: int):
        self.data, self.offset, self.n, self.hp = data, offset, n, hp
        self.generator = torch.Generator().manual_seed(seed)
        self.per_epoch = math.ceil(n / hp.batch_size)
        self.total = hp.steps(n)
        self.shift = pad - (hp.crop_padding if hp.augment != "none" else 0)
        self.order = None

    def batch(self, step: int):
        """Pool indices, crop offsets and flips of ``step``, and the batch size."""
        hp, gen = self.hp, self.generator
        i = step % self.per_epoch
        if i == 0:
            self.order = torch.randperm(self.n, generator=gen)
        idx = self.order[i * hp.batch_size : (i + 1) * hp.batch_size]
        b = int(idx.shape[0])
        oy = ox = torch.zeros(b, dtype=torch.int64)
        flip = torch.zeros(b, dtype=torch.int64)
        if hp.augment != "none":
            if hp.crop_padding:
                oy = torch.randint(0, 2 * hp.crop_padding + 1, (b,), generator=gen)
                ox = torch.randint(0, 2 * hp.crop_padding + 1, (b,), generator=gen)
            if hp.augment == "crop+flip":
                flip = (torch.rand(b, generator=gen) < 0.5).long()
        return torch.stack([idx + self.offset, oy + self.shift, ox + self.shift, flip]), b


def _same(a, b) -> bool:
    return a is b or (a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and bool(torch.equal(a, b)))


def _same_model(a, b) -> bool:
    if a is b:
        return True
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return pa.keys() == pb.keys() and all(_same(pa[k].detach(), pb[k].detach()) for k in pa)


def _unique(items, same) -> tuple[list, list[int]]:
    """Distinct items (by ``same``) and each item's index among them."""
    reps, index = [], []
    for it in items:
        for j, rep in enumerate(reps):
            if same(it, rep):
                index.append(j)
                break
        else:
            reps.append(it)
            index.append(len(reps) - 1)
    return reps, index


def check_bucket(runs: Sequence[Run]) -> Shape:
    """The bucket's shared :class:`Shape`; raises unless the runs can be stacked."""
    if not runs:
        raise ScalefitError("an empty bucket")
    shape = shape_of(runs[0].model)
    first = runs[0]
    for i, r in enumerate(runs):
        if shape_of(r.model) != shape:
            raise ScalefitError(f"run {i}: model shape {shape_of(r.model)} differs from run 0's {shape}")
        for key in ("batch_size", "precision"):
            if getattr(r.hp, key) != getattr(first.hp, key):
                raise ScalefitError(f"run {i}: {key} {getattr(r.hp, key)!r} differs from run 0's; bucket by {key}")
        if r.images.device != first.images.device or tuple(r.images.shape[1:]) != tuple(first.images.shape[1:]):
            raise ScalefitError(f"run {i}: images {tuple(r.images.shape)} on {r.images.device} do not match run 0's")
    return shape


def _plain_losses(logits, y, mask, count, smoothing):
    """Per-run mean cross-entropy (``F.cross_entropy``'s label smoothing) over each run's real samples."""
    logp = torch.log_softmax(logits.float(), -1)
    nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    ce = (1 - smoothing) * nll + smoothing * (-logp.mean(-1))
    return (ce * mask).sum(1) / count


class _Teachers:
    """Frozen teachers of the active runs, stacked per shape; one slot per (teacher, batch stream)."""

    def __init__(self, teachers: list, slots: list[tuple[int, int]]):
        self.groups = []  # (stacked model, slot stream indices, slot ids)
        by_shape: dict = {}
        for k, (tid, stream) in enumerate(slots):
            by_shape.setdefault(shape_of(teachers[tid]), []).append((k, tid, stream))
        for members in by_shape.values():
            model = StackedViT.from_timm([teachers[tid] for _, tid, _ in members], requires_grad=False)
            self.groups.append((model, [s for _, _, s in members], [k for k, _, _ in members]))
        self.n = len(slots)

    def __call__(self, x_streams, attention: bool):
        logits, scores = [None] * self.n, [None] * self.n
        with torch.no_grad():
            for model, streams, ks in self.groups:
                idx = torch.as_tensor(streams, device=x_streams.device)
                out, sc = model(x_streams.index_select(0, idx), attention=attention, training=False)
                for j, k in enumerate(ks):
                    logits[k] = out[j]
                    scores[k] = [s[j] for s in sc] if attention else None
        return logits, scores


def train_bucket(
    runs: Sequence[Run],
    *,
    compile: bool = False,
    on_finish: Callable[[int, object], None] | None = None,
) -> list:
    """Train ``runs`` as one stacked model; each run's timm model is updated in place.

    Returns one entry per run: ``{"steps", "train_loss"}`` as :func:`~scalefit.collect.train.train`
    returns it, or the :class:`~scalefit.ScalefitError` of a run that diverged (the others go on).
    ``on_finish(i, entry)`` is called as each run finishes (shorter runs first). Each run's
    ``on_step(step, total, loss)`` is called every 25 steps and at its end (the only host syncs).
    """
    check_bucket(runs)
    R = len(runs)
    device = runs[0].images.device
    hp0 = runs[0].hp
    # data: one pool of the distinct data sets (runs on the same subset share it)
    data, data_of = _unique(
        [(r.images, r.labels) for r in runs], lambda a, b: _same(*(a[0], b[0])) and _same(a[1], b[1])
    )
    offsets = [0]
    for images, _ in data:
        offsets.append(offsets[-1] + int(images.shape[0]))
    pool_x = torch.cat([d[0] for d in data]) if len(data) > 1 else data[0][0]
    pool_y = torch.cat([d[1] for d in data]) if len(data) > 1 else data[0][1]
    pad = max((r.hp.crop_padding if r.hp.augment != "none" else 0) for r in runs)
    # batch streams: runs with the same data, seed and batching see the very same batches
    keys = [
        (data_of[i], r.seed, r.hp.batch_size, r.hp.epochs, r.hp.augment, r.hp.crop_padding) for i, r in enumerate(runs)
    ]
    stream_keys, stream_of = _unique(keys, lambda a, b: a == b)
    streams = []
    for key in stream_keys:
        r = runs[stream_of.index(len(streams))]
        d = key[0]
        streams.append(_Stream(d, offsets[d], offsets[d + 1] - offsets[d], r.hp, r.seed, pad))
    totals = [streams[stream_of[i]].total for i in range(R)]
    # teachers: distinct models (run_job loads a shared teacher once per run)
    all_teachers = [t for r in runs for t in r.teachers]
    teachers, teacher_index = _unique(all_teachers, _same_model)
    run_teachers, k = [], 0
    for r in runs:
        run_teachers.append(teacher_index[k : k + len(r.teachers)])
        k += len(r.teachers)
    for t in teachers:
        t.eval().requires_grad_(False)
    for r in runs:
        r.model.train()

    model = StackedViT.from_timm([r.model for r in runs])
    model.compile = compile
    opt = StackedAdamW(model, [r.hp for r in runs], totals)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=hp0.precision == "bf16")
    pin = device.type == "cuda"
    ar = torch.arange(int(pool_x.shape[-1]), device=device)

    active = list(range(R))  # run indices, in stack order
    results: list = [None] * R
    running = torch.zeros(R, device=device)  # per active run
    clipping = any(r.hp.grad_clip > 0 for r in runs)
    step = 0

    def rebuild():
        act_streams = sorted({stream_of[i] for i in active})
        pos = {s: j for j, s in enumerate(act_streams)}
        run_stream = [pos[stream_of[i]] for i in active]
        slots, slot_of = [], []
        for i in active:
            mine = []
            for tid in run_teachers[i]:
                key = (tid, pos[stream_of[i]])
                if key not in slots:
                    slots.append(key)
                mine.append(slots.index(key))
            slot_of.append(mine)
        tstack = _Teachers(teachers, slots) if slots else None
        attention = any(runs[i].teachers and runs[i].distill.attention_weight > 0 for i in active)
        rs = None if run_stream == list(range(len(act_streams))) else torch.as_tensor(run_stream, device=device)
        c = torch.tensor([runs[i].hp.grad_clip for i in active], dtype=torch.float32, device=device)
        ls = torch.tensor([[runs[i].hp.label_smoothing] for i in active], dtype=torch.float32, device=device)
        return act_streams, run_stream, rs, slot_of, tstack, attention, c, ls

    act_streams, run_stream, rs, slot_of, tstack, attention, clip, smoothing = rebuild()
    B = hp0.batch_size
    while active:
        # -- the batch of every active stream, augmented on the device
        plans, sizes = zip(*(streams[s].batch(step) for s in act_streams), strict=True)
        pack = torch.zeros(len(plans), 5, B, dtype=torch.int64)
        for j, (plan, b) in enumerate(zip(plans, sizes, strict=True)):
            pack[j, :4, :b] = plan
            pack[j, 0, b:] = plan[0, 0]  # padding: any valid index, masked out of the loss
            pack[j, 4, :b] = 1
        pack = (pack.pin_memory() if pin else pack).to(device, non_blocking=True)
        g, oy, ox, flip, mask = pack.unbind(1)
        imgs = pool_x[g.reshape(-1)]
        y = pool_y[g]
        if pad:
            nb, ch, hh, ww = imgs.shape
            padded = F.pad(imgs, (pad,) * 4)
            rows = (oy.reshape(-1)[:, None] + ar[:hh])[:, None, :, None]
            cols = (ox.reshape(-1)[:, None] + ar[:ww])[:, None, None, :]
            ib = torch.arange(nb, device=device)[:, None, None, None]
            ic = torch.arange(ch, device=device)[None, :, None, None]
            imgs = padded[ib, ic, rows, cols]
        if any(streams[s].hp.augment == "crop+flip" for s in act_streams):
            imgs = torch.where(flip.reshape(-1, 1, 1, 1).bool(), imgs.flip(-1), imgs)
        x_streams = normalise(imgs).reshape(len(plans), B, *imgs.shape[1:])
        x = x_streams
        if rs is not None:
            x, y, mask = x.index_select(0, rs), y.index_select(0, rs), mask.index_select(0, rs)
        maskf = mask.float()
        # -- forward, loss, backward, AdamW
        with autocast:
            if tstack is not None:
                t_logits, t_scores = tstack(x_streams, attention)
            logits, scores = model(x, attention=attention)
            losses = _plain_losses(logits, y, maskf, maskf.sum(1), smoothing)
            if tstack is not None:
                parts = []
                for j, i in enumerate(active):
                    if not runs[i].teachers:
                        parts.append(losses[j])
                        continue
                    b = sizes[run_stream[j]]
                    loss, _ = distillation_loss(
                        logits[j, :b],
                        y[j, :b],
                        [t_logits[k][:b] for k in slot_of[j]],
                        runs[i].distill,
                        student_scores=[s[j, :b] for s in scores] if attention else None,
                        teacher_scores=[[s[:b] for s in t_scores[k]] for k in slot_of[j]] if attention else None,
                        label_smoothing=runs[i].hp.label_smoothing,
                    )
                    parts.append(loss)
                losses = torch.stack(parts)
        model.zero_grad()
        losses.sum().backward()
        if clipping:  # torch.nn.utils.clip_grad_norm_ per run (a run without clipping has max 0)
            norms = model.grad.norm(dim=1)
            coef = torch.where(clip > 0, (clip / (norms + 1e-6)).clamp(max=1.0), torch.ones_like(norms))
            model.grad.mul_(coef[:, None])
        opt.step(model, step)
        losses = losses.detach().float()
        running = 0.9 * running + 0.1 * losses if step else losses
        step += 1
        # -- host sync every 25 steps and when runs finish; finished (or diverged) runs leave the stack
        ending = {i for i in active if totals[i] == step}
        if step % 25 and not ending:
            continue
        values = running.tolist()
        leaving = {}
        for j, i in enumerate(active):
            value = values[j]
            if runs[i].on_step is not None and (step % 25 == 0 or i in ending) and math.isfinite(value):
                runs[i].on_step(step, totals[i], value)
            if not math.isfinite(value):
                leaving[i] = ScalefitError(
                    f"training diverged (final loss {value}); lower lr (now {runs[i].hp.lr}) or raise warmup_epochs"
                    if i in ending
                    else f"training diverged at step {step}/{totals[i]} (loss {value}); lower lr "
                    f"(now {runs[i].hp.lr}) or raise warmup_epochs"
                )
            elif i in ending:
                leaving[i] = {"steps": totals[i], "train_loss": value}
        if not leaving:
            continue
        for i, entry in leaving.items():
            if isinstance(entry, dict):
                model.copy_to(active.index(i), runs[i].model)
            results[i] = entry
        keep = [j for j, i in enumerate(active) if i not in leaving]
        active = [active[j] for j in keep]
        if active:
            model = model.select(keep)
            opt.select(keep)
            running = running.index_select(0, torch.as_tensor(keep, device=device))
            act_streams, run_stream, rs, slot_of, tstack, attention, clip, smoothing = rebuild()
        for i, entry in leaving.items():
            if on_finish is not None:
                on_finish(i, entry)
    return results


@dataclass
class Gather:
    """Collects the :func:`~scalefit.collect.train.train` calls of several threads and trains them as one bucket.

    The runner runs each job's unchanged ``run_job`` in its own thread with :func:`slot`
    set; its ``train`` call lands in :meth:`submit`, which blocks until :meth:`train` has
    trained that run (shorter runs are released first, so their rows are written while the
    rest train).
    """

    compile: bool = False
    runs: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    gone: set = field(default_factory=set)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def submit(self, slot: int, run: Run) -> dict:
        with self._cond:
            self.runs[slot] = run
            self._cond.notify_all()
            self._cond.wait_for(lambda: slot in self.results)
            out = self.results[slot]
        if isinstance(out, BaseException):
            raise out
        return out

    def leave(self, slot: int) -> None:
        """The slot's thread ended (after training, or before it submitted)."""
        with self._cond:
            self.gone.add(slot)
            self._cond.notify_all()

    def wait(self, slot: int) -> None:
        """Until ``slot`` has submitted its run or its thread has ended."""
        with self._cond:
            self._cond.wait_for(lambda: slot in self.runs or slot in self.gone)

    def _finish(self, slot, entry) -> None:
        with self._cond:
            self.results[slot] = entry
            self._cond.notify_all()

    def train(self) -> None:
        """Train every submitted run; an error reaches every run still waiting."""
        slots = sorted(s for s in self.runs if s not in self.results)
        try:
            if slots:
                train_bucket(
                    [self.runs[s] for s in slots],
                    compile=self.compile,
                    on_finish=lambda i, entry: self._finish(slots[i], entry),
                )
        except BaseException as exc:  # handed to every waiting run, whose thread reports it
            for s in slots:
                if s not in self.results:
                    self._finish(s, exc)
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: stop here too
                raise


class Slot:
    """A thread's place in a :class:`Gather` (what :func:`~scalefit.collect.train.train` hands its run to)."""

    def __init__(self, gather: Gather, index: int):
        self.gather, self.index = gather, index

    def submit(self, model, images, labels, hp, *, seed, teachers=(), distill=None, on_step=None) -> dict:
        run = Run(model, images, labels, hp, seed, tuple(teachers), distill, on_step)
        return self.gather.submit(self.index, run)
