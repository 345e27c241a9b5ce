"""``irsde restore``: restore a test set with trained or published weights.

  irsde restore --weights W --dataset D [--root DIR] [--split test] --out DIR
                [--sampler sde|ode|posterior|fast-sde|fast-ode|one-step] [--steps K]
                [--seed S] [--batch-size N]
                [--tile N --tile-overlap M] [--nf F --depth K] [--key ENTRY]
                [--T 100 --max-sigma 10 --schedule cosine --eps 0.005]
                [--method LABEL] [--device cpu|cuda] [--limit N]

``--dataset`` is a prepared split folder (holding GT/ and LQ/) or a dataset name resolved as
``<root>/<name>/<split>``. The network's nf/depth are read off the weight file unless given.
Weights without a time input are the CNN baseline's: restore them with ``--sampler one-step``.
``--steps K`` runs the sampler with K network evaluations per image instead of T (the fast
samplers are made for that: ``--sampler fast-sde --steps 10``).
The SDE options default to the paper's setting (cosine, T=100, max_sigma=10, eps=0.005).

Output: ``<out>/png/`` (one PNG per test image, nothing else), ``<out>/float/`` (unclamped
float outputs, for LPIPS-on-float protocols) and ``<out>/restore.json`` (provenance).
Published checkpoint example (deraining, nf=64)::

  irsde restore --weights ir-sde-derain.pth --dataset rain100h --root data --sampler sde \\
      --seed 0 --out runs/published/rain100h --method "IR-SDE (published weights)"
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irsde.cli.arguments import positive_int

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # irsde.devices.DEVICE_CHOICES (not imported: torch)
ONE_STEP = "one-step"
# The CNN baseline's restoration, imported by path (the library does not depend on baselines/).
ONE_STEP_FUNCTION = ("baselines.cnn", "regress")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True,
                        help="network weight file: a .pth state_dict, or a run's training_state.pt (EMA weights)")
    parser.add_argument("--key", help="entry of the checkpoint dict holding the weights (default: detected, EMA first)")
    parser.add_argument("--dataset", required=True, help="prepared split folder (with GT/ and LQ/) or dataset name")
    parser.add_argument("--root", default="data", help="root of prepared datasets, for a dataset name (default: data)")
    parser.add_argument("--split", default="test", help="split of a named dataset (default: test)")
    parser.add_argument("--out", required=True, help="output folder (png/, float/, restore.json)")
    parser.add_argument("--sampler", default="sde",
                        help=f"sde (the paper's), ode, posterior, fast-sde, fast-ode, or {ONE_STEP} (CNN baseline)")
    parser.add_argument("--steps", type=int,
                        help="network evaluations per image, 1..T (default: T, every step); e.g. 10 with fast-sde")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling noise (default 0)")
    parser.add_argument("--batch-size", type=positive_int, default=1,
                        help="images (or tiles) per network call (default 1)")
    parser.add_argument("--tile", type=positive_int,
                        help="restore in tiles of this size (for images too large for memory)")
    parser.add_argument("--tile-overlap", type=int, default=32, help="pixels shared by neighbouring tiles (default 32)")
    parser.add_argument("--nf", type=positive_int, help="network width (default: read from the weights)")
    parser.add_argument("--depth", type=positive_int, help="network depth (default: read from the weights)")
    parser.add_argument("--T", type=positive_int, default=100, help="SDE steps (default 100)")
    parser.add_argument("--max-sigma", type=float, default=10.0, help="stationary std, 0-255 scale if >= 1 (default 10)")
    parser.add_argument("--schedule", default="cosine", help="theta schedule: cosine, linear, constant (default cosine)")
    parser.add_argument("--eps", type=float, default=0.005, help="exp(-thetabar_T dt) (default 0.005)")
    parser.add_argument("--method", help="method label recorded for `irsde evaluate`, e.g. 'IR-SDE (published weights)'")
    parser.add_argument("--device", choices=DEVICE_CHOICES, help="auto (default: cuda when available), cpu or cuda")
    parser.add_argument("--limit", type=positive_int, help="restore only the first N images by name")


def run(args: argparse.Namespace) -> int:
    import torch

    from irsde.data.loaders import paired_files
    from irsde.devices import resolve_device
    from irsde.evaluation import restore_folder, sde_settings
    from irsde.sde import MeanRevertingSDE

    split_dir, dataset = resolve_split_dir(args.dataset, args.root, args.split)
    device = resolve_device(args.device)
    net, architecture = load_network(args.weights, args.key, args.nf, args.depth)
    net = net.eval().to(device)
    sde = MeanRevertingSDE(args.schedule, args.T, args.max_sigma, args.eps)
    restorer = build_restorer(net, sde, args.sampler, architecture["time_conditioned"], args.steps)
    lq_paths = [lq for _, lq in paired_files(split_dir)][: args.limit]
    metadata = {
        "method": args.method,
        "dataset": dataset,
        "split_dir": str(split_dir.resolve()),
        "gt_dir": str((split_dir / "GT").resolve()),
        "weights": str(Path(args.weights).resolve()),
        "network": architecture,
        "sampler": args.sampler,
        "nfe": restorer.nfe,
        "sde": None if args.sampler == ONE_STEP else sde_settings(sde),
        "limit": args.limit,
    }
    log.info("restoring %d images of %s with %s (%s sampler, %d NFE, seed %d) on %s",
             len(lq_paths), split_dir, args.weights, args.sampler, restorer.nfe, args.seed, device)
    restored = restore_folder(restorer, lq_paths, args.out, args.seed, args.batch_size, args.tile,
                              args.tile_overlap, device, metadata)
    print(f"restored {len(lq_paths)} images into {restored.png_dir} (float outputs in {restored.float_dir})")
    return 0


def resolve_split_dir(dataset: str, root: str, split: str) -> tuple[Path, str]:
    """(split folder, dataset label) for a split folder path or a dataset name under ``root``."""
    direct = Path(dataset)
    if (direct / "LQ").is_dir():
        return direct, direct.parent.name or direct.name
    named = Path(root) / dataset / split
    if (named / "LQ").is_dir():
        return named, dataset
    raise FileNotFoundError(
        f"no prepared split at {direct} or {named} (expected GT/ and LQ/ folders); "
        f"prepare it first, e.g. `irsde data prepare {dataset} --root {root}`"
    )


def load_network(weights: str, key: str | None, nf: int | None, depth: int | None):
    """Build the U-Net the weight file was trained with (nf/depth overridable) and load it strictly."""
    from irsde.nets import ArchitectureTooLarge, ConditionalUNet, infer_architecture, load_weights, read_state_dict

    architecture = infer_architecture(read_state_dict(weights, key), weights)
    overrides = {name: value for name, value in (("nf", nf), ("depth", depth)) if value is not None}
    architecture.update(overrides)
    try:
        net = ConditionalUNet(**architecture)
    except ArchitectureTooLarge as error:
        given = f"--{error.parameter}" if error.parameter in overrides else f"the network of {weights}"
        raise ValueError(f"{given}: {error}") from None
    return load_weights(net, weights, key), architecture


def build_restorer(net, sde, sampler: str, time_conditioned: bool, steps: int | None = None):
    """The restorer for ``sampler``: an IR-SDE sampler with ``steps`` network evaluations per
    image (None: T), or the CNN baseline's one-step regression."""
    if sampler == ONE_STEP:
        if time_conditioned:
            raise ValueError(f"--sampler {ONE_STEP} is for CNN-baseline weights (no time input); these are IR-SDE weights")
        if steps not in (None, 1):
            raise ValueError(f"--sampler {ONE_STEP} evaluates the network once per image; --steps {steps} does not apply")
        return OneStepRestorer(net)
    from irsde.evaluation import SDERestorer
    from irsde.samplers import get_sampler
    from irsde.sampling_steps import validate_step_count

    get_sampler(sampler)  # an unknown name is a ValueError listing the valid ones
    if steps is not None:
        validate_step_count(steps, sde.T)
    if not time_conditioned:
        raise ValueError(f"these weights have no time input (a CNN baseline): restore them with --sampler {ONE_STEP}")
    return SDERestorer(net, sde, sampler, steps)


class OneStepRestorer:
    """The CNN baseline's restoration (``baselines.cnn.regress``); no noise, generator unused."""

    nfe = 1

    def __init__(self, net):
        import importlib

        module, name = ONE_STEP_FUNCTION
        self.regress = getattr(importlib.import_module(module), name)
        self.net = net

    def __call__(self, lq, generator):
        import torch

        with torch.no_grad():
            return self.regress(self.net, lq)
