"""Snakemake adapter: train one run from its config (validated by `train`), in this process or,
with more than one GPU, under torchrun (irsde.train.launch); then copy its final files."""
import logging
import shutil
import sys

from irsde.logs import log_to_file
from irsde.train import train
from irsde.train.checkpoint import RunLayout
from irsde.train.launch import train_on_ranks

log_to_file(snakemake.log[0])
config, ranks = snakemake.params.config, snakemake.params.ranks
if ranks > 1:
    layout = RunLayout(train_on_ranks(config, ranks, output=sys.stderr))
else:
    layout = RunLayout(train(config, resume="auto").output_dir)
shutil.copyfile(layout.weights("ema", "latest"), snakemake.output.weights)
shutil.copyfile(layout.train_log, snakemake.output.train_log)
shutil.copyfile(layout.val_log, snakemake.output.val_log)
if "timestep_log" in snakemake.output.keys():
    shutil.copyfile(layout.timestep_log, snakemake.output.timestep_log)
logging.info("finished %s on %d rank(s)", config["name"], ranks)
