"""Safe extraction of zip and tar archives.

Every member is checked before anything is written: absolute paths, drive letters, ``..``
components, NUL bytes, device files and links whose target leaves the destination make the whole
archive rejected (:class:`UnsafeArchiveError` naming the member), so an attack archive writes
nothing at all. Tar members are then extracted with the standard library's ``data`` filter as a
second line of defence. Zip files cannot create links: a zip symlink pointing inside the archive
is skipped with a warning.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

log = logging.getLogger(__name__)


class UnsafeArchiveError(ValueError):
    """An archive member would write outside the destination or is not a plain file/folder."""


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
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        return False
    base = "" if relative_to_root else posixpath.dirname(str(member_name))
    resolved = posixpath.normpath(posixpath.join(base, target))
    return resolved != ".." and not resolved.startswith("../")


def _is_zip_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _extract_zip(archive: Path, destination: Path, progress: bool) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        plan = []
        for info in members:
            relative = _safe_relative(info.filename, archive)
            if _is_zip_symlink(info):
                target = bundle.read(info).decode("utf-8", "replace")
                if not _link_stays_inside(relative, target, relative_to_root=False):
                    raise UnsafeArchiveError(f"{archive}: symlink {info.filename!r} -> {target!r} leaves the destination")
                log.warning("%s: skipping symlink %s -> %s (zip links are not extracted)", archive, info.filename, target)
                continue
            plan.append((info, relative))
        root = destination.resolve()
        for info, relative in tqdm(plan, desc=f"extract {archive.name}", unit="file", disable=not progress):
            path = (destination / relative).resolve()
            if path != root and root not in path.parents:
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} resolves outside {destination}")
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, open(path, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)


def _check_tar_member(member: tarfile.TarInfo, archive: Path) -> None:
    relative = _safe_relative(member.name, archive)
    if member.isdev() or not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device or special file")
    if member.issym() and not _link_stays_inside(relative, member.linkname, relative_to_root=False):
        raise UnsafeArchiveError(f"{archive}: symlink {member.name!r} -> {member.linkname!r} leaves the destination")
    if member.islnk() and not _link_stays_inside(relative, member.linkname, relative_to_root=True):
        raise UnsafeArchiveError(f"{archive}: hard link {member.name!r} -> {member.linkname!r} leaves the destination")


def _extract_tar(archive: Path, destination: Path, progress: bool) -> None:
    with tarfile.open(archive, "r:*") as bundle:
        members = bundle.getmembers()
        for member in members:
            _check_tar_member(member, archive)
        for member in tqdm(members, desc=f"extract {archive.name}", unit="file", disable=not progress):
            try:
                bundle.extract(member, destination, filter="data")
            except tarfile.FilterError as error:
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} rejected: {error}") from error


def extract_archive(archive: str | os.PathLike, destination: str | os.PathLike, progress: bool = True) -> Path:
    """Extract a zip or tar (any compression) into ``destination`` after checking every member;
    returns ``destination``. Raises :class:`UnsafeArchiveError` for an unsafe archive and
    ValueError for a format that is neither zip nor tar."""
    archive, destination = Path(archive), Path(destination)
    if not archive.is_file():
        raise FileNotFoundError(f"archive not found: {archive}")
    destination.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, destination, progress)
    elif tarfile.is_tarfile(archive):
        _extract_tar(archive, destination, progress)
    else:
        raise ValueError(
            f"{archive} is neither a zip nor a tar archive (for RAR/7z, extract it yourself and "
            f"pass the folder with --path)"
        )
    return destination
