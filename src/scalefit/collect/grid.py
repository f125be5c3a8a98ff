"""Grid specifications (TOML or Python objects) and their expansion into jobs with run ids.

A grid pre-trains every model size on every upstream fraction, fine-tunes every pre-trained
model on every downstream fraction, and (optionally) distils small fine-tuned teachers into
larger students on the same ``(Dp, Df)`` cell::

    pretrain(p, h)                       -> checkpoint
    finetune(p, h, f)   needs pretrain(p, h)                       -> row (stage "finetune")
    distill(p, s<-T, f) needs pretrain(p, s), finetune(p, t, f) t∈T -> row (stage "distill")
    control(p, h, f)    needs pretrain(p, h)  (label smoothing)    -> row (stage "control")

A job's config nests the configs of everything it depends on, and its run id is a hash
of that config: change anything upstream and every run downstream gets a new id.
Presets ship as TOML files beside this module: ``tiny`` (minutes on a CPU), ``paper``
(the paper's grid) and ``fmnist-mnist`` (the real CPU grid behind ``examples/data``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .._errors import ScalefitError
from .distill import DistillLoss
from .images import FORMATS
from .models import ModelSpec, count_params, forward_flops_per_image, train_flops_per_image
from .subsets import check_fractions
from .train import HParams

PRESETS_DIR = Path(__file__).with_name("presets")
STAGES = ("pretrain", "finetune", "distill", "control")


@dataclass(frozen=True)
class DataSpec:
    """One data set: where it is, how to decode it, which fractions of its training split to use."""

    name: str
    format: str
    fractions: tuple[float, ...]
    root: str | None = None
    size: int = 32
    channels: int = 3
    test_fraction: float = 0.2
    split_seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    num_classes: int | None = None
    task_seed: int = 0
    task_shift: int = 0

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ScalefitError(f"data set {self.name!r}: format {self.format!r} is not one of {', '.join(FORMATS)}")
        object.__setattr__(self, "fractions", check_fractions(self.fractions, f"data set {self.name!r} fractions"))
        if self.channels not in (1, 3):
            raise ScalefitError(f"data set {self.name!r}: channels must be 1 or 3, got {self.channels}")
        if self.format == "synthetic" and not (self.n_train and self.n_test and self.num_classes):
            raise ScalefitError(f"data set {self.name!r}: format 'synthetic' needs n_train, n_test and num_classes")

    def reader_args(self, split: str) -> dict:
        """Keyword arguments of :func:`~scalefit.collect.images.load_images` for one split."""
        return {
            "format": self.format,
            "split": split,
            "root": self.root,
            "size": self.size,
            "channels": self.channels,
            "name": self.name,
            "test_fraction": self.test_fraction,
            "split_seed": self.split_seed,
            "n_synthetic": (self.n_train if split == "train" else self.n_test) or 0,
            "num_classes": self.num_classes or 10,
            "task_seed": self.task_seed,
            "task_shift": self.task_shift,
        }

    def identity(self) -> dict:
        """What defines the data (not which fractions a grid asks for): part of every run id."""
        out = asdict(self)
        out.pop("fractions")
        return out


@dataclass(frozen=True)
class DistillPlan:
    """Which students learn from which teachers (by head count), the loss, and the control run."""

    pairs: tuple[tuple[int, tuple[int, ...]], ...]
    loss: DistillLoss = field(default_factory=DistillLoss)
    control_smoothing: float = 0.0
    fractions: tuple[float, ...] | None = None  # downstream fractions to distil at (default: all)

    def __post_init__(self):
        for student, teachers in self.pairs:
            if not teachers:
                raise ScalefitError(f"distill pair for student {student}: no teachers")
            if student in teachers:
                raise ScalefitError(f"distill pair: student {student} is among its own teachers {list(teachers)}")
        if self.fractions is not None:
            object.__setattr__(self, "fractions", check_fractions(self.fractions, "distill fractions"))
        if not 0 <= self.control_smoothing < 1:
            raise ScalefitError(
                f"distill control_smoothing must be in [0, 1) (0 = no control run), got {self.control_smoothing}"
            )


@dataclass(frozen=True)
class Grid:
    """A whole experimental grid. Build from TOML with :func:`load_grid` or :func:`preset`."""

    name: str
    heads: tuple[int, ...]
    model: ModelSpec
    upstream: DataSpec
    downstream: tuple[DataSpec, ...]
    pretrain: HParams
    finetune: HParams
    distill: DistillPlan | None = None
    seed: int = 0
    subset_seed: int = 0
    finetune_overrides: dict = field(default_factory=dict)  # data set name -> HParams of its fine-tuning

    def __post_init__(self):
        if not self.heads or len(set(self.heads)) != len(self.heads):
            raise ScalefitError(
                f"grid {self.name!r}: heads must be a non-empty list without repeats, got {list(self.heads)}"
            )
        if not self.downstream:
            raise ScalefitError(f"grid {self.name!r}: at least one [[downstream]] data set is needed")
        for d in self.downstream:
            if d.channels != self.upstream.channels:
                raise ScalefitError(
                    f"grid {self.name!r}: downstream {d.name!r} has channels={d.channels}, upstream "
                    f"{self.upstream.channels}; fine-tuning keeps the patch embedding, so they must "
                    f"match"
                )
        for spec in (self.upstream, *self.downstream):
            self.model.tokens(spec.size)
        if self.distill:
            for student, teachers in self.distill.pairs:
                missing = [h for h in (student, *teachers) if h not in self.heads]
                if missing:
                    raise ScalefitError(
                        f"grid {self.name!r}: distill pair {student} <- {list(teachers)} uses head "
                        f"count(s) {missing} not in heads {list(self.heads)}; teachers are the "
                        f"grid's own fine-tuned models"
                    )
            for d in self.downstream:
                extra = sorted(set(self.distill.fractions or ()) - set(d.fractions))
                if extra:
                    raise ScalefitError(
                        f"grid {self.name!r}: distill fractions {extra} are not among downstream "
                        f"{d.name!r} fractions {list(d.fractions)}; teachers exist only there"
                    )
        names = [d.name for d in (self.upstream, *self.downstream)]
        if len(set(names)) != len(names):
            raise ScalefitError(f"grid {self.name!r}: data set names must be unique, got {names}")

    def finetune_hparams(self, data: DataSpec) -> HParams:
        """Fine-tuning hyper-parameters for one downstream set (its ``[downstream.finetune]`` overrides)."""
        return self.finetune_overrides.get(data.name, self.finetune)

    def spec(self, heads: int) -> ModelSpec:
        return ModelSpec(
            heads=heads, **{f.name: getattr(self.model, f.name) for f in fields(ModelSpec) if f.name != "heads"}
        )


# --------------------------------------------------------------------------- TOML


def _build(cls, table: dict, where: str, **extra):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ScalefitError(f"grid [{where}]: unknown key(s) {unknown}; known: {sorted(known - set(extra))}")
    try:
        return cls(**table, **extra)
    except TypeError as exc:
        raise ScalefitError(f"grid [{where}]: {exc}") from None


def grid_from_dict(spec: dict, name: str = "grid") -> Grid:
    """A :class:`Grid` from the TOML structure (see the presets for a commented example)."""
    spec = dict(spec)
    allowed = {"name", "seed", "subset_seed", "model", "upstream", "downstream", "pretrain", "finetune", "distill"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ScalefitError(f"grid: unknown top-level key(s) {unknown}; known: {sorted(allowed)}")
    for key in ("model", "upstream", "downstream", "pretrain", "finetune"):
        if key not in spec:
            raise ScalefitError(f"grid: missing [{key}] table")
    model = dict(spec["model"])
    heads = model.pop("heads", None)
    if not heads:
        raise ScalefitError("grid [model]: 'heads' (list of head counts, e.g. [2, 4, 6, 8]) is required")
    down = spec["downstream"]
    down = [dict(d) for d in ([down] if isinstance(down, dict) else down)]
    base = _build(HParams, spec["finetune"], "finetune")
    overrides = {}
    for d in down:
        if "finetune" in d:
            where = f"downstream.finetune of {d.get('name')!r}"
            overrides[d.get("name")] = _build(HParams, {**base.to_dict(), **d.pop("finetune")}, where)
    distill = None
    if "distill" in spec:
        d = dict(spec["distill"])
        pairs = d.pop("pairs", None)
        if not pairs:
            raise ScalefitError("grid [distill]: 'pairs' is required, e.g. [{student = 4, teachers = [2]}]")
        try:
            pairs = tuple((int(p["student"]), tuple(int(t) for t in p["teachers"])) for p in pairs)
        except (KeyError, TypeError):
            raise ScalefitError(
                "grid [distill]: each pair needs 'student' (heads) and 'teachers' (list of heads)"
            ) from None
        control = d.pop("control_smoothing", 0.0)
        fractions = d.pop("fractions", None)
        distill = DistillPlan(pairs, _build(DistillLoss, d, "distill"), control, fractions)
    return Grid(
        name=spec.get("name", name),
        heads=tuple(int(h) for h in heads),
        model=_build(ModelSpec, model, "model", heads=1),
        upstream=_build(DataSpec, spec["upstream"], "upstream"),
        downstream=tuple(_build(DataSpec, d, "downstream") for d in down),
        pretrain=_build(HParams, spec["pretrain"], "pretrain"),
        finetune=base,
        distill=distill,
        seed=int(spec.get("seed", 0)),
        subset_seed=int(spec.get("subset_seed", 0)),
        finetune_overrides=overrides,
    )


def load_grid(path: str | os.PathLike) -> Grid:
    """Read a grid from a TOML file, or a preset by name (``tiny``, ``paper``, ``fmnist-mnist``)."""
    p = Path(path)
    if not p.suffix and not p.exists():
        return preset(str(path))
    if not p.is_file():
        raise ScalefitError(
            f"grid file {str(p)!r} not found; give a .toml file or a preset name: {', '.join(presets())}"
        )
    try:
        spec = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScalefitError(f"{p}: not valid TOML ({exc})") from None
    return grid_from_dict(spec, p.stem)


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset(name: str) -> Grid:
    """A shipped grid: ``tiny``, ``paper`` or ``fmnist-mnist``."""
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise ScalefitError(f"no preset {name!r}; presets: {', '.join(presets())} (or give a path to a .toml file)")
    return grid_from_dict(tomllib.loads(path.read_text()), name)


# --------------------------------------------------------------------------- jobs


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
    jobs = expand(grid) if jobs is None else jobs
    sizes = dict(sizes or {})
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
