"""Snakemake adapter: compare this run's metric means with the committed reference values."""
import sys
from pathlib import Path

import pandas as pd

from irsde import regression
from irsde.report import tables

params = snakemake.params
current = pd.concat(
    [regression.summary_frame(tables.read_metric_csvs(paths), benchmark) for benchmark, paths in params.benchmarks.items()],
    ignore_index=True,
)
Path(params.current).parent.mkdir(parents=True, exist_ok=True)
current.to_csv(params.current, index=False)
comparison = regression.compare(current, regression.read_reference(params.reference), params.tolerances)
text = regression.format_comparison(comparison)
Path(snakemake.log[0]).write_text(text + "\n")
print(text, file=sys.stderr)
if regression.failed(comparison):
    sys.exit(f"metric regression against {params.reference}: see the table above")
Path(snakemake.output[0]).write_text(text + "\n")
