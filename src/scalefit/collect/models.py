"""DeiT models from timm, their sizes and FLOPs, fine-tuning surgery, and explicit attention.

The paper's models are DeiT/ViT encoders with 12 layers, head dimension 64 and 2, 4, 6 or
8 heads (embedding 128 … 512). :class:`ModelSpec` describes one; :func:`build_model` makes
the timm ``VisionTransformer``; :func:`count_params` and :func:`train_flops_per_image` are
closed forms (no torch needed, so a dry run can plan a grid without a GPU stack).

:func:`forward_with_attention` runs a timm ViT block by block and computes every layer's
attention scores explicitly: timm's fused (SDPA) attention never materialises them, and
distillation aligns them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from scalefit.collect.checks import check_fields, real, whole
from scalefit.errors import ScalefitError


@dataclass(frozen=True)
class ModelSpec:
    """A DeiT encoder: ``heads`` x ``head_dim`` wide, ``depth`` blocks, ``patch`` px patches."""

    heads: int
    depth: int = 12
    head_dim: int = 64
    patch: int = 16
    mlp_ratio: float = 4.0
    drop_path: float = 0.0

    #: One check per field (see :mod:`scalefit.collect.checks`).
    CHECKS: ClassVar[dict] = {
        "heads": whole(1),
        "depth": whole(1),
        "head_dim": whole(1),
        "patch": whole(1),
        "mlp_ratio": real(0, low_open=True),
        "drop_path": real(0, 1, high_open=True),
    }

    def __post_init__(self):
        check_fields(self, self.CHECKS, "model ")
        if int(self.embed_dim * self.mlp_ratio) < 1:
            raise ScalefitError(
                f"model mlp_ratio {self.mlp_ratio} gives an MLP of {int(self.embed_dim * self.mlp_ratio)} units "
                f"for embed {self.embed_dim}; raise mlp_ratio (DeiT uses 4)"
            )

    @property
    def embed_dim(self) -> int:
        return self.heads * self.head_dim

    def tokens(self, img_size: int) -> int:
        """Sequence length: patches + the class token."""
        img_size = whole(1)(img_size, "image size")
        if img_size % self.patch:
            raise ScalefitError(
                f"image size {img_size} is not a multiple of patch size {self.patch}; "
                f"choose a size divisible by the patch"
            )
        return (img_size // self.patch) ** 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)


def count_params(spec: ModelSpec, img_size: int, in_chans: int, num_classes: int) -> int:
    """Exact parameter count of :func:`build_model` (closed form; tested against torch)."""
    d, t = spec.embed_dim, spec.tokens(img_size)
    hidden = int(d * spec.mlp_ratio)
    block = (3 * d * d + 3 * d) + (d * d + d) + 4 * d + (d * hidden + hidden) + (hidden * d + d)
    embed = in_chans * spec.patch**2 * d + d + t * d + d  # patch conv, its bias, pos-embed, class token
    return int(spec.depth * block + embed + 2 * d + d * num_classes + num_classes)


def forward_flops_per_image(spec: ModelSpec, img_size: int, in_chans: int, num_classes: int) -> float:
    """Multiply-adds x 2 of one forward pass (matmuls and attention; norms/activations ignored)."""
    d, t = spec.embed_dim, spec.tokens(img_size)
    hidden = int(d * spec.mlp_ratio)
    per_block = 2 * t * (4 * d * d + 2 * d * hidden) + 4 * t * t * d
    return float(2 * (t - 1) * in_chans * spec.patch**2 * d + spec.depth * per_block + 2 * d * num_classes)


def train_flops_per_image(spec: ModelSpec, img_size: int, in_chans: int, num_classes: int) -> float:
    """Forward + backward ~ 3 x forward."""
    return 3.0 * forward_flops_per_image(spec, img_size, in_chans, num_classes)


def build_model(spec: ModelSpec, img_size: int, in_chans: int, num_classes: int):
    """A timm ``VisionTransformer`` (DeiT recipe: class token, pre-norm, GELU MLP, qkv bias)."""
    from timm.models.vision_transformer import VisionTransformer

    spec.tokens(img_size)  # validates divisibility
    return VisionTransformer(
        img_size=img_size,
        patch_size=spec.patch,
        in_chans=in_chans,
        num_classes=num_classes,
        embed_dim=spec.embed_dim,
        depth=spec.depth,
        num_heads=spec.heads,
        mlp_ratio=spec.mlp_ratio,
        qkv_bias=True,
        drop_path_rate=spec.drop_path,
    )


def for_finetuning(pretrained, spec: ModelSpec, img_size: int, in_chans: int, num_classes: int):
    """A copy of ``pretrained`` for a new task: fresh head, position embeddings resampled to ``img_size``."""
    from timm.layers import resample_abs_pos_embed

    model = build_model(spec, img_size, in_chans, num_classes)
    state = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("head.")}
    if state["patch_embed.proj.weight"].shape[1] != in_chans:
        raise ScalefitError(
            f"pre-trained model has {state['patch_embed.proj.weight'].shape[1]} input channels, the "
            f"downstream data {in_chans}; set the same 'channels' for both data sets"
        )
    old = pretrained.patch_embed.grid_size
    new = model.patch_embed.grid_size
    if tuple(old) != tuple(new):
        state["pos_embed"] = resample_abs_pos_embed(
            state["pos_embed"], new_size=list(new), old_size=list(old), num_prefix_tokens=1
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"head.weight", "head.bias"}:
        raise ScalefitError(
            f"pre-trained weights do not match the model (missing {missing}, unexpected "
            f"{unexpected}); pre-training and fine-tuning must use the same ModelSpec"
        )
    return model


def forward_with_attention(model, x):
    """Logits and per-layer attention *scores* (pre-softmax, ``(B, heads, T, T)``), computed explicitly.

    Mirrors timm's non-fused ``Attention.forward`` and ``Block.forward`` step by step, so the
    logits equal ``model(x)`` (tested). ``softmax(scores / tau)`` gives temperature-scaled maps.
    """
    x = model.patch_embed(x)
    x = model._pos_embed(x)
    x = model.patch_drop(x)
    x = model.norm_pre(x)
    scores = []
    for block in model.blocks:
        attn = block.attn
        h = block.norm1(x)
        b, n, _ = h.shape
        gate = attn.gate(h).sigmoid() if getattr(attn, "gate", None) is not None else None
        qkv = attn.qkv(h).reshape(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = attn.q_norm(q), attn.k_norm(k)
        s = (q * attn.scale) @ k.transpose(-2, -1)
        scores.append(s)
        a = attn.attn_drop(s.softmax(dim=-1))
        out = (a @ v).transpose(1, 2).reshape(b, n, -1)
        if getattr(attn, "norm", None) is not None:  # timm >= 1.0.10 (identity unless scale_norm)
            out = attn.norm(out)
        if gate is not None:
            out = out * gate
        out = attn.proj_drop(attn.proj(out))
        x = x + block.drop_path1(block.ls1(out))
        x = x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))
    x = model.norm(x)
    return model.forward_head(x), scores
