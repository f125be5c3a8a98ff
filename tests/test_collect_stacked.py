"""The stacked trainer equals the per-run timm trainer: slice by slice (logits, gradients,
attention scores), one AdamW step, a whole bucket of runs (ragged, distilled, diverging),
and a whole collected grid. fp32 on CPU, tiny models."""

import copy
import tomllib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import torch.nn.functional as F  # noqa: E402

from scalefit import ScalefitError  # noqa: E402
from scalefit.collect import DistillLoss, HParams, collect, grid_from_dict  # noqa: E402
from scalefit.collect import stacked as st  # noqa: E402
from scalefit.collect import stacked_vit as sv  # noqa: E402
from scalefit.collect.models import ModelSpec, build_model, forward_with_attention  # noqa: E402
from scalefit.collect.train import decayed, param_groups, train  # noqa: E402

SPEC = ModelSpec(heads=2, depth=2, head_dim=8, patch=4)
SIZE, CHANS, CLASSES = 8, 3, 5


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def models(n, spec=SPEC, size=SIZE, chans=CHANS, classes=CLASSES, seed=0):
    out = []
    for i in range(n):
        torch.manual_seed(seed + i)
        out.append(build_model(spec, size, chans, classes))
    return out


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol)


def test_every_slice_has_its_timm_twins_logits_gradients_and_attention():
    spec = ModelSpec(heads=3, depth=2, head_dim=4, patch=4, mlp_ratio=2.0)
    ms = models(3, spec, size=12, chans=2, classes=4)
    model = sv.StackedViT.from_timm(ms)
    x = torch.randn(3, 5, 2, 12, 12)
    y = torch.randint(0, 4, (3, 5))
    for attention in (False, True):
        model.zero_grad()
        logits, scores = model(x, attention=attention)
        sum(F.cross_entropy(logits[r], y[r]) for r in range(3)).backward()
        for r, m in enumerate(ms):
            m.zero_grad()
            ref, ref_scores = forward_with_attention(m, x[r])
            F.cross_entropy(ref, y[r]).backward()
            close(logits[r], ref)
            close(logits[r], m(x[r]))
            if attention:
                assert len(scores) == spec.depth
                for s, rs in zip(scores, ref_scores, strict=True):
                    close(s[r], rs)
            for name, p in m.named_parameters():
                close(model.params[name].grad[r], p.grad, rtol=1e-4, atol=1e-6)
    # the leaves' gradients are views of one buffer: the optimiser sees them all
    assert model.grad.abs().sum() > 0
    names = dict(ms[0].named_parameters())
    assert model.flat.shape == (3, sum(p.numel() for p in names.values()))


def test_copy_out_and_select_round_trip():
    ms = models(3)
    model = sv.StackedViT.from_timm(ms)
    twins = models(3, seed=10)
    for r in range(3):
        model.copy_to(r, twins[r])
        for (n, a), b in zip(ms[r].named_parameters(), twins[r].parameters(), strict=True):
            assert torch.equal(a, b), n
    sub = model.select([2, 0])
    assert sub.runs == 2
    assert torch.equal(sub.params["head.weight"][0], ms[2].head.weight)
    assert torch.equal(sub.params["blocks.1.mlp.fc2.bias"][1], ms[0].blocks[1].mlp.fc2.bias)


def test_weight_decay_exclusions_are_decided_on_the_unstacked_shapes():
    m = models(1)[0]
    decay = decayed(m)
    model = sv.StackedViT.from_timm([m, m])
    decayed_names = {n for n, _, _, _ in model.layout[: sum(decay.values())]}
    assert decayed_names == {n for n, d in decay.items() if d}
    assert not any(decay[n] for n in ("pos_embed", "cls_token", "norm.weight", "head.bias", "blocks.0.attn.qkv.bias"))
    assert all(decay[n] for n in ("head.weight", "blocks.0.attn.qkv.weight", "patch_embed.proj.weight"))
    # stacked biases are 2-D, stacked position embeddings 4-D: neither is decayed
    assert model.params["head.bias"].ndim == 2 and model.n_decay == sum(
        model.params[n][0].numel() for n in decayed_names
    )
    groups = param_groups(m, 0.05)
    assert sum(p.numel() for p in groups[0]["params"]) == model.n_decay


