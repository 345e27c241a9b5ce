"""Snakemake adapter: per-image metric CSVs under several protocols -> protocol-sensitivity table .csv/.md."""
import logging

import pandas as pd

from irsde.report import sensitivity, tables
from irsde.fileio import atomic_write_text
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
params = snakemake.params
published = None
if params.published:
    published = pd.read_csv(snakemake.input.published)
    published = published[published["benchmark"] == params.published]
per_image = tables.read_metric_csvs(list(snakemake.input.metrics))
table = sensitivity.build_protocol_table(per_image, params.protocols, params.rows, published)
atomic_write_text(snakemake.output.csv, table.to_csv(index=False))
atomic_write_text(snakemake.output.md, sensitivity.render_protocol_markdown(table, snakemake.wildcards.benchmark,
                                                                            params.protocols))
logging.info("protocol table %s: %d rows x %d protocols", snakemake.wildcards.benchmark, len(table), len(params.protocols))
