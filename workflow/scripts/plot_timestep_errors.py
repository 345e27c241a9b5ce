"""Snakemake adapter: a run's noise-prediction error by timestep (val_timesteps.csv) -> plot."""
import logging

import pandas as pd

from irsde.report import figures
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
errors = pd.read_csv(snakemake.input.logs[0])
figures.plot_timestep_errors(errors, snakemake.params.title, [snakemake.output.png, snakemake.output.pdf])
logging.info("plotted %d validations from %s", errors["iteration"].nunique(), snakemake.input.logs[0])
