import hashlib
import json
import logging
import socket
import time

import pytest

from irsde import cli
from irsde.data import download, fetch
from irsde.data.archives import DamagedArchiveError
from irsde.data.download import DownloadError, DownloadPolicy
from irsde.data.fetch import fetch_source
from irsde.data.git_trees import git_blob_id, git_tree_id, verify_git_folder
from irsde.data.lock import ChecksumMismatch, LockFile, user_lock_path, verify_or_record
from irsde.data.records import ArchiveSource, GitTreeSource
from irsde.data.registry import get_dataset
from tests.support.data import git_ids, registry_copy, zip_bytes

FAST = DownloadPolicy(timeout=5, attempts=3, backoff=0.0, chunk_size=512, progress=False)
BODY = zip_bytes({"top/a.bin": bytes(range(256)) * 20})  # a stored zip of 5248 bytes


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
    assert f"1000 of {len(BODY)} bytes" in str(caught.value)
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
    with pytest.raises(DownloadError, match=f"/thing.zip: connection ended after 2000 of {len(BODY)} bytes"):
        fetch_source(source, tmp_path, policy=FAST)
    assert f"asked for bytes 2000-, got range 'bytes 0-{len(BODY) - 1}/{len(BODY)}'" in caplog.text
    assert server.routes["/thing.zip"].requests == [None, "bytes=2000-", None]
    assert not (tmp_path / "thing.zip").exists()
    server.routes["/thing.zip"].truncate_at = None
    assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY


def test_transient_errors_are_retried_with_exponential_backoff(server, tmp_path, monkeypatch):
    delays = []
    monkeypatch.setattr(download.time, "sleep", delays.append)
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


# -- nothing is pinned before it is known to be a whole archive ---------------------------------------

SIGN_IN_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>"


def test_an_html_page_served_with_status_200_is_never_pinned(server, tmp_path):
    source = archive(server, body=SIGN_IN_PAGE, content_type="text/html")
    with pytest.raises(DamagedArchiveError) as caught:
        fetch_source(source, tmp_path, policy=FAST)
    message = str(caught.value)
    assert "thing.zip (from http://127.0.0.1" in message and "HTML/XML page, not an archive" in message
    assert "digest was not recorded" in message and str(tmp_path / "thing.zip.bad") in message
    assert "thing.zip" not in LockFile.load(user_lock_path(tmp_path)).entries
    assert not (tmp_path / "thing.zip").exists()

    server.routes["/thing.zip"].body = BODY  # the genuine archive is then accepted and pinned
    assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY
    assert LockFile.load(user_lock_path(tmp_path)).entries["thing.zip"]["sha256"] == hashlib.sha256(BODY).hexdigest()


def test_a_download_cut_short_without_content_length_is_never_pinned(server, tmp_path):
    source = archive(server, send_length=False, truncate_at=len(BODY) - 300)
    with pytest.raises(DamagedArchiveError, match="thing.zip .*truncated or damaged.*digest was not recorded"):
        fetch_source(source, tmp_path, policy=FAST)
    assert "thing.zip" not in LockFile.load(user_lock_path(tmp_path)).entries
    server.routes["/thing.zip"].truncate_at = None
    assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY


def test_a_bad_mirror_answer_falls_through_to_the_next_url(server, tmp_path):
    server.add("/page.zip", SIGN_IN_PAGE)
    server.add("/good.zip", BODY)
    source = ArchiveSource("good.zip", (server.url("/page.zip"), server.url("/good.zip")))
    assert fetch_source(source, tmp_path, policy=FAST).read_bytes() == BODY


