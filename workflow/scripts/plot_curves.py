"""Snakemake adapter: validation logs of training runs -> PSNR-vs-iteration plot (mean and band
over the seeds of each run label), with the degraded input's PSNR as a reference line."""
import logging

from irsde.report import figures
from irsde.logs import log_to_file
from irsde.train.validation import input_scores

log_to_file(snakemake.log[0])
params = snakemake.params
curves = figures.read_validation_logs(list(zip(params.labels, snakemake.input.logs)), metric="psnr")
reference = input_scores(**params.reference)["psnr"]
figures.plot_validation_curves(curves, params.title, "validation PSNR (dB)", [snakemake.output.png, snakemake.output.pdf],
                              reference=("input (no restoration)", reference))
logging.info("plotted %d points from %s; input PSNR %.2f dB", len(curves), list(snakemake.input.logs), reference)
