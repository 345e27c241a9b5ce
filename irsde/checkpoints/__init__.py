"""Released checkpoints: weight files published for the methods of the paper's tables.

- ``records``: the :class:`Checkpoint` record (method, file, pinned source, published row, citation)
- ``registry``: :data:`CHECKPOINTS`, the records by name (``irsde weights list``)
- ``fetch``: into ``resources/weights/``, verified by git blob id and sha256 (or trust on first
  use for browser-only files), from mirrors or the pinned source

A checkpoint restores through its method (:mod:`irsde.methods`): ``irsde restore --checkpoint
NAME``, or a ``released:`` entry of a pipeline benchmark.
"""

from irsde.checkpoints.fetch import (checkpoint_location, fetch_checkpoint, forget_first_use_pin, missing_message,
                                     verify_checkpoint)
from irsde.checkpoints.records import BrowserFile, Checkpoint, GitFile
from irsde.checkpoints.registry import CHECKPOINTS

__all__ = ["BrowserFile", "CHECKPOINTS", "Checkpoint", "GitFile", "checkpoint_location", "fetch_checkpoint",
           "forget_first_use_pin", "missing_message", "verify_checkpoint"]