def test_stacked_adamw_steps_equal_independent_adamws():
    hps = [
        HParams(epochs=4, lr=1e-2, weight_decay=0.05, warmup_epochs=1.0),
        HParams(epochs=4, lr=3e-3, weight_decay=0.0, beta1=0.8, beta2=0.99, warmup_epochs=0.0),
        HParams(epochs=2, lr=5e-3, weight_decay=0.2, min_lr=1e-4, warmup_epochs=0.5),
    ]
    totals = [hp.steps(10) for hp in hps]  # batch 128 -> 1 step per epoch: 4, 4, 2
    ms = models(3)
    model = sv.StackedViT.from_timm(ms)
    opt = sv.StackedAdamW(model, hps, totals)
    refs = [
        torch.optim.AdamW(param_groups(m, hp.weight_decay), lr=hp.lr, betas=(hp.beta1, hp.beta2))
        for m, hp in zip(ms, hps, strict=True)
    ]
    gen = torch.Generator().manual_seed(0)
    for step in range(2):
        model.grad.copy_(torch.randn(model.grad.shape, generator=gen))
        opt.step(model, step)
        for r, (m, ref, hp) in enumerate(zip(ms, refs, hps, strict=True)):
            for name, p in m.named_parameters():
                p.grad = model.params[name].grad[r].clone()
            for g in ref.param_groups:
                g["lr"] = hp.lr_at(step, totals[r])
            ref.step()
            for name, p in m.named_parameters():
                close(model.params[name][r], p, rtol=1e-6, atol=1e-7)


def data(n, seed, size=SIZE, chans=CHANS, classes=CLASSES):
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (n, chans, size, size), dtype=np.uint8))
    return images, torch.from_numpy(rng.integers(0, classes, n))


def per_run_and_stacked(runs):
    """Each run trained alone by ``train`` and all together by ``train_bucket``."""
    alone = []
    for r in runs:
        m = copy.deepcopy(r.model)
        teachers = [copy.deepcopy(t) for t in r.teachers]
        alone.append((m, train(m, r.images, r.labels, r.hp, seed=r.seed, teachers=teachers, distill=r.distill)))
    finished = []
    stats = st.train_bucket(runs, on_finish=lambda i, entry: finished.append(i))
    return alone, stats, finished


def assert_same_training(runs, alone, stats, rtol=2e-4, atol=2e-5):
    for r, (m, ref), got in zip(runs, alone, stats, strict=True):
        assert got["steps"] == ref["steps"]
        np.testing.assert_allclose(got["train_loss"], ref["train_loss"], rtol=1e-4)
        for a, b in zip(r.model.parameters(), m.parameters(), strict=True):
            close(a, b, rtol=rtol, atol=atol)


def test_a_ragged_bucket_equals_per_run_training_and_releases_runs_as_they_finish(monkeypatch):
    """Different data sizes (so different step counts and short last batches), seeds, lrs,
    augmentation, label smoothing and gradient clipping, in one bucket."""
    base = dict(epochs=2, batch_size=16, warmup_epochs=0.5, lr=2e-3)
    hps = [
        HParams(**base, augment="crop+flip"),
        HParams(**base, augment="crop", crop_padding=1, label_smoothing=0.1),
        HParams(**{**base, "lr": 1e-3}, augment="none", grad_clip=0.05),
        HParams(**base, augment="crop+flip", crop_padding=3),
    ]
    sizes = [40, 21, 50, 16]  # 3, 2, 4, 1 steps per epoch
    ms = models(4)
    runs = [st.Run(m, *data(n, i), hp, seed=7 + i) for i, (m, hp, n) in enumerate(zip(ms, hps, sizes, strict=True))]
    stacks = []
    real_select = sv.StackedViT.select
    monkeypatch.setattr(sv.StackedViT, "select", lambda self, keep: stacks.append(len(keep)) or real_select(self, keep))
    alone, stats, finished = per_run_and_stacked(runs)
    assert_same_training(runs, alone, stats)
    assert [s["steps"] for s in stats] == [6, 4, 8, 2]
    assert finished == [3, 1, 0, 2]  # shortest first
    assert stacks == [3, 2, 1]  # each finished run left the stack; none was stepped past its end


