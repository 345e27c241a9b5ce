"""The record types of the dataset registry (:mod:`irsde.data.registry`).

A :class:`Dataset` says where its files come from (:class:`ArchiveSource` for a zip/tar that is
downloaded or dropped into ``resources/``; :class:`GitTreeSource` for a folder of a git
repository pinned by commit and tree id) and how each split is normalised to
``<root>/<dataset>/<split>/{GT,LQ}/<name>.png`` (:class:`Split`): regular expressions over the
paths inside a source pick the GT and LQ files, their named groups join GT to LQ and fill the
output name template (:func:`output_name`). GT-only datasets describe how their LQ is made
(:class:`Synthesis`).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import asdict, dataclass

@dataclass(frozen=True)
class ArchiveSource:
    """A zip/tar archive, stored as ``<resources>/<name>``."""

    name: str
    urls: tuple[str, ...] = ()
    browser: bool = False  # only reachable through a browser / login: never downloaded automatically
    instructions: str = ""  # where a user gets it by hand (mirrors, Drive ids, codes)

    @property
    def kind(self) -> str:
        return "archive"

    def manifest(self, pinned: dict) -> dict:
        """What a user behind a firewall needs to fetch it by hand (``pinned``: its entry of the
        package's checksum lock, if any)."""
        return {"name": self.name, "kind": self.kind, "upstream": {"urls": list(self.urls), "browser": self.browser},
                "sha256": pinned.get("sha256"), "md5": pinned.get("md5"), "size": pinned.get("size"),
                "resources_path": self.name}


@dataclass(frozen=True)
class GitTreeSource:
    """A folder of a GitHub repository at a pinned commit, stored as ``<resources>/<name>/``.

    Every file is verified against its git blob id and the folder against ``tree_id``, so no
    separate checksum is needed. ``api_base``/``raw_base`` exist so tests can serve a fake GitHub.
    """

    name: str
    repo: str
    commit: str
    folder: str
    tree_id: str
    api_base: str = "https://api.github.com"
    raw_base: str = "https://raw.githubusercontent.com"

    browser = False
    instructions = ""

    @property
    def kind(self) -> str:
        return "git-tree"

    @property
    def listing_url(self) -> str:
        return f"{self.api_base}/repos/{self.repo}/git/trees/{self.tree_id}"

    @property
    def urls(self) -> tuple[str, ...]:
        return (f"{self.raw_base}/{self.repo}/{self.commit}/{self.folder}/",)

    def file_url(self, filename: str) -> str:
        return f"{self.raw_base}/{self.repo}/{self.commit}/{self.folder}/{filename}"

    def manifest(self, pinned: dict) -> dict:
        """What a user behind a firewall needs to fetch it by hand: every file of the folder,
        and its listing saved as ``.listing.json`` beside them."""
        return {"name": self.name, "kind": self.kind,
                "upstream": {"repo": self.repo, "commit": self.commit, "folder": self.folder,
                             "listing_url": self.listing_url, "files_url": self.urls[0]},
                "git_tree": self.tree_id, "resources_path": f"{self.name}/"}


Source = ArchiveSource | GitTreeSource

SYNTHESIS_KINDS = ("gaussian-noise", "inpaint-mask")
PAIR_FIXES = ("crop-gt-centre", "bicubic-lq-x4")


@dataclass(frozen=True)
class Synthesis:
    """How the LQ image of a GT-only dataset is produced at preparation time.

    ``gaussian-noise``: LQ = GT + N(0, (sigma/255)^2) in float, one fixed draw per image from a
    generator seeded by ``(seed, "gaussian-noise", output name)``. With ``float_lq`` (test sets)
    it is stored losslessly as ``LQ/<name>.npy`` (float32, **not clipped**: the input the paper's
    test feeds the network), which the loaders read; the PNG beside it is only a preview, clipped
    to [0,1] and rounded to 8 bits (at sigma 25 clipping touches several % of the values and costs
    4-7 LSB rms on average, shrinking the noise's std to ~23-24). Training sets need no stored
    noise (``float_lq=False``): with ``data.noise_sigma`` training draws fresh noise every epoch.
    ``inpaint-mask``: LQ = mask * GT + (1 - mask) * 1 (holes filled white as in IR-SDE), masks
    read from the PNGs of source ``masks`` (255 = known pixel); ``mask_choice="index"`` gives the
    i-th selected image mask i (IR-SDE's test protocol), ``"random"`` a seeded choice per image
    with a random flip/rotation.
    """

    kind: str
    sigma: float = 25.0
    seed: int = 0
    masks: str | None = None
    mask_choice: str = "index"
    float_lq: bool = False


@dataclass(frozen=True)
class Split:
    """One split of a dataset and how to normalise it.

    ``gt``/``lq`` are regular expressions searched in each file's path relative to its source
    root (posix separators). Their named groups identify a pair: the LQ pattern must contain
    every group of the GT pattern (several LQ may share one GT, as in RESIDE). ``output`` names
    the normalised files from the LQ groups (GT groups for GT-only splits); a format spec ending
    in ``d`` turns a digit group into an int (``"{id:04d}.png"``). ``lq_source`` names the
    source holding the LQ files when they are named like the GT files (a rainy ``norain-N.png``
    in a ``rain/`` folder): the LQ pattern is then searched in that source only, the GT pattern
    in the others.
    """

    name: str
    sources: tuple[str, ...]
    gt: str
    output: str
    pairs: int
    lq: str | None = None
    synthesis: Synthesis | None = None
    fix: str | None = None
    select: tuple[int, int | None] | None = None  # slice of the name-sorted pairs
    pairs_confirmed: bool = True  # False: the expected count is unsourced; a mismatch only warns
    lq_source: str | None = None

    def gt_regex(self) -> re.Pattern:
        return re.compile(self.gt)

    def lq_regex(self) -> re.Pattern | None:
        return re.compile(self.lq) if self.lq else None


@dataclass(frozen=True)
class Dataset:
    """A benchmark: its sources, splits, and how to cite it."""

    name: str
    task: str
    description: str
    sources: tuple[Source, ...]
    splits: tuple[Split, ...]
    citation: str
    licence: str
    notes: str = ""

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"dataset {self.name} has no source {name!r}; sources: {[s.name for s in self.sources]}")

    def split(self, name: str) -> Split:
        for split in self.splits:
            if split.name == name:
                return split
        raise KeyError(f"dataset {self.name} has no split {name!r}; splits: {[s.name for s in self.splits]}")

    @property
    def needs_browser(self) -> bool:
        return any(source.browser for source in self.sources)

    def recipe_digest(self) -> str:
        """sha256 of what determines the prepared files: the splits and the identity of the
        sources (not URLs or prose), so a change forces a rebuild and a new mirror does not."""
        record = {
            "splits": [asdict(split) for split in self.splits],
            "sources": [[source.name, source.kind, getattr(source, "tree_id", None)] for source in self.sources],
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


class _OutputFormatter(string.Formatter):
    """``str.format`` where a digit-only group formatted with an integer spec becomes an int."""

    def format_field(self, value, format_spec):
        if isinstance(value, str) and value.isdigit() and format_spec.endswith("d"):
            value = int(value)
        return super().format_field(value, format_spec)


_FORMATTER = _OutputFormatter()


def output_name(template: str, groups: dict[str, str]) -> str:
    """Fill an output name template from a regex match's named groups."""
    try:
        return _FORMATTER.format(template, **groups)
    except (KeyError, ValueError, IndexError) as error:
        raise ValueError(f"output template {template!r} cannot be filled from groups {groups}: {error}") from error
