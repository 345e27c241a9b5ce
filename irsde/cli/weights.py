"""``irsde weights``: list, fetch and verify released checkpoints (:mod:`irsde.checkpoints`).

  irsde weights list [--json] [--resources DIR]
  irsde weights fetch NAME [NAME ...] | --all [--resources DIR] [--offline] [--repin] [--mirror URL ...]
  irsde weights verify [NAME ...] [--resources DIR]

Files live in ``<resources>/weights/`` (default ``$IRSDE_RESOURCES`` or ``./resources``); a
mirror (``--mirror`` or ``$IRSDE_MIRROR``) serves a copy of a resources/ folder, so it holds
them at ``<mirror>/weights/<file>``. ``list --json`` prints each checkpoint's upstream source,
its checksums and its ``resources_path``: the manifest for building a mirror by hand.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every released checkpoint, its source and what it reproduces")
    listing.add_argument("--json", action="store_true", help="machine-readable manifest (sources, checksums, paths)")
    _add_resources(listing)
    fetch = actions.add_parser("fetch", help="download and verify checkpoints into resources/weights/")
    fetch.add_argument("names", nargs="*", metavar="NAME")
    fetch.add_argument("--all", action="store_true", help="every checkpoint that can be downloaded automatically")
    _add_resources(fetch)
    fetch.add_argument("--offline", action="store_true", help="never use the network; only verify what is there")
    fetch.add_argument("--repin", action="store_true",
                       help="first forget the digest recorded on first use of a browser-only checkpoint (a wrong file was pinned)")
    fetch.add_argument("--mirror", action="append", metavar="URL",
                       help="base URL of a copy of a resources/ folder, tried first (repeatable; default $IRSDE_MIRROR)")
    verify = actions.add_parser("verify", help="check the checkpoints present in resources/weights/")
    verify.add_argument("names", nargs="*", metavar="NAME", help="default: every checkpoint present")
    _add_resources(verify)


def _add_resources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resources", help="folder holding weights/ (default $IRSDE_RESOURCES or ./resources)")


def _list(args) -> int:
    from irsde.checkpoints import CHECKPOINTS, checkpoint_location

    if args.json:
        entries = [{**checkpoint.manifest(), "label": checkpoint.label, "paper": checkpoint.paper,
                    "reproduces": [{"benchmark": benchmark, "row": row} for benchmark, row in checkpoint.reproduces],
                    "options": dict(checkpoint.options), "licence": checkpoint.licence, "notes": checkpoint.notes}
                   for checkpoint in CHECKPOINTS.values()]
        print(json.dumps(entries, indent=2))
        return 0
    for checkpoint in CHECKPOINTS.values():
        present = "present" if checkpoint_location(checkpoint, args.resources).is_file() else "not fetched"
        reproduces = ", ".join(f"{row} on {benchmark}" for benchmark, row in checkpoint.reproduces)
        print(f"{checkpoint.name}  [{checkpoint.method}, {present}]  {checkpoint.label}")
        print(f"    source: {checkpoint.source.describe()}")
        print(f"    reproduces: {reproduces or '-'}; file: resources/{checkpoint.resources_path}")
        print(f"    paper: {checkpoint.paper}")
    return 0


def _fetch(args) -> int:
    from irsde.checkpoints import CHECKPOINTS, forget_first_use_pin
    from irsde.methods import fetch_weights

    if args.all == bool(args.names):
        raise ValueError("name the checkpoints to fetch, or give --all (`irsde weights list` shows them)")
    chosen = [c for c in CHECKPOINTS.values() if not c.source.browser] if args.all else [CHECKPOINTS[n] for n in args.names]
    for checkpoint in chosen:
        if args.repin:
            dropped = forget_first_use_pin(checkpoint, args.resources)
            print(f"{checkpoint.name}: {'forgot its first-use digest' if dropped else 'no first-use digest to forget'}")
        path = fetch_weights(checkpoint, args.resources, offline=args.offline, mirrors=args.mirror)
        print(f"{checkpoint.name}: {path} (verified)")
    return 0


def _verify(args) -> int:
    from irsde.checkpoints import CHECKPOINTS, checkpoint_location
    from irsde.methods import fetch_weights

    chosen = [CHECKPOINTS[name] for name in args.names] or list(CHECKPOINTS.values())
    for checkpoint in chosen:
        location = checkpoint_location(checkpoint, args.resources)
        if not location.is_file() and not args.names:
            print(f"{checkpoint.name}: not in {location.parent}")
            continue
        fetch_weights(checkpoint, args.resources, offline=True)
        print(f"{checkpoint.name}: verified ({location})")
    return 0


_ACTIONS = {"list": _list, "fetch": _fetch, "verify": _verify}


def run(args) -> int:
    return _ACTIONS[args.action](args)
