"""Zip and tar archives: the checks that decide an archive is whole and safe, and extraction.

:func:`check_archive` lists every member before anything is written or pinned and rejects the
whole archive, naming the member, when one of them

- has an absolute path, a drive letter, a ``..`` component or a NUL byte;
- is a device or other special file, or a link whose target leaves the destination;
- appears twice, is both a file and a folder, or would be written through a link member;
- or when the members together exceed the :class:`ExtractionLimits` (count, bytes, expansion
  ratio; each configurable by an environment variable named in the error).

A file that is not a zip or tar (an HTML sign-in page, say), that is cut short or whose data is
damaged, that holds no file at all, or whose format is not the one its name promises (``.zip``,
``.tar.gz`` ...) raises :class:`DamagedArchiveError` naming the file; a tar must end with its
end-of-archive block, so a tar cut at a header boundary is not read as a shorter archive.
Tar members are then extracted with the standard library's ``data`` filter as a second line of
defence. Zip files cannot create links: a zip symlink pointing inside the archive is skipped with
a warning.
"""

from __future__ import annotations

import logging
import lzma
import os
import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

log = logging.getLogger(__name__)

LIMIT_VARIABLES = {
    "max_members": "IRSDE_ARCHIVE_MAX_MEMBERS",
    "max_bytes": "IRSDE_ARCHIVE_MAX_BYTES",
    "max_ratio": "IRSDE_ARCHIVE_MAX_RATIO",
}
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")
# Leading bytes of a zip or a compressed stream: such a file that does not open was cut or damaged.
_ARCHIVE_MAGIC = {b"PK\x03\x04": "zip", b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_MAX_LINK_TARGET = 4096
_CHUNK = 1 << 20
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error,
                lzma.LZMAError, NotImplementedError, RuntimeError)


class UnsafeArchiveError(ValueError):
    """An archive member would write outside the destination, is not a plain file/folder, is
    duplicated, or the archive exceeds the extraction limits."""


class DamagedArchiveError(ValueError):
    """A file is not a readable zip/tar archive: truncated, corrupt, or something else entirely."""


@dataclass(frozen=True)
class ExtractionLimits:
    """The most an archive may hold: members, expanded bytes, and expanded bytes per archive
    byte (checked only above ``ratio_floor`` expanded bytes, so small archives of repetitive
    files pass). The defaults fit every registered dataset with a wide margin."""

    max_members: int = 500_000
    max_bytes: int = 256 * 2**30
    max_ratio: float = 100.0
    ratio_floor: int = 64 * 2**20

    @classmethod
    def from_environment(cls, environ=None) -> "ExtractionLimits":
        """The defaults, each replaced by its environment variable (``LIMIT_VARIABLES``) when set."""
        environ = os.environ if environ is None else environ
        values = {}
        for field_name, variable in LIMIT_VARIABLES.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                value = float(raw) if field_name == "max_ratio" else int(raw)
            except ValueError:
                value = -1
            if not value > 0:
                raise ValueError(f"environment variable {variable}={raw!r}: expected a positive number")
            values[field_name] = value
        return cls(**values)


@dataclass(frozen=True)
class Member:
    """One archive entry: its name as stored, its safe relative path, what it is, its size."""

    name: str
    path: PurePosixPath
    kind: str  # file, dir, symlink, hardlink, special
    size: int = 0
    target: str | None = None  # link target


# -- member names -------------------------------------------------------------------------------------


def _safe_relative(name: str, archive: Path) -> PurePosixPath:
    """The member name as a relative path inside the destination, or raise."""
    posix = name.replace("\\", "/")
    if "\x00" in posix:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains a NUL byte")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    parts = [part for part in posix.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _link_stays_inside(member_name: PurePosixPath, link_target: str, relative_to_root: bool) -> bool:
    """Whether a link named ``member_name`` pointing at ``link_target`` resolves inside the
    destination (symlinks resolve from the member's folder, tar hard links from the root)."""
    target = link_target.replace("\\", "/")
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target) or "\x00" in target:
        return False
    base = "" if relative_to_root else posixpath.dirname(str(member_name))
    resolved = posixpath.normpath(posixpath.join(base, target))
    return resolved != ".." and not resolved.startswith("../")


