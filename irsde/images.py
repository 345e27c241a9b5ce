"""Image files and their array/tensor forms.

Conventions used across irsde: images on disk are 8-bit RGB PNG (or any format Pillow reads);
in memory a single image is a float32 numpy array HxWx3 in [0,1] or a float tensor 3xHxW; a batch
is a tensor Bx3xHxW. Conversion to uint8 clamps to [0,1] and rounds to nearest (the paper's
test-script convention).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from irsde.fileio import atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def read_uint8(path: str | os.PathLike) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB (greyscale / alpha converted to RGB)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from error


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as float32 HxWx3 RGB in [0,1]."""
    return read_uint8(path).astype(np.float32) / 255.0


def to_uint8(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Float image in [0,1] (HxWx3 array or 3xHxW tensor) -> HxWx3 uint8: clamp, then round."""
    if isinstance(image, torch.Tensor):
        image = image.detach().to("cpu", torch.float32)
        if image.ndim != 3:
            raise ValueError(f"expected a 3xHxW tensor, got shape {tuple(image.shape)}")
        image = image.permute(1, 2, 0).numpy()
    array = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    return np.rint(array * 255.0).astype(np.uint8)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 array (uint8 or float in [0,1]) -> float32 tensor 3xHxW in [0,1]."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {array.shape}")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1).contiguous()


def write_png(path: str | os.PathLike, image: np.ndarray | torch.Tensor) -> Path:
    """Write an image (uint8 HxWx3, or float in [0,1]) as PNG, atomically (temp file + rename)."""
    array = image if isinstance(image, np.ndarray) and image.dtype == np.uint8 else to_uint8(image)
    return atomic_write_bytes(path, lambda stream: Image.fromarray(array).save(stream, format="PNG"))
