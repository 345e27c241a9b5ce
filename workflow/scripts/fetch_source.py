"""Snakemake adapter: download one source (archive or git-tree folder) of a registered dataset and verify it."""
import logging

from irsde.data import fetch_source, get_dataset
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
name = snakemake.wildcards.source
dataset = get_dataset(snakemake.params.dataset)
source = next(s for s in dataset.sources if s.name == name)
path = fetch_source(source, snakemake.params.resources, offline=snakemake.params.offline,
                    mirrors=snakemake.params.mirror)
logging.info("%s verified at %s", name, path)
