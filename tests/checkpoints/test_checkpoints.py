"""The released-checkpoint registry: records, verified fetching (mirror, pinned source, trust on
first use), offline errors that say what to fetch, and the `irsde weights` / `data list --json`
manifests. Everything runs against a loopback HTTP server."""

import csv
import functools
import hashlib
import io
import json
from pathlib import Path

import pytest
import torch

from irsde.checkpoints import CHECKPOINTS, BrowserFile, Checkpoint, GitFile, fetch_checkpoint, verify_checkpoint
from irsde.cli import main
from irsde.data.download import DownloadPolicy
from irsde.data.git_trees import git_blob_id
from irsde.data.lock import ChecksumMismatch, LockFile, user_lock_path
from irsde.methods import METHODS, fetch_weights, loads_into_its_method
from tests.support.data import git_ids

FAST = DownloadPolicy(timeout=5, attempts=2, backoff=0.0, progress=False)
REPO_PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "published" / "published_results.csv"


def weight_bytes(seed=0) -> bytes:
    buffer = io.BytesIO()
    torch.save({"model.0.weight": torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(seed))}, buffer)
    return buffer.getvalue()


def git_checkpoint(server, data: bytes, tmp_path, name="tiny-net") -> Checkpoint:
    """A checkpoint whose pinned blob id and sha256 are those of ``data`` (computed by git)."""
    blob = git_ids({"w.pth": data}, tmp_path / "git")[0]["w.pth"]
    source = GitFile("owner/repo", "c0ffee", "models/w.pth", blob, hashlib.sha256(data).hexdigest(), len(data),
                     raw_base=server.url("/raw"))
    server.add("/raw/owner/repo/c0ffee/models/w.pth", data)
    return Checkpoint(name, "dncnn", f"{name}.pth", source, "Tiny (released weights)", "A paper.", "MIT")


def test_every_checkpoint_names_a_method_a_published_row_and_where_it_lives():
    published = {(row["benchmark"], row["method"]) for row in csv.DictReader(REPO_PUBLISHED.open())}
    for name, checkpoint in CHECKPOINTS.items():
        method = METHODS[checkpoint.method]
        assert checkpoint.reproduces and set(checkpoint.reproduces) <= published, name
        assert all(row == method.paper_row for _, row in checkpoint.reproduces), name
        assert checkpoint.resources_path == f"weights/{checkpoint.file}"
        method.resolve_options(checkpoint.options, name)  # the options it was released with are valid
        if isinstance(checkpoint.source, GitFile):
            assert len(checkpoint.source.blob) == 40 and len(checkpoint.source.sha256) == 64
            assert checkpoint.source.url.startswith(f"https://raw.githubusercontent.com/{checkpoint.source.repo}/")


def test_a_git_file_comes_from_its_pinned_url_verified_by_blob_and_sha256(server, tmp_path):
    data = weight_bytes()
    checkpoint = git_checkpoint(server, data, tmp_path)
    path = fetch_checkpoint(checkpoint, tmp_path / "res", policy=FAST)
    assert path == tmp_path / "res" / "weights" / "tiny-net.pth" and path.read_bytes() == data
    assert git_blob_id(data) == checkpoint.source.blob
    assert not user_lock_path(tmp_path / "res").exists()  # pinned: nothing recorded on first use
    server.close()
    assert fetch_checkpoint(checkpoint, tmp_path / "res", offline=True, policy=FAST) == path  # no network needed


def test_the_mirror_is_tried_first_and_a_wrong_file_is_refused_named_and_moved_aside(server, tmp_path):
    data = weight_bytes()
    checkpoint = git_checkpoint(server, data, tmp_path)
    mirror = server.add("/mirror/weights/tiny-net.pth", data)
    fetch_checkpoint(checkpoint, tmp_path / "a", policy=FAST, mirrors=[server.url("/mirror")])
    assert len(mirror.requests) == 1 and not server.routes["/raw/owner/repo/c0ffee/models/w.pth"].requests
    mirror.body = weight_bytes(seed=1)  # the mirror now serves another file; the pinned URL is right
    server.routes["/raw/owner/repo/c0ffee/models/w.pth"].body = weight_bytes(seed=2)
    with pytest.raises(ChecksumMismatch) as caught:
        fetch_checkpoint(checkpoint, tmp_path / "b", policy=FAST, mirrors=[server.url("/mirror")])
    message = str(caught.value)
    assert "is not tiny-net" in message and f"expected {checkpoint.source.blob}" in message
    assert (tmp_path / "b" / "weights" / "tiny-net.pth.bad").is_file()
    assert not (tmp_path / "b" / "weights" / "tiny-net.pth").exists()


def test_a_file_damaged_on_disk_is_caught_offline(server, tmp_path):
    checkpoint = git_checkpoint(server, weight_bytes(), tmp_path)
    path = fetch_checkpoint(checkpoint, tmp_path, policy=FAST)
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(ChecksumMismatch, match="sha256"):
        fetch_checkpoint(checkpoint, tmp_path, offline=True, policy=FAST)
    assert path.with_name("tiny-net.pth.bad").is_file()


def test_missing_offline_says_what_to_fetch_and_where_to_put_it(tmp_path):
    checkpoint = CHECKPOINTS["prenet-rain100h"]
    with pytest.raises(FileNotFoundError) as caught:
        fetch_checkpoint(checkpoint, tmp_path, offline=True)
    message = str(caught.value)
    assert str(tmp_path / "weights" / "prenet6-rain100h.pth") in message
    assert checkpoint.source.url in message and checkpoint.source.blob in message and "irsde weights fetch" in message
    browser = CHECKPOINTS["irsde-derain-rain100h"]
    with pytest.raises(FileNotFoundError, match="needs a browser.*Google Drive.*save it as .*irsde-derain-rain100h.pth"):
        fetch_checkpoint(browser, tmp_path)


