import hashlib
import json
import logging

import pytest

from irsde.data import fetch
from irsde.data.fetch import DownloadError, DownloadPolicy, fetch_source, git_blob_id, git_tree_id, verify_git_folder
from irsde.data.lock import ChecksumMismatch, LockFile, user_lock_path, verify_or_record
from irsde.data.records import ArchiveSource, GitTreeSource
from irsde.data.registry import get_dataset
from data_support import git_ids, server  # noqa: F401 - fixture

FAST = DownloadPolicy(timeout=5, attempts=3, backoff=0.0, chunk_size=512, progress=False)
BODY = bytes(range(256)) * 20  # 5120 bytes


def archive(server, name="thing.zip", **route):
    server.add(f"/{name}", route.pop("body", BODY), **route)
    return ArchiveSource(name, (server.url(f"/{name}"),))


def test_first_download_records_digests_then_they_are_enforced(server, tmp_path):
    source = archive(server)
    path = fetch_source(source, tmp_path, policy=FAST)
    assert path == tmp_path / "thing.zip" and path.read_bytes() == BODY
    entry = LockFile.load(user_lock_path(tmp_path)).entries["thing.zip"]
    assert entry["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert entry["md5"] == hashlib.md5(BODY).hexdigest() and entry["size"] == len(BODY)
    assert entry["source"] == source.urls[0]

    path.unlink()
    server.routes["/thing.zip"].body = BODY[::-1]  # the server now sends something else
    with pytest.raises(ChecksumMismatch) as caught:
        fetch_source(source, tmp_path, policy=FAST)
    message = str(caught.value)
    assert "thing.zip" in message and entry["sha256"] in message
    assert hashlib.sha256(BODY[::-1]).hexdigest() in message
    assert not path.exists() and not (tmp_path / "thing.zip.part").exists()
    assert (tmp_path / "thing.zip.bad").read_bytes() == BODY[::-1]


def test_wrong_pinned_checksum_is_caught_and_the_file_moved_aside(server, tmp_path):
    LockFile(user_lock_path(tmp_path)).record("thing.zip", {"sha256": "0" * 64})
    with pytest.raises(ChecksumMismatch, match="expected 0000"):
        fetch_source(archive(server), tmp_path, policy=FAST)
    assert not (tmp_path / "thing.zip").exists()
    assert (tmp_path / "thing.zip.bad").read_bytes() == BODY


def test_pinned_lock_takes_part_and_conflicts_are_errors(tmp_path):
    data = tmp_path / "a.zip"
    data.write_bytes(BODY)
    pinned = tmp_path / "pinned.json"
    LockFile(pinned).record("a.zip", {"md5": hashlib.md5(BODY).hexdigest()})
    resources = tmp_path / "res"
    verify_or_record("a.zip", data, resources, "test", pinned=pinned)  # md5 matches; sha256 recorded
    assert LockFile.load(user_lock_path(resources)).entries["a.zip"]["sha256"] == hashlib.sha256(BODY).hexdigest()
    LockFile(pinned).record("a.zip", {"sha256": "f" * 64})
    with pytest.raises(ValueError, match="disagree"):
        verify_or_record("a.zip", data, resources, "test", pinned=pinned)


def test_file_already_in_resources_is_verified_without_network(server, tmp_path):
    source = archive(server)
    fetch_source(source, tmp_path, policy=FAST)
    requests = len(server.routes["/thing.zip"].requests)
    server.close()
    assert fetch_source(source, tmp_path, offline=True, policy=FAST).read_bytes() == BODY
    assert len(server.routes["/thing.zip"].requests) == requests
    (tmp_path / "thing.zip").write_bytes(BODY[:-1] + b"!")  # corrupted on disk
    with pytest.raises(ChecksumMismatch, match="thing.zip"):
        fetch_source(source, tmp_path, offline=True, policy=FAST)
    assert (tmp_path / "thing.zip.bad").exists() and not (tmp_path / "thing.zip").exists()


def test_interrupted_download_leaves_no_file_that_passes_for_complete(server, tmp_path):
    source = archive(server, truncate_at=1000, ranges=False)
    with pytest.raises(DownloadError) as caught:
        fetch_source(source, tmp_path, policy=FAST)
    assert "1000 of 5120 bytes" in str(caught.value)
    assert not (tmp_path / "thing.zip").exists()
    assert (tmp_path / "thing.zip.part").stat().st_size == 1000
    assert "thing.zip" not in LockFile.load(user_lock_path(tmp_path)).entries
    assert len(server.routes["/thing.zip"].requests) == FAST.attempts

    server.routes["/thing.zip"].truncate_at = None  # the server recovers
    assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY


def test_download_resumes_with_range_requests(server, tmp_path):
    source = archive(server, truncate_at=2000)
    policy = DownloadPolicy(timeout=5, attempts=4, backoff=0.0, chunk_size=512, progress=False)
    assert fetch_source(source, tmp_path, policy=policy).read_bytes() == BODY
    assert server.routes["/thing.zip"].requests == [None, "bytes=2000-", "bytes=4000-"]


def test_a_resume_answered_with_the_wrong_range_never_corrupts_the_file(server, tmp_path, caplog):
    source = archive(server, truncate_at=2000, wrong_range=True)
    with pytest.raises(DownloadError, match="/thing.zip: connection ended after 2000 of 5120 bytes"):
        fetch_source(source, tmp_path, policy=FAST)
    assert "asked for bytes 2000-, got range 'bytes 0-5119/5120'" in caplog.text
    assert server.routes["/thing.zip"].requests == [None, "bytes=2000-", None]
    assert not (tmp_path / "thing.zip").exists()
    server.routes["/thing.zip"].truncate_at = None
    assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY


def test_transient_errors_are_retried_with_exponential_backoff(server, tmp_path, monkeypatch):
    delays = []
    monkeypatch.setattr(fetch.time, "sleep", delays.append)
    source = archive(server, fail_first=2)
    policy = DownloadPolicy(timeout=5, attempts=3, backoff=0.5, progress=False)
    assert fetch_source(source, tmp_path, policy=policy).read_bytes() == BODY
    assert delays == [0.5, 1.0]


def test_a_missing_mirror_falls_through_to_the_next(server, tmp_path):
    server.add("/good.zip", BODY)
    source = ArchiveSource("good.zip", (server.url("/gone.zip"), server.url("/good.zip")))
    assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY


def test_all_mirrors_failing_names_each(server, tmp_path):
    source = ArchiveSource("x.zip", (server.url("/a.zip"), server.url("/b.zip")))
    with pytest.raises(DownloadError) as caught:
        fetch_source(source, tmp_path, policy=FAST)
    assert "/a.zip: HTTP Error 404" in str(caught.value) and "/b.zip: HTTP Error 404" in str(caught.value)


def test_missing_offline_archive_says_which_file_goes_where(tmp_path):
    source = get_dataset("Rain100H").source("Rain100H.zip")
    with pytest.raises(FileNotFoundError) as caught:
        fetch_source(source, tmp_path / "resources", offline=True)
    message = str(caught.value)
    assert str(tmp_path / "resources" / "Rain100H.zip") in message and "offline" in message
    assert "http://www.icst.pku.edu.cn/struct/att/Rain100H.zip" in message


def test_browser_only_source_is_never_downloaded(server, tmp_path):
    server.add("/ITS.zip", BODY)
    source = ArchiveSource("ITS.zip", (server.url("/ITS.zip"),), browser=True, instructions="ask the authors")
    with pytest.raises(FileNotFoundError, match="ask the authors") as caught:
        fetch_source(source, tmp_path, policy=FAST)
    assert str(tmp_path / "ITS.zip") in str(caught.value)
    assert server.routes["/ITS.zip"].requests == []


def test_missing_content_length_is_accepted_with_a_warning(server, tmp_path, caplog):
    source = archive(server, send_length=False)
    with caplog.at_level(logging.WARNING):
        assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY
    assert "no Content-Length" in caplog.text


# -- git trees -----------------------------------------------------------------------------------------

FILES = {"1.png": b"first image", "2.png": b"second", "kodim10.png": b"x" * 3000}


def test_git_ids_match_git_itself(tmp_path):
    blobs, tree = git_ids(FILES, tmp_path / "repo")
    assert {name: git_blob_id(data) for name, data in FILES.items()} == blobs
    assert git_tree_id([("100644", name, blob) for name, blob in blobs.items()]) == tree


def git_source(server, tmp_path, files=FILES):
    tree_id = server.add_git_tree("someone/repo", "c0ffee", "testsets/Set", files, tmp_path / "repo")
    return GitTreeSource("Set", "someone/repo", "c0ffee", "testsets/Set", tree_id,
                         api_base=server.url("/api"), raw_base=server.url("/raw"))


def test_git_tree_source_is_fetched_file_by_file_and_verified(server, tmp_path):
    source = git_source(server, tmp_path)
    folder = fetch_source(source, tmp_path / "res", policy=FAST)
    assert {name: (folder / name).read_bytes() for name in FILES} == FILES
    assert verify_git_folder(source, folder) == source.tree_id

    (folder / "2.png").write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match="2.png"):
        fetch_source(source, tmp_path / "res", offline=True, policy=FAST)
    requests_before = {path: len(route.requests) for path, route in server.routes.items()}
    fetch_source(source, tmp_path / "res", policy=FAST)  # online: only the bad file is fetched again
    assert (folder / "2.png").read_bytes() == FILES["2.png"]
    refetched = [path for path, route in server.routes.items() if len(route.requests) > requests_before[path]]
    assert sorted(refetched) == sorted([f"/api/repos/someone/repo/git/trees/{source.tree_id}",
                                        "/raw/someone/repo/c0ffee/testsets/Set/2.png"])


