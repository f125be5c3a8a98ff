"""Stacked training: many runs of one DeiT shape trained as one model (a bucket).

The model and its optimiser are :mod:`scalefit.collect.stacked_vit` (:class:`StackedViT`,
:class:`StackedAdamW`); this module trains runs on them.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from scalefit.collect.distill import DistillLoss, distillation_loss
from scalefit.collect.stacked_vit import Shape, StackedAdamW, StackedViT, shape_of
from scalefit.collect.train import HParams, normalise
from scalefit.errors import ScalefitError


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
