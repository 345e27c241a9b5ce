"""Snakemake adapter: train one run from its resolved config, then copy its final files."""
import logging
import shutil

from irsde.train import train, validate_config
from irsde.train.checkpoint import RunLayout
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
config = validate_config(snakemake.params.config)
result = train(config, resume="auto")
layout = RunLayout(result.output_dir)
shutil.copyfile(result.ema_weights, snakemake.output.weights)
shutil.copyfile(layout.train_log, snakemake.output.train_log)
shutil.copyfile(layout.val_log, snakemake.output.val_log)
if "timestep_log" in snakemake.output.keys():
    shutil.copyfile(layout.timestep_log, snakemake.output.timestep_log)
logging.info("finished %s at iteration %d", config["name"], result.iteration)
