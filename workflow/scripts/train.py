"""Snakemake adapter: train one run from its config (validated by `train`), then copy its final files."""
import logging
import shutil

from irsde.logs import log_to_file
from irsde.train import train
from irsde.train.checkpoint import RunLayout

log_to_file(snakemake.log[0])
config = snakemake.params.config
result = train(config, resume="auto")
layout = RunLayout(result.output_dir)
shutil.copyfile(result.ema_weights, snakemake.output.weights)
shutil.copyfile(layout.train_log, snakemake.output.train_log)
shutil.copyfile(layout.val_log, snakemake.output.val_log)
if "timestep_log" in snakemake.output.keys():
    shutil.copyfile(layout.timestep_log, snakemake.output.timestep_log)
logging.info("finished %s at iteration %d", config["name"], result.iteration)
