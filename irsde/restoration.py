"""Restoring a test set with a method: batching, tiling, the output folder and its record.

Every restoration, by any method, goes through :func:`restore_split` / :func:`restore_folder`,
which call ``method.restore(net, lq, generator)`` (:class:`irsde.methods.Method`) without
gradients (``torch.inference_mode``) through :func:`irsde.methods.restore_batch`: an output that
is no tensor, holds another count or size of images or integer values stops the run, naming the
method, before anything of that batch is written. An image above :data:`MAX_WHOLE_IMAGE_PIXELS` is
restored only in tiles (refused before any work otherwise). One output folder per run::

    <out>/png/<stem>.png     the clamped, rounded uint8 output: nothing else lives here (FID reads it)
    <out>/float/<stem>.npy   the unclamped float32 HxWx3 output (LPIPS-on-float protocols read it)
    <out>/restore.json       how it was made: method, seed, sampler, batch size, tiling, sources,
                             seconds, package versions, git commit ...
                             (written last: its presence marks a complete folder)

A set whose method delivers 8-bit images only (a user's precomputed outputs,
:mod:`irsde.user_outputs`) has the same layout without ``float/`` and says so in its record
(``"float_outputs": false``); evaluation then computes LPIPS on its PNGs and notes it.

Same-size images are restored ``batch_size`` at a time, or each image in overlapping tiles
blended with linear ramps (:func:`restore_tiled`). One CPU ``torch.Generator`` seeded with the
run's seed drives all noise, so an output depends on (method, weights, seed, batch size,
tiling, image list) only.

One process at a time writes a folder (``irsde.fileio.exclusive_folder``); a network output
holding NaN/inf stops the run before that image is written, and the images this run had written
are removed, so a folder is either complete or holds nothing of the failed run.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from irsde.data.loaders import paired_files
from irsde.documents import read_json_object
from irsde.fileio import atomic_write_text, exclusive_folder, remove_stale_parts
from irsde.finite import NonFiniteError, check_finite_images
from irsde.images import image_size, read_degraded, to_tensor, write_float_image, write_png
from irsde.methods import Method, restore_batch
from irsde.metrics.batching import same_size_batches
from irsde.software import git_commit, package_versions

PNG_SUBDIR = "png"
FLOAT_SUBDIR = "float"
MANIFEST = "restore.json"
FLOAT_OUTPUTS = "float_outputs"
"""Manifest key: true when the set has ``float/`` (every ``irsde restore``), false when its PNGs
are all the method delivered (a user's precomputed outputs). Absent (older records): true."""
MAX_LISTED = 5
TILE_HINT = "restore it in tiles: --tile 512 (tiles of 512x512 px blended over --tile-overlap 32 px; tile=512 in Python)"

MAX_WHOLE_IMAGE_PIXELS = 2048 * 2048
"""Largest image restored in one piece (every registered benchmark's images are smaller). A
network's activations grow with the pixel count: the paper's network (nf 64, depth 4) holds about
5 KB per pixel during one evaluation, 21 GB at this size; larger images are restored in tiles."""
ACTIVATION_BYTES_PER_PIXEL = 5 * 1024  # the paper's network, measured on one 512x512 forward pass

RestoreBatch = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""``(lq batch, generator) -> restored batch``: a method's restore with its network bound."""


# ----------------------------------------------------------------------------------- tiling


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with >= ``overlap`` shared
    pixels between neighbours; the last tile ends exactly at the border."""
    if overlap < 0:
        raise ValueError(f"tile overlap {overlap}: expected a number of pixels >= 0 (neighbouring tiles share it)")
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def check_tiling(tile: int | None, overlap: int) -> None:
    """Tile size and overlap usable together (:func:`tile_starts`), checked before any work."""
    if tile is not None:
        tile_starts(tile, tile, overlap)


def check_whole_image_size(height: int, width: int, image: str, hint: str, work: str = "irsde restores",
                           network: str = "the paper's network", bytes_per_pixel: int = ACTIVATION_BYTES_PER_PIXEL) -> None:
    """Refuse to run a network over an image larger than :data:`MAX_WHOLE_IMAGE_PIXELS` in one
    piece, naming it, the bound and its reason (``network`` needs ``bytes_per_pixel``); ``work``
    says what is bounded, ``hint`` what to do instead."""
    pixels = height * width
    if pixels > MAX_WHOLE_IMAGE_PIXELS:
        need = pixels * bytes_per_pixel / 2**30
        raise ValueError(
            f"{image} is {width}x{height} px ({pixels / 1e6:.1f} Mpx), more than the "
            f"{MAX_WHOLE_IMAGE_PIXELS / 1e6:.1f} Mpx {work} in one piece: a network's memory grows with the "
            f"pixel count ({network} would need about {need:.0f} GB for it); {hint}"
        )


def blend_weights(size: int, overlap: int) -> torch.Tensor:
    """1-D blending ramp: rises linearly over ``overlap`` pixels at both ends, 1 in between,
    and positive everywhere (so a lone tile at a border is weighted correctly after normalising)."""
    position = torch.arange(size, dtype=torch.float32)
    ramp = torch.minimum(position + 1, size - position) / (overlap + 1)
    return ramp.clamp(max=1.0)


def restore_tiled(
    checked_restore: RestoreBatch, lq: torch.Tensor, generator: torch.Generator, tile: int, overlap: int, batch_size: int = 1
) -> torch.Tensor:
    """Restore one image (1x3xHxW) tile by tile and blend the overlaps with linear ramps."""
    if lq.shape[0] != 1:
        raise ValueError(f"tiled restoration takes one image at a time, got a batch of {lq.shape[0]}")
    height, width = lq.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    corners = [(top, left) for top in tile_starts(height, tile, overlap) for left in tile_starts(width, tile, overlap)]
    weight = torch.outer(blend_weights(tile_h, overlap), blend_weights(tile_w, overlap)).to(lq.device)
    total = torch.zeros_like(lq)
    norm = torch.zeros((1, 1, height, width), dtype=lq.dtype, device=lq.device)
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        tiles = torch.cat([lq[..., top : top + tile_h, left : left + tile_w] for top, left in chunk])
        restored = checked_restore(tiles, generator)
        for (top, left), output in zip(chunk, restored):
            total[0, :, top : top + tile_h, left : left + tile_w] += output * weight
            norm[0, :, top : top + tile_h, left : left + tile_w] += weight
    return total / norm


# ----------------------------------------------------------------------------------- restore


@dataclass(frozen=True)
class RestoredSet:
    """A restoration output folder (see the module docstring)."""

    root: Path

    @property
    def png_dir(self) -> Path:
        return self.root / PNG_SUBDIR

    @property
    def float_dir(self) -> Path:
        return self.root / FLOAT_SUBDIR

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def eight_bit_only(self) -> bool:
        """Whether the set declares that its PNGs are all there is (no float output was ever made)."""
        return self.manifest().get(FLOAT_OUTPUTS, True) is False

    def manifest(self) -> dict:
        """The ``restore.json`` record ({} when absent, e.g. PNGs from elsewhere)."""
        if not self.manifest_path.is_file():
            return {}
        return read_json_object(self.manifest_path, "restore record",
                                "the folder is no complete restoration: restore (or import) it again")


def restore_split(
    method: Method,
    net: nn.Module,
    split_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    seed: int = 0,
    batch_size: int = 1,
    tile: int | None = None,
    tile_overlap: int = 32,
    limit: int | None = None,
    metadata: dict | None = None,
    progress: bool = True,
) -> RestoredSet:
    """Restore the LQ images of a prepared split (``<split>/{GT,LQ}``) into ``out_dir``.

    ``limit`` keeps the first N images by name; the manifest records the split and its GT
    folder. See :func:`restore_folder` for the rest.
    """
    split_dir = Path(split_dir)
    lq_paths = [lq for _, lq in paired_files(split_dir)][:limit]
    record = {"split_dir": str(split_dir.resolve()), "gt_dir": str((split_dir / "GT").resolve()), "limit": limit,
              **(metadata or {})}
    return restore_folder(method, net, lq_paths, out_dir, seed, batch_size, tile, tile_overlap, record, progress)


def restore_folder(
    method: Method,
    net: nn.Module,
    lq_paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    seed: int = 0,
    batch_size: int = 1,
    tile: int | None = None,
    tile_overlap: int = 32,
    metadata: dict | None = None,
    progress: bool = True,
) -> RestoredSet:
    """Restore every image of ``lq_paths`` with ``method.restore(net, ...)`` into ``out_dir``.

    ``net`` must be in the mode to use (``eval()``) on the device to compute on; images are
    moved there. Same-size images are restored ``batch_size`` at a time (or, with ``tile``, each
    image in ``tile`` x ``tile`` tiles overlapping by ``tile_overlap`` pixels, ``batch_size``
    tiles at a time). One CPU ``torch.Generator`` seeded with ``seed`` drives all noise. The
    manifest records the method's id and settings, this call's arguments and ``metadata``
    (weights, run, dataset ...; a ``method`` entry there names the row the results belong to,
    e.g. ``published`` for IR-SDE with the authors' weights).
    """
    lq_paths = [Path(path) for path in lq_paths]
    if not lq_paths:
        raise ValueError("no images to restore")
    restored = RestoredSet(Path(out_dir))
    if restored.root.exists() and not restored.root.is_dir():
        raise ValueError(
            f"output folder {restored.root} is a file; give a folder (it receives png/, float/, {MANIFEST})"
        )
    _check_apart_from_inputs(restored.root, lq_paths)
    check_tiling(tile, tile_overlap)
    if tile is None:
        for path in lq_paths:
            check_whole_image_size(*image_size(path), str(path), TILE_HINT)
    device = _device_of(net)
    with exclusive_folder(restored.root, f"irsde restore, seed {seed}"):
        remove_stale_parts(restored.root, restored.png_dir, restored.float_dir)
        _check_output_folder(restored, lq_paths)
        restored.manifest_path.unlink(missing_ok=True)  # written last: it marks a complete folder
        restored.png_dir.mkdir(parents=True, exist_ok=True)
        restored.float_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()
        checked_restore = functools.partial(restore_batch, method, net)
        _restore_images(checked_restore, lq_paths, restored, seed, batch_size, tile, tile_overlap, device, progress)
        record = {
            "method": method.id,
            **method.settings(),
            "images": [path.stem for path in lq_paths],
            "lq_dir": str(lq_paths[0].parent.resolve()),
            "seed": seed,
            "batch_size": batch_size,
            "tile": tile,
            "tile_overlap": tile_overlap if tile else None,
            "device": str(device),
            "seconds": round(time.time() - started, 3),
            "versions": package_versions(),
            "git": git_commit(),
            FLOAT_OUTPUTS: True,
            **(metadata or {}),
        }
        write_manifest(restored, record)
    return restored


def _restore_images(checked_restore: RestoreBatch, lq_paths: list[Path], restored: RestoredSet, seed: int,
                    batch_size: int, tile: int | None, tile_overlap: int, device, progress: bool) -> None:
    """The restoration loop of :func:`restore_folder`; on any error the files it wrote are removed."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    batches = list(same_size_batches(lq_paths, 1 if tile else batch_size))
    written: list[Path] = []
    try:
        with torch.inference_mode(), tqdm(total=len(lq_paths), desc="restore", unit="img", disable=not progress) as bar:
            for batch in batches:
                lq = torch.stack([to_tensor(read_degraded(path)) for path in batch]).to(device)
                if tile:
                    output = restore_tiled(checked_restore, lq, generator, tile, tile_overlap, batch_size)
                else:
                    output = checked_restore(lq, generator)
                try:
                    check_finite_images(output.detach(), [str(path) for path in batch], "the network's output")
                except NonFiniteError as error:
                    raise NonFiniteError(
                        f"{error}; nothing of this run is kept in {restored.root}: check the weights "
                        f"(a diverged training?) and the sampler settings"
                    ) from None
                written += _write_outputs(restored, batch, output)
                bar.update(len(batch))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _device_of(net: nn.Module) -> torch.device:
    parameter = next(net.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _check_apart_from_inputs(out: Path, lq_paths: list[Path]) -> None:
    """The output folder is neither an input folder, nor inside one, nor around one: writing there
    would add png/, float/ and restore.json to a dataset (an LQ folder holding restore.json is then
    read as a restoration, and its degraded images are no longer what is scored as the input)."""
    target = out.resolve()
    for folder in sorted({path.parent.resolve() for path in lq_paths}):
        if target == folder or folder in target.parents or target in folder.parents:
            where = "is" if target == folder else ("is inside" if folder in target.parents else "holds")
            raise ValueError(f"output folder {out} {where} the input folder {folder}: write restorations to a "
                             f"folder of their own (e.g. results/restored/...)")


def _check_output_folder(restored: RestoredSet, lq_paths: list[Path]) -> None:
    """The PNG folder must end up holding exactly this run's images: refuse foreign files."""
    if not restored.png_dir.is_dir():
        return
    expected = {f"{path.stem}.png" for path in lq_paths}
    foreign = sorted(entry.name for entry in restored.png_dir.iterdir() if entry.name not in expected)
    if foreign:
        raise ValueError(
            f"output folder {restored.png_dir} holds files of another run ({', '.join(foreign[:MAX_LISTED])}); "
            f"use an empty --out folder"
        )


def _write_outputs(restored: RestoredSet, batch: list[Path], output: torch.Tensor) -> list[Path]:
    output = output.detach().to("cpu", torch.float32)
    written = []
    for path, image in zip(batch, output):
        array = image.permute(1, 2, 0).numpy()
        written.append(write_float_image(restored.float_dir / f"{path.stem}.npy", array))
        written.append(write_png(restored.png_dir / f"{path.stem}.png", image))
    return written


def write_manifest(restored: RestoredSet, record: dict) -> None:
    """Write ``restore.json`` (last: its presence marks a complete folder)."""
    atomic_write_text(restored.manifest_path, json.dumps(record, indent=2, default=str) + "\n")
