"""What software made a result: the versions of the packages it depends on and the git commit.

Recorded in every training run's ``run.json`` (:mod:`irsde.train.records`) and every
restoration's ``restore.json`` (:mod:`irsde.restoration`), and shown by the report's provenance
panels (:mod:`irsde.report.provenance`).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch

RECORDED_PACKAGES = ("irsde-bench", "torch", "numpy", "scikit-image", "pillow", "pyyaml")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (None if not installed)."""
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    versions["cuda"] = torch.version.cuda
    return versions


def git_commit(folder: str | os.PathLike | None = None) -> dict | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding the irsde package, or None."""
    folder = Path(folder) if folder else Path(__file__).resolve().parent
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _git(folder: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(folder), *arguments], capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.strip()
