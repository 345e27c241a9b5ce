"""Verified downloads into ``resources/`` and offline use of what is already there.

Archives are streamed (urllib, tqdm progress bar) to ``<resources>/<name>.part``, resuming with
an HTTP Range request when a previous attempt left a partial file, retried with exponential
back-off, checked against the Content-Length, and renamed to ``<resources>/<name>`` only after
the checksum lock accepts them (see ``irsde.data.lock``). A file that fails its checksum is moved
to ``<name>.bad`` and the error names the file and both digests. Git-tree sources are downloaded
file by file, each checked against its git blob id, and the folder against the pinned tree id.

Nothing here touches the network when the file is already in ``resources/`` (or given by the
user); with ``offline=True`` a missing file is an error telling exactly where to put it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from irsde.data.lock import ChecksumMismatch, verify_or_record
from irsde.data.records import ArchiveSource, GitTreeSource, Source
from irsde.data.registry import get_dataset

log = logging.getLogger(__name__)

RESOURCES_ENV = "IRSDE_RESOURCES"
LISTING_NAME = ".listing.json"
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """Every URL of a source failed (after retries)."""


class IncompleteDownload(OSError):
    """The server sent fewer bytes than it announced."""


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard to try: per-request timeout (s), attempts per URL, first back-off delay (s,
    doubled after each failure), read size, and whether to show progress bars."""

    timeout: float = 120.0
    attempts: int = 5
    backoff: float = 2.0
    chunk_size: int = 1 << 20
    progress: bool = True


def default_resources(resources: str | os.PathLike | None = None) -> Path:
    """``resources`` if given, else ``$IRSDE_RESOURCES``, else ``./resources``."""
    return Path(resources or os.environ.get(RESOURCES_ENV) or "resources")


# -- one file over HTTP ---------------------------------------------------------------------------


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": "irsde-bench (urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _resume_offset(response, offset: int, part: Path) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size, from the response headers.
    A partial answer that does not continue the partial file discards it and fails the attempt."""
    if response.status == 206:
        content_range = response.headers.get("Content-Range", "")  # bytes START-END/TOTAL
        try:
            start = int(content_range.split()[1].split("-")[0])
            total = content_range.rsplit("/", 1)[1]
        except (IndexError, ValueError):
            start, total = -1, "*"
        if not offset or start != offset:
            part.unlink(missing_ok=True)
            raise IncompleteDownload(f"asked for bytes {offset}-, got range {content_range!r}")
        return offset, (int(total) if total.isdigit() else None)
    length = response.headers.get("Content-Length")
    return 0, (int(length) if length and length.isdigit() else None)


def _attempt(url: str, part: Path, policy: DownloadPolicy, label: str) -> None:
    """One request: append to or restart ``part``; raise on any transfer problem."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, policy.timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the partial file is useless for this server
            part.unlink()
        raise
    with response:
        start, total = _resume_offset(response, offset, part)
        if start:
            log.info("resuming %s at byte %d", label, start)
        with open(part, "ab" if start else "wb") as sink, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, desc=label, disable=not policy.progress
        ) as bar:
            while chunk := response.read(policy.chunk_size):
                sink.write(chunk)
                bar.update(len(chunk))
    received = part.stat().st_size
    if total is not None and received != total:
        raise IncompleteDownload(f"connection ended after {received} of {total} bytes")
    if total is None:
        log.warning("%s sent no Content-Length; completeness rests on the checksum alone", url)


def _retryable(error: Exception) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return error.code in _TRANSIENT_HTTP or error.code == 416
    return isinstance(error, (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError))


def _download_part(url: str, part: Path, policy: DownloadPolicy, label: str) -> None:
    """Download ``url`` into ``part`` with retries and exponential back-off."""
    delay = policy.backoff
    for attempt in range(1, policy.attempts + 1):
        try:
            _attempt(url, part, policy, label)
            return
        except Exception as error:  # noqa: BLE001 - classified just below
            if not _retryable(error) or attempt == policy.attempts:
                raise
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s", url, attempt, policy.attempts, error, delay)
            time.sleep(delay)
            delay *= 2


