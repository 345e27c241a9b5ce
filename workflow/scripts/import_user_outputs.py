"""Snakemake adapter: a user's folder of restored images -> a checked restoration folder."""
import logging

from irsde.logs import log_to_file
from irsde.user_outputs import import_outputs

log_to_file(snakemake.log[0])
wildcards = snakemake.wildcards
restored = import_outputs(snakemake.params.folder, snakemake.params.test_dir, snakemake.output[0],
                          wildcards.method, int(wildcards.seed))
logging.info("user outputs %s of %s: %s", wildcards.method, wildcards.benchmark, restored.png_dir)
