"""Training of any restoration method (:mod:`irsde.methods`): one engine, resumable, logged, distributed.

Public API::

    from irsde.train import load_config, train
    config = load_config("run.yaml", overrides=["train.iterations=1000"])  # validated dict
    result = train(config, resume="auto")        # -> TrainResult(output_dir, iteration, ...)

Modules: ``config`` (schema, defaults, validation, overrides), ``engine`` (the loop),
``batches`` (data order), ``checkpoint`` (layout, atomic files, resume), ``ema``, ``rng``,
``distributed`` (torchrun/DDP), ``records`` (CSV logs, run record), ``validation`` (PSNR/SSIM
during training).
"""

from irsde.train.config import load_config, validate_config
from irsde.train.engine import TrainResult, train

__all__ = ["TrainResult", "load_config", "train", "validate_config"]
