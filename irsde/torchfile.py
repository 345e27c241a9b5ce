"""Reading ``.pth``/``.pt`` files safely, with errors that name the file and say what to do.

:func:`load_torch_file` is ``torch.load(weights_only=True)``: tensors and plain containers only,
no code in the file is run. Every way a file can be unusable becomes one
:class:`TorchFileError` line naming it: empty, truncated or not a PyTorch file at all, or a
pickle of Python objects the safe loader refuses (torch's advice to pass ``weights_only=False``
is not passed on: that would run the file's code). A file cannot make the loader allocate more
than it holds: a zip record that is compressed (``torch.save`` never compresses; a small
compressed record can expand to any size) or a tensor that is a view larger than its storage
(a stride-0 "expanded" tensor of billions of elements over a few bytes, which any operation on
it would materialise) is refused before it is used.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
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


def _check_records(path: Path, size: int, what: str) -> None:
    """A zip-format torch file's records are stored as written and fit in the file."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as bundle:
            records = bundle.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load reports the damage
    compressed = [record.filename for record in records if record.compress_type != zipfile.ZIP_STORED]
    declared = sum(record.file_size for record in records)
    if compressed or declared > size:
        detail = f"compressed records ({', '.join(compressed[:3])})" if compressed else \
            f"records of {declared} bytes in {size}"
        raise TorchFileError(
            f"{what} {path} holds {detail}: torch.save writes neither, and such a record can expand to any size "
            f"(a zip bomb?); save the weights again with torch.save"
        )


def _check_tensors(payload, path: Path, what: str, key: str = "") -> None:
    """Every tensor of ``payload`` (nested dicts, lists, tuples) holds the bytes it claims."""
    if isinstance(payload, torch.Tensor):
        claimed = payload.numel() * payload.element_size()
        held = payload.untyped_storage().nbytes()
        if claimed > held:
            raise TorchFileError(
                f"{what} {path}: tensor {key or '(top level)'} of shape {tuple(payload.shape)} claims {claimed} bytes "
                f"but holds {held} (a view larger than its storage, e.g. an expanded tensor); save real weights"
            )
    elif isinstance(payload, dict):
        for name, value in payload.items():
            _check_tensors(value, path, what, f"{key}.{name}" if key else str(name))
    elif isinstance(payload, (list, tuple)):
        for index, value in enumerate(payload):
            _check_tensors(value, path, what, f"{key}[{index}]")


def load_torch_file(path: str | os.PathLike, what: str = "weight file"):
    """``torch.load(path, map_location="cpu", weights_only=True)`` with :class:`TorchFileError`
    (one line naming ``what`` and ``path``) for an empty, damaged, foreign, code-carrying or
    expanding file (module docstring)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise TorchFileError(f"{what} {path} is not a file (a folder or a device?); give the weight file itself")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise TorchFileError(f"{what} {path} is empty (0 bytes): the download or copy was cut short; get it again")
    _check_records(path, size, what)
    payload = _load(path, size, what)
    _check_tensors(payload, path, what)
    return payload


def _load(path: Path, size: int, what: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note about the pickle protocol
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        with open(path, "rb") as handle:
            head = handle.read(512)
        if not head.startswith((b"PK", b"\x80")):  # neither torch's zip container nor a pickle
            page = head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body"))
            raise TorchFileError(
                f"{what} {path} is {'an HTML/XML page' if page else 'not a PyTorch file'} ({size} bytes)"
                + (", not weights (a sign-in or virus-scan page served instead?)" if page else "")
                + ": get the file itself again"
            ) from None
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
