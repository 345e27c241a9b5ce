"""Snakemake adapter: one benchmark's report pages (table, training curves, per-image metrics,
spread over sampling seeds, provenance) from its table, metrics, restorations and runs."""
import logging
from pathlib import Path

from irsde.logs import log_to_file
from irsde.report import figures, provenance, seed_spread, table_page, tables

log_to_file(snakemake.log[0])
params, output = snakemake.params, snakemake.output
benchmark = snakemake.wildcards.benchmark
table = tables.read_table(snakemake.input.table, snakemake.input.caption)
Path(output.table).write_text(table_page.render_table_page(snakemake.input.table, snakemake.input.caption))
labels = provenance.row_labels(table)
per_image = tables.read_metric_csvs(list(snakemake.input.metrics))
rows = provenance.benchmark_provenance(labels, per_image, params.restored, params.test_dir)
Path(output.provenance).write_text(provenance.render_page(benchmark, rows, params.reproduce))
Path(output.seeds).write_text(seed_spread.render_page(benchmark, per_image, labels, list(params.seeds)))
figures.per_image_strips(per_image, labels, output.per_image)
runs = provenance.training_runs(rows)
figures.training_curves(runs, output.training)
logging.info("report pages of %s: %d rows, %d training runs (%s)", benchmark, len(labels), len(runs),
             ", ".join(label for label, _ in runs))
