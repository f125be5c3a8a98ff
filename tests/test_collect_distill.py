"""The distillation loss against values computed by hand on fixed logits and attention scores."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit import ScalefitError  # noqa: E402
from scalefit.collect import DistillLoss, attention_kl, distillation_loss  # noqa: E402

STUDENT = [[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]]
TEACHER_A = [[1.0, 1.0, 0.0], [0.0, 2.0, 0.0]]
TEACHER_B = [[3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
LABELS = [0, 2]


def softmax(v):
    e = [math.exp(x) for x in v]
    return [x / sum(e) for x in e]


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def by_hand(a, tau, teachers):
    ce = -sum(math.log(softmax(s)[y]) for s, y in zip(STUDENT, LABELS, strict=True)) / 2
    kd = 0.0
    for i in range(2):
        probs = [softmax([x / tau for x in t[i]]) for t in teachers]
        target = [sum(p[k] for p in probs) / len(probs) for k in range(3)]  # mean of probabilities
        kd += kl(target, softmax([x / tau for x in STUDENT[i]])) / 2
    return a * ce + (1 - a) * tau**2 * kd, ce, kd


@pytest.mark.parametrize("a,tau", [(0.5, 2.0), (0.2, 1.0), (1.0, 4.0)])
def test_output_distillation_equals_hand_computation(a, tau):
    t = torch.tensor
    loss, parts = distillation_loss(
        t(STUDENT), t(LABELS), [t(TEACHER_A), t(TEACHER_B)], DistillLoss(a=a, tau=tau, attention_weight=0.0)
    )
    total, ce, kd = by_hand(a, tau, [TEACHER_A, TEACHER_B])
    assert float(parts["ce"]) == pytest.approx(ce, rel=1e-6)
    assert float(parts["kd"]) == pytest.approx(kd, rel=1e-5)
    assert float(loss) == pytest.approx(total, rel=1e-5)


def test_a_weights_the_ce_term_as_in_eq3():
    t = torch.tensor
    only_ce, _ = distillation_loss(t(STUDENT), t(LABELS), [t(TEACHER_A)], DistillLoss(a=1.0, attention_weight=0))
    only_kd, parts = distillation_loss(
        t(STUDENT), t(LABELS), [t(TEACHER_A)], DistillLoss(a=0.0, tau=3.0, attention_weight=0)
    )
    assert float(only_ce) == pytest.approx(by_hand(1.0, 1.0, [TEACHER_A])[1], rel=1e-6)
    assert float(only_kd) == pytest.approx(9.0 * float(parts["kd"]), rel=1e-6)


def test_teachers_are_averaged_in_probability_not_logit_space():
    t = torch.tensor
    mixed, _ = distillation_loss(
        t(STUDENT), t(LABELS), [t(TEACHER_A), t(TEACHER_B)], DistillLoss(a=0.0, tau=1.0, attention_weight=0)
    )
    mean_logits = (t(TEACHER_A) + t(TEACHER_B)) / 2
    logit_avg, _ = distillation_loss(
        t(STUDENT), t(LABELS), [mean_logits], DistillLoss(a=0.0, tau=1.0, attention_weight=0)
    )
    assert float(mixed) == pytest.approx(by_hand(0.0, 1.0, [TEACHER_A, TEACHER_B])[0], rel=1e-5)
    assert abs(float(mixed) - float(logit_avg)) > 1e-3


def attention_by_hand(student, teachers, tau):
    """student: [layer][batch][head][row][col] scores; teachers: list of the same (any head count)."""
    total = 0.0
    for layer in range(len(student)):
        per_layer = 0.0
        rows = 0
        for b in range(len(student[layer])):
            s_heads = student[layer][b]
            for r in range(len(s_heads[0])):
                s_map = np.mean([softmax([x / tau for x in h[r]]) for h in s_heads], axis=0)
                t_maps = [np.mean([softmax([x / tau for x in h[r]]) for h in t[layer][b]], axis=0) for t in teachers]
                per_layer += kl(np.mean(t_maps, axis=0), s_map)
                rows += 1
        total += per_layer / rows
    return total / len(student)


def test_attention_alignment_equals_hand_computation():
    g = np.random.default_rng(0)
    student = g.normal(size=(2, 2, 4, 3, 3)).round(2)  # layers, batch, 4 heads, 3 tokens
    teacher_a = g.normal(size=(2, 2, 2, 3, 3)).round(2)  # 2 heads
    teacher_b = g.normal(size=(2, 2, 1, 3, 3)).round(2)  # 1 head
    for tau in (1.0, 2.5):
        got = attention_kl(
            [torch.tensor(s) for s in student],
            [[torch.tensor(x) for x in teacher_a], [torch.tensor(x) for x in teacher_b]],
            tau,
        )
        assert float(got) == pytest.approx(attention_by_hand(student, [teacher_a, teacher_b], tau), rel=1e-5)
    same = [torch.tensor(s) for s in student]
    assert float(attention_kl(same, [same])) == pytest.approx(0.0, abs=1e-6)


def test_full_loss_adds_weighted_attention_term():
    g = np.random.default_rng(1)
    s_scores = [torch.tensor(g.normal(size=(2, 4, 3, 3))) for _ in range(2)]
    t_scores = [[torch.tensor(g.normal(size=(2, 2, 3, 3))) for _ in range(2)]]
    t = torch.tensor
    cfg = DistillLoss(a=0.3, tau=2.0, attention_weight=0.7, attention_tau=1.5)
    loss, parts = distillation_loss(
        t(STUDENT), t(LABELS), [t(TEACHER_A)], cfg, student_scores=s_scores, teacher_scores=t_scores
    )
    expected = by_hand(0.3, 2.0, [TEACHER_A])[0] + 0.7 * float(attention_kl(s_scores, t_scores, 1.5))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(parts["attention"]) > 0


def test_distillation_errors():
    with pytest.raises(ScalefitError, match="distillation a must be a finite number >= 0 and <= 1, got 1.5"):
        DistillLoss(a=1.5)
    with pytest.raises(ScalefitError, match="tau"):
        DistillLoss(tau=0)
    t = torch.tensor
    with pytest.raises(ScalefitError, match="attention scores"):
        distillation_loss(t(STUDENT), t(LABELS), [t(TEACHER_A)], DistillLoss())
    with pytest.raises(ScalefitError, match="same depth"):
        attention_kl([torch.zeros(1, 2, 3, 3)] * 2, [[torch.zeros(1, 2, 3, 3)]])
    with pytest.raises(ScalefitError, match="same image size"):
        attention_kl([torch.zeros(1, 2, 3, 3)], [[torch.zeros(1, 2, 5, 5)]])
