"""The development corpus of real learning curves, split by source (issue 19).

Every curve is one target measured along one scaling variable (data seen, tokens, fine-tuning
data, pre-training data, model size) with the others fixed, read from the public tables in
``../shared/data/`` (provenance in its README; nothing is copied into this repository). Each
curve has a training part (the smaller x) and a held-out part (the larger x): the task is
always to extrapolate.

Sources are the unit of leave-one-source-out cross-validation; families (a task, a model, a
data set within a source) are the unit of resampling for intervals. A source whose folder is
absent is skipped, never an error.

Split of a curve (fixed before anything is fitted; the same for every source but the two that
publish their own):

* Revisiting Neural Scaling Laws (4 domains) and BNSL: the split their authors published
  (``Training`` / ``used_for_fit``).
* every other curve: the points whose log x lies in the first ``TRAIN_SHARE`` of the curve's
  log range are fitted, the rest held out; at least ``MIN_TRAIN_LEVELS`` distinct x are
  fitted (the cut moves up if needed) and at least one is held out.

    .venv/bin/python benchmarks/corpus.py      # prints a summary of the corpus
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: share of a curve's log x range that is fitted (the rest is extrapolated to)
TRAIN_SHARE = 0.7
#: fewest distinct fitted x values of a curve (M4 and BNSL have 5 parameters)
MIN_TRAIN_LEVELS = 6
#: most points kept per curve (log-spaced subsample of densely logged training curves)
MAX_POINTS = 80
#: language-model checkpoints before this many tokens are warm-up, not scaling (ColPret's cut)
LM_MIN_TOKENS = 1e10


@dataclass(frozen=True)
class Curve:
    """One learning curve: ``y`` along ``x``, ``train`` marks the fitted points."""

    source: str
    family: str
    name: str
    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    metric: str  # "error_rate" or "loss"

    @property
    def key(self) -> str:
        return f"{self.source}|{self.name}"


def _thin(x: np.ndarray, y: np.ndarray, most: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Sort by x, average duplicates, and keep at most ``most`` points spread evenly in log x."""
    frame = pd.DataFrame({"x": x, "y": y}).groupby("x", as_index=False)["y"].mean().sort_values("x")
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    if len(x) > most:
        keep = np.unique(np.searchsorted(np.log(x), np.linspace(np.log(x[0]), np.log(x[-1]), most)))
        keep = np.minimum(keep, len(x) - 1)
        keep = np.unique(np.append(keep, len(x) - 1))
        x, y = x[keep], y[keep]
    return x, y


def _split(x: np.ndarray) -> np.ndarray | None:
    """Fitted part of a curve by the rule in the module docstring (None: too few levels)."""
    levels = np.unique(x)
    if len(levels) < MIN_TRAIN_LEVELS + 1:
        return None
    lx = np.log(levels)
    cut = lx[0] + TRAIN_SHARE * (lx[-1] - lx[0])
    k = max(int(np.sum(lx <= cut + 1e-12)), MIN_TRAIN_LEVELS)
    if k >= len(levels):
        return None
    return x <= levels[k - 1]


def _curve(source, family, name, x, y, metric, thin=True) -> Curve | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    if thin:
        x, y = _thin(x, y)
    train = _split(x)
    if train is None:
        return None
    return Curve(source, family, name, x, y, train, metric)


def revisiting() -> list[Curve]:
    folder = DATA / "revisiting_scaling_laws"
    files = [folder / "benchmark.vision.csv", folder / "benchmark.lang.csv"]
    if not all(f.exists() for f in files):
        return []
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True).drop_duplicates(ignore_index=True)
    out = []
    for (domain, task, model), g in df.groupby(["Domain", "Task", "Model"], sort=True):
        g = g.sort_values("Seen Examples")
        metric = "error_rate" if domain in ("IC", "BB") else "loss"
        out.append(
            Curve(
                f"revisiting_{domain}",
                str(task),
                f"{task} {model}",
                g["Seen Examples"].to_numpy(float),
                g["Loss"].to_numpy(float),
                g["Training"].to_numpy() == 1,
                metric,
            )
        )
    return out


def bnsl() -> list[Curve]:
    f = DATA / "bnsl" / "bnsl_4digit_addition_from_py.csv"
    if not f.exists():
        return []
    g = pd.read_csv(f).sort_values("x_dataset_size")
    x, y = g["x_dataset_size"].to_numpy(float), g["y_test_loss"].to_numpy(float)
    return [Curve("bnsl", "4digit", "4-digit addition", x, y, g["used_for_fit"].to_numpy() == 1, "loss")]


def colpret_opt() -> list[Curve]:
    f = DATA / "colpret" / "opt_trajectories.csv"
    if not f.exists():
        return []
    df = pd.read_csv(f)
    out = []
    for size, g in df.groupby("model_size", sort=True):
        x = 10.0 ** g["num_token"].to_numpy(float)
        keep = x >= LM_MIN_TOKENS
        c = _curve("colpret_opt", str(size), f"OPT-{size}", x[keep], np.log(g["ppl"].to_numpy(float))[keep], "loss")
        out += [c] if c else []
    return out