def test_git_tree_folder_without_listing_is_checked_by_tree_id(server, tmp_path):
    source = git_source(server, tmp_path)
    folder = tmp_path / "res" / "Set"
    folder.mkdir(parents=True)
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    assert fetch_source(source, tmp_path / "res", offline=True) == folder
    (folder / "1.png").unlink()
    with pytest.raises(ChecksumMismatch, match="tree id"):
        fetch_source(source, tmp_path / "res", offline=True)


def test_served_blob_with_wrong_content_is_rejected(server, tmp_path):
    source = git_source(server, tmp_path)
    server.routes["/raw/someone/repo/c0ffee/testsets/Set/1.png"].body = b"evil"
    with pytest.raises(ChecksumMismatch, match="git blob id"):
        fetch_source(source, tmp_path / "res", policy=FAST)
    assert (tmp_path / "res" / "Set" / "1.png.bad").read_bytes() == b"evil"
    assert not (tmp_path / "res" / "Set" / "1.png").exists()


def test_forged_listing_is_rejected(server, tmp_path):
    source = git_source(server, tmp_path)
    route = server.routes[f"/api/repos/someone/repo/git/trees/{source.tree_id}"]
    listing = json.loads(route.body)
    listing["tree"][0]["sha"] = git_blob_id(b"evil")
    route.body = json.dumps(listing).encode()
    with pytest.raises(ChecksumMismatch, match="listing has tree id"):
        fetch_source(source, tmp_path / "res", policy=FAST)
