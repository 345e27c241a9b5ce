"""Image files and their array/tensor forms: the one image loader of irsde.

Conventions used across irsde: images on disk are 8-bit RGB PNG (or any 8-bit format Pillow
reads); in memory a single image is a float32 numpy array HxWx3 in [0,1] or a float tensor
3xHxW; a batch is a tensor Bx3xHxW. Conversion to uint8 clamps to [0,1] and rounds to nearest
(the paper's test-script convention).

Preparation, training, restoration and evaluation all read images through :func:`read_rgb8`
(or :func:`read_uint8` / :func:`read_image`), so they refuse the same files, each time with
:class:`ImageFileError` naming the file: unreadable or truncated files, images deeper than 8 bits
per channel (16-bit PNG/TIFF, 32-bit integer or float images, which would otherwise be clipped
or truncated silently) and images larger than Pillow's decompression-bomb limit. Greyscale,
palette, alpha and CMYK images are converted to RGB. :func:`list_images` refuses a folder
holding two images with one name (``0001.jpg`` and ``0001.png``), since images are matched by name.

Float images that 8 bits cannot hold (a noisy denoising input, GT + sigma N(0, I), goes below 0
and above 1) are stored losslessly as float32 HxWx3 ``.npy`` arrays (:func:`write_float_image`,
:func:`read_float_image`); a degraded image may have such a companion beside its PNG preview
(``LQ/0001.npy`` next to ``LQ/0001.png``), and :func:`read_degraded` then returns the float one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from irsde.fileio import atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
# Pillow modes holding more than 8 bits per channel.
_DEEP_MODES = {"I": "32-bit integer", "F": "32-bit float", "I;16": "16-bit", "I;16B": "16-bit",
               "I;16L": "16-bit", "I;16N": "16-bit"}
MAX_LISTED = 5


class ImageFileError(ValueError):
    """An image file cannot be used; the message names it and says what to do."""


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name; ValueError when two of them
    share a name (stem), e.g. ``0001.jpg`` and ``0001.png``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    images = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    by_stem: dict[str, list[str]] = {}
    for path in images:
        by_stem.setdefault(path.stem, []).append(path.name)
    clashes = [", ".join(names) for names in by_stem.values() if len(names) > 1]
    if clashes:
        raise ImageFileError(
            f"image folder {folder} holds several images with one name ({'; '.join(clashes[:MAX_LISTED])}): "
            f"images are matched by name, so keep exactly one of each"
        )
    return images


def _depth_problem(image: Image.Image) -> str | None:
    """Why ``image`` (opened, not yet decoded) is not 8 bits per channel, or None."""
    if image.mode in _DEEP_MODES:
        return f"a {_DEEP_MODES[image.mode]} image (mode {image.mode})"
    for tile in getattr(image, "tile", None) or ():
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return f"a 16-bit image (stored as {rawmode})"
    return None


def _open(path: str | os.PathLike) -> Image.Image:
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise ImageFileError(f"cannot read image {path}: {error}") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageFileError(f"cannot read image {path}: {error}") from error
    problem = _depth_problem(image)
    if problem is not None:
        image.close()
        raise ImageFileError(
            f"{path} is {problem}; irsde reads 8-bit images only (more would be clipped or truncated "
            f"silently): convert it to 8-bit RGB, e.g. a PNG scaled to 0-255"
        )
    return image


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image file, read from its header only (with the same refusals as
    :func:`read_rgb8`, bar damage in the pixel data)."""
    with _open(path) as image:
        width, height = image.size
    return height, width


def read_rgb8(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """Read an image as HxWx3 uint8 RGB; also return its original mode if it was converted."""
    with _open(path) as image:
        try:
            image.load()
            converted = None if image.mode == "RGB" else image.mode
            rgb = image.convert("RGB") if converted else image
            return np.asarray(rgb, dtype=np.uint8).copy(), converted
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageFileError(f"cannot read image {path}: {error}") from error


def read_uint8(path: str | os.PathLike) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB (greyscale / alpha converted to RGB)."""
    return read_rgb8(path)[0]


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


FLOAT_IMAGE_SUFFIX = ".npy"


def write_float_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a float HxWx3 image losslessly (float32 ``.npy``, no clamping), atomically."""
    array = np.ascontiguousarray(image, dtype=np.float32)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{path}: expected an HxWx3 image, got shape {array.shape}")
    return atomic_write_bytes(path, lambda stream: np.save(stream, array))


def read_float_image(path: str | os.PathLike) -> np.ndarray:
    """Read a float HxWx3 ``.npy`` image (no pickled objects) as float32, values as stored."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ImageFileError(f"cannot read the float image {path} ({error}); write it again") from error
    if array.ndim != 3 or array.shape[2] != 3 or not np.issubdtype(array.dtype, np.floating):
        raise ImageFileError(f"{path}: expected an HxWx3 float array, got {array.dtype} of shape {array.shape}")
    return array.astype(np.float32)


def float_companion(path: str | os.PathLike) -> Path:
    """The lossless float version of an image file: the same name with ``.npy``."""
    return Path(path).with_suffix(FLOAT_IMAGE_SUFFIX)


def read_degraded(path: str | os.PathLike) -> np.ndarray:
    """A degraded (LQ) image as float32 HxWx3: its lossless float companion when there is one
    (values outside [0, 1] kept; it must have the PNG preview's size), else the image itself."""
    companion = float_companion(path)
    if not companion.is_file():
        return read_image(path)
    array = read_float_image(companion)
    height, width = image_size(path)
    if array.shape[:2] != (height, width):
        raise ImageFileError(f"{companion} is {array.shape[1]}x{array.shape[0]} but its preview {path} is {width}x{height}")
    return array
