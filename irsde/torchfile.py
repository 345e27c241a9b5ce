"""Reading ``.pth``/``.pt`` files safely, with errors that name the file and say what to do.

:func:`load_torch_file` is ``torch.load(weights_only=True)``: tensors and plain containers only,
no code in the file is run. Every way a file can be unusable becomes one
:class:`TorchFileError` line naming it: empty, truncated or not a PyTorch file at all, or a
pickle of Python objects the safe loader refuses (torch's advice to pass ``weights_only=False``
is not passed on: that would run the file's code).
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path

import torch

_FIRST_LINE = 200


class TorchFileError(ValueError):
    """A weight or checkpoint file cannot be read."""


def _refused_objects(message: str) -> str:
    """What the safe unpickler refused, as torch words it (e.g. ``GLOBAL posix.system``)."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return f"the Python object {found.group(1)}"
    found = re.search(r"Unsupported operand (\d+)", message)
    return f"pickle opcode {found.group(1)}" if found else "Python objects other than tensors"


def load_torch_file(path: str | os.PathLike, what: str = "weight file"):
    """``torch.load(path, map_location="cpu", weights_only=True)`` with :class:`TorchFileError`
    (one line naming ``what`` and ``path``) for an empty, damaged, foreign or code-carrying file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise TorchFileError(f"{what} {path} is empty (0 bytes): the download or copy was cut short; get it again")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note about the pickle protocol
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" not in str(error).lower():
            raise TorchFileError(
                f"{what} {path} is not a PyTorch file or is damaged ({size} bytes): get it again"
            ) from None
        raise TorchFileError(
            f"{what} {path} holds {_refused_objects(str(error))}, which irsde does not unpickle because "
            f"that could run code from the file: where the file was made, save the weights alone "
            f"(torch.save(model.state_dict(), path))"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, IndexError, TypeError, AttributeError) as error:
        detail = re.split(r"\.\s", str(error).strip())[0][:_FIRST_LINE] or type(error).__name__
        raise TorchFileError(
            f"{what} {path} is not a PyTorch file or is truncated ({size} bytes; {detail}): get or copy it again"
        ) from None
