"""Small-to-large distillation loss: the paper's Eq. 3 plus attention alignment.

    L = a * CE(student, y) + (1 - a) * tau^2 * KL( p_T || softmax(student / tau) )
        + w_attn * mean_layers KL( A_T || A_S )

* ``a`` sits on the CE term, as Eq. 3 prints it (DeiT's code puts its ``alpha`` on the KD term).
* With several teachers, ``p_T`` is the **mean of their softened probabilities** (not of their logits).
* Attention alignment: per layer, the teacher's and student's attention scores are scaled by
  ``1 / attn_tau``, soft-maxed, **averaged over heads** (teacher and student have different head
  counts) and compared row by row with KL(teacher || student); rows, batch and layers are
  averaged; with several teachers their head-averaged maps are averaged too.
* KL terms are "batchmean": summed over the distribution, averaged over samples (and rows).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from scalefit.collect.checks import check_fields, real
from scalefit.errors import ScalefitError


@dataclass(frozen=True)
class DistillLoss:
    """Weights and temperatures of the distillation loss (the paper prints none; these are our defaults)."""

    a: float = 0.5
    tau: float = 2.0
    attention_weight: float = 1.0
    attention_tau: float = 1.0

    #: One check per field (see :mod:`scalefit.collect.checks`); ``a`` weighs the CE term.
    CHECKS: ClassVar[dict] = {
        "a": real(0, 1),
        "tau": real(0, low_open=True),
        "attention_weight": real(0),
        "attention_tau": real(0, low_open=True),
    }

    def __post_init__(self):
        check_fields(self, self.CHECKS, "distillation ")

    def to_dict(self) -> dict:
        return asdict(self)


def soft_targets(teacher_logits, tau: float):
    """Mean over teachers of ``softmax(logits / tau)``."""
    import torch

    return torch.stack([t.float().div(tau).softmax(-1) for t in teacher_logits]).mean(0)


def head_averaged_maps(scores, tau: float):
    """``softmax(scores / tau)`` averaged over heads: ``(B, H, T, T) -> (B, T, T)``."""
    return scores.float().div(tau).softmax(-1).mean(1)


def attention_kl(student_scores, teacher_scores, tau: float = 1.0):
    """Mean over layers of KL(teacher || student) between head-averaged attention rows.

    ``teacher_scores`` is one list of per-layer scores per teacher; their maps are averaged.
    """
    import torch

    if not teacher_scores:
        raise ScalefitError("attention_kl needs at least one teacher")
    depth = len(student_scores)
    for i, ts in enumerate(teacher_scores):
        if len(ts) != depth:
            raise ScalefitError(
                f"teacher {i} has {len(ts)} layers, the student {depth}; attention alignment pairs "
                f"layers one to one, so teacher and student need the same depth"
            )
    total = student_scores[0].new_zeros((), dtype=torch.float32)
    for layer, s in enumerate(student_scores):
        target = torch.stack([head_averaged_maps(ts[layer], tau) for ts in teacher_scores]).mean(0)
        if target.shape != s.shape[:1] + s.shape[2:]:
            raise ScalefitError(
                f"layer {layer}: teacher maps {tuple(target.shape)} vs student "
                f"{tuple(s.shape[:1] + s.shape[2:])}; teacher and student must see the same "
                f"image size and patch size"
            )
        log_student = torch.log_softmax(s.float() / tau, -1)
        # average the heads in probability space, then log: the student's head-averaged map
        log_student = torch.logsumexp(log_student, dim=1) - torch.log(torch.tensor(float(s.shape[1])))
        kl = (target * (torch.log(target.clamp_min(1e-30)) - log_student)).sum(-1)  # (B, T)
        total = total + kl.mean()
    return total / depth


def distillation_loss(
    student_logits,
    labels,
    teacher_logits,
    cfg: DistillLoss,
    *,
    student_scores=None,
    teacher_scores=None,
    label_smoothing: float = 0.0,
):
    """Total loss and its parts ``{"ce", "kd", "attention"}`` (tensors) for one batch."""
    import torch
    import torch.nn.functional as F

    ce = F.cross_entropy(student_logits.float(), labels, label_smoothing=label_smoothing)
    p_t = soft_targets(teacher_logits, cfg.tau)
    log_s = torch.log_softmax(student_logits.float() / cfg.tau, -1)
    kd = (p_t * (torch.log(p_t.clamp_min(1e-30)) - log_s)).sum(-1).mean()
    loss = cfg.a * ce + (1 - cfg.a) * cfg.tau**2 * kd
    att = ce.new_zeros(())
    if cfg.attention_weight > 0:
        if student_scores is None or teacher_scores is None:
            raise ScalefitError(
                "attention_weight > 0 needs the student's and teachers' attention scores (see forward_with_attention)"
            )
        att = attention_kl(student_scores, teacher_scores, cfg.attention_tau)
        loss = loss + cfg.attention_weight * att
    return loss, {"ce": ce.detach(), "kd": kd.detach(), "attention": att.detach()}
