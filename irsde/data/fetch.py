"""Verified downloads into ``resources/`` and offline use of what is already there.

Archives are streamed (urllib, tqdm progress bar) to ``<resources>/<name>.part``, resuming with
an HTTP Range request when a previous attempt left a partial file, retried with exponential
back-off, checked against the Content-Length, and renamed to ``<resources>/<name>`` only after
the checksum lock accepts them (see ``irsde.data.lock``). An archive whose digest is not pinned
yet is first checked to be a whole, safe zip/tar (``irsde.data.archives.check_archive``), so an
HTML page or a cut download is never pinned. A file that fails its checksum or that check is
moved to ``<name>.bad``, the next URL is tried, and the error names the file. Git-tree sources
are downloaded file by file, each checked against its git blob id, and the folder against the
pinned tree id.

Every source is first looked for on the mirrors (``mirrors=`` or ``$IRSDE_MIRROR``, base URLs
separated by spaces): a mirror is any HTTP server holding a copy of a ``resources/`` folder,
i.e. ``<mirror>/<archive name>`` and ``<mirror>/<folder>/<file>`` (with the folder's
``.listing.json``). Proxies come from the usual ``http_proxy``/``https_proxy``/``no_proxy``
variables. Reads return whatever has arrived (a stall loses nothing already received); each
read times out after ``DownloadPolicy.timeout`` seconds and a file gives up after
``DownloadPolicy.deadline`` seconds overall (``$IRSDE_DOWNLOAD_DEADLINE``).

Nothing here touches the network when the file is already in ``resources/`` (or given by the
user); with ``offline=True`` a missing file is an error telling exactly where to put it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from irsde.data.archives import DamagedArchiveError, UnsafeArchiveError, check_archive
from irsde.data.lock import PINNED_LOCK, ChecksumMismatch, LockFile, user_lock_path, verify_or_record
from irsde.data.registry import DATASETS, ArchiveSource, GitTreeSource, Source, get_dataset

log = logging.getLogger(__name__)

RESOURCES_ENV = "IRSDE_RESOURCES"
MIRROR_ENV = "IRSDE_MIRROR"
DEADLINE_ENV = "IRSDE_DOWNLOAD_DEADLINE"
LISTING_NAME = ".listing.json"
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}
# A downloaded file refused by its check: moved to .bad, and the next URL is tried.
REJECTIONS = (ChecksumMismatch, DamagedArchiveError, UnsafeArchiveError)


class DownloadError(RuntimeError):
    """Every URL of a source failed (after retries)."""


class IncompleteDownload(OSError):
    """The server sent fewer bytes than it announced."""


class DeadlineExceeded(TimeoutError):
    """A file took longer than its overall deadline; not retried."""


def _default_deadline() -> float:
    raw = os.environ.get(DEADLINE_ENV, "").strip()
    if not raw:
        return 6 * 3600.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"environment variable {DEADLINE_ENV}={raw!r}: expected a positive number of seconds")
    return value


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard to try: timeout of each connect/read (s), attempts per URL, first back-off delay
    (s, doubled after each failure), largest read, whether to show progress bars, and the
    overall deadline per file (s, all attempts and URLs together; default 6 h or
    ``$IRSDE_DOWNLOAD_DEADLINE``)."""

    timeout: float = 120.0
    attempts: int = 5
    backoff: float = 2.0
    chunk_size: int = 1 << 16
    progress: bool = True
    deadline: float | None = None

    def seconds_allowed(self) -> float:
        return self.deadline if self.deadline is not None else _default_deadline()


