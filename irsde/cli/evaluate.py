"""``irsde evaluate``: PSNR/SSIM/LPIPS/FID of a restored set under a named protocol.

  irsde evaluate --restored DIR --gt DIR --protocol P --out CSV
                 [--method M] [--dataset D] [--seed S] [--summary CSV]
                 [--metrics psnr,ssim,lpips,fid] [--allow-missing-weights] [--no-download]
                 [--device cpu|cuda] [--fid-cache DIR] [--batch-size N]

``--restored`` is an ``irsde restore`` output folder (png/ + float/ + restore.json) or a plain
folder of PNGs. ``--method``, ``--dataset`` and ``--seed`` default to what restore.json recorded.
Writes the tidy per-image CSV (dataset, method, image, seed, protocol, metric, value, note; FID
has one row with image '(set)') and a summary CSV (mean, and std over seeds when several),
and prints the summary. LPIPS and FID need pretrained weights in $TORCH_HOME/hub/checkpoints;
without them the command fails naming the file, or, with --allow-missing-weights, records the
metric as NaN with a note that tables print as n/a with a footnote.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irsde.cli.arguments import positive_int
from irsde.devices import DEVICE_CHOICES

log = logging.getLogger(__name__)

DEFAULT_METRICS = "psnr,ssim,lpips,fid"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--restored", required=True, help="irsde restore output folder, or a folder of PNGs")
    parser.add_argument("--gt", required=True, help="ground-truth folder (e.g. data/rain100h/test/GT)")
    parser.add_argument("--protocol", required=True,
                        help="metric protocol: irsde-derain, irsde-deblur, irsde-denoise, rgb-full")
    parser.add_argument("--out", required=True, help="per-image CSV to write")
    parser.add_argument("--summary", help="summary CSV to write (default: <out stem>.summary.csv)")
    parser.add_argument("--method", help="method label (default: from restore.json)")
    parser.add_argument("--dataset", help="dataset label (default: from restore.json)")
    parser.add_argument("--seed", type=int, help="sampling seed of the restored set (default: from restore.json)")
    parser.add_argument("--metrics", default=DEFAULT_METRICS, help=f"comma-separated (default {DEFAULT_METRICS})")
    parser.add_argument("--allow-missing-weights", action="store_true",
                        help="record LPIPS/FID as unavailable (NaN + note) when their weights are missing")
    parser.add_argument("--no-download", action="store_true", help="never try to download LPIPS/FID weights")
    parser.add_argument("--device", choices=DEVICE_CHOICES,
                        help="auto (default: cuda when available), cpu or cuda for LPIPS/FID")
    parser.add_argument("--fid-cache", help="folder caching ground-truth FID statistics (default ~/.cache/irsde/fid-stats)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="LPIPS batch size (default 8)")


def run(args: argparse.Namespace) -> int:
    from irsde.devices import resolve_device
    from irsde.evaluation import RestoredSet, evaluate, summarize

    device = resolve_device(args.device)
    out = Path(args.out)
    summary_path = Path(args.summary) if args.summary else out.with_name(f"{out.stem}.summary.csv")
    check_output_paths(out, summary_path, Path(args.restored), Path(args.gt))
    recorded = RestoredSet(Path(args.restored)).manifest()
    labels = {name: getattr(args, name) if getattr(args, name) is not None else recorded.get(name)
              for name in ("method", "dataset", "seed")}
    missing = [name for name, value in labels.items() if value is None]
    if missing:
        raise ValueError(
            f"no {', '.join('--' + name for name in missing)} given and {args.restored} has no restore.json recording it"
        )
    per_image = evaluate(
        args.restored, args.gt, args.protocol, labels["method"], labels["dataset"], int(labels["seed"]),
        metrics=[name.strip() for name in args.metrics.split(",") if name.strip()],
        allow_missing_weights=args.allow_missing_weights, download_weights=not args.no_download,
        device=device, fid_cache_dir=args.fid_cache, batch_size=args.batch_size,
    )
    summary = summarize(per_image)
    write_csv(per_image, out)
    write_csv(summary, summary_path)
    print(summary.to_string(index=False))
    print(f"per-image metrics: {out}\nsummary: {summary_path}")
    return 0


def check_output_paths(out: Path, summary: Path, restored: Path, gt: Path) -> None:
    """The two CSVs are two files, outside the folders being scored (nothing read is overwritten)."""
    for option, path in (("--out", out), ("--summary", summary)):
        if path.is_dir():
            raise ValueError(f"{option} {path} is a folder; give the CSV file to write, e.g. {path / 'metrics.csv'}")
        for name, folder in (("--restored", restored), ("--gt", gt)):
            if folder.resolve() in path.resolve().parents:
                raise ValueError(f"{option} {path} is inside the {name} folder {folder}: write the CSV elsewhere "
                                 f"(the folders scored are only read)")
    if out.resolve() == summary.resolve():
        raise ValueError(f"--summary {summary} is the --out file: the summary would overwrite the per-image CSV; "
                         f"give another file (default: {out.with_name(f'{out.stem}.summary.csv')})")


def write_csv(frame, path: Path) -> None:
    """Write a DataFrame as CSV atomically."""
    from irsde.fileio import atomic_write_text

    atomic_write_text(path, frame.to_csv(index=False))
