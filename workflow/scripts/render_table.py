"""Snakemake adapter: per-image metric CSVs + published numbers -> table .csv/.md/.tex and its caption .json."""
import logging

import pandas as pd

from irsde import report
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
params = snakemake.params
per_image = report.read_metric_csvs(list(snakemake.input.metrics))
published = None
if params.published:
    published = pd.read_csv(snakemake.input.published)
    published = published[published["benchmark"] == params.published]
table = report.build_table(
    snakemake.wildcards.benchmark,
    report.summarize_methods(per_image),
    published,
    params.rows,
    params.protocol,
    params.samplers,
    params.synthetic,
    params.deviations,
    params.released,
    params.omitted,
)
report.write_table(table, snakemake.output.csv, snakemake.output.md, snakemake.output.tex, snakemake.output.caption)
logging.info("table %s: %d rows", snakemake.wildcards.benchmark, len(table.rows))