def mirror_bases(mirrors: str | list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Mirror base URLs: ``mirrors`` (a list, or one string of space-separated URLs), else
    ``$IRSDE_MIRROR``; each must be an http(s) or file URL."""
    if mirrors is None:
        mirrors = os.environ.get(MIRROR_ENV, "")
    if isinstance(mirrors, str):
        mirrors = mirrors.split()
    bases = []
    for base in mirrors:
        if urllib.parse.urlsplit(base).scheme not in ("http", "https", "file"):
            raise ValueError(f"mirror {base!r} ({MIRROR_ENV} or the `mirror` config key) is not an http(s) or file URL")
        bases.append(base.rstrip("/"))
    return bases


def _on_mirrors(bases: list[str], *parts: str) -> list[str]:
    relative = "/".join(urllib.parse.quote(part) for part in parts)
    return [f"{base}/{relative}" for base in bases]


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


def _read_some(response, size: int) -> bytes:
    """Whatever has arrived, up to ``size`` bytes (never waits to fill a large buffer)."""
    read1 = getattr(response, "read1", None)
    return read1(size) if read1 is not None else response.read(size)


def _attempt(url: str, part: Path, policy: DownloadPolicy, label: str, give_up_at: float) -> None:
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
            while chunk := _read_some(response, policy.chunk_size):
                sink.write(chunk)
                sink.flush()
                bar.update(len(chunk))
                if time.monotonic() > give_up_at:
                    raise DeadlineExceeded(
                        f"gave up after the overall deadline of {policy.seconds_allowed():g} s with "
                        f"{part.stat().st_size} bytes received (raise it with {DEADLINE_ENV})"
                    )
    received = part.stat().st_size
    if total is not None and received != total:
        raise IncompleteDownload(f"connection ended after {received} of {total} bytes")
    if total is None:
        log.warning("%s sent no Content-Length; completeness rests on the checksum alone", url)


def _retryable(error: Exception) -> bool:
    if isinstance(error, DeadlineExceeded):
        return False
    reason = getattr(error, "reason", None)
    if isinstance(reason, socket.gaierror) and reason.errno == socket.EAI_NONAME:
        return False  # the host name does not exist: asking again will not help
    if isinstance(error, urllib.error.HTTPError):
        return error.code in _TRANSIENT_HTTP or error.code == 416
    return isinstance(error, (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError))


def _download_part(url: str, part: Path, policy: DownloadPolicy, label: str, give_up_at: float) -> None:
    """Download ``url`` into ``part`` with retries and exponential back-off."""
    delay = policy.backoff
    for attempt in range(1, policy.attempts + 1):
        try:
            _attempt(url, part, policy, label, give_up_at)
            return
        except Exception as error:  # noqa: BLE001 - classified just below
            if not _retryable(error) or attempt == policy.attempts or time.monotonic() + delay > give_up_at:
                raise
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s", url, attempt, policy.attempts, error, delay)
            time.sleep(delay)
            delay *= 2


def download(urls: tuple[str, ...] | list[str], destination: str | os.PathLike,
             verify: Callable[[Path, str], None] | None = None, policy: DownloadPolicy = DownloadPolicy()) -> Path:
    """Download the first URL that works to ``destination`` via ``destination.part``.

    ``verify(part, url)`` runs on the complete ``.part`` file; if it raises one of
    ``REJECTIONS`` the file is moved to ``destination.bad`` and the next URL is tried; when no URL
    is left that error is re-raised (with the new location and every URL's failure). Otherwise
    ``.part`` is renamed to ``destination``.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    bad = destination.with_name(destination.name + ".bad")
    give_up_at = time.monotonic() + policy.seconds_allowed()
    failures, rejection = [], None
    for url in urls:
        try:
            _download_part(url, part, policy, destination.name, give_up_at)
        except (OSError, http.client.HTTPException, ValueError) as error:  # reported below; next mirror
            failures.append(f"{url}: {error}")
            if isinstance(error, DeadlineExceeded):
                break
            continue
        if verify is not None:
            try:
                verify(part, url)
            except REJECTIONS as error:
                os.replace(part, bad)
                failures.append(f"{url}: {error}")
                rejection = error
                continue
        os.replace(part, destination)
        return destination
    listing = "; ".join(failures)
    if rejection is not None:
        refused = type(rejection)(f"{rejection}; the downloaded file was moved to {bad}" + (
            f" (every URL tried: {listing})" if len(failures) > 1 else ""))
        refused.first_use = getattr(rejection, "first_use", False)
        raise refused from None
    if part.is_file() and not part.stat().st_size:
        part.unlink()
    kept = f"a partial file stays at {part} for resuming" if part.is_file() else "nothing was received"
    raise DownloadError(f"could not download {destination.name} ({kept}): {listing}")


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


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and bool(_folder_files(folder))


def _fetch_git_tree(source: GitTreeSource, folder: Path, policy: DownloadPolicy, mirrors: list[str]) -> None:
    """Download the listing and every file not yet present; on failure a folder left empty is
    removed (one holding a rejected ``.bad`` file or a ``.part`` to resume is kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _download_git_files(source, folder, policy, mirrors)
    except BaseException:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    verify_git_folder(source, folder)


def _download_git_files(source: GitTreeSource, folder: Path, policy: DownloadPolicy, mirrors: list[str]) -> None:
    def check_listing(part: Path, url: str) -> None:
        try:
            _listing_entries(json.loads(part.read_text()), source)
        except (ValueError, KeyError, TypeError) as error:
            if isinstance(error, ChecksumMismatch):
                raise
            raise ChecksumMismatch(f"{url}: not a git tree listing ({error})") from None

    quiet = dataclasses.replace(policy, progress=False)
    download([*_on_mirrors(mirrors, source.name, LISTING_NAME), source.listing_url], folder / LISTING_NAME,
             check_listing, quiet)
    entries = json.loads((folder / LISTING_NAME).read_text())["tree"]
    for entry in tqdm(entries, desc=source.name, unit="file", disable=not policy.progress):
        path = folder / entry["path"]
        if path.is_file() and git_blob_id(path.read_bytes()) == entry["sha"]:
            continue

        def check_blob(part: Path, url: str, expected: str = entry["sha"]) -> None:
            actual = git_blob_id(part.read_bytes())
            if actual != expected:
                raise ChecksumMismatch(f"{url}: git blob id {actual}, expected {expected}")

        urls = [*_on_mirrors(mirrors, source.name, entry["path"]), source.file_url(entry["path"])]
        download(urls, path, check_blob, quiet)


# -- sources --------------------------------------------------------------------------------------


def source_location(source: Source, resources: str | os.PathLike) -> Path:
    """Where a source lives in ``resources/``: the archive file or the git-tree folder."""
    return Path(resources) / source.name


def missing_message(source: Source, location: Path, reason: str, state: str = "does not exist") -> str:
    """The error for a source that is not on disk (or not whole) and will not be downloaded."""
    lines = [f"{source.name} is needed but {location} {state} ({reason})."]
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


def datasets_using(source_name: str) -> list[str]:
    """Names of the registered datasets with a source called ``source_name``."""
    return [name for name, dataset in DATASETS.items() if any(s.name == source_name for s in dataset.sources)]


def repin_advice(source_name: str) -> str:
    """What to run when a first-use digest turns out to be the wrong one."""
    command = " or ".join(f"`irsde data fetch {name} --repin`" for name in datasets_using(source_name)[:2])
    return (f"if that first file was not the genuine archive, drop its pin with "
            f"{command or '`irsde data fetch DATASET --repin`'} and fetch again")


def verify_archive(source: ArchiveSource, path: Path, resources: Path, origin: str) -> None:
    """Check an archive against the locks; an archive not pinned yet must first be a whole,
    safe zip/tar (every byte read) before its digests are recorded."""
    try:
        named = str(path) if path.name == source.name else f"{source.name} (from {origin})"
        verify_or_record(source.name, path, resources, origin,
                         validate=lambda file: check_archive(file, read_data=True, name=named))
    except ChecksumMismatch as error:
        if not error.first_use:
            raise
        mismatch = ChecksumMismatch(f"{error}; {repin_advice(source.name)}")
        mismatch.first_use = True
        raise mismatch from None
    except (DamagedArchiveError, UnsafeArchiveError) as error:
        raise type(error)(f"{error}; its digest was not recorded") from None


def _verify_existing_archive(source: ArchiveSource, path: Path, resources: Path, origin: str) -> None:
    try:
        verify_archive(source, path, resources, origin)
    except REJECTIONS as error:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        refused = type(error)(f"{error}; the file was moved to {bad}")
        refused.first_use = getattr(error, "first_use", False)
        raise refused from None


def forget_first_use_pins(dataset, resources: str | os.PathLike | None = None) -> list[str]:
    """Drop the first-use digests of ``dataset``'s archives from the user lock (``--repin``);
    returns the archive names dropped. Digests pinned in the package lock are kept."""
    resources = default_resources(resources)
    user_lock, pinned = LockFile.load(user_lock_path(resources)), LockFile.load(PINNED_LOCK)
    dropped = []
    for source in get_dataset(dataset).sources:
        if not isinstance(source, ArchiveSource):
            continue
        if source.name in pinned.entries:
            log.warning("%s is pinned in %s (a published digest); --repin leaves it", source.name, PINNED_LOCK)
        if user_lock.forget(source.name):
            dropped.append(source.name)
    return dropped


def fetch_source(source: Source, resources: str | os.PathLike | None = None, offline: bool = False,
                 policy: DownloadPolicy = DownloadPolicy(), mirrors: str | list[str] | None = None) -> Path:
    """Make ``source`` present and verified in ``resources/``; return its path.

    Already there: verified against the lock (archives) or the tree id (git trees), no network.
    Otherwise downloaded from the mirrors (module docstring), then the source's own URLs,
    unless ``offline`` or the source needs a browser and no mirror is set, in which case a
    FileNotFoundError says which file to put where.
    """
    resources = default_resources(resources)
    location = source_location(source, resources)
    bases = mirror_bases(mirrors)
    if isinstance(source, GitTreeSource):
        return _fetch_git_source(source, location, offline, policy, bases)
    if location.is_file():
        _verify_existing_archive(source, location, resources, f"file found in {resources}")
        return location
    urls = [*_on_mirrors(bases, source.name), *(() if source.browser else source.urls)]
    if not urls:
        raise FileNotFoundError(missing_message(source, location, "it needs a browser or login to download"))
    if offline:
        raise FileNotFoundError(missing_message(source, location, "offline"))
    return download(urls, location, lambda part, url: verify_archive(source, part, resources, url), policy)


def _fetch_git_source(source: GitTreeSource, location: Path, offline: bool, policy: DownloadPolicy,
                      mirrors: list[str]) -> Path:
    if _holds_files(location):
        try:
            verify_git_folder(source, location)
            return location
        except ChecksumMismatch as error:
            if offline:
                advice = missing_message(source, location, "offline", "is not a whole copy")
                raise ChecksumMismatch(f"{error}. {advice}") from None
            log.info("%s is incomplete or differs; completing it from %s", location, source.repo)
    elif offline:
        state = "holds no files" if location.is_dir() else "does not exist"
        raise FileNotFoundError(missing_message(source, location, "offline", state))
    _fetch_git_tree(source, location, policy, mirrors)
    return location


def fetch_dataset(name, resources: str | os.PathLike | None = None, offline: bool = False,
                  policy: DownloadPolicy = DownloadPolicy(), mirrors: str | list[str] | None = None) -> dict[str, Path]:
    """Fetch every source of a dataset; returns ``{source name: path}``. All sources are tried
    before an error, which lists each source that could not be obtained."""
    dataset = get_dataset(name)
    found, errors = {}, []
    for source in dataset.sources:
        try:
            found[source.name] = fetch_source(source, resources, offline, policy, mirrors)
        except (FileNotFoundError, DownloadError, *REJECTIONS) as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RuntimeError(f"{dataset.name}: {len(errors)} sources unavailable: " + " | ".join(map(str, errors)))
    return found
