"""Snakemake adapter: validation logs of several training runs -> one PSNR-vs-iteration plot."""
import logging

from irsde import report
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
logs = dict(zip(snakemake.params.labels, snakemake.input.logs))
curves = report.read_validation_logs(logs, metric="psnr")
report.plot_validation_curves(curves, snakemake.params.title, "validation PSNR (dB)",
                              [snakemake.output.png, snakemake.output.pdf])
logging.info("plotted %d points from %s", len(curves), list(logs.values()))