# -- listing ------------------------------------------------------------------------------------------


# What a file name promises: (suffix, container, compression of a tar), longest suffixes first.
_NAMED_FORMATS = ((".tar.gz", "tar", "gzip"), (".tar.bz2", "tar", "bzip2"), (".tar.xz", "tar", "xz"),
                  (".tgz", "tar", "gzip"), (".tbz2", "tar", "bzip2"), (".txz", "tar", "xz"),
                  (".tar", "tar", None), (".zip", "zip", None))


def _compression(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(8)
    return next((kind for magic, kind in _ARCHIVE_MAGIC.items() if head.startswith(magic) and kind != "zip"), None)


def _check_format_matches_name(archive: Path, kind: str, file_name: str) -> None:
    """An archive named ``*.zip`` must be a zip, ``*.tar.gz`` a gzip-compressed tar, ...: a file of
    another format under that name is another file (an error page, a body compressed in transit)."""
    promised = next((entry for entry in _NAMED_FORMATS if file_name.lower().endswith(entry[0])), None)
    if promised is None:
        return
    suffix, container, compression = promised
    found = _compression(archive) if kind == "tar" else None
    if (kind, found) != (container, compression):
        actual = f"a {found}-compressed tar" if kind == "tar" and found else f"a {'plain ' if kind == 'tar' else ''}{kind}"
        raise DamagedArchiveError(
            f"{archive} is named {suffix} but is {actual} archive: not the file expected under that name (a body "
            f"compressed in transit, or another file?); get the archive again (a genuine archive of another format: "
            f"give it to `irsde data prepare --path` under a name with its own suffix)"
        )


def archive_format(path: str | os.PathLike) -> str | None:
    """``"zip"``, ``"tar"`` (any compression) or None."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        return "tar" if tarfile.is_tarfile(path) else None
    except _READ_ERRORS:
        return None


def _is_zip_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _zip_members(bundle: zipfile.ZipFile, archive: Path) -> list[Member]:
    members = []
    for info in bundle.infolist():
        path = _safe_relative(info.filename, archive)
        if _is_zip_symlink(info):
            if info.file_size > _MAX_LINK_TARGET:
                raise UnsafeArchiveError(f"{archive}: symlink {info.filename!r} has a {info.file_size}-byte target")
            target = bundle.read(info).decode("utf-8", "replace")
            members.append(Member(info.filename, path, "symlink", 0, target))
        elif info.is_dir():
            members.append(Member(info.filename, path, "dir"))
        else:
            members.append(Member(info.filename, path, "file", info.file_size))
    return members


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    if info.isdir():
        return "dir"
    if info.isfile() and not info.isdev():
        return "file"
    return "special"


def _tar_members(bundle: tarfile.TarFile, archive: Path) -> list[Member]:
    infos = bundle.getmembers()
    # tarfile stops quietly at a missing or unreadable header; a whole archive ends with a zero block.
    bundle.fileobj.seek(bundle.offset)
    if bundle.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise DamagedArchiveError(
            f"{archive} is a truncated or damaged tar archive (no end-of-archive block after "
            f"{len(infos)} members): delete it and download it again"
        )
    return [Member(info.name, _safe_relative(info.name, archive), _tar_kind(info), info.size if info.isfile() else 0,
                   info.linkname if info.issym() or info.islnk() else None) for info in infos]


def _damaged(archive: Path, error: BaseException) -> DamagedArchiveError:
    detail = str(error) or type(error).__name__
    return DamagedArchiveError(
        f"{archive} is a truncated or damaged archive ({detail}): delete it and download it again"
    )


def _not_an_archive(archive: Path) -> DamagedArchiveError:
    with open(archive, "rb") as handle:
        raw = handle.read(1024)
    head = raw.lstrip().lower()
    for magic, kind in _ARCHIVE_MAGIC.items():
        if raw.startswith(magic):
            return DamagedArchiveError(
                f"{archive} is a truncated or damaged {kind} file ({archive.stat().st_size} bytes): "
                f"delete it and download it again"
            )
    if head.startswith(_HTML_STARTS):
        return DamagedArchiveError(
            f"{archive} is an HTML/XML page, not an archive (a sign-in, error or quota page served "
            f"instead of the file?): get the archive itself, e.g. with a browser"
        )
    return DamagedArchiveError(
        f"{archive} is neither a zip nor a tar archive ({Path(archive).stat().st_size} bytes; for RAR/7z, "
        f"extract it yourself and pass the folder with --path)"
    )


def list_members(archive: str | os.PathLike, read_data: bool = False) -> tuple[str, list[Member]]:
    """(format, members) of a zip or tar archive; with ``read_data`` every member's bytes are
    also read, so a damaged compressed stream or a zip CRC error is found. Raises
    :class:`DamagedArchiveError` naming the file when it cannot be read to the end."""
    archive = Path(archive)
    kind = archive_format(archive)
    if kind is None:
        raise _not_an_archive(archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as bundle:
                members = _zip_members(bundle, archive)
                bad = bundle.testzip() if read_data else None
                if bad is not None:
                    raise DamagedArchiveError(f"{archive}: member {bad!r} is damaged (CRC error): download it again")
            return kind, members
        with tarfile.open(archive, "r:*") as bundle:
            members = _tar_members(bundle, archive)
            while read_data and bundle.fileobj.read(_CHUNK):  # to the end: checks the stream's own CRC
                pass
        return kind, members
    except (UnsafeArchiveError, DamagedArchiveError):
        raise
    except _READ_ERRORS as error:
        raise _damaged(archive, error) from error


# -- checks ------------------------------------------------------------------------------------------


def _check_member(member: Member, archive: Path) -> None:
    if member.kind == "special":
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device or special file")
    if member.kind == "symlink" and not _link_stays_inside(member.path, member.target, relative_to_root=False):
        raise UnsafeArchiveError(f"{archive}: symlink {member.name!r} -> {member.target!r} leaves the destination")
    if member.kind == "hardlink" and not _link_stays_inside(member.path, member.target, relative_to_root=True):
        raise UnsafeArchiveError(f"{archive}: hard link {member.name!r} -> {member.target!r} leaves the destination")


def _check_layout(members: list[Member], archive: Path) -> None:
    """No path twice (folders excepted), no file used as a folder, nothing written through a link."""
    seen: dict[PurePosixPath, Member] = {}
    for member in members:
        earlier = seen.get(member.path)
        if earlier is not None and not (earlier.kind == member.kind == "dir"):
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} appears twice (as {earlier.kind} and {member.kind}); "
                f"a clean archive never repeats a name: get another copy"
            )
        seen[member.path] = member
    for member in members:
        for parent in member.path.parents:
            above = seen.get(parent)
            if above is None or above.kind == "dir":
                continue
            how = "through the link" if above.kind in ("symlink", "hardlink") else "inside the file"
            raise UnsafeArchiveError(f"{archive}: member {member.name!r} would be written {how} {above.name!r}")


def _check_limits(members: list[Member], archive: Path, limits: ExtractionLimits) -> None:
    count, total = len(members), sum(member.size for member in members)
    if count > limits.max_members:
        raise UnsafeArchiveError(
            f"{archive} has {count} members, more than the limit of {limits.max_members}; if the archive "
            f"is genuine, raise it with {LIMIT_VARIABLES['max_members']}"
        )
    if total > limits.max_bytes:
        raise UnsafeArchiveError(
            f"{archive} would expand to {total} bytes, more than the limit of {limits.max_bytes}; if the "
            f"archive is genuine, raise it with {LIMIT_VARIABLES['max_bytes']}"
        )
    size = max(archive.stat().st_size, 1)
    if total > limits.ratio_floor and total > limits.max_ratio * size:
        raise UnsafeArchiveError(
            f"{archive} ({size} bytes) would expand to {total} bytes, {total / size:.0f} times its size "
            f"(limit {limits.max_ratio:g}; an archive bomb?); if the archive is genuine, raise the limit "
            f"with {LIMIT_VARIABLES['max_ratio']}"
        )


def check_archive(archive: str | os.PathLike, limits: ExtractionLimits | None = None,
                  read_data: bool = False, name: str | None = None,
                  file_name: str | None = None) -> tuple[str, list[Member]]:
    """List ``archive`` and check every member and the limits (module docstring); returns
    (format, members). ``read_data`` also reads every byte (see :func:`list_members`); ``name``
    is how errors call the file (e.g. a download's name and URL instead of its ``.part`` path);
    ``file_name`` (default: the file's own name) is the name whose suffix (``.zip``,
    ``.tar.gz`` ...) the format must match."""
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"archive not found: {archive}")
    limits = limits or ExtractionLimits.from_environment()
    try:
        kind, members = list_members(archive, read_data)
        _check_format_matches_name(archive, kind, file_name or archive.name)
        for member in members:
            _check_member(member, archive)
        _check_layout(members, archive)
        _check_limits(members, archive, limits)
        if not any(member.kind == "file" for member in members):
            raise DamagedArchiveError(
                f"{archive} is {'an empty' if not members else 'a'} {kind} archive with no files "
                f"({len(members)} members): not a dataset (an error answer, or a body compressed in transit?); "
                f"get the archive again"
            )
    except (UnsafeArchiveError, DamagedArchiveError) as error:
        if name is None:
            raise
        raise type(error)(str(error).replace(str(archive), name)) from error
    return kind, members


# -- extraction --------------------------------------------------------------------------------------


def _extract_zip(archive: Path, members: list[Member], destination: Path, progress: bool) -> None:
    root = destination.resolve()
    with zipfile.ZipFile(archive) as bundle:
        for info, member in tqdm(list(zip(bundle.infolist(), members)), desc=f"extract {archive.name}",
                                 unit="file", disable=not progress):
            if member.kind == "symlink":
                log.warning("%s: skipping symlink %s -> %s (zip links are not extracted)", archive, member.name,
                            member.target)
                continue
            path = (destination / member.path).resolve()
            if path != root and root not in path.parents:
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} resolves outside {destination}")
            if member.kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, open(path, "wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK)


def _extract_tar(archive: Path, destination: Path, progress: bool) -> None:
    with tarfile.open(archive, "r:*") as bundle:
        for info in tqdm(bundle.getmembers(), desc=f"extract {archive.name}", unit="file", disable=not progress):
            try:
                bundle.extract(info, destination, filter="data")
            except tarfile.FilterError as error:
                raise UnsafeArchiveError(f"{archive}: member {info.name!r} rejected: {error}") from error


def extract_archive(archive: str | os.PathLike, destination: str | os.PathLike, progress: bool = True,
                    limits: ExtractionLimits | None = None) -> Path:
    """Extract a zip or tar (any compression) into ``destination`` after :func:`check_archive`;
    returns ``destination``. Raises :class:`UnsafeArchiveError` for an unsafe archive and
    :class:`DamagedArchiveError` for a file that is not a whole zip/tar."""
    archive, destination = Path(archive), Path(destination)
    kind, members = check_archive(archive, limits)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "zip":
            _extract_zip(archive, members, destination, progress)
        else:
            _extract_tar(archive, destination, progress)
    except (UnsafeArchiveError, DamagedArchiveError):
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError) as error:
        raise _damaged(archive, error) from error
    return destination
