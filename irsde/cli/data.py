"""``irsde data``: list, fetch, prepare, verify and audit benchmark datasets.

  irsde data list [--root DIR]
  irsde data fetch NAME [--resources DIR] [--offline] [--repin] [--mirror URL ...]
  irsde data prepare NAME --root DIR [--resources DIR] [--path [SOURCE=]PATH ...] [--offline] [--force]
                     [--mirror URL ...]
  irsde data prepare synthetic-NAME --root DIR [--seed S] [--size N] [--train-count N] [--test-count N] [--force]
  irsde data verify NAME [--root DIR] [--resources DIR]
  irsde data audit NAME --root DIR --out CSV [--threshold T]

``prepare`` builds every dataset: a registered one from its archives, a synthetic stand-in
(``synthetic-*``) offline from scikit-image's photographs with its recipe options. Archives live
in ``--resources`` (default ``$IRSDE_RESOURCES`` or ``./resources``); digests not pinned in the
package are recorded on first use in ``<resources>/checksums.lock.json``, and ``fetch --repin``
drops them when the first file was the wrong one. ``--mirror`` (default ``$IRSDE_MIRROR``) is a
copy of a resources/ folder served over HTTP, tried before the sources. NAME is matched whatever
its case (``rain100h`` is ``Rain100H``); a misspelt one is refused with the closest name.
"""

from __future__ import annotations

import argparse
import logging

from irsde.cli.arguments import positive_int, seed

log = logging.getLogger(__name__)

# The recipe of a synthetic stand-in: keyword arguments of irsde.data.build_synthetic.
SYNTHETIC_OPTIONS = ("seed", "size", "train_count", "test_count")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the registered and synthetic datasets")
    listing.add_argument("--root", help="also say which datasets are prepared under this folder")
    listing.add_argument("--json", action="store_true",
                         help="every source as JSON: upstream, checksum or git tree id, resources_path (to build a mirror)")

    fetch = actions.add_parser("fetch", help="download and verify a dataset's archives into resources/")
    fetch.add_argument("name")
    _add_resources(fetch)
    fetch.add_argument("--offline", action="store_true", help="never use the network; only verify what is there")
    fetch.add_argument("--repin", action="store_true",
                       help="first forget the digests recorded on first use for this dataset's archives "
                            "(when a wrong file was pinned), then fetch and record them again")
    _add_mirror(fetch)

    prepare = actions.add_parser("prepare", help="build a dataset into ROOT/NAME/SPLIT/{GT,LQ} (registered or synthetic-*)")
    prepare.add_argument("name")
    prepare.add_argument("--root", required=True, help="folder that receives the prepared dataset")
    _add_resources(prepare)
    prepare.add_argument("--path", action="append", default=[], metavar="[SOURCE=]PATH",
                         help="use this folder or archive for a source instead of resources/ (repeatable; "
                              "SOURCE= may be left out when the dataset has a single source)")
    prepare.add_argument("--offline", action="store_true", help="never download; a missing archive is an error")
    prepare.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    prepare.add_argument("--allow-count-mismatch", action="store_true",
                         help="accept a split whose pair count differs from the registry (warns)")
    _add_mirror(prepare)
    recipe = prepare.add_argument_group("synthetic-* datasets only (defaults: seed 0, size 128, 100 train, 10 test)")
    for option in SYNTHETIC_OPTIONS:
        recipe.add_argument(f"--{option.replace('_', '-')}", type=seed if option == "seed" else positive_int)

    verify = actions.add_parser("verify", help="check archives against the locks and a prepared dataset against its marker")
    verify.add_argument("name")
    verify.add_argument("--root", help="folder holding the prepared dataset")
    _add_resources(verify)

    audit = actions.add_parser("audit", help="CSV of test images whose GT background also appears in training")
    audit.add_argument("name")
    audit.add_argument("--root", required=True)
    audit.add_argument("--out", required=True, help="CSV file to write")
    audit.add_argument("--threshold", type=float, default=0.9, help="NCC score that counts as a duplicate")


def _add_resources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resources", help="archive folder (default $IRSDE_RESOURCES or ./resources)")


def _add_mirror(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mirror", action="append", metavar="URL",
                        help="base URL of a copy of a resources/ folder, tried before each source's own URLs "
                             "(repeatable; default $IRSDE_MIRROR)")


def parse_paths(values: list[str], source_names: list[str]) -> dict[str, str]:
    """``--path`` values -> ``{source name: path}``; a bare PATH needs a single-source dataset."""
    paths = {}
    for value in values:
        name, separator, path = value.partition("=")
        if separator and name in source_names:
            paths[name] = path
        elif len(source_names) == 1:
            paths[source_names[0]] = value
        else:
            raise ValueError(f"--path {value!r}: write SOURCE=PATH with SOURCE one of {', '.join(source_names)}")
    return paths


