import io
import logging
import os
import warnings
import stat
import tarfile
import zipfile

import numpy as np
import pytest

from irsde.data.archives import DamagedArchiveError, ExtractionLimits, UnsafeArchiveError, check_archive, extract_archive
from tests.support.data import tar_bytes, tree_hashes, zip_bytes

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


# -- duplicates, writes through links, limits, damaged archives ----------------------------------------


def zip_with_duplicate(name: str) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as bundle:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate but writes it
        bundle.writestr(name, b"first")
        bundle.writestr(name, b"second")
    return buffer.getvalue()


@pytest.mark.parametrize("bundle_bytes, name", [
    (zip_with_duplicate("top/a.png"), "dup.zip"),
    (tar_with([(tarfile.TarInfo("top/a.png"), b"first"), (tarfile.TarInfo("top/a.png"), b"second")]), "dup.tar"),
])
def test_duplicate_member_names_reject_the_archive(tmp_path, layout, bundle_bytes, name):
    archives, destination, _ = layout
    archives.mkdir()
    with pytest.raises(UnsafeArchiveError, match="member 'top/a.png' appears twice"):
        extract_archive(write(archives / name, bundle_bytes), destination, progress=False)
    assert not destination.exists()


@pytest.mark.parametrize("members, culprit", [
    # a link and then a regular file of the same name: extracting would write through the link
    ([(tarfile.TarInfo("top/a.png"), b"alpha"), link("top/b.png", "a.png"), (tarfile.TarInfo("top/b.png"), b"evil")],
     "appears twice"),
    # a file below a link member (the link points inside, so only the layout check stops it)
    ([(tarfile.TarInfo("top/sub/a.png"), b"alpha"), link("top/alias", "sub"), (tarfile.TarInfo("top/alias/a.png"), b"evil")],
     "through the link 'top/alias'"),
    # a file below a file
    ([(tarfile.TarInfo("top/a.png"), b"alpha"), (tarfile.TarInfo("top/a.png/b.png"), b"beta")], "inside the file"),
])
def test_nothing_is_written_through_a_link_or_a_file(tmp_path, layout, members, culprit):
    archives, destination, _ = layout
    archives.mkdir()
    with pytest.raises(UnsafeArchiveError, match=culprit):
        extract_archive(write(archives / "links.tar", tar_with(members)), destination, progress=False)
    assert not destination.exists()


def zeros_zip(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("top/zeros.bin", bytes(size))
    return buffer.getvalue()


def test_an_archive_bomb_is_refused_before_extraction_and_the_limit_is_configurable(tmp_path, layout, monkeypatch):
    archives, destination, _ = layout
    archives.mkdir()
    bomb = write(archives / "bomb.zip", zeros_zip(80 * 2**20))  # ~80 KB expanding to 80 MiB
    assert bomb.stat().st_size < 2**20
    with pytest.raises(UnsafeArchiveError, match=r"bomb.zip .* would expand to 83886080 bytes.*IRSDE_ARCHIVE_MAX_RATIO"):
        extract_archive(bomb, destination, progress=False)
    assert not destination.exists()
    monkeypatch.setenv("IRSDE_ARCHIVE_MAX_RATIO", "100000")
    assert check_archive(bomb)[0] == "zip"  # accepted once the user raises the limit
    monkeypatch.setenv("IRSDE_ARCHIVE_MAX_BYTES", str(2**20))
    with pytest.raises(UnsafeArchiveError, match="more than the limit of 1048576.*IRSDE_ARCHIVE_MAX_BYTES"):
        check_archive(bomb)


def test_member_count_limit(tmp_path, monkeypatch):
    bundle = write(tmp_path / "many.zip", zip_bytes({f"top/{i}.png": b"x" for i in range(5)}))
    assert len(check_archive(bundle)[1]) == 5
    monkeypatch.setenv("IRSDE_ARCHIVE_MAX_MEMBERS", "4")
    with pytest.raises(UnsafeArchiveError, match="5 members, more than the limit of 4.*IRSDE_ARCHIVE_MAX_MEMBERS"):
        extract_archive(bundle, tmp_path / "dest", progress=False)
    monkeypatch.setenv("IRSDE_ARCHIVE_MAX_MEMBERS", "many")
    with pytest.raises(ValueError, match="IRSDE_ARCHIVE_MAX_MEMBERS='many'"):
        ExtractionLimits.from_environment()


def incompressible(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def test_a_truncated_tar_gz_is_a_damaged_archive_not_a_traceback(tmp_path):
    whole = tar_bytes({"top/a.bin": incompressible(200_000), "top/b.bin": incompressible(200_000, 1)})
    cut = write(tmp_path / "cut.tar.gz", whole[: len(whole) * 2 // 3])
    with pytest.raises(DamagedArchiveError, match="cut.tar.gz is a truncated or damaged"):
        extract_archive(cut, tmp_path / "dest", progress=False)


def test_a_tar_cut_at_a_header_boundary_is_not_read_as_a_shorter_archive(tmp_path):
    files = {f"top/{i}.png": bytes([i]) * 512 for i in range(3)}
    whole = tar_bytes(files, compression="")
    cut = whole[: 2 * 1024]  # header + data of the first two members: tarfile alone sees 2 members
    assert tarfile.open(fileobj=io.BytesIO(cut)).getnames() == ["top/0.png", "top/1.png"]
    bundle = write(tmp_path / "cut.tar", cut)
    with pytest.raises(DamagedArchiveError, match="cut.tar is a truncated or damaged tar archive.*2 members"):
        extract_archive(bundle, tmp_path / "dest", progress=False)
    extract_archive(write(tmp_path / "whole.tar", whole), tmp_path / "whole", progress=False)
    assert sorted(os.listdir(tmp_path / "whole" / "top")) == sorted(name.split("/")[1] for name in files)


def test_a_zip_with_damaged_data_is_found_when_the_data_is_read(tmp_path):
    data = bytearray(zip_bytes({"top/a.png": incompressible(5000)}))
    data[100] ^= 0xFF  # inside the stored member's data; the directory still lists it
    bundle = write(tmp_path / "flipped.zip", bytes(data))
    assert check_archive(bundle)[0] == "zip"
    with pytest.raises(DamagedArchiveError, match="flipped.zip: member 'top/a.png' is damaged"):
        check_archive(bundle, read_data=True)


def test_an_html_page_is_named_as_such(tmp_path):
    page = write(tmp_path / "Rain100H.zip", b"\n  <!DOCTYPE html><html><body>Sign in to continue</body></html>")
    with pytest.raises(DamagedArchiveError, match="Rain100H.zip is an HTML/XML page, not an archive"):
        check_archive(page)