def colpret_t5() -> list[Curve]:
    f = DATA / "colpret" / "t5_pile.csv"
    if not f.exists():
        return []
    df = pd.read_csv(f, usecols=["model_name", "steps", "val_perplexity"])
    out = []
    for size, g in df.groupby("model_name", sort=True):
        x = g["steps"].to_numpy(float) * 1e6
        keep = x >= LM_MIN_TOKENS
        y = np.log(g["val_perplexity"].to_numpy(float))
        c = _curve("colpret_t5", str(size), f"Pile-T5-{size}", x[keep], y[keep], "loss")
        out += [c] if c else []
    return out


def colpret_olmo() -> list[Curve]:
    f = DATA / "colpret" / "olmo.csv"
    if not f.exists():
        return []
    df = pd.read_csv(f)
    losses = [c for c in df.columns if c.endswith("CrossEntropyLoss")]
    out = []
    for model, g in df.groupby("model_name", sort=True):
        x = g["Step"].to_numpy(float) * 4e6
        for col in losses:
            y = g[col].to_numpy(float)
            keep = (x >= LM_MIN_TOKENS) & np.isfinite(y)
            if keep.sum() < 20:
                continue
            c = _curve("colpret_olmo", str(model), f"{model} {col}", x[keep], y[keep], "loss")
            out += [c] if c else []
    return out


def datablations() -> list[Curve]:
    f = DATA / "datablations" / "datablations_contour_losses.csv"
    if not f.exists():
        return []
    df = pd.read_csv(f)
    out = []
    for (n, u), g in df.groupby(["num_params", "tokens_per_epoch"], sort=True):
        c = _curve("datablations", f"{n:.3g}", f"N={n:.3g} U={u:.3g}", g["token_num"], g["openLM_loss"], "loss")
        out += [c] if c else []
    return out


def mikami() -> list[Curve]:
    """Error (1 - accuracy/mIoU/AP at the last evaluation) along fine-tuning data (``fratio``)
    and along synthetic pre-training data (``pretrain.data`` > 0), every other column fixed."""
    folder = DATA / "mikami_cg_transfer"
    files = [folder / "results_finetune.csv", folder / "results_pretrain.csv"]
    if not all(f.exists() for f in files):
        return []
    keys = ["pretrain.data", "pscale", "ptask", "fdata", "fratio", "ftask", "model", "pdata"]
    out = []
    for f in files:
        df = pd.read_csv(f)
        last = df.sort_values("n_eval").groupby(keys, dropna=False).tail(1)
        last = last.assign(error=1.0 - last["value"].astype(float))
        for along in ("fratio", "pretrain.data"):
            rest = [k for k in keys if k != along]
            part = last[last["pretrain.data"] > 0] if along == "pretrain.data" else last
            for vals, g in part.groupby(rest, sort=True, dropna=False):
                label = " ".join(f"{k}={v}" for k, v in zip(rest, vals, strict=True))
                family = f"{g['ftask'].iloc[0]}/{g['fdata'].iloc[0]}"
                c = _curve("mikami", family, f"{f.stem} along {along}: {label}", g[along], g["error"], "error_rate")
                out += [c] if c else []
    return out


def chinchilla() -> list[Curve]:
    """Loss along tokens D = C / (6 N) for each model size (points of Hoffmann et al.'s Fig. 4
    that share a size, read off the figure)."""
    f = DATA / "chinchilla_epoch" / "svg_extracted_data.csv"
    if not f.exists():
        return []
    df = pd.read_csv(f)
    df = df.assign(N=df["Model Size"].round(-6), D=df["Training FLOP"] / (6.0 * df["Model Size"]))
    out = []
    for n, g in df.groupby("N", sort=True):
        c = _curve("chinchilla", f"{n:.3g}", f"N={n:.3g}", g["D"], g["loss"], "loss")
        out += [c] if c else []
    return out


READERS = (revisiting, colpret_opt, colpret_t5, colpret_olmo, datablations, mikami, chinchilla, bnsl)


def load_corpus() -> list[Curve]:
    """Every curve of every source present (sources whose files are absent are skipped)."""
    return [c for read in READERS for c in read()]


def as_table(curves: list[Curve], part: str = "train") -> pd.DataFrame:
    """Long table (curve, x, y) of the fitted (``part="train"``) or held-out (``"test"``) points."""
    rows = []
    for c in curves:
        m = c.train if part == "train" else ~c.train
        rows.append(pd.DataFrame({"curve": c.key, "x": c.x[m], "y": c.y[m]}))
    return pd.concat(rows, ignore_index=True)


if __name__ == "__main__":
    corpus = load_corpus()
    summary = pd.DataFrame(
        {
            "source": [c.source for c in corpus],
            "family": [c.family for c in corpus],
            "train": [int(c.train.sum()) for c in corpus],
            "test": [int((~c.train).sum()) for c in corpus],
            "decades_out": [float(np.log10(c.x.max() / c.x[c.train].max())) for c in corpus],
        }
    )
    print(
        summary.groupby("source").agg(
            curves=("train", "size"),
            families=("family", "nunique"),
            train_pts=("train", "median"),
            test_pts=("test", "median"),
            decades_out=("decades_out", "median"),
        )
    )
    print(f"{len(corpus)} curves")
