"""Training throughput of scalefit.collect's trainer vs the usual timm + DataLoader loop.

    python benchmarks/bench_collect.py [--preset fmnist-mnist] [--images 4096] [--device auto]

For every model size of a grid preset, one epoch over the same random uint8 images with
the same model, optimiser, schedule and augmentation (random translation by 2 px), timed
after a warm-up epoch, in one process:

* usual: a torch ``Dataset`` yielding PIL images through torchvision transforms
  (``RandomCrop(padding)``, ``ToTensor``, ``Normalize``), a ``DataLoader`` (``--workers``),
  timm's model, AdamW, a per-step schedule — what research scripts do;
* scalefit: :func:`scalefit.collect.train.train` — the data set held on the device as uint8,
  augmentation on the device, no loader.

Prints images/s for both and the ratio. On a GPU (``--device cuda``) it also reports the
paper-size models with ``--preset paper``.
"""

import argparse
import math
import time

import numpy as np
import torch

from scalefit.collect import preset
from scalefit.collect.models import build_model
from scalefit.collect.train import HParams, param_groups, pick_device, to_device, train


def usual_epoch(model, images, labels, hp, device, workers):
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
        Set(),
        batch_size=hp.batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=False,
        pin_memory=device.startswith("cuda"),
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
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fmnist-mnist")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    grid = preset(args.preset)
    device = pick_device(args.device)
    data = grid.upstream
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, data.channels, data.size, data.size), dtype=np.uint8)
    labels = rng.integers(0, data.num_classes or 10, args.images)
    hp = HParams(**{**grid.pretrain.to_dict(), "epochs": 1, "augment": "crop", "crop_padding": 2})
    dev_images, dev_labels = to_device(images, labels, device)
    print(
        f"{args.preset}: {args.images} images {data.channels}x{data.size}x{data.size}, batch {hp.batch_size}, "
        f"device {device}, torch threads {torch.get_num_threads()}, loader workers {args.workers}"
    )
    print(f"{'heads':>5} {'params':>9} {'usual img/s':>12} {'scalefit img/s':>15} {'ratio':>6}")
    for heads in grid.heads:
        spec = grid.spec(heads)
        model = build_model(spec, data.size, data.channels, data.num_classes or 10).to(device)

        def ours(model=model):
            train(model, dev_images, dev_labels, hp, seed=0)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        def usual(model=model):
            usual_epoch(model, images, labels, hp, device, args.workers)

        ours(), usual()  # warm-up (allocator, kernels, worker start-up paths)
        t_usual, t_ours = timed(usual), timed(ours)
        params = sum(p.numel() for p in model.parameters())
        print(
            f"{heads:>5} {params / 1e6:>8.3g}M {args.images / t_usual:>12.0f} {args.images / t_ours:>15.0f} "
            f"{t_usual / t_ours:>5.2f}x"
        )


if __name__ == "__main__":
    main()
