"""Snakemake adapter: per-image metric CSVs + published numbers -> table .csv/.md/.tex and its caption .json."""
import logging

import pandas as pd

from irsde.report import tables
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
params = snakemake.params
per_image = tables.read_metric_csvs(list(snakemake.input.metrics))
published = None
if params.published:
    published = pd.read_csv(snakemake.input.published)
    published = published[published["benchmark"] == params.published]
table = tables.build_table(
    snakemake.wildcards.benchmark,
    tables.summarize_methods(per_image),
    published,
    params.rows,
    params.protocol,
    params.samplers,
    params.synthetic,
    params.deviations,
    params.released,
    params.omitted,
)
tables.write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.tex, snakemake.output.caption)
logging.info("table %s: %d rows", snakemake.wildcards.benchmark, len(table.rows))
