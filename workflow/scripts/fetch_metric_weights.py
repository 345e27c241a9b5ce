"""Snakemake adapter: download one LPIPS/FID weight file into torch.hub's folder (mirrors first;
offline, only check that it is there)."""
import logging

from irsde.logs import log_to_file
from irsde.metrics.weights import ensure_weight_file, weight_file

log_to_file(snakemake.log[0])
path = ensure_weight_file(weight_file(snakemake.wildcards.weight), download=not snakemake.params.offline,
                          mirrors=snakemake.params.mirror)
logging.info("%s is at %s", snakemake.wildcards.weight, path)
