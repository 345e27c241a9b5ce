"""``irsde restore``: restore a test set with a trained run or with the authors' published weights.

  irsde restore --run RUN_DIR --dataset D [--root DIR] [--split test] --out DIR
                [--sampler S] [--steps K] [--seed S] [--batch-size N] [--tile N --tile-overlap M]
                [--device auto|cpu|cuda] [--limit N]
  irsde restore --weights W [--key ENTRY] [--nf F --depth K]
                [--T 100 --max-sigma 10 --schedule cosine --eps 0.005] ... (same options)

``--run`` is a training run folder (the ``output_dir`` of ``irsde train``, or a pipeline run
``runs/<config>/<benchmark>/<method>``): the method is rebuilt from the run's saved config and
restores with the run's final EMA weights; the SDE and the network come from that config, so no
SDE or network option is accepted with it. ``--sampler`` and ``--steps K`` (network evaluations
per image, 1..T) pick another sampler for a method that samples (default: the run's,
``train.val_sampler`` / ``train.val_steps``); the fast samplers are made for few steps, e.g.
``--sampler fast-sde --steps 10``.

``--weights`` is for the authors' published IR-SDE checkpoints (or a run's ``training_state.pt``,
whose EMA weights are used): nf/depth are read off the file (unless given) and the SDE options
default to the paper's setting (cosine, T=100, max_sigma=10, eps=0.005); the output is recorded
as method ``published``. A file with the authors' Denoising-SDE layout (unconditional network)
restores as Denoising-ODE (``--sampler ode``, their test script's; ``sde``: Denoising-SDE) from
the step of ``--noise-sigma`` (default 25), with their SDE (max_sigma 70, eps 0.04 by default).

``--dataset`` is a prepared split folder (holding GT/ and LQ/) or a dataset name resolved as
``<root>/<name>/<split>``. Output: ``<out>/png/`` (one PNG per test image, nothing else),
``<out>/float/`` (unclamped float outputs, for LPIPS-on-float protocols) and
``<out>/restore.json`` (provenance). Published checkpoint example (deraining, nf=64)::

  irsde restore --weights rain100h_sde.pth --dataset Rain100H --root data --seed 0 \\
      --out runs/published/rain100h
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irsde.cli.arguments import positive_int

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # irsde.devices.DEVICE_CHOICES (not imported: torch)

# The paper's SDE, used with --weights when an option is not given.
PAPER_SDE = {"schedule": "cosine", "T": 100, "max_sigma": 10.0, "eps": 0.005}
# The authors' Denoising-SDE/ODE setting, used with --weights of an unconditional network.
DENOISING_SDE = {**PAPER_SDE, "max_sigma": 70.0, "eps": 0.04}
DENOISING_NOISE_SIGMA = 25.0
WEIGHTS_ONLY_OPTIONS = ("key", "nf", "depth", "schedule", "T", "max_sigma", "eps", "noise_sigma")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="training run folder: restore with its method and final EMA weights")
    source.add_argument("--weights", help="published IR-SDE weight file (.pth state_dict, plain or wrapped; "
                                          "or a run's training_state.pt: its EMA weights)")
    parser.add_argument("--dataset", required=True, help="prepared split folder (with GT/ and LQ/) or dataset name")
    parser.add_argument("--root", default="data", help="root of prepared datasets, for a dataset name (default: data)")
    parser.add_argument("--split", default="test", help="split of a named dataset (default: test)")
    parser.add_argument("--out", required=True, help="output folder (png/, float/, restore.json)")
    parser.add_argument("--sampler", help="sde (the paper's), ode, posterior, fast-sde, fast-ode "
                                          "(default: the run's; sde with --weights)")
    parser.add_argument("--steps", type=positive_int,
                        help="network evaluations per image, 1..T (default: the run's; T with --weights); e.g. 10 with fast-sde")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling noise (default 0)")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="images (or tiles) per network call (default 1)")
    parser.add_argument("--tile", type=positive_int, help="restore in tiles of this size (for images too large for memory)")
    parser.add_argument("--tile-overlap", type=int, default=32, help="pixels shared by neighbouring tiles (default 32)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, help="auto (default: cuda when available), cpu or cuda")
    parser.add_argument("--limit", type=positive_int, help="restore only the first N images by name")
    published = parser.add_argument_group("--weights only (a run brings its own network and SDE)")
    published.add_argument("--key", help="entry of the checkpoint dict holding the weights (default: detected, EMA first)")
    published.add_argument("--nf", type=positive_int, help="network width (default: read from the weights)")
    published.add_argument("--depth", type=positive_int, help="network depth (default: read from the weights)")
    published.add_argument("--T", type=positive_int, help="SDE steps (default 100)")
    published.add_argument("--max-sigma", type=float, help="stationary std, 0-255 scale if >= 1 (default 10)")
    published.add_argument("--schedule", help="theta schedule: cosine, linear, constant (default cosine)")
    published.add_argument("--eps", type=float, help="exp(-thetabar_T dt) (default 0.005; 0.04 for Denoising-SDE weights)")
    published.add_argument("--noise-sigma", type=float,
                           help="Denoising-SDE weights: noise level of the inputs, 0-255 scale if >= 1 (default 25)")


def run(args: argparse.Namespace) -> int:
    from irsde.devices import resolve_device
    from irsde.restoration import restore_split

    split_dir, dataset = resolve_split_dir(args.dataset, args.root, args.split)
    device = resolve_device(args.device)
    method, net, source = from_run(args, device) if args.run else from_published_weights(args, device)
    log.info("restoring %s with %s (%s %s, seed %d) on %s",
             split_dir, source["weights"], method.id, method.settings(), args.seed, device)
    restored = restore_split(method, net, split_dir, args.out, args.seed, args.batch_size, args.tile,
                             args.tile_overlap, args.limit, {"dataset": dataset, **source})
    count = len(restored.manifest()["images"])
    print(f"restored {count} images into {restored.png_dir} (float outputs in {restored.float_dir})")
    return 0


def from_run(args: argparse.Namespace, device):
    """(method, network, provenance) of a finished training run."""
    from irsde.train.checkpoint import FinishedRun

    given = [f"--{name.replace('_', '-')}" for name in WEIGHTS_ONLY_OPTIONS if getattr(args, name) is not None]
    if given:
        raise ValueError(
            f"{', '.join(given)}: with --run the network and SDE come from the run's config.yaml; "
            "these options are for --weights (published checkpoints) only"
        )
    finished = FinishedRun.open(args.run)
    method = finished.method()
    if args.sampler or args.steps:
        method = method.with_sampler(args.sampler, args.steps)
    net = finished.network(method, device)
    source = {"run": str(finished.layout.root.resolve()), "weights": str(finished.weights.resolve()),
              "network": dict(finished.config["network"])}
    return method, net, source


def from_published_weights(args: argparse.Namespace, device):
    """(method, network, provenance) of a published IR-SDE checkpoint and the SDE options."""
    from irsde.methods.denoising_sde import DenoisingSDEMethod
    from irsde.methods.ir_sde import PUBLISHED_WEIGHTS, IRSDEMethod
    from irsde.nets import ArchitectureTooLarge, ConditionalUNet, infer_architecture, load_weights, read_state_dict
    from irsde.sde import MeanRevertingSDE

    architecture = infer_architecture(read_state_dict(args.weights, args.key), args.weights)
    overrides = {name: getattr(args, name) for name in ("nf", "depth") if getattr(args, name) is not None}
    architecture.update(overrides)
    if not architecture["time_conditioned"]:
        raise ValueError(
            f"{args.weights} has no time input: it is a CNN baseline's, not IR-SDE weights; "
            "restore its training run with --run RUN_DIR"
        )
    denoising = not architecture["conditional"]
    defaults = DENOISING_SDE if denoising else PAPER_SDE
    sde = MeanRevertingSDE(**{name: getattr(args, name) if getattr(args, name) is not None else default
                              for name, default in defaults.items()})
    network = {name: value for name, value in architecture.items()
               if name not in ("time_conditioned", "conditional", "mid_attention")}
    if denoising:
        sigma = DENOISING_NOISE_SIGMA if args.noise_sigma is None else args.noise_sigma
        method = DenoisingSDEMethod(network, sde, sigma, sampler=args.sampler or "ode").with_sampler(steps=args.steps)
    elif args.noise_sigma is not None:
        raise ValueError(f"--noise-sigma: {args.weights} is an IR-SDE network (conditional); only Denoising-SDE weights take it")
    else:
        method = IRSDEMethod(network, sde, sampler=args.sampler or "sde", steps=args.steps)
    try:
        net = ConditionalUNet(**architecture)
    except ArchitectureTooLarge as error:
        given = f"--{error.parameter}" if error.parameter in overrides else f"the network of {args.weights}"
        raise ValueError(f"{given}: {error}") from None
    net = load_weights(net, args.weights, args.key).eval().to(device)
    # IR-SDE restores; its results are the published-weights rows of the tables.
    source = {"weights": str(Path(args.weights).resolve()), "network": architecture,
              **({} if denoising else {"method": PUBLISHED_WEIGHTS.id})}
    return method, net, source


def resolve_split_dir(dataset: str, root: str, split: str) -> tuple[Path, str]:
    """(split folder, dataset label) for a split folder path or a dataset name under ``root``."""
    direct = Path(dataset)
    if (direct / "LQ").is_dir():
        return direct, direct.parent.name or direct.name
    from irsde.data import ALL_DATASETS

    if direct.name == dataset and dataset.casefold() in {name.casefold() for name in ALL_DATASETS}:
        dataset = ALL_DATASETS.canonical(dataset)  # a dataset name, whatever its case
    named = Path(root) / dataset / split
    if (named / "LQ").is_dir():
        return named, dataset
    raise FileNotFoundError(
        f"no prepared split at {direct} or {named} (expected GT/ and LQ/ folders); "
        f"prepare it first, e.g. `irsde data prepare {dataset} --root {root}`"
    )
