"""The stacked DeiT: R runs of one shape as one model with a leading run dimension.

Runs that share a model shape (width, depth, patch, classes), input size, batch size and
precision can train together: every weight carries a leading run dimension ``R``, the linear
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

Training a bucket of runs on this model is :mod:`scalefit.collect.stacked`. ``compile=True``
compiles the stacked forward once per shape (a GPU option; off by default).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from scalefit.collect.train import HParams, decayed
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
