"""Training throughput: the per-run timm loop vs the stacked trainer, per model width, in one process.

    python benchmarks/bench_collect.py [--heads 2 4 6 8] [--depth 12] [--runs 8] [--steps 20]
                                       [--configs 16x32 128x64] [--device auto] [--usual]

For every width (``heads`` x 64, depth 12 by default: the paper's DeiTs) and every
``BATCHxSIZE`` config (batch 16 / 32 px / patch 4, CIFAR-style; batch 128 / 64 px / patch 8
by default), ``--runs`` runs of ``--steps`` optimizer steps each on random uint8 images
(resident on the device, random-crop augmentation), timed after a warm-up, in one process:

* per-run: :func:`scalefit.collect.train.train` on each run in turn — one timm
  ``VisionTransformer`` at a time (the reference trainer; data already on the device, so
  this is the *naive timm loop* without any loader overhead);
* stacked: :func:`scalefit.collect.stacked.train_bucket` on all runs at once.

Prints images/s (all runs together) for both and the ratio; ``--usual`` adds the research-script
baseline (torch ``DataLoader`` + torchvision transforms, one run). With CUDA it also prints
the stacked trainer's MFU against the device's measured bf16 matmul peak (use
``--precision bf16``; ``--compile`` compiles the stacked forward). On a CPU, reduce
``--depth``/``--steps``/``--runs`` so it ends in minutes.
"""

import argparse
import math
import time

import numpy as np
import torch

from scalefit.collect.models import ModelSpec, build_model, train_flops_per_image
from scalefit.collect.stacked import Run, train_bucket
from scalefit.collect.train import HParams, param_groups, pick_device, train


def usual_epoch(model, images, labels, hp, device, workers):
    """One epoch the way research scripts train: PIL images, torchvision transforms, a DataLoader."""
    from PIL import Image
    from torchvision import transforms

    tf = transforms.Compose([
        transforms.RandomCrop(images.shape[-1], padding=hp.crop_padding),
        transforms.ToTensor(),
        transforms.Normalize([0.5] * images.shape[1], [0.5] * images.shape[1]),
    ])  # fmt: skip

    class Set(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            img = images[i]
            pil = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
            return tf(pil), int(labels[i])

    loader = torch.utils.data.DataLoader(
        Set(), batch_size=hp.batch_size, shuffle=True, num_workers=workers, pin_memory=device.startswith("cuda")
    )
    opt = torch.optim.AdamW(param_groups(model, hp.weight_decay), lr=hp.lr)
    total = math.ceil(len(labels) / hp.batch_size)
    model.train()
    for step, (x, y) in enumerate(loader):
        for g in opt.param_groups:
            g["lr"] = hp.lr_at(step, total)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def bf16_peak(device) -> float:
    """Measured dense bf16 matmul FLOP/s (8192^3, best of a few)."""
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    best = min(timed(lambda: [a @ b for _ in range(10)], device) for _ in range(3))
    return 10 * 2 * 8192**3 / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--runs", type=int, default=8, help="runs trained per width (stacked together)")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per run")
    parser.add_argument(
        "--configs", nargs="+", default=["16x32", "128x64"], help="BATCHxSIZE; patch 4 at 32 px, 8 above"
    )
    parser.add_argument("--patch", type=int, default=0, help="patch size (0: 4 at <= 32 px, else 8)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--compile", action="store_true", help="compile the stacked forward (GPU)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--usual", action="store_true", help="add the DataLoader + torchvision baseline")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cuda = device.startswith("cuda")
    peak = bf16_peak(device) if cuda else None
    where = torch.cuda.get_device_name() if cuda else f"cpu, {torch.get_num_threads()} torch threads"
    print(
        f"device {device} ({where}); depth {args.depth}, head dim {args.head_dim}, {args.runs} runs x "
        f"{args.steps} steps per width, {args.precision}{', compiled' if args.compile else ''}"
        + (f"; measured bf16 matmul peak {peak / 1e12:.0f} TFLOP/s" if peak else "")
    )
    header = (
        f"{'batch':>5} {'px':>4} {'heads':>5} {'params':>8} {'per-run img/s':>14} {'stacked img/s':>14} {'ratio':>6}"
    )
    header += f" {'usual img/s':>12}" if args.usual else ""
    header += f" {'MFU':>6}" if cuda else ""
    print(header)
    rng = np.random.default_rng(0)
    for config in args.configs:
        batch, size = (int(v) for v in config.split("x"))
        patch = args.patch or (4 if size <= 32 else 8)
        n = batch * args.steps  # one epoch of `steps` full batches per run
        hp = HParams(epochs=1, batch_size=batch, warmup_epochs=0.1, augment="crop", precision=args.precision)
        images = torch.from_numpy(rng.integers(0, 256, (n, args.channels, size, size), dtype=np.uint8)).to(device)
        labels = torch.from_numpy(rng.integers(0, args.classes, n)).to(device)
        warm_hp = HParams(**{**hp.to_dict(), "warmup_epochs": 0.0})
        for heads in args.heads:
            spec = ModelSpec(heads=heads, depth=args.depth, head_dim=args.head_dim, patch=patch)
            models = []
            for r in range(args.runs):
                torch.manual_seed(r)
                models.append(build_model(spec, size, args.channels, args.classes).to(device))
            warm = images[:batch], labels[:batch]

            def per_run(models=models, images=images, labels=labels, hp=hp):
                for r, m in enumerate(models):
                    train(m, images, labels, hp, seed=r)

            def stacked(models=models, images=images, labels=labels, hp=hp):
                runs = [Run(m, images, labels, hp, seed=r) for r, m in enumerate(models)]
                out = train_bucket(runs, compile=args.compile)
                assert all(isinstance(o, dict) for o in out), out

            train(models[0], *warm, warm_hp, seed=0)  # warm-up: allocator, kernels, compilation
            train_bucket([Run(m, *warm, warm_hp, seed=r) for r, m in enumerate(models)], compile=args.compile)
            t_per, t_stack = timed(per_run, device), timed(stacked, device)
            images_done = args.runs * n
            line = (
                f"{batch:>5} {size:>4} {heads:>5} {sum(p.numel() for p in models[0].parameters()) / 1e6:>7.3g}M "
                f"{images_done / t_per:>14.0f} {images_done / t_stack:>14.0f} {t_per / t_stack:>5.2f}x"
            )
            if args.usual:
                host = (models[0], images.cpu().numpy(), labels.cpu().numpy(), hp, device, args.workers)
                t_usual = timed(lambda host=host: usual_epoch(*host), device)
                line += f" {n / t_usual:>12.0f}"
            if cuda:
                flops = train_flops_per_image(spec, size, args.channels, args.classes)
                line += f" {flops * images_done / t_stack / peak:>6.1%}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
