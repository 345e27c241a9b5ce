"""Starting one training run on several processes: ``torchrun --nproc_per_node=N -m irsde train``.

The pipeline trains in its own process when a training has one GPU (or none), and through this
module when it has more: the resolved config is written next to the run (``<output_dir>/
torchrun.yaml``) and ``torchrun --standalone`` starts one rank per GPU on this node, exactly as a
user would by hand, so the weights are those of ``irsde train`` under ``torchrun`` with that
config. ``data.batch_size`` stays the global batch (each rank computes ``batch_size / N`` of its
rows, the gradients are averaged over ranks) and the learning rate is unchanged: N GPUs train the
same model as one, faster. On the CPU the ranks use the gloo backend (see
:mod:`irsde.train.distributed`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from irsde.fileio import atomic_write_text
from irsde.train.config import dump_config, validate_config
from irsde.train.distributed import rank_shard

logger = logging.getLogger(__name__)

LAUNCH_CONFIG = "torchrun.yaml"


def torchrun_command(config_file: str | os.PathLike, processes: int) -> list[str]:
    """The command that trains ``config_file`` on ``processes`` ranks of this node."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
        "-m", "irsde", "train", "--config", os.fspath(config_file),
    ]


def train_on_ranks(config: Mapping, processes: int, output: IO | None = None) -> Path:
    """Train ``config`` under ``torchrun`` with ``processes`` ranks; return the run folder.

    The ranks' output goes to ``output`` (a file; default this process's stderr). Raises
    ValueError before starting anything when ``data.batch_size`` cannot be split evenly over the
    ranks, and RuntimeError naming the command when torchrun fails.
    """
    if processes < 2:
        raise ValueError(f"train_on_ranks needs 2 or more processes, got {processes}")
    config = validate_config(config)
    rank_shard(config["data"]["batch_size"], 0, processes)
    run_dir = Path(config["output_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = atomic_write_text(run_dir / LAUNCH_CONFIG, dump_config(config))
    command = torchrun_command(config_file, processes)
    logger.info("training %s on %d ranks: %s", config["name"], processes, " ".join(command))
    stream = output if output is not None else sys.stderr
    stream.flush()
    result = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"torchrun exited with status {result.returncode} training {config['name']} on {processes} ranks "
            f"(the ranks' output is above): {' '.join(command)}"
        )
    return run_dir
