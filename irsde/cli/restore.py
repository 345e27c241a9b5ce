"""``irsde restore``: restore a test set with a trained run, a released checkpoint or a weight file.

  irsde restore --run RUN_DIR --dataset D [--root DIR] [--split test] --out DIR
                [--sampler S] [--steps K] [--seed S] [--batch-size N] [--tile N --tile-overlap M]
                [--device auto|cpu|cuda] [--limit N]
  irsde restore --checkpoint NAME [--resources DIR] [--offline] [--mirror URL] [--option KEY=VALUE ...]
                [--T 100 --max-sigma 10 --schedule cosine --eps 0.005] ... (same options)
  irsde restore --weights W [--method ID] [--key ENTRY] [--option KEY=VALUE ...] [--noise-sigma S]
                [--T ...] ... (same options)

``--run`` is a training run folder (the ``output_dir`` of ``irsde train``, or a pipeline run
``runs/<config>/<benchmark>/<method>``): the method is rebuilt from the run's saved config and
restores with the run's final EMA weights; the SDE and the network come from that config, so no
SDE or network option is accepted with it. ``--sampler`` and ``--steps K`` (network evaluations
per image, 1..T) pick another sampler for a method that samples (default: the run's,
``train.val_sampler`` / ``train.val_steps``); the fast samplers are made for few steps, e.g.
``--sampler fast-sde --steps 10``.

``--checkpoint`` is a released checkpoint of the registry (``irsde weights list``: PReNet,
DnCNN, FFDNet, the IR-SDE authors' ...): its file is taken from ``<resources>/weights/``
(verified; downloaded first when missing, unless ``--offline``), it restores through its method
with the options it was released for, and the output is recorded as row ``NAME``.
``--weights`` is any weight file: ``--method`` names the method it is for (default: read off a
U-Net file: the authors' IR-SDE layout, or their unconditional Denoising-SDE layout, which
restores as Denoising-ODE, their test script's sampler; ``--sampler sde``: Denoising-SDE). A
run's ``training_state.pt`` gives its EMA weights. The network's size is always read off the
file. ``--option KEY=VALUE`` sets one of the method's own options (e.g. ``stages=6`` for PReNet,
``noise_sigma=25`` for FFDNet; ``--noise-sigma S`` is ``--option noise_sigma=S``); a
``noise_sigma`` left unset is the noise level the split's ``dataset.json`` records. Methods
with an SDE take the SDE options (default: the paper's setting, cosine, T=100, max_sigma=10,
eps=0.005; Denoising-SDE: max_sigma 70, eps 0.04).

``--dataset`` is a prepared split folder (holding GT/ and LQ/) or a dataset name resolved as
``<root>/<name>/<split>``. Output: ``<out>/png/`` (one PNG per test image, nothing else),
``<out>/float/`` (unclamped float outputs, for LPIPS-on-float protocols) and
``<out>/restore.json`` (provenance). Examples::

  irsde restore --checkpoint prenet-rain100h --dataset Rain100H-git --root data --out runs/prenet
  irsde restore --weights rain100h_sde.pth --dataset Rain100H --root data --seed 0 \\
      --out runs/published/rain100h
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irsde.cli.arguments import non_negative_int, positive_int, seed
from irsde.devices import DEVICE_CHOICES

log = logging.getLogger(__name__)

SDE_OPTIONS = ("schedule", "T", "max_sigma", "eps")
WEIGHTS_ONLY_OPTIONS = ("method", "key", "resources", "mirror", *SDE_OPTIONS, "noise_sigma")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="training run folder: restore with its method and final EMA weights")
    source.add_argument("--checkpoint", metavar="NAME",
                        help="a released checkpoint (`irsde weights list`): its method, options and verified file")
    source.add_argument("--weights", help="a weight file (.pth state_dict, plain or wrapped; or a run's "
                                          "training_state.pt: its EMA weights); --method names its method")
    parser.add_argument("--dataset", required=True, help="prepared split folder (with GT/ and LQ/) or dataset name")
    parser.add_argument("--root", default="data", help="root of prepared datasets, for a dataset name (default: data)")
    parser.add_argument("--split", default="test", help="split of a named dataset (default: test)")
    parser.add_argument("--out", required=True, help="output folder (png/, float/, restore.json)")
    parser.add_argument("--sampler", help="sde (the paper's), ode, posterior, fast-sde, fast-ode "
                                          "(default: the run's; sde with --weights)")
    parser.add_argument("--steps", type=positive_int,
                        help="network evaluations per image, 1..T (default: the run's; T with --weights); e.g. 10 with fast-sde")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the sampling noise (default 0)")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="images (or tiles) per network call (default 1)")
    parser.add_argument("--tile", type=positive_int, help="restore in tiles of this size (for images too large for memory)")
    parser.add_argument("--tile-overlap", type=non_negative_int, default=32, help="pixels shared by neighbouring tiles (default 32)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, help="auto (default: cuda when available), cpu or cuda")
    parser.add_argument("--limit", type=positive_int, help="restore only the first N images by name")
    published = parser.add_argument_group("--checkpoint / --weights only (a run brings its own method, network and SDE)")
    published.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                           help="one of the method's own options (repeatable), e.g. stages=6 (PReNet), noise_sigma=25")
    published.add_argument("--method", help="--weights: the method the file is for (default: read off a U-Net file)")
    published.add_argument("--key", help="entry of the checkpoint dict holding the weights (default: detected, EMA first)")
    published.add_argument("--resources", help="--checkpoint: folder holding weights/ (default $IRSDE_RESOURCES or ./resources)")
    published.add_argument("--offline", action="store_true", help="--checkpoint: never download a missing file")
    published.add_argument("--mirror", action="append", metavar="URL",
                           help="--checkpoint: base URL of a copy of a resources/ folder, tried first (default $IRSDE_MIRROR)")
    published.add_argument("--T", type=positive_int, help="SDE steps (default 100)")
    published.add_argument("--max-sigma", type=float, help="stationary std, 0-255 scale if >= 1 (default 10)")
    published.add_argument("--schedule", help="theta schedule: cosine, linear, constant (default cosine)")
    published.add_argument("--eps", type=float, help="exp(-thetabar_T dt) (default 0.005; 0.04 for Denoising-SDE weights)")
    published.add_argument("--noise-sigma", type=float,
                           help="--option noise_sigma=S: noise level of the inputs, 0-255 scale if >= 1 "
                                "(default: the split's recorded level)")


def run(args: argparse.Namespace) -> int:
    from irsde.devices import resolve_device
    from irsde.restoration import restore_split

    split_dir, dataset = resolve_split_dir(args.dataset, args.root, args.split)
    device = resolve_device(args.device)
    method, net, source = from_run(args, device) if args.run else from_weight_file(args, split_dir, device)
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
    given += ["--option"] * bool(args.option) + ["--offline"] * args.offline
    if given:
        raise ValueError(
            f"{', '.join(given)}: with --run the method, network and SDE come from the run's config.yaml; "
            "these options are for --checkpoint / --weights only"
        )
    finished = FinishedRun.open(args.run)
    method = finished.method()
    if args.sampler or args.steps:
        method = method.with_sampler(args.sampler, args.steps)
    net = finished.network(method, device)
    source = {"run": str(finished.layout.root.resolve()), "weights": str(finished.weights.resolve()),
              "network": dict(finished.config["network"])}
    return method, net, source


def from_weight_file(args: argparse.Namespace, split_dir: Path, device):
    """(method, network, provenance) of a released checkpoint or a weight file, with the options
    and SDE options given."""
    from irsde.checkpoints import CHECKPOINTS
    from irsde.methods import fetch_weights
    from irsde.nets import load_state, read_state_dict

    checkpoint = CHECKPOINTS[args.checkpoint] if args.checkpoint else None
    if checkpoint is not None and args.method:
        raise ValueError(f"--method: checkpoint {checkpoint.name} restores with its own method, {checkpoint.method}")
    if checkpoint is None and (args.resources or args.offline or args.mirror):
        raise ValueError("--resources, --offline and --mirror locate a released checkpoint: use them with --checkpoint")
    path = fetch_weights(checkpoint, args.resources, args.offline, mirrors=args.mirror) if checkpoint else Path(args.weights)
    state_dict = read_state_dict(path, args.key)
    method_cls = weights_method(args.method or (checkpoint and checkpoint.method), state_dict, path)
    options = weight_options(method_cls, args, checkpoint.options if checkpoint else {}, split_dir)
    method = method_cls.from_weights(state_dict, options, weight_sde(method_cls, args))
    if args.sampler or args.steps:
        method = method.with_sampler(args.sampler, args.steps)
    net = load_state(method.build_net(), state_dict, path).eval().to(device)
    source = {"weights": str(path.resolve()), "method": checkpoint.name if checkpoint else method.id, "options": options}
    if checkpoint is not None:
        source.update(checkpoint=checkpoint.name, source={**checkpoint.source.upstream(), **checkpoint.source.checksums()})
    return method, net, source


def weights_method(name: str | None, state_dict, path: Path):
    """The method class ``name``, or the one a U-Net weight file belongs to (conditional: IR-SDE;
    unconditional: Denoising-SDE)."""
    from irsde.methods import METHODS, method_class
    from irsde.nets.weight_files import infer_architecture

    if name:
        return method_class(name)
    try:
        architecture = infer_architecture(state_dict, path)
    except KeyError as error:
        raise ValueError(
            f"{error.args[0]}. For another method's weights name it with --method (one of "
            f"{', '.join(METHODS)}), or restore a released checkpoint with --checkpoint NAME (`irsde weights list`)"
        ) from None
    return METHODS["irsde" if architecture["conditional"] else "denoising_sde"]


def weight_options(method_cls, args: argparse.Namespace, released: dict, split_dir: Path) -> dict:
    """The method's options: those the checkpoint was released with, then ``--option`` and
    ``--noise-sigma``; an unset ``noise_sigma`` the method takes is the split's recorded noise level."""
    from irsde.data.layout import split_noise_level

    options = {**released, **parse_options(args.option)}
    if args.noise_sigma is not None:
        options["noise_sigma"] = args.noise_sigma
    if "noise_sigma" in method_cls.options_schema and options.get("noise_sigma") is None:
        recorded = split_noise_level(split_dir)
        if recorded is not None:
            log.info("noise_sigma %g: the noise level recorded for %s", recorded, split_dir)
            options["noise_sigma"] = recorded
    return method_cls.resolve_options(options, "--option")


def parse_options(values: list[str]) -> dict:
    """``KEY=VALUE`` strings -> a dict (VALUE read as YAML, by irsde's one loader: numbers,
    true/false, null, text)."""
    from irsde.documents import load_yaml

    options = {}
    for text in values:
        key, separator, value = text.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"--option {text!r}: write KEY=VALUE, e.g. --option stages=6")
        options[key.strip()] = load_yaml(value, f"--option {text!r}") if value.strip() else None
    return options


def weight_sde(method_cls, args: argparse.Namespace) -> dict | None:
    """The SDE of a method that has one: its default with the SDE options given on top; None
    for a method without one (an SDE option is then an error)."""
    given = {name: getattr(args, name) for name in SDE_OPTIONS if getattr(args, name) is not None}
    if method_cls.default_sde is None:
        if given:
            flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
            raise ValueError(f"{flags}: method {method_cls.id!r} restores without an SDE")
        return None
    return {**method_cls.default_sde, **given}


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