def unet_bytes(seed=0) -> bytes:
    from irsde.nets import ConditionalUNet

    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(ConditionalUNet(nf=8, depth=2).state_dict(), buffer)
    return buffer.getvalue()


def test_a_browser_only_file_is_recorded_on_first_use_then_enforced(tmp_path, capsys, monkeypatch):
    checkpoint = Checkpoint("by-hand", "irsde", "by-hand.pth", BrowserFile("https://example.org", "get it"),
                            "By hand", "A paper.", "none")
    path = tmp_path / "weights" / "by-hand.pth"
    path.parent.mkdir()
    path.write_bytes(b"not a weight file")
    validate = functools.partial(loads_into_its_method, checkpoint)
    with pytest.raises(ValueError, match="by-hand.pth is not a PyTorch file"):  # never pinned: it does not load as weights
        verify_checkpoint(checkpoint, path, tmp_path, validate=validate)
    path.write_bytes(weight_bytes())  # weights, but of another model than IR-SDE's U-Net
    with pytest.raises(ValueError, match="by-hand.pth is not by-hand .*not a ConditionalUNet state_dict"):
        fetch_weights(checkpoint, tmp_path, offline=True)
    assert "weights/by-hand.pth" not in LockFile.load(user_lock_path(tmp_path)).entries
    path.write_bytes(unet_bytes())
    assert fetch_weights(checkpoint, tmp_path, offline=True) == path
    assert LockFile.load(user_lock_path(tmp_path)).entries["weights/by-hand.pth"]["sha256"] == hashlib.sha256(
        path.read_bytes()).hexdigest()
    path.write_bytes(unet_bytes(seed=3))
    with pytest.raises(ChecksumMismatch, match="recorded on first use"):
        fetch_weights(checkpoint, tmp_path, offline=True)
    path.with_name("by-hand.pth.bad").rename(path)  # the user knows this copy is the right one: repin it
    monkeypatch.setitem(CHECKPOINTS._all(), checkpoint.name, checkpoint)
    assert main(["weights", "fetch", "by-hand", "--repin", "--offline", "--resources", str(tmp_path)]) == 0
    assert "by-hand: forgot its first-use digest" in capsys.readouterr().out
    assert LockFile.load(user_lock_path(tmp_path)).entries["weights/by-hand.pth"]["sha256"] == hashlib.sha256(
        path.read_bytes()).hexdigest()
    assert main(["weights", "fetch", "prenet-rain100h", "--repin", "--resources", str(tmp_path)]) == 2
    assert "pinned by its git blob id and sha256" in capsys.readouterr().err


def test_weights_list_shows_each_source_and_what_it_reproduces(capsys, tmp_path):
    assert main(["weights", "list", "--resources", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name, checkpoint in CHECKPOINTS.items():
        assert name in out and checkpoint.resources_path in out
    assert "reproduces: PReNet on rain100h" in out and "git blob cc604a708bf3" in out


def test_the_json_manifests_give_every_file_its_upstream_checksum_and_place(capsys):
    assert main(["weights", "list", "--json"]) == 0
    weights = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert set(weights) == set(CHECKPOINTS)
    prenet = weights["prenet-rain100h"]
    assert prenet["upstream"]["repo"] == "csdwren/PReNet" and prenet["git_blob"].startswith("cc604a70")
    assert prenet["sha256"].startswith("127c0098") and prenet["resources_path"] == "weights/prenet6-rain100h.pth"
    assert weights["irsde-derain-rain100h"]["kind"] == "browser" and weights["irsde-derain-rain100h"]["sha256"] is None
    assert main(["data", "list", "--json"]) == 0
    sources = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    rainy = sources["Rain100H-git-rain"]
    assert rainy["git_tree"] == "4b4bde4fc6f72b5fd9defbd26db140029d029409" and rainy["resources_path"] == "Rain100H-git-rain/"
    assert rainy["upstream"]["folder"] == "data/test/small/rain" and rainy["datasets"] == ["Rain100H-git"]
    assert sources["DIV2K_train_HR.zip"]["sha256"]  # a published digest from the package lock
    assert sources["Rain100H.zip"]["resources_path"] == "Rain100H.zip" and sources["Rain100H.zip"]["sha256"] is None


def test_weights_fetch_needs_names_or_all(capsys):
    assert main(["weights", "fetch"]) == 2
    assert "name the checkpoints to fetch, or give --all" in capsys.readouterr().err


def test_without_a_method_check_a_browser_only_file_is_recorded_as_it_is(tmp_path):
    """The checkpoints package knows no method: the check that a file loads into its method's
    network comes from the caller (:func:`irsde.methods.fetch_weights`)."""
    checkpoint = Checkpoint("by-hand", "irsde", "by-hand.pth", BrowserFile("https://example.org", "get it"),
                            "By hand", "A paper.", "none")
    path = tmp_path / "weights" / "by-hand.pth"
    path.parent.mkdir()
    path.write_bytes(b"any bytes")
    seen = []
    assert fetch_checkpoint(checkpoint, tmp_path, offline=True, validate=seen.append) == path
    assert seen == [path] and "weights/by-hand.pth" in LockFile.load(user_lock_path(tmp_path)).entries
