"""A user's precomputed restorations: a folder of images per benchmark, scored like any method.

The folder holds one restored image per test image, named after it (the same name up to the
extension: ``0003.png`` or ``0003.jpg`` for ``test/GT/0003.png``; any 8-bit image irsde reads)
and of the same size; nothing else but non-image files. :func:`check_outputs` compares a folder
with the test images it must match and raises :class:`OutputsMismatch` naming every missing,
extra (no test image of that name) and wrongly sized file. :func:`import_outputs` checks a folder
against a prepared test split and copies it into a restoration folder (:mod:`irsde.restoration`:
``png/`` and ``restore.json``, no ``float/``, and a record saying there is none: the PNGs are
scored, LPIPS included under the protocols that otherwise read float outputs), so that
evaluation, figures and regression read it like any restored set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from irsde.data.layout import sha256_file
from irsde.fileio import exclusive_folder, remove_stale_parts
from irsde.images import image_size, list_images, read_uint8, write_png
from irsde.rows import USER_OUTPUTS
from irsde.restoration import FLOAT_OUTPUTS, RestoredSet, write_manifest


class OutputsMismatch(ValueError):
    """A folder of user outputs does not match its test split; the message lists every file at fault."""


def split_images(split_dir: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """File name -> (height, width) of the ground-truth images of a prepared split."""
    return {path.name: image_size(path) for path in list_images(Path(split_dir) / "GT")}


def check_outputs(folder: str | os.PathLike, expected: Mapping[str, tuple[int, int]], what: str) -> list[Path]:
    """The images of ``folder``, in the order of ``expected`` (test image name -> (height,
    width)), matched by name up to the extension. ``what`` names the folder in errors (e.g.
    the config key declaring it). Raises FileNotFoundError for a missing folder and
    :class:`OutputsMismatch` listing every missing, extra or wrongly sized file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what}: folder {folder} not found")
    found = {path.stem: path for path in list_images(folder)}
    wanted = {Path(name).stem: name for name in expected}
    missing = [name for stem, name in wanted.items() if stem not in found]
    extra = [path.name for stem, path in found.items() if stem not in wanted]
    wrong = [
        f"{path.name} is {_size(image_size(path))}, the test image {_size(expected[wanted[stem]])}"
        for stem, path in found.items()
        if stem in wanted and image_size(path) != expected[wanted[stem]]
    ]
    problems = [f"missing: {', '.join(missing)}"] if missing else []
    problems += [f"extra (no test image of that name): {', '.join(extra)}"] if extra else []
    problems += [f"wrong size: {'; '.join(wrong)}"] if wrong else []
    if problems:
        raise OutputsMismatch(
            f"{what}: {folder} must hold one restored image per test image, named and sized like it "
            f"({len(expected)} images); {'. '.join(problems)}"
        )
    return [found[Path(name).stem] for name in expected]


def _size(height_width: tuple[int, int]) -> str:
    height, width = height_width
    return f"{width}x{height} px"


def import_outputs(
    folder: str | os.PathLike, split_dir: str | os.PathLike, out_dir: str | os.PathLike, row: str, seed: int
) -> RestoredSet:
    """Check ``folder`` against the test split ``split_dir`` and copy it, as PNGs named like
    the test images, into the restoration folder ``out_dir``, recorded as row ``row`` (its
    ``restore.json`` names the source folder and each source file's sha256)."""
    split_dir = Path(split_dir)
    gt_names = list(split_images(split_dir))
    sources = check_outputs(folder, split_images(split_dir), f"user outputs {row!r}")
    restored = RestoredSet(Path(out_dir))
    with exclusive_folder(restored.root, f"user outputs {row}"):
        remove_stale_parts(restored.root, restored.png_dir)
        restored.manifest_path.unlink(missing_ok=True)  # written last: it marks a complete folder
        for stale in restored.png_dir.glob("*.png"):  # of an earlier import into this folder
            stale.unlink()
        started = time.time()
        for name, source in zip(gt_names, sources):
            write_png(restored.png_dir / f"{Path(name).stem}.png", read_uint8(source))
        write_manifest(restored, {
            "method": row,
            "source": USER_OUTPUTS,
            "images": [Path(name).stem for name in gt_names],
            "folder": str(Path(folder).resolve()),
            "sha256": {source.name: sha256_file(source) for source in sources},
            "split_dir": str(split_dir.resolve()),
            "gt_dir": str((split_dir / "GT").resolve()),
            "limit": None,
            "seed": seed,
            "seconds": round(time.time() - started, 3),
            FLOAT_OUTPUTS: False,
        })
    return restored
