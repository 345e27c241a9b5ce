"""Preparation: sources -> ``<root>/<dataset>/<split>/{GT,LQ}/<name>.png``.

Steps, per dataset: resolve every source (a user path, else ``resources/``, else a verified
download), extract archives safely into the build folder, match files to pairs with the split's
patterns, then read, validate and write every pair. Validation: both files present and readable,
8-bit (greyscale, palette, RGBA, CMYK are converted to RGB and each conversion is logged and
recorded), GT and LQ the same size after the split's declared fix. All problems of a split are
collected and reported together, each naming its file. The build is atomic and idempotent
(``irsde.data.layout``): a dataset whose marker records the current recipe is not rebuilt unless
``force`` is given.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from tqdm import tqdm

import irsde
from irsde.data.archives import extract_archive
from irsde.data.degradations import apply_mask, gaussian_noise, resize_uint8
from irsde.data.download import DownloadPolicy
from irsde.data.fetch import default_resources, fetch_source
from irsde.data.git_trees import verify_git_folder
from irsde.data.layout import building, dataset_dir, read_marker, write_marker
from irsde.data.lock import ChecksumMismatch, check_against, expected_digests, file_digests
from irsde.data.records import Dataset, GitTreeSource, Source, Split, Synthesis, output_name
from irsde.data.registry import get_dataset
from irsde.data.seeding import derive_rng
from irsde.images import ImageFileError, float_companion, list_images, read_rgb8, to_uint8, write_float_image, write_png

log = logging.getLogger(__name__)


class PairProblem(ValueError):
    """One pair cannot be prepared; the message names the file(s)."""


def _problems_error(label: str, problems: list[str]) -> ValueError:
    return ValueError(f"{label}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))


# -- sources ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedSource:
    """A source on disk: an archive to extract or a folder to read in place."""

    name: str
    path: Path
    is_archive: bool
    provenance: dict


def _user_source(source: Source, path: Path, resources: Path) -> ResolvedSource:
    if not path.exists():
        raise FileNotFoundError(f"path given for source {source.name} does not exist: {path}")
    provenance = {"path": str(path.resolve()), "supplied_by": "user"}
    if path.is_dir():
        note = "folder, contents not checked against the registry"
        if isinstance(source, GitTreeSource):
            try:
                note = f"folder matching git tree {verify_git_folder(source, path)}"
            except ChecksumMismatch as error:
                log.warning("user folder for %s differs from the pinned copy: %s", source.name, error)
                note = f"folder differing from the pinned git tree: {error}"
        return ResolvedSource(source.name, path, False, {**provenance, "verification": note})
    digests = file_digests(path)
    note = "archive digests recorded; none pinned"
    try:
        expected = expected_digests(source.name, resources)
        check_against(source.name, path, digests, expected)
        if expected:
            note = "archive matches the checksum lock"
    except ChecksumMismatch as error:
        log.warning("user archive for %s differs from the checksum lock: %s", source.name, error)
        note = f"archive differs from the checksum lock: {error}"
    return ResolvedSource(source.name, path, True, {**provenance, **digests.as_dict(), "verification": note})


def _resources_source(source: Source, resources: Path, offline: bool, policy: DownloadPolicy,
                      mirrors: list[str] | None) -> ResolvedSource:
    path = fetch_source(source, resources, offline, policy, mirrors)
    if isinstance(source, GitTreeSource):
        provenance = {"repo": source.repo, "commit": source.commit, "folder": source.folder,
                      "tree_id": source.tree_id, "verification": "git tree id matches"}
        return ResolvedSource(source.name, path, False, provenance)
    digests = {k: v for k, v in expected_digests(source.name, resources).items() if k in ("sha256", "md5", "size")}
    return ResolvedSource(source.name, path, True, {**digests, "verification": "matches the checksum lock"})


def resolve_sources(dataset: Dataset, resources: str | os.PathLike | None = None,
                    paths: Mapping[str, str | os.PathLike] | None = None, offline: bool = False,
                    policy: DownloadPolicy = DownloadPolicy(),
                    mirrors: list[str] | None = None) -> dict[str, ResolvedSource]:
    """Locate every source of ``dataset``: ``paths[source name]`` (a folder or an archive given
    by the user) first, then ``resources/``, then a download (unless ``offline``; from
    ``mirrors`` first, see ``irsde.data.fetch``)."""
    resources = default_resources(resources)
    paths = dict(paths or {})
    unknown = set(paths) - {source.name for source in dataset.sources}
    if unknown:
        raise KeyError(f"{dataset.name} has no source(s) {sorted(unknown)}; its sources are {[s.name for s in dataset.sources]}")
    resolved = {}
    for source in dataset.sources:
        if source.name in paths:
            resolved[source.name] = _user_source(source, Path(paths[source.name]), resources)
        else:
            resolved[source.name] = _resources_source(source, resources, offline, policy, mirrors)
    return resolved


def _source_trees(sources: dict[str, ResolvedSource], scratch: Path, progress: bool) -> dict[str, Path]:
    trees = {}
    for name, source in sources.items():
        if source.is_archive:
            trees[name] = extract_archive(source.path, scratch / name, progress=progress)
        else:
            trees[name] = source.path
    return trees


# -- matching files to pairs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPair:
    name: str  # output file name
    gt: Path
    lq: Path | None  # None: synthesised
    index: int  # position among the split's selected pairs (sorted by name)


def _walk(root: Path) -> list[str]:
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        found += [(Path(folder) / file).relative_to(root).as_posix() for file in files]
    return sorted(found)


def _key(groups: dict[str, str], names: list[str]) -> tuple:
    return tuple(int(groups[n]) if groups[n].isdigit() else groups[n] for n in names)


def plan_pairs(split: Split, trees: Mapping[str, Path], label: str) -> list[PlannedPair]:
    """Match the files of the split's sources into named pairs; raise listing every file that
    matches both patterns, shares a pair with another, or lacks its partner."""
    gt_regex, lq_regex = split.gt_regex(), split.lq_regex()
    gt_names = sorted(gt_regex.groupindex)
    gts: dict[tuple, tuple[dict, Path]] = {}
    lqs: list[tuple[dict, Path]] = []
    problems: list[str] = []
    for source in split.sources:
        root = trees[source]
        holds_gt = split.lq_source is None or source != split.lq_source
        holds_lq = lq_regex is not None and (split.lq_source is None or source == split.lq_source)
        for relative in _walk(root):
            gt_match = gt_regex.search(relative) if holds_gt else None
            lq_match = lq_regex.search(relative) if holds_lq else None
            path = root / relative
            if gt_match and lq_match:
                problems.append(f"{path} matches both the GT and the LQ pattern")
            elif gt_match:
                key = _key(gt_match.groupdict(), gt_names)
                if key in gts:
                    problems.append(f"two GT files for one pair: {gts[key][1]} and {path}")
                else:
                    gts[key] = (gt_match.groupdict(), path)
            elif lq_match:
                lqs.append((lq_match.groupdict(), path))
    pairs: dict[str, tuple[Path, Path | None]] = {}

    def add(name: str, gt: Path, lq: Path | None) -> None:
        if name in pairs:
            problems.append(f"two pairs would be named {name}: {pairs[name][1] or pairs[name][0]} and {lq or gt}")
        else:
            pairs[name] = (gt, lq)

    if lq_regex is None:
        for groups, path in gts.values():
            add(output_name(split.output, groups), path, None)
    else:
        used = set()
        for groups, path in lqs:
            key = _key(groups, gt_names)
            if key not in gts:
                problems.append(f"LQ {path} has no GT (no file matching {split.gt} with {dict(zip(gt_names, key))})")
                continue
            used.add(key)
            add(output_name(split.output, groups), gts[key][1], path)
        problems += [f"GT {gts[key][1]} has no LQ (no file matching {split.lq})" for key in sorted(gts.keys() - used)]
    if problems:
        raise _problems_error(label, problems)
    names = sorted(pairs)
    if split.select is not None:
        names = names[slice(*split.select)]
    return [PlannedPair(name, *pairs[name], index=index) for index, name in enumerate(names)]


# -- reading, fixing and writing one pair -------------------------------------------------------------


def load_rgb8(path: Path) -> tuple[np.ndarray, str | None]:
    """Read an image with irsde's one loader (:func:`irsde.images.read_rgb8`); a refusal becomes
    a :class:`PairProblem` so that every problem of a split is reported together."""
    try:
        return read_rgb8(path)
    except ImageFileError as error:
        raise PairProblem(str(error)) from error


def _crop_gt_centre(gt: np.ndarray, lq: np.ndarray, pair: PlannedPair) -> tuple[np.ndarray, np.ndarray]:
    (height, width), (lq_height, lq_width) = gt.shape[:2], lq.shape[:2]
    top, left = (height - lq_height) // 2, (width - lq_width) // 2
    if top < 0 or left < 0:
        raise PairProblem(f"GT {pair.gt} ({width}x{height}) is smaller than LQ {pair.lq} ({lq_width}x{lq_height})")
    return gt[top:top + lq_height, left:left + lq_width], lq


def _bicubic_lq_x4(gt: np.ndarray, lq: np.ndarray, pair: PlannedPair) -> tuple[np.ndarray, np.ndarray]:
    (height, width), (lq_height, lq_width) = gt.shape[:2], lq.shape[:2]
    if not (4 * lq_height <= height < 4 * lq_height + 4 and 4 * lq_width <= width < 4 * lq_width + 4):
        raise PairProblem(f"LQ {pair.lq} ({lq_width}x{lq_height}) is not a x4 reduction of GT {pair.gt} ({width}x{height})")
    return gt[: 4 * lq_height, : 4 * lq_width], resize_uint8(lq, 4 * lq_width, 4 * lq_height)


FIXES = {"crop-gt-centre": _crop_gt_centre, "bicubic-lq-x4": _bicubic_lq_x4}


class _Synthesiser:
    """Makes the LQ image of a GT-only pair as its :class:`Synthesis` says."""

    def __init__(self, synthesis: Synthesis, trees: Mapping[str, Path]):
        self.synthesis = synthesis
        self.masks = list_images(trees[synthesis.masks]) if synthesis.kind == "inpaint-mask" else []
        if synthesis.kind == "inpaint-mask" and not self.masks:
            raise FileNotFoundError(f"no mask images in {trees[synthesis.masks]}")

    def __call__(self, gt: np.ndarray, pair: PlannedPair) -> np.ndarray:
        """The LQ image of ``gt`` as float32 HxWx3 (noise not clipped; 8 bits when written as PNG)."""
        spec = self.synthesis
        rng = derive_rng(spec.seed, spec.kind, pair.name)
        image = gt.astype(np.float32) / 255.0
        if spec.kind == "gaussian-noise":
            return gaussian_noise(image, rng, spec.sigma)[0]
        known = self._mask(pair, rng)
        if known.shape != gt.shape[:2]:
            raise PairProblem(f"mask for {pair.gt} is {known.shape[1]}x{known.shape[0]}, image is {gt.shape[1]}x{gt.shape[0]}")
        return apply_mask(image, known)

    def _mask(self, pair: PlannedPair, rng: np.random.Generator) -> np.ndarray:
        if self.synthesis.mask_choice == "index":
            if pair.index >= len(self.masks):
                raise PairProblem(f"{pair.gt}: no mask number {pair.index} (only {len(self.masks)} masks)")
            path, turns, flip = self.masks[pair.index], 0, False
        else:
            path = self.masks[int(rng.integers(len(self.masks)))]
            turns, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        known = load_rgb8(path)[0][..., 0] >= 128  # 255 marks known pixels
        known = np.rot90(known, turns)
        return np.fliplr(known) if flip else known


def _write(destination: Path, array: np.ndarray, source: Path, untouched: bool) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if untouched and source.suffix.lower() == ".png":
        shutil.copyfile(source, destination)  # already an 8-bit RGB PNG: keep its bytes
    else:
        write_png(destination, array)


def prepare_pair(pair: PlannedPair, split: Split, out_dir: Path, synthesise: _Synthesiser | None) -> list[dict]:
    """Validate and write one pair; returns the colour conversions made (for the record)."""
    gt, gt_mode = load_rgb8(pair.gt)
    synthesised = synthesise(gt, pair) if pair.lq is None else None
    lq, lq_mode = load_rgb8(pair.lq) if pair.lq is not None else (to_uint8(synthesised), None)
    fixed_gt, fixed_lq = FIXES[split.fix](gt, lq, pair) if split.fix else (gt, lq)
    if fixed_gt.shape != fixed_lq.shape:
        raise PairProblem(
            f"size mismatch: GT {pair.gt} is {fixed_gt.shape[1]}x{fixed_gt.shape[0]}, "
            f"LQ {pair.lq} is {fixed_lq.shape[1]}x{fixed_lq.shape[0]}"
        )
    _write(out_dir / "GT" / pair.name, fixed_gt, pair.gt, gt_mode is None and fixed_gt is gt)
    _write(out_dir / "LQ" / pair.name, fixed_lq, pair.lq or pair.gt, pair.lq is not None and lq_mode is None and fixed_lq is lq)
    if synthesised is not None and split.synthesis.float_lq:
        write_float_image(float_companion(out_dir / "LQ" / pair.name), synthesised)
    conversions = []
    for path, mode in ((pair.gt, gt_mode), (pair.lq, lq_mode)):
        if mode is not None:
            log.info("converted %s -> RGB: %s", mode, path)
            conversions.append({"file": str(path), "from": mode, "to": "RGB"})
    return conversions


# -- a split, a dataset -------------------------------------------------------------------------------


def build_split(dataset: Dataset, split: Split, trees: Mapping[str, Path], out_dir: Path,
                strict_counts: bool = True, progress: bool = True) -> dict:
    """Prepare one split into ``out_dir/{GT,LQ}``; returns its record for the marker."""
    label = f"{dataset.name}/{split.name}"
    pairs = plan_pairs(split, trees, label)
    warnings = []
    if len(pairs) != split.pairs:
        looked = ", ".join(str(trees[source]) for source in split.sources)
        message = f"{label}: expected {split.pairs} pairs, found {len(pairs)} (GT pattern {split.gt!r} in {looked})"
        if strict_counts and split.pairs_confirmed:
            raise ValueError(message + "; a truncated or different archive? (`irsde data prepare --allow-count-mismatch` "
                                       "accepts it)")
        log.warning(message)
        warnings.append(message)
    synthesise = _Synthesiser(split.synthesis, trees) if split.synthesis else None
    problems, conversions = [], []
    for pair in tqdm(pairs, desc=label, unit="pair", disable=not progress):
        try:
            conversions += prepare_pair(pair, split, out_dir, synthesise)
        except PairProblem as problem:
            problems.append(str(problem))
    if problems:
        raise _problems_error(label, problems)
    return {
        "pairs": len(pairs),
        "expected_pairs": split.pairs,
        "fix": split.fix,
        "synthesis": asdict(split.synthesis) if split.synthesis else None,
        "conversions": conversions,
        "warnings": warnings,
    }


def prepare_dataset(name: str | Dataset, root: str | os.PathLike, resources: str | os.PathLike | None = None,
                    paths: Mapping[str, str | os.PathLike] | None = None, offline: bool = False,
                    force: bool = False, strict_counts: bool = True, progress: bool = True,
                    policy: DownloadPolicy = DownloadPolicy(), mirrors: list[str] | None = None) -> Path:
    """Prepare dataset ``name`` into ``<root>/<name>/<split>/{GT,LQ}/`` and return that folder.

    ``paths`` maps source names to a user folder or archive used instead of ``resources/``;
    ``offline`` forbids downloads. A dataset already prepared with the same recipe is left as
    it is unless ``force``. Raises FileNotFoundError for a missing source (saying where to put
    it) and ValueError listing every offending file.
    """
    dataset = get_dataset(name)
    marker = read_marker(root, dataset.name)
    if marker is not None and marker.get("recipe") == dataset.recipe_digest() and not force:
        log.info("%s is already prepared in %s (force=True rebuilds it)", dataset.name, dataset_dir(root, dataset.name))
        return dataset_dir(root, dataset.name)
    sources = resolve_sources(dataset, resources, paths, offline, policy, mirrors)
    with building(root, dataset.name, replace_incomplete=force) as work:
        trees = _source_trees(sources, work / ".sources", progress)
        splits = {split.name: build_split(dataset, split, trees, work / split.name, strict_counts, progress)
                  for split in dataset.splits}
        shutil.rmtree(work / ".sources", ignore_errors=True)
        write_marker(work, _marker_record(dataset, sources, splits))
    log.info("prepared %s in %s", dataset.name, dataset_dir(root, dataset.name))
    return dataset_dir(root, dataset.name)


def _marker_record(dataset: Dataset, sources: dict[str, ResolvedSource], splits: dict) -> dict:
    return {
        "dataset": dataset.name,
        "task": dataset.task,
        "synthetic": False,
        "description": dataset.description,
        "recipe": dataset.recipe_digest(),
        "irsde_version": irsde.__version__,
        "sources": {name: source.provenance for name, source in sources.items()},
        "splits": splits,
        "citation": dataset.citation,
        "licence": dataset.licence,
        "notes": dataset.notes,
    }
