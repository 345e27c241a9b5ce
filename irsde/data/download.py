"""Downloading one file over HTTP(S): resume, retries, deadlines, mirrors.

A file is streamed (urllib, tqdm progress bar) to ``<name>.part``, resuming with an HTTP Range
request when a previous attempt left a partial file, retried with exponential back-off, checked
against the Content-Length, verified by the caller's check and only then renamed into place; a
file the check refuses is moved to ``<name>.bad`` and the next URL is tried (a file resumed from
an earlier partial download is first downloaded once more from its start: the old part may
have been of another file). The body is asked for, and accepted, without any content encoding
(a gzip-encoded answer would be stored still compressed). Reads return whatever has arrived (a
stall loses nothing already received); each read times out after ``DownloadPolicy.timeout``
seconds, or sooner when less is left of the overall deadline of ``DownloadPolicy.deadline``
seconds per file (``$IRSDE_DOWNLOAD_DEADLINE``), which is also checked before every URL and
attempt. Mirrors (``mirrors=`` or ``$IRSDE_MIRROR``, base URLs
separated by spaces) are HTTP servers holding a copy of a ``resources/`` folder; proxies come
from the usual ``http_proxy``/``https_proxy``/``no_proxy`` variables.
"""

from __future__ import annotations

import http.client
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

from irsde.data.archives import DamagedArchiveError, UnsafeArchiveError
from irsde.data.lock import ChecksumMismatch
from irsde.fileio import waiting_lock

log = logging.getLogger(__name__)

MIRROR_ENV = "IRSDE_MIRROR"
DEADLINE_ENV = "IRSDE_DOWNLOAD_DEADLINE"
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}
# A downloaded file refused by its check: moved to .bad, and the next URL is tried.
REJECTIONS = (ChecksumMismatch, DamagedArchiveError, UnsafeArchiveError)


class DownloadError(RuntimeError):
    """Every URL of a source failed (after retries)."""


class IncompleteDownload(OSError):
    """The server sent fewer bytes than it announced."""


class DeadlineExceeded(TimeoutError):
    """A file took longer than its overall deadline; not retried."""


class UnexpectedEncoding(OSError):
    """The server compressed the body in transit although asked not to; not retried."""


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


def on_mirrors(bases: list[str], *parts: str) -> list[str]:
    """The URLs of ``<base>/<parts...>`` on every mirror base."""
    relative = "/".join(urllib.parse.quote(part) for part in parts)
    return [f"{base}/{relative}" for base in bases]


# -- one file over HTTP ---------------------------------------------------------------------------


def _open(url: str, offset: int, timeout: float):
    # urllib never decodes a Content-Encoding: ask for the bytes of the file itself.
    headers = {"User-Agent": "irsde-bench (urllib)", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        response.close()
        raise UnexpectedEncoding(
            f"the server sent the body with Content-Encoding {encoding!r} although asked for none; irsde stores "
            f"files as sent, so it refuses this answer (a proxy or server compressing on the fly?)"
        )
    return response


_DEADLINE_SLACK = 0.05  # a wait cut short by the deadline's own timeout ends this close to it


def _seconds_left(policy: DownloadPolicy, give_up_at: float, received: int) -> float:
    """Seconds left before the overall deadline; DeadlineExceeded when (next to) none are."""
    left = give_up_at - time.monotonic()
    if left <= _DEADLINE_SLACK:
        raise DeadlineExceeded(
            f"gave up after the overall deadline of {policy.seconds_allowed():g} s with {received} bytes received "
            f"(raise it with {DEADLINE_ENV})"
        )
    return left


def _bound_read_timeout(response, seconds: float) -> None:
    """Let the next read on ``response``'s socket wait at most ``seconds`` (no socket: a file URL)."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(seconds)


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
    """One request: append to or restart ``part``; raise on any transfer problem. Every wait
    (connecting, the headers, each read) is bounded by the time left before ``give_up_at``."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, min(policy.timeout, _seconds_left(policy, give_up_at, offset)))
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the partial file is useless for this server
            part.unlink()
        raise
    except (TimeoutError, urllib.error.URLError) as error:
        if isinstance(getattr(error, "reason", error), TimeoutError):
            _seconds_left(policy, give_up_at, offset)  # DeadlineExceeded when the wait was the deadline's
        raise
    with response:
        start, total = _resume_offset(response, offset, part)
        if start:
            log.info("resuming %s at byte %d", label, start)
        with open(part, "ab" if start else "wb") as sink, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, desc=label, disable=not policy.progress
        ) as bar:
            while True:
                _bound_read_timeout(response, min(policy.timeout, _seconds_left(policy, give_up_at, sink.tell())))
                try:
                    chunk = _read_some(response, policy.chunk_size)
                except TimeoutError:
                    _seconds_left(policy, give_up_at, sink.tell())  # DeadlineExceeded when the wait was the deadline's
                    raise
                if not chunk:
                    break
                sink.write(chunk)
                sink.flush()
                bar.update(len(chunk))
    received = part.stat().st_size
    if total is not None and received != total:
        raise IncompleteDownload(f"connection ended after {received} of {total} bytes")
    if total is None:
        log.warning("%s sent no Content-Length; completeness rests on the checksum alone", url)