def test_runs_on_one_subset_share_one_batch_stream_and_the_teacher_forward(monkeypatch):
    """Distillation: two students of one teacher on the same data and seed (one with attention
    alignment, one with two teachers) plus a plain run; the teacher runs once per shared batch."""
    teacher_spec = ModelSpec(heads=1, depth=2, head_dim=8, patch=4)
    t1, t2 = models(2, teacher_spec, seed=50)
    images, labels = data(30, 0)
    hp = HParams(epochs=2, batch_size=16, warmup_epochs=0.5, lr=2e-3, augment="crop+flip")
    ms = models(3)
    runs = [
        st.Run(ms[0], images, labels, hp, seed=3, teachers=(t1,), distill=DistillLoss(attention_weight=1.0)),
        st.Run(ms[1], images.clone(), labels.clone(), hp, seed=3, teachers=(copy.deepcopy(t1), t2),
               distill=DistillLoss(a=0.3, tau=3.0, attention_weight=0.5)),
        st.Run(ms[2], images, labels, HParams(**{**hp.to_dict(), "label_smoothing": 0.1}), seed=3),
    ]  # fmt: skip
    slots = []
    real = st._Teachers.__init__

    def spy(self, teachers, s):
        slots.append((len(teachers), list(s)))
        real(self, teachers, s)

    monkeypatch.setattr(st._Teachers, "__init__", spy)
    alone, stats, _ = per_run_and_stacked(runs)
    assert_same_training(runs, alone, stats)
    assert slots[0] == (2, [(0, 0), (1, 0)])  # t1 (loaded twice) is one teacher: two forwards, not three


def test_a_diverging_run_leaves_the_bucket_with_an_error_and_the_others_finish():
    hp = HParams(epochs=2, batch_size=16, warmup_epochs=0.5, lr=2e-3)
    ms = models(3)
    with torch.no_grad():
        ms[1].head.weight[0, 0] = float("nan")
    runs = [st.Run(m, *data(32, i), hp, seed=i) for i, m in enumerate(ms)]
    ref = copy.deepcopy(ms[2])
    train(ref, runs[2].images, runs[2].labels, hp, seed=2)
    stats = st.train_bucket(runs)
    assert isinstance(stats[1], ScalefitError) and "diverged" in str(stats[1])
    assert stats[0]["steps"] == stats[2]["steps"] == 4
    for a, b in zip(ms[2].parameters(), ref.parameters(), strict=True):
        close(a, b, rtol=2e-4, atol=2e-5)


def test_a_bucket_refuses_runs_it_cannot_stack():
    a, b = models(1)[0], models(1, ModelSpec(heads=4, depth=2, head_dim=4, patch=4))[0]
    hp = HParams(epochs=1, batch_size=8)
    with pytest.raises(ScalefitError, match="shape"):
        st.train_bucket([st.Run(a, *data(8, 0), hp, 0), st.Run(b, *data(8, 0), hp, 0)])
    with pytest.raises(ScalefitError, match="batch_size"):
        st.train_bucket(
            [st.Run(a, *data(8, 0), hp, 0), st.Run(copy.deepcopy(a), *data(8, 0), HParams(batch_size=4), 0)]
        )
    with pytest.raises(ScalefitError, match="no training samples"):
        st.Run(a, *data(0, 0), hp, 0)


MICRO = """
name = "micro-stacked"
[model]
heads = [1, 2]
depth = 1
head_dim = 8
patch = 8
[upstream]
name = "up"
format = "synthetic"
n_train = 200
n_test = 100
num_classes = 4
task_seed = 1
size = 16
channels = 1
fractions = [0.5, 1.0]
[downstream]
name = "down"
format = "synthetic"
n_train = 90
n_test = 100
num_classes = 4
task_seed = 1
task_shift = 1
size = 16
channels = 1
fractions = [0.3, 1.0]
[pretrain]
epochs = 2
batch_size = 32
lr = 2e-3
warmup_epochs = 0.5
[finetune]
epochs = 2
batch_size = 16
lr = 1e-3
warmup_epochs = 0.5
augment = "crop+flip"
[distill]
pairs = [{ student = 2, teachers = [1] }]
control_smoothing = 0.1
"""


def test_a_stacked_collection_gives_the_per_run_table(tmp_path):
    grid = grid_from_dict(tomllib.loads(MICRO))
    ref = collect(grid, tmp_path / "a.parquet", device="cpu", progress=False, trainer="per-run")
    got = collect(grid, tmp_path / "b.parquet", device="cpu", progress=False)  # stacked by default
    assert list(got["run_id"]) == list(ref["run_id"])
    np.testing.assert_allclose(got["train_loss"], ref["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-4)
    assert (np.abs(got["error"] - ref["error"]) <= 0.011).all()  # one of 100 test images may flip
    assert list(got["steps"]) == list(ref["steps"])


def test_collect_checks_the_trainer_options(tmp_path):
    grid = grid_from_dict(tomllib.loads(MICRO))
    with pytest.raises(ScalefitError, match="trainer must be one of"):
        collect(grid, tmp_path / "r.parquet", trainer="vmap")
    with pytest.raises(ScalefitError, match="max_bucket"):
        collect(grid, tmp_path / "r.parquet", max_bucket=0)
