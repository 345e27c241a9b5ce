"""``irsde train``: train a restoration method (IR-SDE, the CNN baseline ...) from a config file.

    irsde train --config FILE [--set key.sub=value ...] [--device auto|cpu|cuda] [--resume auto|never]

The same command runs distributed under ``torchrun --nproc_per_node=N -m irsde train ...``.
"""

from __future__ import annotations

import argparse

DEVICE_CHOICES = ("auto", "cpu", "cuda")
RESUME_CHOICES = ("auto", "never")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML training config")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.iterations=1000 data.batch_size=4 (value parsed as YAML)",
    )
    parser.add_argument(
        "--device", choices=DEVICE_CHOICES, default=None, help="overrides the config's device (auto: CUDA if available)"
    )
    parser.add_argument(
        "--resume",
        choices=RESUME_CHOICES,
        default="auto",
        help="auto (default): continue from output_dir's checkpoint if there is one; never: refuse to",
    )
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a terminal)"
    )


def run(args: argparse.Namespace) -> int:
    from irsde.train import load_config, train

    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    config = load_config(args.config, overrides)
    result = train(config, resume=args.resume, progress=args.progress)
    if result.is_main:
        print(f"trained {config['name']} to iteration {result.iteration}: {result.output_dir}")
        print(f"  weights: {result.net_weights}")
        print(f"  EMA weights: {result.ema_weights}")
    return 0