@pytest.mark.parametrize("content, problem", [
    (BODY[: len(BODY) // 2], "truncated or damaged"),
    (zip_bytes({"top/../../evil.png": b"x"}), "contains '..'"),
    (b"", "neither a zip nor a tar"),
])
def test_a_bad_archive_dropped_into_resources_is_refused_and_not_pinned(tmp_path, content, problem):
    (tmp_path / "thing.zip").write_bytes(content)
    with pytest.raises(ValueError, match=problem) as caught:
        fetch_source(ArchiveSource("thing.zip"), tmp_path, offline=True, policy=FAST)
    assert "thing.zip" in str(caught.value) and "not recorded" in str(caught.value)
    assert not user_lock_path(tmp_path).exists()
    assert (tmp_path / "thing.zip.bad").read_bytes() == content


def run_cli(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_wrong_first_use_pin_is_explained_and_dropped_with_repin(server, tmp_path, capsys, monkeypatch):
    resources = tmp_path / "resources"
    blocked = {name: closed_port_url(f"/{name}") for name in ("Rain100H.zip", "RainTrainH.zip")}
    monkeypatch.setattr(fetch, "get_dataset", lambda name: registry_copy(name, urls=blocked))
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)
    # An older version pinned whatever came first: here a sign-in page.
    LockFile(user_lock_path(resources)).record("Rain100H.zip", {
        "sha256": hashlib.sha256(SIGN_IN_PAGE).hexdigest(), "md5": hashlib.md5(SIGN_IN_PAGE).hexdigest(),
        "size": len(SIGN_IN_PAGE), "source": "http://www.icst.pku.edu.cn/struct/att/Rain100H.zip"})
    genuine = {"Rain100H.zip": zip_bytes({"rain_data_test_Heavy/norain-1.png": b"x"}),
               "RainTrainH.zip": zip_bytes({"RainTrainH/norain-1.png": b"y"})}
    for name, data in genuine.items():
        server.add(f"/mirror/{name}", data)
    fetch_args = ["data", "fetch", "Rain100H", "--resources", str(resources), "--mirror", server.url("/mirror")]

    code, _, err = run_cli(fetch_args, capsys)
    errors = [line for line in err.splitlines() if line.startswith("irsde data: error:")]
    assert code == 2 and len(errors) == 1
    assert "Rain100H.zip" in errors[0] and "recorded on first use" in errors[0]
    assert "`irsde data fetch Rain100H --repin`" in errors[0]

    code, out, err = run_cli(fetch_args + ["--repin"], capsys)
    assert code == 0, err
    assert "forgot the first-use digests of Rain100H.zip" in out
    entries = LockFile.load(user_lock_path(resources)).entries
    assert {name: entries[name]["sha256"] for name in genuine} == {
        name: hashlib.sha256(data).hexdigest() for name, data in genuine.items()}
    assert (resources / "Rain100H.zip").read_bytes() == genuine["Rain100H.zip"]


@pytest.mark.parametrize("text, problem", [
    ('{"version": 1, "files": {"a.zip": {"sha256": "abc"}}}', "entry 'a.zip' has a malformed sha256 'abc'"),
    ('{"version": 1, "files": {"a.zip": "deadbeef"}}', "entry 'a.zip' must be an object"),
    ('{"version": 1, "files": {"a.zip": {"size": -3}}}', "entry 'a.zip' has a malformed size -3"),
    ('{"version": 1, "files": [1, 2]}', "'files' must be an object"),
    ("{not json", "is not a valid checksum lock"),
])
def test_malformed_lock_entries_name_the_file_and_the_entry(tmp_path, text, problem):
    lock = user_lock_path(tmp_path)
    lock.write_text(text)
    (tmp_path / "a.zip").write_bytes(BODY)
    with pytest.raises(ValueError) as caught:
        fetch_source(ArchiveSource("a.zip"), tmp_path, offline=True, policy=FAST)
    assert problem in str(caught.value) and str(lock) in str(caught.value)


# -- failed downloads say what is left, stalls lose nothing, a deadline holds -------------------------


def closed_port_url(path: str) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.mark.parametrize("where", ["404", "unreachable", "no-such-host"])
def test_a_failed_download_does_not_claim_a_partial_file(server, tmp_path, where):
    url = {"404": server.url("/gone.zip"), "unreachable": closed_port_url("/gone.zip"),
           "no-such-host": "http://no-such-host.invalid/gone.zip"}[where]  # .invalid never resolves (RFC 2606)
    with pytest.raises(DownloadError) as caught:
        fetch_source(ArchiveSource("gone.zip", (url,)), tmp_path, policy=FAST)
    assert "nothing was received" in str(caught.value) and "partial file" not in str(caught.value)
    assert not (tmp_path / "gone.zip.part").exists()


def test_a_stalled_connection_keeps_every_byte_received(server, tmp_path):
    source = archive(server, stall_after=3000, stall_seconds=3.0)
    policy = DownloadPolicy(timeout=0.5, attempts=1, backoff=0.0, progress=False)  # default read size
    with pytest.raises(DownloadError, match="a partial file stays at .*thing.zip.part"):
        fetch_source(source, tmp_path, policy=policy)
    assert (tmp_path / "thing.zip.part").read_bytes() == BODY[:3000]


def test_a_dripping_server_is_abandoned_at_the_overall_deadline(server, tmp_path):
    source = archive(server, drip_delay=0.05)
    policy = DownloadPolicy(timeout=5, attempts=3, backoff=0.0, progress=False, deadline=0.6)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="overall deadline of 0.6 s.*IRSDE_DOWNLOAD_DEADLINE"):
        fetch_source(source, tmp_path, policy=policy)
    assert time.monotonic() - started < 3.0
    assert len(server.routes["/thing.zip"].requests) == 1  # a deadline is not retried
    assert 0 < (tmp_path / "thing.zip.part").stat().st_size < len(BODY)


def test_a_failed_git_tree_fetch_leaves_no_folder_and_offline_says_what_to_copy(server, tmp_path):
    source = git_source(server, tmp_path)
    dead = GitTreeSource(source.name, source.repo, source.commit, source.folder, source.tree_id,
                         api_base=closed_port_url("/api"), raw_base=closed_port_url("/raw"))
    with pytest.raises(DownloadError):
        fetch_source(dead, tmp_path / "res", policy=FAST)
    assert not (tmp_path / "res" / "Set").exists()
    (tmp_path / "res" / "Set").mkdir()  # e.g. left by an older version
    with pytest.raises(FileNotFoundError) as caught:
        fetch_source(dead, tmp_path / "res", offline=True)
    message = str(caught.value)
    assert f"{tmp_path / 'res' / 'Set'} holds no files" in message
    assert f"copy the folder testsets/Set of github.com/someone/repo at commit c0ffee to {tmp_path / 'res' / 'Set'}" in message


# -- mirrors ---------------------------------------------------------------------------------------------


def test_every_source_kind_can_come_from_a_mirror_given_by_environment(server, tmp_path, monkeypatch):
    # A machine with access fetched both sources; its resources/ folder is then served as a mirror.
    source = git_source(server, tmp_path)
    served = tmp_path / "served"
    fetch_source(source, served, policy=FAST)
    (served / "thing.zip").write_bytes(BODY)
    server.serve_folder("/mirror", served)
    behind_firewall = GitTreeSource(source.name, source.repo, source.commit, source.folder, source.tree_id,
                                    api_base=closed_port_url("/api"), raw_base=closed_port_url("/raw"))
    blocked_archive = ArchiveSource("thing.zip", (closed_port_url("/thing.zip"),))

    monkeypatch.setenv("IRSDE_MIRROR", server.url("/mirror"))
    folder = fetch_source(behind_firewall, tmp_path / "res", policy=FAST)
    assert {name: (folder / name).read_bytes() for name in FILES} == FILES
    assert fetch_source(blocked_archive, tmp_path / "res", policy=FAST).read_bytes() == BODY


def test_a_browser_only_source_is_fetched_from_a_mirror_and_a_bad_mirror_is_named(server, tmp_path):
    server.add("/m/ITS.zip", BODY)
    source = ArchiveSource("ITS.zip", ("https://example.org/needs-login",), browser=True)
    assert fetch_source(source, tmp_path, policy=FAST, mirrors=[server.url("/m")]).read_bytes() == BODY
    with pytest.raises(ValueError, match="mirror 'ftp://x' .*IRSDE_MIRROR"):
        fetch_source(ArchiveSource("other.zip", ("http://a/b",)), tmp_path, policy=FAST, mirrors="ftp://x")


def test_a_workflow_manager_s_hidden_marker_in_a_git_tree_folder_is_not_part_of_it(server, tmp_path):
    """Snakemake writes .snakemake_timestamp into a directory() output: the copy still matches."""
    files = {"a.png": b"first", "b.png": b"second"}
    tree_id = server.add_git_tree("owner/repo", "c0ffee", "set", files, tmp_path / "git")
    source = GitTreeSource("set-copy", "owner/repo", "c0ffee", "set", tree_id,
                           api_base=server.url("/api"), raw_base=server.url("/raw"))
    folder = fetch_source(source, tmp_path / "res", policy=FAST)
    (folder / ".snakemake_timestamp").write_bytes(b"")
    assert verify_git_folder(source, folder) == tree_id
    (folder / "c.png").write_bytes(b"not in the tree")
    with pytest.raises(ChecksumMismatch, match="does not match owner/repo"):
        verify_git_folder(source, folder)
