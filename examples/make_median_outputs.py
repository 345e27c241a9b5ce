"""Write examples/outputs/synthetic-rain/: the embedded benchmark's test images, median-filtered.

A stand-in for a method run elsewhere: each degraded test image of synthetic-rain (built with
the recipe of config/config.yaml) through a 3x3 median filter, saved under the test image's
name. Run from the repository root:

    python examples/make_median_outputs.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from irsde.data import build_synthetic
from irsde.documents import read_yaml_file
from irsde.images import list_images, write_png

REPOSITORY = Path(__file__).resolve().parents[1]
BENCHMARK = "synthetic-rain"


def median_filtered(lq_dir: Path, out_dir: Path, size: int) -> list[Path]:
    """Each image of ``lq_dir`` through a ``size`` x ``size`` median filter, into ``out_dir``."""
    written = []
    for path in list_images(lq_dir):
        with Image.open(path) as image:
            filtered = image.convert("RGB").filter(ImageFilter.MedianFilter(size))
        written.append(write_png(out_dir / path.name, np.asarray(filtered)))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPOSITORY / "examples" / "outputs" / BENCHMARK))
    parser.add_argument("--size", type=int, default=3, help="median window (odd, default 3)")
    args = parser.parse_args()
    config = read_yaml_file(REPOSITORY / "config" / "config.yaml", "config file")
    recipe = config["benchmarks"][BENCHMARK]["synthetic"]
    with tempfile.TemporaryDirectory() as root:
        test_dir = build_synthetic(BENCHMARK, root, progress=False, **recipe) / "test"
        written = median_filtered(test_dir / "LQ", Path(args.out), args.size)
    print(f"{len(written)} median-filtered images in {args.out}")


if __name__ == "__main__":
    main()
