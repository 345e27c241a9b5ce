"""Per-image cost of the released comparison models against their FLOP count.

For PReNet (6 stages), DnCNN (colour blind, 20 convolutions) and FFDNet (colour), built with the
released architectures, counts the floating-point operations of one forward pass on an image
of each size (``torch.utils.flop_counter``: 2 per multiply-add) and times the forward pass under
``torch.inference_mode`` in the default (NCHW) and the channels-last memory layout, which
``irsde.methods.released`` uses. Prints seconds per image, GFLOP and the achieved GFLOP/s; the
released-weights pipeline (``config/released.yaml``) restores 100 Rain100H images of 481x321
with PReNet and 68 + 24 + 18 denoising images with DnCNN and FFDNet.

    python benchmarks/released_models.py [--threads 2] [--repeats 3] [--sizes 481x321 500x500] [--json out.json]

Wall-clock medians after a warm-up: run it on an otherwise idle machine and say how loaded it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from irsde.nets.dncnn import DnCNN
from irsde.nets.ffdnet import FFDNet
from irsde.nets.prenet import PReNet
from timing import median_seconds

MODELS = {
    "PReNet (6 stages)": (lambda: PReNet(stages=6), lambda net, x: net(x)),
    "DnCNN (colour blind)": (lambda: DnCNN(), lambda net, x: net(x)),
    "FFDNet (colour)": (lambda: FFDNet(), lambda net, x: net(x, 25 / 255)),
}


def image_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def flops(net, call, image) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        call(net, image)
    return counter.get_total_flops()


def measure(name: str, size: tuple[int, int], repeats: int) -> dict:
    build, call = MODELS[name]
    width, height = size
    net = build().eval()
    image = torch.rand(1, 3, height, width)
    row = {"model": name, "image": f"{width}x{height}", "gflop": flops(net, call, image) / 1e9}
    for layout, memory_format in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        laid_out, x = net.to(memory_format=memory_format), image.contiguous(memory_format=memory_format)
        with torch.inference_mode():
            row[f"seconds_{layout}"] = median_seconds(lambda: call(laid_out, x), repeats)
    row["gflop_per_s"] = row["gflop"] / row["seconds_channels_last"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", type=image_size, default=[(481, 321), (500, 500)])
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'model':22} {'image':>8} {'GFLOP':>7} {'s NCHW':>8} {'s ch-last':>9} {'GFLOP/s':>8}")
    rows = []
    for name in MODELS:
        for size in args.sizes:
            row = measure(name, size, args.repeats)
            rows.append(row)
            print(f"{row['model']:22} {row['image']:>8} {row['gflop']:7.1f} {row['seconds_nchw']:8.2f} "
                  f"{row['seconds_channels_last']:9.2f} {row['gflop_per_s']:8.1f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
