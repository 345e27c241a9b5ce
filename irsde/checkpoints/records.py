"""The record types of the released-checkpoint registry (:mod:`irsde.checkpoints.registry`).

A :class:`Checkpoint` is a weight file somebody published for a method: which method it loads
into (a :mod:`irsde.methods` id) with which default options, where it comes from, what it
reproduces (a row of the published numbers) and how to cite it. Its file lives in
``resources/weights/<file>`` (:attr:`Checkpoint.resources_path`, also its place on a mirror).

Where a file comes from:

* :class:`GitFile`: a file of a git repository at a pinned commit, downloaded from the hosting
  service's raw URL and verified by its git blob id and its sha256 (both pinned here);
* :class:`BrowserFile`: a file only reachable through a browser (Google Drive): the user saves
  it into ``resources/weights/``; its digest is recorded on first use (trust on first use, as
  for dataset archives without a published checksum).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

WEIGHTS_FOLDER = "weights"


@dataclass(frozen=True)
class GitFile:
    """A file of a GitHub repository at a pinned commit, identified by its git blob id and sha256."""

    repo: str
    commit: str
    path: str
    blob: str
    sha256: str
    size: int
    raw_base: str = "https://raw.githubusercontent.com"

    kind = "git-file"
    browser = False

    @property
    def url(self) -> str:
        return f"{self.raw_base}/{self.repo}/{self.commit}/{self.path}"

    def upstream(self) -> dict:
        return {"repo": self.repo, "commit": self.commit, "path": self.path, "url": self.url}

    def checksums(self) -> dict:
        return {"git_blob": self.blob, "sha256": self.sha256, "size": self.size}

    def describe(self) -> str:
        return f"{self.repo}@{self.commit[:8]}:{self.path} (git blob {self.blob[:12]})"


@dataclass(frozen=True)
class BrowserFile:
    """A file only reachable through a browser: ``page`` to open and what to do there."""

    page: str
    instructions: str

    kind = "browser"
    browser = True

    def upstream(self) -> dict:
        return {"url": self.page}

    def checksums(self) -> dict:
        return {"sha256": None, "note": "none published: recorded on first use in resources/checksums.lock.json"}

    def describe(self) -> str:
        return f"{self.page} (browser download; digest recorded on first use)"


FileSource = GitFile | BrowserFile


@dataclass(frozen=True)
class Checkpoint:
    """A released weight file of a method (see the module docstring).

    ``reproduces`` names the published rows it should reproduce, as ``(benchmark, method)``
    keys of ``results/published/published_results.csv``; ``options`` are the method's options
    these weights were released for (e.g. PReNet's number of stages); ``label`` names its table
    rows.
    """

    name: str
    method: str
    file: str
    source: FileSource
    label: str
    paper: str
    licence: str
    reproduces: tuple[tuple[str, str], ...] = ()
    options: Mapping = field(default_factory=dict)
    notes: str = ""

    @property
    def resources_path(self) -> str:
        """Where the file lives under ``resources/`` (and on a mirror)."""
        return f"{WEIGHTS_FOLDER}/{self.file}"

    def manifest(self) -> dict:
        """What a user behind a firewall needs to fetch this file by hand."""
        return {"name": self.name, "kind": self.source.kind, "method": self.method,
                "upstream": self.source.upstream(), **self.source.checksums(),
                "resources_path": self.resources_path}