def _list(args) -> int:
    from irsde.data import DATASETS, SYNTHETIC, read_marker

    if args.json:
        return _list_json()

    def status(name: str) -> str:
        return "" if not args.root else ("prepared" if read_marker(args.root, name) else "-")

    print(f"{'name':18} {'task':8} {'splits (pairs)':28} {'download':10} {'state' if args.root else ''}")
    for dataset in DATASETS.values():
        splits = ", ".join(f"{split.name} {split.pairs}" for split in dataset.splits)
        download = "browser" if dataset.needs_browser else "automatic"
        print(f"{dataset.name:18} {dataset.task:8} {splits:28} {download:10} {status(dataset.name)}")
    for benchmark in SYNTHETIC.values():
        print(f"{benchmark.name:18} {benchmark.task:8} {'train/test (configurable)':28} {'built':10} {status(benchmark.name)}")
    print("\nsynthetic-* are offline stand-ins built from scikit-image photographs, not the real benchmarks.")
    return 0


def _list_json() -> int:
    """Every source of the registry once, with the datasets that use it."""
    import json

    from irsde.data import DATASETS, PINNED_LOCK
    from irsde.data.lock import LockFile

    pinned = LockFile.load(PINNED_LOCK).entries
    sources: dict[str, dict] = {}
    for dataset in DATASETS.values():
        for source in dataset.sources:
            entry = sources.setdefault(source.name, {**source.manifest(pinned.get(source.name, {})), "datasets": []})
            entry["datasets"].append(dataset.name)
    print(json.dumps(list(sources.values()), indent=2))
    return 0


def _fetch(args) -> int:
    from irsde.data import fetch_dataset
    from irsde.data.fetch import forget_first_use_pins

    if args.repin:
        dropped = forget_first_use_pins(args.name, args.resources)
        print(f"forgot the first-use digests of {', '.join(dropped)}" if dropped else "no first-use digest to forget")
    for name, path in fetch_dataset(args.name, args.resources, offline=args.offline, mirrors=args.mirror).items():
        print(f"{name}: {path}")
    return 0


def _prepare(args) -> int:
    from irsde.data import ALL_DATASETS, SYNTHETIC, build_synthetic, prepare_dataset

    dataset = ALL_DATASETS[args.name]
    recipe = {name: getattr(args, name) for name in SYNTHETIC_OPTIONS if getattr(args, name) is not None}
    if dataset.name in SYNTHETIC:
        if args.path:
            raise ValueError(f"{args.name} is built from scikit-image's photographs; --path does not apply to it")
        print(build_synthetic(args.name, args.root, force=args.force, **recipe))
        return 0
    if recipe:
        options = ", ".join(f"--{name.replace('_', '-')}" for name in recipe)
        raise ValueError(f"{options}: only synthetic-* datasets take a recipe; {args.name} is prepared from its sources")
    paths = parse_paths(args.path, [source.name for source in dataset.sources])
    folder = prepare_dataset(dataset, args.root, args.resources, paths, offline=args.offline, force=args.force,
                             strict_counts=not args.allow_count_mismatch, mirrors=args.mirror)
    print(folder)
    return 0


def _verify(args) -> int:
    from irsde.data import SYNTHETIC, default_resources, fetch_source, get_dataset, source_location, verify_prepared

    if args.name not in SYNTHETIC:
        resources = default_resources(args.resources)
        for source in get_dataset(args.name).sources:
            if not source_location(source, resources).exists():
                print(f"{source.name}: not in {resources}")
                continue
            fetch_source(source, resources, offline=True)
            print(f"{source.name}: verified ({source_location(source, resources)})")
    if args.root:
        marker = verify_prepared(args.root, args.name)
        counts = ", ".join(f"{split} {info['pairs']}" for split, info in marker["splits"].items())
        print(f"{args.name} in {args.root}: {len(marker['files'])} files verified ({counts})")
    return 0


def _audit(args) -> int:
    from irsde.data import audit_overlap

    rows = audit_overlap(args.name, args.root, args.out, args.threshold)
    duplicates = sum(row.duplicate for row in rows)
    print(f"{duplicates} of {len(rows)} test images of {args.name} have a near-duplicate training GT "
          f"(NCC >= {args.threshold}); details in {args.out}")
    return 0


_ACTIONS = {"list": _list, "fetch": _fetch, "prepare": _prepare, "verify": _verify, "audit": _audit}


def run(args) -> int:
    if getattr(args, "name", None) is not None:
        from irsde.data import ALL_DATASETS

        args.name = ALL_DATASETS.canonical(args.name)  # rain100h is Rain100H, as in a config
    return _ACTIONS[args.action](args)
