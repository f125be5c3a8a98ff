"""Grid specifications: TOML files or Python objects, checked, and the shipped presets.

A grid pre-trains every model size on every upstream fraction, fine-tunes every pre-trained
model on every downstream fraction, and (optionally) distils small fine-tuned teachers into
larger students on the same ``(Dp, Df)`` cell. Its expansion into jobs with run ids, and the
plan of their cost, are :mod:`scalefit.collect.jobs`.
Presets ship as TOML files beside this module: ``tiny`` (minutes on a CPU), ``paper``
(the paper's grid) and ``fmnist-mnist`` (the real CPU grid behind ``examples/data``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from scalefit.collect.checks import (
    SEED_MAX,
    check_fields,
    file_name,
    int_list,
    item,
    no_unknown,
    one_of,
    optional,
    real,
    string,
    table,
    whole,
)
from scalefit.collect.distill import DistillLoss
from scalefit.collect.images import FORMATS
from scalefit.collect.models import ModelSpec
from scalefit.collect.subsets import check_fractions
from scalefit.collect.train import HParams
from scalefit.errors import ScalefitError
from scalefit.validate import shown_value, suggest

PRESETS_DIR = Path(__file__).with_name("presets")
STAGES = ("pretrain", "finetune", "distill", "control")


#: Formats that read files from ``root`` (the others make or find their data themselves).
FILE_FORMATS = ("idx", "cifar", "imagefolder")


def _channels(value, name: str) -> int:
    value = whole(1)(value, name)
    if value not in (1, 3):
        raise ScalefitError(f"{name} must be 1 (greyscale) or 3 (RGB), got {value}")
    return value


@dataclass(frozen=True)
class DataSpec:
    """One data set: where it is, how to decode it, which fractions of its training split to use.

    ``n_train``, ``n_test`` and ``num_classes`` are the set's sizes: required for ``synthetic``
    (they define it), optional hints for planning otherwise — a ``num_classes`` given for a
    set read from files must match the files (checked when they are read).
    """

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

    #: One check per field (see :mod:`scalefit.collect.checks`).
    CHECKS: ClassVar[dict] = {
        "name": file_name,
        "format": one_of(*FORMATS),
        "fractions": check_fractions,
        "root": optional(string),
        "size": whole(1),
        "channels": _channels,
        "test_fraction": real(0, 1, low_open=True, high_open=True),
        "split_seed": whole(0, SEED_MAX),
        "n_train": optional(whole(1)),
        "n_test": optional(whole(1)),
        "num_classes": optional(whole(2)),
        "task_seed": whole(0, SEED_MAX),
        "task_shift": whole(0, SEED_MAX),
    }

    def __post_init__(self):
        prefix = f"data set {self.name!r} " if isinstance(self.name, str) else "data set "
        check_fields(self, self.CHECKS, prefix)
        where = f"data set {self.name!r}"
        if self.format == "synthetic":
            missing = [k for k in ("n_train", "n_test", "num_classes") if getattr(self, k) is None]
            if missing:
                raise ScalefitError(
                    f"{where}: format 'synthetic' needs n_train, n_test and num_classes (missing "
                    f"{', '.join(missing)}); they define the generated set"
                )
        elif self.format in FILE_FORMATS and self.root is None:
            raise ScalefitError(
                f"{where}: format {self.format!r} reads files, so 'root' (the folder holding them) is required"
            )
        if self.format not in FILE_FORMATS and self.root is not None:
            raise ScalefitError(
                f"{where}: root {self.root!r} is not used by format {self.format!r} (it reads no folder); remove it"
            )
        if self.format != "synthetic":
            for key in ("task_seed", "task_shift"):
                if getattr(self, key):
                    raise ScalefitError(
                        f"{where}: {key} = {getattr(self, key)} is used only by format 'synthetic' "
                        f"(it picks the generated task); remove it"
                    )

    def reader_args(self, split: str) -> dict:
        """Keyword arguments of :func:`~scalefit.collect.loading.load_images` for one split."""
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
            "num_classes": self.num_classes,
            "task_seed": self.task_seed,
            "task_shift": self.task_shift,
        }

    def identity(self) -> dict:
        """What defines the data (not which fractions a grid asks for): part of every run id."""
        out = asdict(self)
        out.pop("fractions")
        return out


def _pairs(value, name: str) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """Distillation pairs: ``[(student, (teacher, ...)), ...]`` or TOML ``[{student=, teachers=[]}]``."""
    example = "[{ student = 4, teachers = [2] }]"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(
            f"{name} must be a list of pairs, e.g. {example}, got {shown_value(value)} ({type(value).__name__})"
        )
    if not value:
        raise ScalefitError(f"{name} must not be empty; give at least one pair, e.g. {example}")
    out = []
    for i, pair in enumerate(value):
        key = item(name, i)
        where = key.removesuffix(":")  # the pair as a context ("...pairs[0]: unknown key")
        if isinstance(pair, Mapping):
            pair = table(pair, where)
            no_unknown(pair, ("student", "teachers"), where)
            missing = [k for k in ("student", "teachers") if k not in pair]
            if missing:
                raise ScalefitError(f"{where} needs {' and '.join(map(repr, missing))}, e.g. {example}")
            student, teachers = pair["student"], pair["teachers"]
        elif isinstance(pair, Sequence) and not isinstance(pair, str | bytes) and len(pair) == 2:
            student, teachers = pair
        else:
            raise TypeError(
                f"{key} must be a table {{ student = 4, teachers = [2] }}, "
                f"got {shown_value(pair)} ({type(pair).__name__})"
            )
        student = whole(1)(student, item(key, "student"))
        teachers = int_list(teachers, item(key, "teachers"), example="[2]")
        if student in teachers:
            raise ScalefitError(
                f"{where}: distill pair: student {student} is among its own teachers {list(teachers)}; "
                f"a model cannot teach itself"
            )
        out.append((student, teachers))
    seen = [(s, tuple(sorted(t))) for s, t in out]
    repeated = sorted({p for p in seen if seen.count(p) > 1})
    if repeated:
        raise ScalefitError(f"{name} repeats the pair(s) {repeated}; list each student/teachers pair once")
    return tuple(out)


@dataclass(frozen=True)
class DistillPlan:
    """Which students learn from which teachers (by head count), the loss, and the control run."""

    pairs: tuple[tuple[int, tuple[int, ...]], ...]
    loss: DistillLoss = field(default_factory=DistillLoss)
    control_smoothing: float = 0.0
    fractions: tuple[float, ...] | None = None  # downstream fractions to distil at (default: all)

    def __post_init__(self):
        object.__setattr__(self, "pairs", _pairs(self.pairs, "distill pairs"))
        if not isinstance(self.loss, DistillLoss):
            raise TypeError(
                f"distill loss must be a DistillLoss, got {shown_value(self.loss)} ({type(self.loss).__name__})"
            )
        if self.fractions is not None:
            object.__setattr__(self, "fractions", check_fractions(self.fractions, "distill fractions"))
        smoothing = real(0, 1, high_open=True)(self.control_smoothing, "distill control_smoothing")
        object.__setattr__(self, "control_smoothing", smoothing)


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
        string(self.name, "grid name")
        where = f"grid {self.name!r}"
        object.__setattr__(self, "heads", int_list(self.heads, f"{where} heads", example="[2, 4, 6, 8]"))
        for key in ("seed", "subset_seed"):
            object.__setattr__(self, key, whole(0, SEED_MAX)(getattr(self, key), f"{where} {key}"))
        for key, cls in (("model", ModelSpec), ("upstream", DataSpec), ("pretrain", HParams), ("finetune", HParams)):
            if not isinstance(getattr(self, key), cls):
                value = getattr(self, key)
                raise TypeError(
                    f"{where} {key} must be a {cls.__name__}, got {shown_value(value)} ({type(value).__name__})"
                )
        if isinstance(self.downstream, DataSpec):
            object.__setattr__(self, "downstream", (self.downstream,))
        if not isinstance(self.downstream, Sequence) or not all(isinstance(d, DataSpec) for d in self.downstream):
            raise TypeError(f"{where} downstream must be a list of DataSpec, got {shown_value(self.downstream)}")
        object.__setattr__(self, "downstream", tuple(self.downstream))
        if not self.downstream:
            raise ScalefitError(f"{where}: at least one [[downstream]] data set is needed")
        if self.distill is not None and not isinstance(self.distill, DistillPlan):
            raise TypeError(f"{where} distill must be a DistillPlan or None, got {shown_value(self.distill)}")
        names = [d.name for d in (self.upstream, *self.downstream)]
        if len(set(names)) != len(names):
            raise ScalefitError(f"{where}: data set names must be unique, got {names}")
        if not isinstance(self.finetune_overrides, Mapping):
            raise TypeError(f"{where} finetune_overrides must be a dict {{data set name: HParams}}")
        for key, hp in self.finetune_overrides.items():
            if key not in names[1:]:
                raise ScalefitError(
                    f"{where}: finetune_overrides names {key!r}, not a downstream data set{suggest(key, names[1:])}"
                )
            if not isinstance(hp, HParams):
                raise TypeError(f"{where} finetune_overrides[{key!r}] must be an HParams, got {shown_value(hp)}")
        for d in self.downstream:
            if d.channels != self.upstream.channels:
                raise ScalefitError(
                    f"{where}: downstream {d.name!r} has channels={d.channels}, upstream "
                    f"{self.upstream.channels}; fine-tuning keeps the patch embedding, so they must "
                    f"match"
                )
        for spec in (self.upstream, *self.downstream):
            try:
                self.model.tokens(spec.size)
            except ScalefitError as exc:
                raise ScalefitError(f"{where}: data set {spec.name!r} size {spec.size}: {exc}") from None
        for h in self.heads:
            self.spec(h)  # every model of the grid is valid (e.g. its MLP has units)
        if self.distill:
            for student, teachers in self.distill.pairs:
                missing = [h for h in (student, *teachers) if h not in self.heads]
                if missing:
                    raise ScalefitError(
                        f"{where}: distill pair {student} <- {list(teachers)} uses head "
                        f"count(s) {missing} not in heads {list(self.heads)}; teachers are the "
                        f"grid's own fine-tuned models"
                    )
            for d in self.downstream:
                extra = sorted(set(self.distill.fractions or ()) - set(d.fractions))
                if extra:
                    raise ScalefitError(
                        f"{where}: distill fractions {extra} are not among downstream "
                        f"{d.name!r} fractions {list(d.fractions)}; teachers exist only there"
                    )

    def finetune_hparams(self, data: DataSpec) -> HParams:
        """Fine-tuning hyper-parameters for one downstream set (its ``[downstream.finetune]`` overrides)."""
        return self.finetune_overrides.get(data.name, self.finetune)

    def spec(self, heads: int) -> ModelSpec:
        return ModelSpec(
            heads=heads, **{f.name: getattr(self.model, f.name) for f in fields(ModelSpec) if f.name != "heads"}
        )


# --------------------------------------------------------------------------- TOML

TOP_KEYS = ("name", "seed", "subset_seed", "model", "upstream", "downstream", "pretrain", "finetune", "distill")
DISTILL_KEYS = ("pairs", "control_smoothing", "fractions", *(f.name for f in fields(DistillLoss)))


def _build(cls, spec: dict, where: str, *, skip: tuple[str, ...] = (), **extra):
    """``cls(**spec)`` with every key checked first under its table path, then the cross-field checks."""
    known = [f.name for f in fields(cls) if f.name not in extra]
    no_unknown(spec, [*known, *skip], where)
    checked = {k: cls.CHECKS[k](v, f"{where} {k}:") if k in cls.CHECKS else v for k, v in spec.items() if k in known}
    try:
        return cls(**checked, **extra)
    except (ScalefitError, TypeError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def grid_from_dict(spec: dict, name: str = "grid", *, source: str | None = None) -> Grid:
    """A :class:`Grid` from the TOML structure (see the presets for a commented example).

    ``source`` names where the structure came from (a file) in messages; every message names
    the key with its table path, e.g. ``grid.toml [model] heads[0]: must be an integer >= 1, got 2.5``.
    Unknown keys are refused (with the nearest known key), types are exact (an integer key
    takes an integer, never ``2.5`` or ``"16"``) and values are checked against their ranges.
    """
    src = source or "grid"
    spec = table(spec, src)
    no_unknown(spec, TOP_KEYS, src, "top-level key")
    for key in ("model", "upstream", "downstream", "pretrain", "finetune"):
        if key not in spec:
            raise ScalefitError(f"{src}: missing [{key}] table (see the presets, e.g. scalefit collect tiny --dry-run)")
    grid_name = string(spec.get("name", name), f"{src} name:")
    seeds = {k: whole(0, SEED_MAX)(spec.get(k, 0), f"{src} {k}:") for k in ("seed", "subset_seed")}

    where = f"{src} [model]"
    model = table(spec["model"], where)
    if "heads" not in model:
        raise ScalefitError(f"{where}: 'heads' (list of head counts, e.g. [2, 4, 6, 8]) is required")
    heads = int_list(model.pop("heads"), f"{where} heads:", example="[2, 4, 6, 8]")
    model_spec = _build(ModelSpec, model, where, skip=("heads",), heads=heads[0])

    upstream = _build(DataSpec, table(spec["upstream"], f"{src} [upstream]"), f"{src} [upstream]")
    down = spec["downstream"]
    if isinstance(down, Mapping):
        down_tables = [(table(down, f"{src} [downstream]"), f"{src} [downstream]", f"{src} [downstream.finetune]")]
    elif isinstance(down, list):
        if not down:
            raise ScalefitError(f"{src} [downstream]: at least one [[downstream]] data set is needed")
        down_tables = []
        for i, d in enumerate(down, 1):
            where = f"{src} [[downstream]] #{i}"
            down_tables.append((table(d, where), where, f"{where} [downstream.finetune]"))
    else:
        raise TypeError(
            f"{src} [downstream] must be a table or an array of [[downstream]] tables, got {shown_value(down)}"
        )
    pretrain = _build(HParams, table(spec["pretrain"], f"{src} [pretrain]"), f"{src} [pretrain]")
    base = _build(HParams, table(spec["finetune"], f"{src} [finetune]"), f"{src} [finetune]")
    downstream, overrides = [], {}
    for d, where, ft_where in down_tables:
        data = _build(DataSpec, d, where, skip=("finetune",))
        downstream.append(data)
        if "finetune" in d:
            ft = table(d["finetune"], ft_where)
            no_unknown(ft, [f.name for f in fields(HParams)], ft_where)
            checked = {k: HParams.CHECKS[k](v, f"{ft_where} {k}:") for k, v in ft.items()}
            overrides[data.name] = _build(HParams, {**base.to_dict(), **checked}, ft_where)

    distill = None
    if "distill" in spec:
        where = f"{src} [distill]"
        d = table(spec["distill"], where)
        no_unknown(d, DISTILL_KEYS, where)
        if "pairs" not in d:
            raise ScalefitError(f"{where}: 'pairs' is required, e.g. pairs = [{{ student = 4, teachers = [2] }}]")
        pairs = _pairs(d.pop("pairs"), f"{where} pairs:")
        control = real(0, 1, high_open=True)(d.pop("control_smoothing", 0.0), f"{where} control_smoothing:")
        fractions = d.pop("fractions", None)
        if fractions is not None:
            fractions = check_fractions(fractions, f"{where} fractions:")
        loss = _build(DistillLoss, d, where)
        distill = DistillPlan(pairs, loss, control, fractions)

    try:
        return Grid(
            name=grid_name,
            heads=heads,
            model=model_spec,
            upstream=upstream,
            downstream=tuple(downstream),
            pretrain=pretrain,
            finetune=base,
            distill=distill,
            finetune_overrides=overrides,
            **seeds,
        )
    except ScalefitError as exc:
        if source is None:
            raise
        raise ScalefitError(f"{source}: {exc}") from None


def load_grid(path: str | os.PathLike) -> Grid:
    """Read a grid from a TOML file, or a preset by name (``tiny``, ``paper``, ``fmnist-mnist``).

    A file that cannot be read, is not UTF-8 or is not valid TOML is one :class:`ScalefitError`
    naming the file; a bad key is one naming the file, the table and the key.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"grid must be a path to a .toml file or a preset name, got {shown_value(path)} ({type(path).__name__})"
        )
    p = Path(path).expanduser()
    if not p.suffix and not p.exists():
        return preset(str(path))
    shown = str(path)
    if p.is_dir():
        raise ScalefitError(f"grid file {shown!r} is a directory; give a .toml file inside it")
    if not p.is_file():
        raise ScalefitError(
            f"grid file {shown!r} not found; give a .toml file or a preset name: {', '.join(presets())}"
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScalefitError(f"grid file {shown!r}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScalefitError(
            f"grid file {shown!r}: not UTF-8 text (byte {raw[exc.start : exc.start + 1]!r} at line {line}); "
            f"TOML files must be UTF-8 — re-save it as UTF-8"
        ) from None
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScalefitError(f"grid file {shown!r}: not valid TOML ({exc}); fix the syntax there") from None
    return grid_from_dict(spec, p.stem, source=shown)


def presets() -> list[str]:
    """The names of the shipped grids (``src/scalefit/collect/presets/*.toml``), sorted."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset(name: str) -> Grid:
    """A shipped grid by name: ``tiny``, ``paper``, ``fmnist-mnist`` or ``fmnist-mnist-long``
    (:func:`presets` lists them)."""
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a string ({', '.join(presets())}), got {shown_value(name)}")
    if name not in presets():
        raise ScalefitError(
            f"no preset {name!r}{suggest(name, presets())}; presets: {', '.join(presets())} "
            f"(or give a path to a .toml file)"
        )
    path = PRESETS_DIR / f"{name}.toml"
    return grid_from_dict(tomllib.loads(path.read_text(encoding="utf-8")), name, source=f"preset {name!r}")
