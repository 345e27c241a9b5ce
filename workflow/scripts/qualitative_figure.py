"""Snakemake adapter: GT / LQ / each method's restoration, centre crops of the first test images."""
import logging
from pathlib import Path

from irsde.report import figures
from irsde.images import list_images, read_uint8
from irsde.logs import log_to_file
from irsde.restoration import RestoredSet

log_to_file(snakemake.log[0])
params = snakemake.params
test_dir = Path(params.test_dir)
labels = list(params.labels)
rows = []
for gt_path in list_images(test_dir / "GT")[: params.images]:
    images = {"GT": read_uint8(gt_path), "LQ": read_uint8(test_dir / "LQ" / gt_path.name)}
    for label, restored in zip(labels, snakemake.input.restored):
        images[label] = read_uint8(RestoredSet(Path(restored)).png_dir / f"{gt_path.stem}.png")
    rows.append((gt_path.stem, images))
figures.qualitative_grid(rows, ["GT", "LQ", *labels], snakemake.output[0], crop=params.crop)
logging.info("grid of %d images x %d columns: %s", len(rows), 2 + len(labels), ", ".join(["GT", "LQ", *labels]))
