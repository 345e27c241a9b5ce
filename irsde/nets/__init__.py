"""The network of IR-SDE and the reading of weight files.

- ``blocks``: its building blocks (time embedding, residual blocks, attention, resampling);
- ``unet``: :class:`ConditionalUNet`, the paper's conditional U-Net (docs/network.md), and
  :func:`build_net` from a config mapping;
- ``prenet``, ``dncnn``, ``ffdnet``: the comparison methods' networks (PReNet, DnCNN, FFDNet),
  laid out so that their released weights load strictly;
- ``weight_files``: reading plain, wrapped and prefixed checkpoint files, inferring the
  architecture from them, strict loading with readable mismatch reports.
"""

from irsde.nets.unet import (
    ArchitectureTooLarge,
    ConditionalUNet,
    build_net,
    check_architecture,
    pad_to_multiple,
)
from irsde.nets.weight_files import (
    CheckpointMismatchError,
    build_net_from_checkpoint,
    describe_mismatch,
    infer_architecture,
    load_state,
    load_weights,
    read_state_dict,
)

__all__ = [
    "ArchitectureTooLarge",
    "CheckpointMismatchError",
    "ConditionalUNet",
    "build_net",
    "build_net_from_checkpoint",
    "check_architecture",
    "describe_mismatch",
    "infer_architecture",
    "load_state",
    "load_weights",
    "pad_to_multiple",
    "read_state_dict",
]
