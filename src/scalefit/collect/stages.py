"""What one job does: pre-train, fine-tune, distil or run the label-smoothing control.

Each stage reads its inputs (data subsets, checkpoints of the jobs it needs), trains with
:func:`~scalefit.collect.train.train`, evaluates on the downstream test split, and writes
its checkpoint and/or its row atomically. The row is written last: a row on disk means the
run and everything it produced are complete.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from scalefit.collect.distill import DistillLoss
from scalefit.collect.grid import DataSpec
from scalefit.collect.images import ImageSet
from scalefit.collect.jobs import Job
from scalefit.collect.loading import load_images
from scalefit.collect.models import ModelSpec, build_model, count_params, for_finetuning
from scalefit.collect.store import WorkDir, atomic_save, dumps
from scalefit.collect.subsets import nested_subsets
from scalefit.collect.train import HParams, evaluate, to_device, train
from scalefit.errors import ScalefitError


@dataclass
class DataCache:
    """Decoded data sets (uint8, host memory), loaded once per process through the ``.npz`` cache."""

    cache_dir: str | None = None
    _sets: dict = field(default_factory=dict)

    def get(self, identity: dict, split: str) -> ImageSet:
        key = (json.dumps(identity, sort_keys=True), split)
        if key not in self._sets:
            spec = DataSpec(**identity, fractions=(1.0,))
            self._sets[key] = load_images(self.cache_dir, **spec.reader_args(split))
        return self._sets[key]

    def subset(self, identity: dict, fraction: float, seed: int) -> ImageSet:
        data = self.get(identity, "train")
        idx = nested_subsets(data.labels, [fraction], seed, num_classes=data.num_classes)[fraction]
        return data.take(idx, f"{data.name}[{100 * fraction:g}%]")


def _versions() -> dict:
    import timm
    import torch

    from scalefit.version import __version__

    return {
        "torch": torch.__version__,
        "timm": timm.__version__,
        "scalefit": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def _load(work: WorkDir, run_id: str, what: str):
    import torch

    path = work.checkpoint_path(run_id)
    if not path.is_file():
        raise ScalefitError(
            f"{path}: checkpoint of {what} (run {run_id}) is missing; delete its row in "
            f"{work.rows} so it is re-run, then restart"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file fails in many ways; name it and the fix
        raise ScalefitError(
            f"{path}: checkpoint of {what} (run {run_id}) is unreadable ({type(exc).__name__}: {exc}); delete it "
            f"and {work.row_path(run_id)} (if present) so that run is trained again, then restart"
        ) from None


def _save(model, spec: ModelSpec, data: dict, num_classes: int, work: WorkDir, run_id: str, **extra) -> None:
    """Weights plus what rebuilding the model needs (and its size), written atomically."""
    meta = {"model": spec.to_dict(), "img_size": data["size"], "in_chans": data["channels"],
            "num_classes": num_classes, "params": count_params(spec, data["size"], data["channels"], num_classes),
            **extra}  # fmt: skip
    atomic_save({"state": model.cpu().state_dict(), "meta": meta}, work.checkpoint_path(run_id), work.temporaries)


def _model_from(ckpt: dict):
    meta = ckpt["meta"]
    model = build_model(ModelSpec(**meta["model"]), meta["img_size"], meta["in_chans"], meta["num_classes"])
    model.load_state_dict(ckpt["state"])
    return model


def run_job(
    job: Job, work: WorkDir, data: DataCache, device: str, *, keep_checkpoint: bool = False, on_step=None
) -> dict | None:
    """Run one job to completion; return its row (``None`` for pre-training)."""
    import torch

    cfg = job.config
    hp = HParams(**cfg["hparams"])
    torch.manual_seed(cfg["seed"])
    start = time.perf_counter()
    if job.stage == "pretrain":
        spec = ModelSpec(**cfg["model"])
        subset = data.subset(cfg["data"], cfg["fraction"], cfg["subset_seed"])
        model = build_model(spec, cfg["data"]["size"], cfg["data"]["channels"], subset.num_classes).to(device)
        stats = train(model, *to_device(subset.images, subset.labels, device), hp, seed=cfg["seed"], on_step=on_step)
        _save(model, spec, cfg["data"], subset.num_classes, work, job.run_id,
              n_train=len(subset), wall_s=time.perf_counter() - start, **stats)  # fmt: skip
        return None

    pre_cfg = cfg["pretrain"]
    pre_id = job.needs[0]
    pre = _load(work, pre_id, "the pre-trained model")
    spec = ModelSpec(**pre_cfg["model"])
    d = cfg["data"]
    subset = data.subset(d, cfg["fraction"], cfg["subset_seed"])
    test = data.get(d, "test")
    model = for_finetuning(_model_from(pre), spec, d["size"], d["channels"], subset.num_classes).to(device)
    teachers, teacher_meta, distill = [], [], None
    if job.stage == "distill":
        distill = DistillLoss(**cfg["loss"])
        for tid in job.needs[1:]:
            ckpt = _load(work, tid, "a fine-tuned teacher")
            teachers.append(_model_from(ckpt).to(device))
            teacher_meta.append(ckpt["meta"])
    images, labels = to_device(subset.images, subset.labels, device)
    stats = train(model, images, labels, hp, seed=cfg["seed"], teachers=teachers, distill=distill, on_step=on_step)
    metrics = evaluate(model, *to_device(test.images, test.labels, device))
    wall = time.perf_counter() - start
    params = count_params(spec, d["size"], d["channels"], subset.num_classes)
    if keep_checkpoint:  # a teacher of a distillation run
        _save(model, spec, d, subset.num_classes, work, job.run_id)
    row = {
        "run_id": job.run_id,
        "stage": job.stage,
        "Dp": pre["meta"]["n_train"],
        "M": params,
        "Df": len(subset),
        "Mt": max((t["params"] for t in teacher_meta), default=float("nan")),
        "error": metrics["error"],
        "loss": metrics["loss"],
        "teachers": "+".join(str(t["model"]["heads"]) for t in teacher_meta),
        "Mt_total": sum(t["params"] for t in teacher_meta) if teacher_meta else float("nan"),
        "heads": spec.heads,
        "embed_dim": spec.embed_dim,
        "depth": spec.depth,
        "head_dim": spec.head_dim,
        "patch": spec.patch,
        "M_pretrain": pre["meta"]["params"],
        "upstream": pre_cfg["data"]["name"],
        "downstream": d["name"],
        "pretrain_fraction": pre_cfg["fraction"],
        "finetune_fraction": cfg["fraction"],
        "upstream_size": pre_cfg["data"]["size"],
        "downstream_size": d["size"],
        "n_test": metrics["n_test"],
        "seed": cfg["seed"],
        "subset_seed": cfg["subset_seed"],
        "pretrain_id": pre_id,
        "teacher_ids": "+".join(job.needs[1:]),
        "train_loss": stats["train_loss"],
        "steps": stats["steps"],
        "pretrain_train_loss": pre["meta"]["train_loss"],
        "wall_s": wall,
        "pretrain_wall_s": pre["meta"]["wall_s"],
        **{f"pretrain_{k}": v for k, v in pre_cfg["hparams"].items()},
        **{f"finetune_{k}": v for k, v in cfg["hparams"].items()},
        **({f"distill_{k}": v for k, v in cfg["loss"].items()} if "loss" in cfg else {}),
        "device": device_name(device),
        **_versions(),
        "platform": sys.platform,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": dumps(cfg),
    }
    work.write_row(row)
    return row
