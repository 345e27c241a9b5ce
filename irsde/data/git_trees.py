"""Git-tree sources: a folder of a git repository pinned by commit and tree id.

The folder's listing (``.listing.json``, the hosting service's tree listing) and every file are
downloaded (:mod:`irsde.data.download`), each file checked against its git blob id, and the
folder against the pinned tree id (:func:`verify_git_folder`, which also checks a local copy).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from irsde.data.download import DownloadPolicy, download, on_mirrors
from irsde.data.lock import ChecksumMismatch
from irsde.data.records import GitTreeSource
from irsde.documents import DocumentError, read_json_object
from irsde.fileio import is_lock_file

LISTING_NAME = ".listing.json"


def git_blob_id(data: bytes) -> str:
    """The git object id of a file with content ``data``."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def git_tree_id(entries: list[tuple[str, str, str]]) -> str:
    """The git tree id of a flat folder from ``(mode, name, blob id)`` entries."""
    body = b"".join(
        f"{mode} {name}".encode() + b"\x00" + bytes.fromhex(blob)
        for mode, name, blob in sorted(entries, key=lambda entry: entry[1].encode())
    )
    return hashlib.sha1(b"tree %d\x00" % len(body) + body).hexdigest()


def _listing_entries(listing: dict, source: GitTreeSource, origin: str) -> list[dict]:
    """The file entries of a tree listing (``origin`` names it in errors), checked against the
    pinned tree id; :class:`ChecksumMismatch` for a listing of another tree or of another shape."""
    if listing.get("truncated"):
        raise ValueError(f"{origin}: the tree listing is truncated")
    entries = listing.get("tree", [])
    fields = ("path", "mode", "sha", "type")
    if not isinstance(entries, list) or not all(isinstance(entry, dict) and all(
            isinstance(entry.get(name), str) for name in fields) for entry in entries):
        raise ChecksumMismatch(f"{origin}: not a git tree listing (expected 'tree': a list of entries with "
                               f"{', '.join(fields)})")
    nested = [entry["path"] for entry in entries if entry.get("type") != "blob"]
    if nested:
        raise ValueError(f"{origin}: nested folders are not supported ({nested[:3]})")
    found = git_tree_id([(entry["mode"], entry["path"], entry["sha"]) for entry in entries])
    if found != source.tree_id:
        raise ChecksumMismatch(f"{origin}: listing has tree id {found}, expected {source.tree_id}")
    return entries


def read_listing(path: Path, source: GitTreeSource) -> list[dict]:
    """The entries of a saved ``.listing.json``; :class:`ChecksumMismatch` naming the file when it
    is truncated, not a listing or of another tree (the next fetch downloads it again)."""
    try:
        listing = read_json_object(path, "git-tree listing", "it is downloaded again by `irsde data fetch`")
    except DocumentError as error:
        raise ChecksumMismatch(str(error)) from None
    return _listing_entries(listing, source, str(path))


def _folder_files(folder: Path, listed: Iterable[str] = ()) -> list[Path]:
    """The files of a local copy that belong to the source: not our listing, partial or rejected
    downloads, nor hidden files the listing does not name (a workflow manager's marker such as
    ``.snakemake_timestamp``, a download's lock file)."""
    listed = set(listed)
    return sorted(
        path for path in folder.iterdir()
        if path.is_file() and path.name != LISTING_NAME and not path.name.endswith((".part", ".bad"))
        and (not path.name.startswith(".") or path.name in listed)
    )


def verify_git_folder(source: GitTreeSource, folder: str | os.PathLike) -> str:
    """Check a local copy of a git-tree source against its pinned tree id; return the id.
    With a saved listing, the error names each missing or different file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    listing_path = folder / LISTING_NAME
    modes = {}
    problems = []
    if listing_path.is_file():
        entries = read_listing(listing_path, source)
        modes = {entry["path"]: entry["mode"] for entry in entries}
        for entry in entries:
            path = folder / entry["path"]
            if not path.is_file():
                problems.append(f"missing {path}")
            elif git_blob_id(path.read_bytes()) != entry["sha"]:
                problems.append(f"content differs from git blob {entry['sha']}: {path}")
    local = [(modes.get(path.name, "100644"), path.name, git_blob_id(path.read_bytes()))
             for path in _folder_files(folder, modes)]
    found = git_tree_id(local)
    if found != source.tree_id:
        detail = ("; " + "; ".join(problems)) if problems else ""
        raise ChecksumMismatch(
            f"{folder} does not match {source.repo}@{source.commit[:12]}:{source.folder}: "
            f"tree id {found}, expected {source.tree_id}{detail}"
        )
    return found


def holds_files(folder: Path) -> bool:
    """Whether a git-tree folder holds any of its files yet."""
    return folder.is_dir() and bool(_folder_files(folder))


def fetch_git_tree(source: GitTreeSource, folder: Path, policy: DownloadPolicy, mirrors: list[str]) -> None:
    """Download the listing and every file not yet present; on failure a folder left empty is
    removed (one holding a rejected ``.bad`` file or a ``.part`` to resume is kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _download_git_files(source, folder, policy, mirrors)
    except BaseException:
        if all(is_lock_file(path) for path in folder.iterdir()):  # nothing of the tree arrived
            shutil.rmtree(folder, ignore_errors=True)
        raise
    verify_git_folder(source, folder)


def _download_git_files(source: GitTreeSource, folder: Path, policy: DownloadPolicy, mirrors: list[str]) -> None:
    def check_listing(part: Path, url: str) -> None:
        try:
            listing = read_json_object(part, f"git-tree listing from {url}", "it was refused")
        except DocumentError as error:
            raise ChecksumMismatch(str(error)) from None
        _listing_entries(listing, source, url)

    quiet = dataclasses.replace(policy, progress=False)
    download([*on_mirrors(mirrors, source.name, LISTING_NAME), source.listing_url], folder / LISTING_NAME,
             check_listing, quiet)
    entries = read_listing(folder / LISTING_NAME, source)
    for entry in tqdm(entries, desc=source.name, unit="file", disable=not policy.progress):
        path = folder / entry["path"]
        if path.is_file() and git_blob_id(path.read_bytes()) == entry["sha"]:
            continue

        def check_blob(part: Path, url: str, expected: str = entry["sha"]) -> None:
            actual = git_blob_id(part.read_bytes())
            if actual != expected:
                raise ChecksumMismatch(f"{url}: git blob id {actual}, expected {expected}")

        urls = [*on_mirrors(mirrors, source.name, entry["path"]), source.file_url(entry["path"])]
        download(urls, path, check_blob, quiet)
