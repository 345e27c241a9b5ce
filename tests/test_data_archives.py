import io
import logging
import stat
import tarfile
import zipfile

import pytest

from irsde.data.archives import UnsafeArchiveError, extract_archive
from data_support import tar_bytes, tree_hashes, zip_bytes

FILES = {"top/a.png": b"alpha", "top/sub/b.png": b"beta"}


def write(path, data):
    path.write_bytes(data)
    return path


def tar_with(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as bundle:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            bundle.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def zip_symlink(name, target) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(info, target)
        bundle.writestr("top/a.png", b"alpha")
    return buffer.getvalue()


@pytest.fixture
def layout(tmp_path):
    """(archive folder, destination, a sibling 'outside' folder an attack would aim at)."""
    (tmp_path / "outside").mkdir()
    return tmp_path / "archives", tmp_path / "work" / "dest", tmp_path / "outside"


def assert_nothing_written(tmp_path, destination):
    assert tree_hashes(tmp_path / "outside") == {}
    assert not destination.exists() or tree_hashes(destination) == {}
    assert not any(p.name in ("evil.txt", "pwned") for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("maker, name", [(zip_bytes, "x.zip"), (tar_bytes, "x.tar.gz")])
def test_regular_archives_extract_exactly(tmp_path, layout, maker, name):
    archives, destination, _ = layout
    archives.mkdir()
    extract_archive(write(archives / name, maker(FILES)), destination, progress=False)
    assert tree_hashes(destination) == FILES


@pytest.mark.parametrize("member", ["../evil.txt", "top/../../evil.txt", "..\\evil.txt", "/ABSOLUTE/evil.txt", "C:/evil.txt"])
@pytest.mark.parametrize("maker", [zip_bytes, tar_bytes])
def test_traversal_and_absolute_members_reject_the_whole_archive(tmp_path, layout, member, maker):
    archives, destination, _ = layout
    archives.mkdir()
    member = member.replace("/ABSOLUTE", str(tmp_path / "outside"))
    bundle = write(archives / "attack", maker({"top/a.png": b"alpha", member: b"owned"}))
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_archive(bundle, destination, progress=False)
    assert "evil.txt" in str(caught.value)
    assert_nothing_written(tmp_path, destination)


@pytest.mark.parametrize("members", [
    [link("top/link", "../../outside"), (tarfile.TarInfo("top/link/pwned"), b"owned")],
    [link("top/link", "/"), (tarfile.TarInfo("top/link/pwned"), b"owned")],
    [link("top/hard", "../outside/pwned", tarfile.LNKTYPE)],
    [link("deep/a/b/up", "../../../../outside")],
])
def test_links_escaping_the_destination_are_rejected(tmp_path, layout, members):
    archives, destination, _ = layout
    archives.mkdir()
    bundle = write(archives / "attack.tar", tar_with([(tarfile.TarInfo("top/a.png"), b"alpha"), *members]))
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_archive(bundle, destination, progress=False)
    assert_nothing_written(tmp_path, destination)


def test_device_files_are_rejected(tmp_path, layout):
    archives, destination, _ = layout
    archives.mkdir()
    device = tarfile.TarInfo("top/dev")
    device.type = tarfile.CHRTYPE
    bundle = write(archives / "dev.tar", tar_with([(device, None)]))
    with pytest.raises(UnsafeArchiveError, match="device"):
        extract_archive(bundle, destination, progress=False)


def test_links_inside_the_destination_are_kept_in_tar(tmp_path, layout):
    archives, destination, _ = layout
    archives.mkdir()
    bundle = write(archives / "ok.tar", tar_with([(tarfile.TarInfo("top/a.png"), b"alpha"), link("top/alias.png", "a.png")]))
    extract_archive(bundle, destination, progress=False)
    assert (destination / "top" / "alias.png").read_bytes() == b"alpha"


def test_zip_symlinks_escaping_are_rejected_and_inside_ones_skipped(tmp_path, layout, caplog):
    archives, destination, _ = layout
    archives.mkdir()
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract_archive(write(archives / "bad.zip", zip_symlink("top/link", "../../outside")), destination, progress=False)
    assert_nothing_written(tmp_path, destination)
    with caplog.at_level(logging.WARNING):
        extract_archive(write(archives / "ok.zip", zip_symlink("top/link", "a.png")), destination, progress=False)
    assert tree_hashes(destination) == {"top/a.png": b"alpha"}
    assert "skipping symlink top/link" in caplog.text


def test_unknown_format_is_a_clear_error(tmp_path):
    bundle = write(tmp_path / "data.rar", b"Rar!\x1a\x07\x00 not really")
    with pytest.raises(ValueError, match="neither a zip nor a tar.*--path"):
        extract_archive(bundle, tmp_path / "dest", progress=False)
