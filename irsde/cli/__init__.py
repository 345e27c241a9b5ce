"""The ``irsde`` command line: one module per sub-command in this package.

Each sub-command module defines ``add_arguments(parser)`` and ``run(args) -> int``; heavy
imports happen inside ``run`` so that ``irsde --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS = {
    "data": "list, fetch, prepare and verify benchmark datasets",
    "train": "train a restoration method (IR-SDE, the CNN baseline ...) from a config",
    "weights": "list, fetch and verify released checkpoints (PReNet, DnCNN, FFDNet, IR-SDE ...)",
    "restore": "restore a test set with a trained run, a released checkpoint or a weight file",
    "evaluate": "compute PSNR/SSIM/LPIPS/FID of restored images under a named protocol",
}


DESCRIPTION = """\
IR-SDE (Luo et al., ICML 2023, mean-reverting SDE diffusion for image restoration) from the
command line: prepare a benchmark dataset, train a restoration method or fetch released weights,
restore a test set, and score it under a named metric protocol."""

EPILOG = """\
examples:
  irsde data list                                      the datasets, and how each is obtained
  irsde data prepare synthetic-rain --root data        an offline stand-in, built in seconds
  irsde train --config run.yaml                        train from a config (irsde train --help)
  irsde weights list                                   released checkpoints, and where each comes from
  irsde restore --run runs/NAME --dataset DIR --seed 0 --out restored/
  irsde evaluate --restored restored/ --gt DIR/GT --protocol irsde-derain --out metrics.csv

'irsde COMMAND --help' explains a command. The whole benchmark (datasets, training of every
method, tables, figures) is the Snakemake pipeline of irsde-bench: see its README.md."""


def build_parser() -> argparse.ArgumentParser:
    from irsde import __version__

    parser = argparse.ArgumentParser(prog="irsde", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"irsde {__version__} (irsde-bench)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for name, summary in SUBCOMMANDS.items():
        module = importlib.import_module(f"irsde.cli.{name}")
        sub = commands.add_parser(name, help=summary, description=summary)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, OSError, KeyError, RuntimeError) as error:
        # Library errors carry a message that names the file/key at fault; no traceback needed.
        print(f"irsde {args.command}: error: {error_text(error)}", file=sys.stderr)
        return 2


def error_text(error: BaseException) -> str:
    """The message of an error (a KeyError's without the quotes ``str`` adds)."""
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
