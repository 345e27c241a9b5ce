"""Snakemake adapter: download one archive of a registered dataset and verify its checksum."""
import logging

from irsde.data import fetch_source, get_dataset

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
archive = snakemake.wildcards.archive
dataset = get_dataset(snakemake.params.dataset)
source = next(s for s in dataset.sources if s.name == archive)
path = fetch_source(source, snakemake.params.resources)
logging.info("%s verified at %s", archive, path)