def download(urls: tuple[str, ...] | list[str], destination: str | os.PathLike,
             verify: Callable[[Path, str], None] | None = None, policy: DownloadPolicy = DownloadPolicy()) -> Path:
    """Download the first URL that works to ``destination`` via ``destination.part``.

    ``verify(part, url)`` runs on the complete ``.part`` file; if it raises
    :class:`ChecksumMismatch` the file is moved to ``destination.bad`` and the error re-raised
    (with the new location); otherwise ``.part`` is renamed to ``destination``.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    failures = []
    for url in urls:
        try:
            _download_part(url, part, policy, destination.name)
        except (OSError, http.client.HTTPException, ValueError) as error:  # reported below; next mirror
            failures.append(f"{url}: {error}")
            continue
        if verify is not None:
            try:
                verify(part, url)
            except ChecksumMismatch as error:
                bad = destination.with_name(destination.name + ".bad")
                os.replace(part, bad)
                raise ChecksumMismatch(f"{error}; the downloaded file was moved to {bad}") from None
        os.replace(part, destination)
        return destination
    raise DownloadError(
        f"could not download {destination.name} (a partial file stays at {part} for resuming):\n  "
        + "\n  ".join(failures)
    )


# -- git trees --------------------------------------------------------------------------------------


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


def _listing_entries(listing: dict, source: GitTreeSource) -> list[dict]:
    if listing.get("truncated"):
        raise ValueError(f"{source.listing_url}: the tree listing is truncated")
    entries = listing.get("tree", [])
    nested = [entry["path"] for entry in entries if entry.get("type") != "blob"]
    if nested:
        raise ValueError(f"{source.listing_url}: nested folders are not supported ({nested[:3]})")
    found = git_tree_id([(entry["mode"], entry["path"], entry["sha"]) for entry in entries])
    if found != source.tree_id:
        raise ChecksumMismatch(f"{source.listing_url}: listing has tree id {found}, expected {source.tree_id}")
    return entries


def _folder_files(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.iterdir()
        if path.is_file() and path.name != LISTING_NAME and not path.name.endswith((".part", ".bad"))
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
        entries = _listing_entries(json.loads(listing_path.read_text()), source)
        modes = {entry["path"]: entry["mode"] for entry in entries}
        for entry in entries:
            path = folder / entry["path"]
            if not path.is_file():
                problems.append(f"missing {path}")
            elif git_blob_id(path.read_bytes()) != entry["sha"]:
                problems.append(f"content differs from git blob {entry['sha']}: {path}")
    local = [(modes.get(path.name, "100644"), path.name, git_blob_id(path.read_bytes())) for path in _folder_files(folder)]
    found = git_tree_id(local)
    if found != source.tree_id:
        detail = ("; " + "; ".join(problems)) if problems else ""
        raise ChecksumMismatch(
            f"{folder} does not match {source.repo}@{source.commit[:12]}:{source.folder}: "
            f"tree id {found}, expected {source.tree_id}{detail}"
        )
    return found


def _fetch_git_tree(source: GitTreeSource, folder: Path, policy: DownloadPolicy) -> None:
    folder.mkdir(parents=True, exist_ok=True)

    def check_listing(part: Path, url: str) -> None:
        _listing_entries(json.loads(part.read_text()), source)

    quiet = DownloadPolicy(policy.timeout, policy.attempts, policy.backoff, policy.chunk_size, progress=False)
    download([source.listing_url], folder / LISTING_NAME, check_listing, quiet)
    entries = json.loads((folder / LISTING_NAME).read_text())["tree"]
    for entry in tqdm(entries, desc=source.name, unit="file", disable=not policy.progress):
        path = folder / entry["path"]
        if path.is_file() and git_blob_id(path.read_bytes()) == entry["sha"]:
            continue

        def check_blob(part: Path, url: str, expected: str = entry["sha"]) -> None:
            actual = git_blob_id(part.read_bytes())
            if actual != expected:
                raise ChecksumMismatch(f"{url}: git blob id {actual}, expected {expected}")

        download([source.file_url(entry["path"])], path, check_blob, quiet)
    verify_git_folder(source, folder)


# -- sources --------------------------------------------------------------------------------------


def source_location(source: Source, resources: str | os.PathLike) -> Path:
    """Where a source lives in ``resources/``: the archive file or the git-tree folder."""
    return Path(resources) / source.name


def missing_message(source: Source, location: Path, reason: str) -> str:
    """The error for a source that is not on disk and will not be downloaded."""
    lines = [f"{source.name} is needed but {location} does not exist ({reason})."]
    if isinstance(source, GitTreeSource):
        lines.append(
            f"Run `irsde data fetch` with network access, or copy the folder {source.folder} of "
            f"github.com/{source.repo} at commit {source.commit} to {location} (it must match git "
            f"tree {source.tree_id})."
        )
    else:
        lines.append(f"Place the file at {location} (a digest not yet pinned is recorded on first use).")
    if source.instructions:
        lines.append(source.instructions)
    if source.urls:
        lines.append("Source: " + " ".join(source.urls))
    return " ".join(lines)


def _verify_existing_archive(source: ArchiveSource, path: Path, resources: Path, origin: str) -> None:
    try:
        verify_or_record(source.name, path, resources, origin)
    except ChecksumMismatch as error:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        raise ChecksumMismatch(f"{error}; the file was moved to {bad}") from None


def fetch_source(source: Source, resources: str | os.PathLike | None = None, offline: bool = False,
                 policy: DownloadPolicy = DownloadPolicy()) -> Path:
    """Make ``source`` present and verified in ``resources/``; return its path.

    Already there: verified against the lock (archives) or the tree id (git trees), no network.
    Otherwise downloaded, unless ``offline`` or the source needs a browser, in which case a
    FileNotFoundError says which file to put where.
    """
    resources = default_resources(resources)
    location = source_location(source, resources)
    if isinstance(source, GitTreeSource):
        if location.is_dir():
            try:
                verify_git_folder(source, location)
                return location
            except ChecksumMismatch:
                if offline:
                    raise
                log.info("%s is incomplete or differs; completing it from %s", location, source.repo)
        elif offline:
            raise FileNotFoundError(missing_message(source, location, "offline"))
        _fetch_git_tree(source, location, policy)
        return location
    if location.is_file():
        _verify_existing_archive(source, location, resources, f"file found in {resources}")
        return location
    if source.browser or not source.urls:
        raise FileNotFoundError(missing_message(source, location, "it needs a browser or login to download"))
    if offline:
        raise FileNotFoundError(missing_message(source, location, "offline"))

    def check(part: Path, url: str) -> None:
        verify_or_record(source.name, part, resources, url)

    return download(source.urls, location, check, policy)


def fetch_dataset(name, resources: str | os.PathLike | None = None, offline: bool = False,
                  policy: DownloadPolicy = DownloadPolicy()) -> dict[str, Path]:
    """Fetch every source of a dataset; returns ``{source name: path}``. All sources are tried
    before an error, which lists each source that could not be obtained."""
    dataset = get_dataset(name)
    found, errors = {}, []
    for source in dataset.sources:
        try:
            found[source.name] = fetch_source(source, resources, offline, policy)
        except (FileNotFoundError, DownloadError, ChecksumMismatch) as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RuntimeError(f"{dataset.name}: {len(errors)} sources unavailable:\n  " + "\n  ".join(map(str, errors)))
    return found