def _retryable(error: Exception) -> bool:
    if isinstance(error, (DeadlineExceeded, UnexpectedEncoding)):
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


class _Refused(Exception):
    """A complete download its check refused (``error``, any ValueError: a checksum, an archive
    or a weight file the check will not use)."""

    def __init__(self, error: ValueError):
        super().__init__(str(error))
        self.error = error


def _check(verify: Callable[[Path, str], None] | None, part: Path, url: str) -> None:
    if verify is None:
        return
    try:
        verify(part, url)
    except ValueError as error:
        raise _Refused(error) from error


def _download_verified(url: str, part: Path, verify: Callable[[Path, str], None] | None, policy: DownloadPolicy,
                       label: str, give_up_at: float) -> None:
    """Download ``url`` into ``part`` and run ``verify`` on it. A file the check refuses after
    resuming an earlier partial download is downloaded once more from its start (that partial
    file may have been another file's, or damaged) before the refusal counts."""
    resumed = part.is_file() and part.stat().st_size > 0
    _download_part(url, part, policy, label, give_up_at)
    try:
        _check(verify, part, url)
    except _Refused as refused:
        if not resumed:
            raise
        log.warning("%s: the file completed from an earlier partial download was refused (%s); downloading it again "
                    "from the start", label, refused.error)
        part.unlink()
        _download_part(url, part, policy, label, give_up_at)
        _check(verify, part, url)


def download(urls: tuple[str, ...] | list[str], destination: str | os.PathLike,
             verify: Callable[[Path, str], None] | None = None, policy: DownloadPolicy = DownloadPolicy()) -> Path:
    """Download the first URL that works to ``destination`` via ``destination.part``.

    ``verify(part, url)`` runs on the complete ``.part`` file; if it raises a ValueError (one of
    ``REJECTIONS``, or any other refusal of the content, e.g. a weight file that is not one) the
    file is moved to ``destination.bad`` and the next URL is tried; when no URL is left that error
    is re-raised (with the new location and every URL's failure). Otherwise
    ``.part`` is renamed to ``destination``. No URL is tried once the deadline has passed. One
    process at a time downloads a destination (:func:`irsde.fileio.waiting_lock`): a second one
    waits, then returns the file the first one completed (unless it was there to be replaced).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    replacing = destination.is_file()
    with waiting_lock(destination, f"downloading {destination.name}"):
        if not replacing and destination.is_file():  # another process got and verified it meanwhile
            log.info("%s was downloaded by another process", destination)
            return destination
        return _download_locked(urls, destination, verify, policy)


def _download_locked(urls, destination: Path, verify, policy: DownloadPolicy) -> Path:
    """:func:`download`, holding the destination's lock."""
    part = destination.with_name(destination.name + ".part")
    bad = destination.with_name(destination.name + ".bad")
    give_up_at = time.monotonic() + policy.seconds_allowed()
    failures, rejection = [], None
    for url in urls:
        if time.monotonic() >= give_up_at:
            failures.append(f"{url}: not tried, the overall deadline of {policy.seconds_allowed():g} s had passed "
                            f"(raise it with {DEADLINE_ENV})")
            break
        try:
            _download_verified(url, part, verify, policy, destination.name, give_up_at)
        except _Refused as refused:
            os.replace(part, bad)
            failures.append(f"{url}: {refused.error}")
            rejection = refused.error
            continue
        except (OSError, http.client.HTTPException, ValueError) as error:  # reported below; next mirror
            failures.append(f"{url}: {error}")
            if isinstance(error, DeadlineExceeded):
                break
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
