"""A grid's jobs and their plan: the expansion of a :class:`~scalefit.collect.grid.Grid`
into jobs with run ids, and the estimate of what they cost.

Every job comes after the jobs it needs::

    pretrain(p, h)                       -> checkpoint
    finetune(p, h, f)   needs pretrain(p, h)                       -> row (stage "finetune")
    distill(p, s<-T, f) needs pretrain(p, s), finetune(p, t, f) t∈T -> row (stage "distill")
    control(p, h, f)    needs pretrain(p, h)  (label smoothing)    -> row (stage "control")

A job's config nests the configs of everything it depends on, and its run id is a hash
of that config: change anything upstream and every run downstream gets a new id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scalefit.collect.checks import whole
from scalefit.collect.grid import STAGES, DataSpec, Grid
from scalefit.collect.models import ModelSpec, count_params, forward_flops_per_image, train_flops_per_image
from scalefit.errors import ScalefitError
from scalefit.validate import number, shown_value, suggest


@dataclass(frozen=True)
class Job:
    """One run: its stage, its full config (JSON-able), its id and the ids it needs first."""

    stage: str
    config: dict
    run_id: str
    needs: tuple[str, ...]
    label: str

    @property
    def evaluated(self) -> bool:
        return self.stage != "pretrain"


def run_id(config: dict) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of ``config``."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pct(f: float) -> str:
    return f"{100 * f:g}%"


def _tuning_config(stage: str, pre: Job, data: DataSpec, fraction: float, hparams: dict, grid: Grid) -> dict:
    """Config of a fine-tuning-like run (plain or control) on one (pre-trained model, Df) cell."""
    return {
        "stage": stage,
        "pretrain": pre.config,
        "data": data.identity(),
        "fraction": fraction,
        "subset_seed": grid.subset_seed,
        "hparams": hparams,
        "seed": grid.seed,
    }


def expand(grid: Grid) -> list[Job]:
    """All jobs of a grid in an order where every job comes after the jobs it needs."""
    jobs: list[Job] = []
    pre: dict[tuple[float, int], Job] = {}
    fine: dict[tuple[str, float, int, float], Job] = {}
    for p in grid.upstream.fractions:
        for h in grid.heads:
            cfg = {
                "stage": "pretrain",
                "data": grid.upstream.identity(),
                "fraction": p,
                "subset_seed": grid.subset_seed,
                "model": grid.spec(h).to_dict(),
                "hparams": grid.pretrain.to_dict(),
                "seed": grid.seed,
            }
            job = Job("pretrain", cfg, run_id(cfg), (), f"pretrain {h}h Dp={_pct(p)} {grid.upstream.name}")
            pre[p, h] = job
            jobs.append(job)
    for d in grid.downstream:
        for p in grid.upstream.fractions:
            for h in grid.heads:
                for f in d.fractions:
                    cfg = _tuning_config("finetune", pre[p, h], d, f, grid.finetune_hparams(d).to_dict(), grid)
                    job = Job(
                        "finetune",
                        cfg,
                        run_id(cfg),
                        (pre[p, h].run_id,),
                        f"finetune {h}h Dp={_pct(p)} Df={_pct(f)} {d.name}",
                    )
                    fine[d.name, p, h, f] = job
                    jobs.append(job)
    if grid.distill:
        for d in grid.downstream:
            for p in grid.upstream.fractions:
                for f in grid.distill.fractions or d.fractions:
                    for s, teachers in grid.distill.pairs:
                        cfg = {
                            "stage": "distill",
                            "pretrain": pre[p, s].config,
                            "teachers": [fine[d.name, p, t, f].config for t in teachers],
                            "data": d.identity(),
                            "fraction": f,
                            "subset_seed": grid.subset_seed,
                            "hparams": grid.finetune_hparams(d).to_dict(),
                            "loss": grid.distill.loss.to_dict(),
                            "seed": grid.seed,
                        }
                        needs = (pre[p, s].run_id, *(fine[d.name, p, t, f].run_id for t in teachers))
                        tlabel = "+".join(f"{t}h" for t in teachers)
                        jobs.append(
                            Job(
                                "distill",
                                cfg,
                                run_id(cfg),
                                needs,
                                f"distill {tlabel}->{s}h Dp={_pct(p)} Df={_pct(f)} {d.name}",
                            )
                        )
                    if grid.distill.control_smoothing:
                        for s in sorted({s for s, _ in grid.distill.pairs}):
                            hp = {
                                **grid.finetune_hparams(d).to_dict(),
                                "label_smoothing": grid.distill.control_smoothing,
                            }
                            cfg = _tuning_config("control", pre[p, s], d, f, hp, grid)
                            jobs.append(
                                Job(
                                    "control",
                                    cfg,
                                    run_id(cfg),
                                    (pre[p, s].run_id,),
                                    f"control {s}h ls={grid.distill.control_smoothing} Dp={_pct(p)} "
                                    f"Df={_pct(f)} {d.name}",
                                )
                            )
    return jobs


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanRow:
    stage: str
    runs: int
    images: float
    flops: float


def estimate(grid: Grid, jobs: list[Job] | None = None, sizes: dict | None = None) -> list[PlanRow]:
    """Runs, images processed and FLOPs per stage.

    ``sizes`` maps a data set name to ``(n_train, n_test, num_classes)``; without it the
    grid's ``n_train``/``n_test``/``num_classes`` hints are used (subset size ``f * n``).
    """
    if not isinstance(grid, Grid):
        raise TypeError(
            f"grid must be a Grid (from load_grid or preset), got {shown_value(grid)} ({type(grid).__name__})"
        )
    jobs = expand(grid) if jobs is None else jobs
    if sizes is not None and not isinstance(sizes, Mapping):
        raise TypeError(
            f"sizes must be a dict {{data set name: (n_train, n_test, num_classes)}}, got {shown_value(sizes)}"
        )
    known = [d.name for d in (grid.upstream, *grid.downstream)]
    checked = {}
    for key, value in (sizes or {}).items():
        if key not in known:
            raise ScalefitError(f"sizes names {key!r}, not a data set of the grid{suggest(key, known)}; known: {known}")
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 3:
            raise TypeError(f"sizes[{key!r}] must be (n_train, n_test, num_classes), got {shown_value(value)}")
        checked[key] = tuple(whole(1)(v, f"sizes[{key!r}][{i}]") for i, v in enumerate(value))
    sizes = checked
    for d in (grid.upstream, *grid.downstream):
        if d.name not in sizes:
            if not (d.n_train and d.n_test and d.num_classes):
                raise ScalefitError(
                    f"data set {d.name!r}: cannot estimate without n_train, n_test and num_classes "
                    f"(give them in the grid, or plan with the data present)"
                )
            sizes[d.name] = (d.n_train, d.n_test, d.num_classes)
    by_name = {d.name: d for d in (grid.upstream, *grid.downstream)}
    totals: dict[str, list[float]] = {s: [0, 0.0, 0.0] for s in STAGES}
    for job in jobs:
        c = job.config
        model_cfg = c["pretrain"]["model"] if "pretrain" in c else c["model"]
        spec = ModelSpec(**model_cfg)
        data = by_name[c["data"]["name"]]
        n_train, n_test, k = sizes[data.name]
        n = c["fraction"] * n_train
        hp = c["hparams"]
        seen = hp["epochs"] * n
        flops = seen * train_flops_per_image(spec, data.size, data.channels, k)
        images = seen
        if job.stage == "distill":
            for t in c["teachers"]:
                tspec = ModelSpec(**t["pretrain"]["model"])
                flops += seen * forward_flops_per_image(tspec, data.size, data.channels, k)
        if job.evaluated:
            flops += n_test * forward_flops_per_image(spec, data.size, data.channels, k)
            images += n_test
        row = totals[job.stage]
        row[0] += 1
        row[1] += images
        row[2] += flops
    return [PlanRow(s, int(r[0]), r[1], r[2]) for s, r in totals.items() if r[0]]


def describe_plan(grid: Grid, rows: list[PlanRow], tflops: float, done: int = 0) -> str:
    """The dry-run text: runs per stage, images, FLOPs and GPU-hours at ``tflops`` sustained TFLOP/s."""
    tflops = number(tflops, "tflops", low=0, low_open=True, fix="the sustained TFLOP/s of your device, e.g. 100")
    done = whole(0)(done, "done")
    lines = [
        f"grid {grid.name!r}: heads {list(grid.heads)}, depth {grid.model.depth}, head dim "
        f"{grid.model.head_dim}, patch {grid.model.patch}",
        f"  upstream {grid.upstream.name} ({grid.upstream.format}, {grid.upstream.size}px) fractions "
        f"{[_pct(f) for f in grid.upstream.fractions]}",
    ]
    for d in grid.downstream:
        lines.append(f"  downstream {d.name} ({d.format}, {d.size}px) fractions {[_pct(f) for f in d.fractions]}")
    for h in grid.heads:
        d = grid.downstream[0]
        lines.append(
            f"  {h} heads: embed {grid.spec(h).embed_dim}, "
            f"{count_params(grid.spec(h), d.size, d.channels, d.num_classes or 10) / 1e6:.3g}M params "
            f"(fine-tuned on {d.name})"
        )
    lines.append(f"\n  {'stage':<10}{'runs':>7}{'images':>14}{'PFLOP':>12}{'GPU-h':>10}")
    total = [0, 0.0, 0.0]
    for r in rows:
        lines.append(
            f"  {r.stage:<10}{r.runs:>7}{r.images:>14.4g}{r.flops / 1e15:>12.4g}"
            f"{r.flops / (tflops * 1e12) / 3600:>10.3g}"
        )
        total = [total[0] + r.runs, total[1] + r.images, total[2] + r.flops]
    lines.append(
        f"  {'total':<10}{total[0]:>7}{total[1]:>14.4g}{total[2] / 1e15:>12.4g}"
        f"{total[2] / (tflops * 1e12) / 3600:>10.3g}"
    )
    lines.append(
        f"\n  GPU-hours at {tflops:g} TFLOP/s sustained (forward+backward = 3x forward; set --tflops to "
        f"your measured rate)."
    )
    if done:
        lines.append(f"  {done} of {total[0]} runs already finished in the work directory (they will be skipped).")
    return "\n".join(lines)
