"""How much the seeded noise draw moves a denoising table's mean.

The denoising protocol feeds each test image GT + sigma N(0, I), one fixed draw per image from
numpy's PCG64 seeded by ``(seed, "gaussian-noise", file name)`` (``irsde.data.seeding``; the
registry's test sets use seed 0). This script draws the noise with several seeds, restores the
same images with a released checkpoint (its method and options, as ``irsde restore --checkpoint``
does) and prints the PSNR mean (``irsde-denoise``: RGB, rounded uint8, no crop) per seed and the
spread between seeds: the part of a gap to a published number that is the draw alone.

    python benchmarks/noise_draw.py --gt data/CBSD68/test/GT --checkpoint ffdnet-color dncnn-color-blind \\
        [--resources resources] [--seeds 0 1 2] [--sigma 25] [--limit N] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
import torch

from irsde.checkpoints import CHECKPOINTS
from irsde.data.degradations import gaussian_noise
from irsde.data.seeding import derive_rng
from irsde.images import list_images, read_uint8, to_uint8
from irsde.methods import METHODS, fetch_weights
from irsde.metrics import get_protocol, psnr
from irsde.nets import load_state, read_state_dict


def restorer(name: str, resources: str | None, sigma: float):
    """(method, network) of released checkpoint ``name``, told the noise level if it takes one."""
    checkpoint = CHECKPOINTS[name]
    path = fetch_weights(checkpoint, resources, offline=True)
    state = read_state_dict(path)
    method_cls = METHODS[checkpoint.method]
    options = dict(checkpoint.options)
    if "noise_sigma" in method_cls.options_schema:
        options["noise_sigma"] = sigma
    method = method_cls.from_weights(state, method_cls.resolve_options(options, name), None)
    return method, load_state(method.build_net(), state, path).eval()


def mean_psnr(method, net, images: list, seed: int, sigma: float) -> float:
    protocol = get_protocol("irsde-denoise")
    scores = []
    for path in images:
        gt = read_uint8(path)
        noisy, _ = gaussian_noise(gt.astype(np.float32) / 255.0, derive_rng(seed, "gaussian-noise", path.name), sigma)
        with torch.inference_mode():
            output = method.restore(net, torch.from_numpy(noisy).permute(2, 0, 1)[None], torch.Generator())
        scores.append(psnr(to_uint8(output[0]), gt, protocol.crop_border, protocol.y_channel))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", required=True, help="folder of clean test images (a prepared split's GT/)")
    parser.add_argument("--checkpoint", nargs="+", required=True, help="released checkpoints (`irsde weights list`)")
    parser.add_argument("--resources", help="folder holding weights/ (default $IRSDE_RESOURCES or ./resources)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = list_images(args.gt)[: args.limit]
    print(f"{len(images)} images of {args.gt}, sigma {args.sigma:g}; PSNR mean (dB) per noise seed")
    for name in args.checkpoint:
        method, net = restorer(name, args.resources, args.sigma)
        means = [mean_psnr(method, net, images, seed, args.sigma) for seed in args.seeds]
        cells = "  ".join(f"seed {seed}: {value:.3f}" for seed, value in zip(args.seeds, means))
        spread = statistics.stdev(means) if len(means) > 1 else float("nan")
        print(f"{name:20} {cells}  range {max(means) - min(means):.3f}  sd {spread:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
