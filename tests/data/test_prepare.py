import io
import json
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from irsde.data import PairedTestDataset, prepare
from irsde.data.download import DownloadPolicy
from irsde.data.layout import MARKER, read_marker, verify_prepared
from irsde.data.lock import ChecksumMismatch, LockFile, user_lock_path
from irsde.data.prepare import prepare_dataset
from irsde.data.registry import get_dataset
from irsde.images import read_uint8
from tests.support.data import png_bytes, rain_files, random_image, registry_copy, tree_hashes, write_tree, zip_bytes

FAST = DownloadPolicy(timeout=5, attempts=2, backoff=0.0, progress=False)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def no_leftovers(root):
    return [p.name for p in root.iterdir() if p.name.startswith(".")] == []


# -- end to end over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def rain_archives():
    test_files = rain_files("Rain100H", 4, padded=True, seed=0)
    train_files = rain_files("RainTrainH", 6, padded=False, seed=100)
    return test_files, train_files


def serve_rain(server, rain_archives):
    test_files, train_files = rain_archives
    server.add("/att/Rain100H.zip", zip_bytes(test_files))
    server.add("/att/RainTrainH.zip", zip_bytes(train_files))
    return registry_copy(
        "Rain100H",
        urls={"Rain100H.zip": server.url("/att/Rain100H.zip"), "RainTrainH.zip": server.url("/att/RainTrainH.zip")},
        pairs={"train": 6, "test": 4},
    )


def test_rain100h_layout_fetched_and_prepared_end_to_end(server, tmp_path, rain_archives):
    dataset = serve_rain(server, rain_archives)
    root, resources = tmp_path / "data", tmp_path / "resources"
    folder = prepare_dataset(dataset, root, resources, policy=FAST, progress=False)

    assert folder == root / "Rain100H"
    assert names(folder) == [MARKER, "test", "train"]
    assert names(folder / "test" / "GT") == names(folder / "test" / "LQ") == ["0001.png", "0002.png", "0003.png", "0004.png"]
    assert names(folder / "train" / "GT") == [f"{i:04d}.png" for i in range(1, 7)]
    test_files, train_files = rain_archives
    # norain -> GT, rain -> LQ, bytes kept; rainregion/rainstreak maps ignored
    assert (folder / "test" / "GT" / "0003.png").read_bytes() == test_files["Rain100H/norain-003.png"]
    assert (folder / "test" / "LQ" / "0003.png").read_bytes() == test_files["Rain100H/rain-003.png"]
    assert (folder / "train" / "LQ" / "0006.png").read_bytes() == train_files["RainTrainH/rain-6.png"]

    marker = read_marker(root, "Rain100H")
    assert marker["synthetic"] is False and marker["task"] == "derain"
    assert {s: marker["splits"][s]["pairs"] for s in ("train", "test")} == {"train": 6, "test": 4}
    lock = LockFile.load(user_lock_path(resources)).entries
    assert marker["sources"]["Rain100H.zip"]["sha256"] == lock["Rain100H.zip"]["sha256"]
    assert len(marker["files"]) == 20
    verify_prepared(root, "Rain100H")
    assert no_leftovers(root)


def test_preparation_is_idempotent_and_needs_no_network_the_second_time(server, tmp_path, rain_archives):
    dataset = serve_rain(server, rain_archives)
    root, resources = tmp_path / "data", tmp_path / "resources"
    prepare_dataset(dataset, root, resources, policy=FAST, progress=False)
    before = tree_hashes(root / "Rain100H")
    stamp = (root / "Rain100H" / MARKER).stat().st_mtime_ns
    server.close()
    prepare_dataset(dataset, root, resources, offline=True, progress=False)
    assert (root / "Rain100H" / MARKER).stat().st_mtime_ns == stamp
    # a forced rebuild from the archives now in resources/ gives the same bytes
    prepare_dataset(dataset, root, resources, offline=True, force=True, progress=False)
    assert tree_hashes(root / "Rain100H") == before
    assert no_leftovers(root)


def test_a_published_digest_rejects_a_different_div2k_archive(server, tmp_path):
    server.add("/DIV2K_valid_HR.zip", zip_bytes({"DIV2K_valid_HR/0801.png": png_bytes(random_image(1))}))
    dataset = registry_copy("DIV2K-x4", urls={"DIV2K_valid_HR.zip": server.url("/DIV2K_valid_HR.zip")})
    paths = {name: tmp_path for name in ("DIV2K_train_HR.zip", "DIV2K_train_LR_bicubic_X4.zip", "DIV2K_valid_LR_bicubic_X4.zip")}
    pinned = "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"  # TFDS
    with pytest.raises(ChecksumMismatch, match=f"size expected 448993893, actual .*sha256 expected {pinned}, actual"):
        prepare_dataset(dataset, tmp_path / "data", tmp_path / "resources", paths=paths, policy=FAST, progress=False)
    assert (tmp_path / "resources" / "DIV2K_valid_HR.zip.bad").exists()
    assert not (tmp_path / "resources" / "DIV2K_valid_HR.zip").exists()


def test_missing_archive_offline_names_the_file_and_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        prepare_dataset("Rain100H", tmp_path / "data", tmp_path / "resources", offline=True, progress=False)
    assert str(tmp_path / "resources" / "Rain100H.zip") in str(caught.value)
    assert not (tmp_path / "data" / "Rain100H").exists()


# -- other layouts -------------------------------------------------------------------------------------


def gopro_files():
    files = {}
    for split, sequences in (("train", ("GOPR0372_07_00", "GOPR0374_11_01")), ("test", ("GOPR0384_11_00",))):
        for s, sequence in enumerate(sequences):
            for frame in (1, 2):
                for k, folder in enumerate(("sharp", "blur", "blur_gamma")):
                    image = random_image(1000 * s + 10 * frame + k + (500 if split == "test" else 0))
                    files[f"GOPRO_Large/{split}/{sequence}/{folder}/{frame:06d}.png"] = png_bytes(image)
    return files


@pytest.mark.parametrize("name, blur", [("GoPro", "blur"), ("GoPro-gamma", "blur_gamma")])
def test_gopro_layout_over_http_prefixes_frames_with_their_sequence(server, tmp_path, name, blur):
    files = gopro_files()
    server.add("/webdav/GOPRO_Large.zip", zip_bytes(files))
    dataset = registry_copy(name, urls={"GOPRO_Large.zip": server.url("/webdav/GOPRO_Large.zip")},
                            pairs={"train": 4, "test": 2})
    folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "resources", policy=FAST, progress=False)
    assert names(folder / "train" / "GT") == ["GOPR0372_07_00_000001.png", "GOPR0372_07_00_000002.png",
                                              "GOPR0374_11_01_000001.png", "GOPR0374_11_01_000002.png"]
    lq = (folder / "test" / "LQ" / "GOPR0384_11_00_000002.png").read_bytes()
    assert lq == files[f"GOPRO_Large/test/GOPR0384_11_00/{blur}/000002.png"]
    assert (folder / "test" / "GT" / "GOPR0384_11_00_000002.png").read_bytes() == files["GOPRO_Large/test/GOPR0384_11_00/sharp/000002.png"]


def test_reside_over_http_pairs_many_hazy_with_one_centre_cropped_gt(server, tmp_path, caplog):
    sots = {}
    for scene in (1400, 1401):
        sots[f"SOTS/indoor/gt/{scene}.png"] = png_bytes(random_image(scene, 20, 16))
        for k in (1, 2, 3):
            sots[f"SOTS/indoor/hazy/{scene}_{k}.png"] = png_bytes(random_image(scene * 10 + k, 16, 12))
    its = {"ITS/clear/1.png": png_bytes(random_image(1)), "ITS/hazy/1_1_0.90179.png": png_bytes(random_image(2)),
           "ITS/hazy/1_2_0.85.png": png_bytes(random_image(3)), "ITS/trans/1_1.png": png_bytes(random_image(4))}
    server.add("/SOTS.zip", zip_bytes(sots))
    its_folder = write_tree(tmp_path / "its", its)
    dataset = registry_copy("RESIDE-indoor", urls={"SOTS.zip": server.url("/SOTS.zip")}, pairs={"test": 6})
    with caplog.at_level(logging.WARNING):
        folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "resources", policy=FAST, progress=False,
                                 paths={"ITS.zip": its_folder / "ITS"})
    assert "expected 13990 pairs, found 2" in caplog.text  # unconfirmed count: a warning, recorded
    assert names(folder / "train" / "LQ") == ["0001_01.png", "0001_02.png"]
    assert names(folder / "test" / "LQ") == [f"{s}_{k:02d}.png" for s in (1400, 1401) for k in (1, 2, 3)]
    full = np.asarray(random_image(1401, 20, 16))
    for k in (1, 2, 3):
        assert np.array_equal(read_uint8(folder / "test" / "GT" / f"1401_{k:02d}.png"), full[2:14, 2:18])
    marker = read_marker(tmp_path / "data", "RESIDE-indoor")
    assert marker["splits"]["train"]["warnings"] and marker["sources"]["ITS.zip"]["supplied_by"] == "user"


def test_gt_only_denoising_set_from_a_git_tree_gets_seeded_noise(server, tmp_path, caplog):
    flat = Image.fromarray(np.full((40, 40, 3), 128, np.uint8))
    files = {"101085.png": png_bytes(flat), "3096.png": png_bytes(flat.convert("L")), "12084.png": png_bytes(flat)}
    base = get_dataset("CBSD68")
    source = base.sources[0]
    tree_id = server.add_git_tree(source.repo, source.commit, source.folder, files, tmp_path / "repo")
    source = replace(source, tree_id=tree_id, api_base=server.url("/api"), raw_base=server.url("/raw"))
    dataset = replace(base, sources=(source,), splits=(replace(base.splits[0], pairs=3),))
    with caplog.at_level(logging.INFO):
        folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "resources", policy=FAST, progress=False)
    assert names(folder / "test" / "GT") == ["101085.png", "12084.png", "3096.png"]
    assert names(folder / "test" / "LQ") == ["101085.npy", "101085.png", "12084.npy", "12084.png", "3096.npy", "3096.png"]
    assert "converted L -> RGB" in caplog.text and "3096.png" in caplog.text
    marker = read_marker(tmp_path / "data", "CBSD68")
    assert [c["from"] for c in marker["splits"]["test"]["conversions"]] == ["L"]
    noise = [read_uint8(folder / "test" / "LQ" / n).astype(float) - 128 for n in ("101085.png", "12084.png")]
    assert all(abs(n.std() - 25.0) < 1.5 and abs(n.mean()) < 1.5 for n in noise)
    assert not np.array_equal(noise[0], noise[1])  # one independent draw per image
    lq = [(folder / "test" / "LQ" / name).read_bytes() for name in ("12084.png", "12084.npy")]
    prepare_dataset(dataset, tmp_path / "data", tmp_path / "resources", offline=True, force=True, progress=False)
    assert [(folder / "test" / "LQ" / name).read_bytes() for name in ("12084.png", "12084.npy")] == lq


def tif_bytes(image: Image.Image) -> bytes:
    stream = io.BytesIO()
    image.save(stream, format="TIFF")
    return stream.getvalue()


def test_mcmaster_test_inputs_carry_the_papers_unclipped_float_noise(server, tmp_path):
    """Generated stand-ins for McMaster's 18 .tif images (the real set cannot be downloaded here),
    prepared from a git tree like the real one: the test loader yields GT + 25/255 N(0, I) in
    float, values outside [0, 1] kept, while the 8-bit PNG beside it is only a clipped preview."""
    rng = np.random.default_rng(0)
    files = {f"{i}.tif": tif_bytes(Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)))
             for i in range(1, 4)}
    base = get_dataset("McMaster")
    source = base.sources[0]
    tree_id = server.add_git_tree(source.repo, source.commit, source.folder, files, tmp_path / "repo")
    source = replace(source, tree_id=tree_id, api_base=server.url("/api"), raw_base=server.url("/raw"))
    dataset = replace(base, sources=(source,), splits=(replace(base.splits[0], pairs=3),))
    folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "resources", policy=FAST, progress=False)
    assert sorted(p.name for p in (folder / "test" / "LQ").iterdir()) == [
        "01.npy", "01.png", "02.npy", "02.png", "03.npy", "03.png"]
    verify_prepared(tmp_path / "data", "McMaster")  # the float arrays are recorded and checked too
    items = list(PairedTestDataset(folder / "test"))
    noise = torch.cat([(item["lq"] - item["gt"]).flatten() for item in items])
    assert abs(noise.std().item() / (25 / 255) - 1) < 0.02 and abs(noise.mean().item()) < 0.002
    lq = torch.cat([item["lq"].flatten() for item in items])
    assert (lq < 0).float().mean() > 0.03 and (lq > 1).float().mean() > 0.03  # kept, not clipped
    previews = [read_uint8(folder / "test" / "LQ" / item["name"]).astype(float) / 255 for item in items]
    clipped = np.concatenate([(p - item["gt"].permute(1, 2, 0).numpy()).ravel() for p, item in zip(previews, items)])
    assert clipped.std() < 0.95 * 25 / 255  # what clipping would have fed the network instead


def test_inpainting_masks_fill_holes_white(tmp_path):
    images = {f"data256x256/{i:05d}.jpg": random_image(i, 16, 16) for i in range(1, 6)}
    jpgs = {}
    for name, image in images.items():
        image.save(tmp_path / "x.jpg", quality=95)
        jpgs[name] = (tmp_path / "x.jpg").read_bytes()
    archive = write_tree(tmp_path / "user", {"faces.zip": zip_bytes(jpgs)}) / "faces.zip"
    masks = {}
    for i in range(3):
        known = np.full((16, 16, 3), 255, np.uint8)
        known[:, i * 4:(i * 4) + 3] = 0
        masks[f"{i:06d}.png"] = png_bytes(Image.fromarray(known))
    mask_folder = write_tree(tmp_path / "masks", masks)
    base = get_dataset("CelebA-HQ-thin")
    dataset = replace(base, splits=(replace(base.splits[0], select=(2, None), pairs=3),
                                    replace(base.splits[1], select=(0, 2), pairs=2)))
    folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "resources", offline=True, progress=False,
                             paths={"data256x256.zip": archive, "RePaint-thin-masks": mask_folder})
    assert names(folder / "test" / "GT") == ["00001.png", "00002.png"]
    assert names(folder / "train" / "GT") == ["00003.png", "00004.png", "00005.png"]
    for index, name in enumerate(["00001.png", "00002.png"]):  # test image i gets mask i
        gt, lq = read_uint8(folder / "test" / "GT" / name), read_uint8(folder / "test" / "LQ" / name)
        hole = np.zeros((16, 16), bool)
        hole[:, index * 4:index * 4 + 3] = True
        assert (lq[hole] == 255).all() and np.array_equal(lq[~hole], gt[~hole])
    for name in names(folder / "train" / "LQ"):
        gt, lq = read_uint8(folder / "train" / "GT" / name), read_uint8(folder / "train" / "LQ" / name)
        changed = (lq != gt).any(axis=2)
        assert changed.sum() > 0 and (lq[changed] == 255).all()


def test_div2k_lr_is_upsampled_to_the_cropped_hr_size(tmp_path):
    hr_train, hr_valid = random_image(1, 18, 13), random_image(2, 16, 12)
    folders = {
        "DIV2K_train_HR.zip": {"DIV2K_train_HR/0001.png": png_bytes(hr_train)},
        "DIV2K_train_LR_bicubic_X4.zip": {"DIV2K_train_LR_bicubic/X4/0001x4.png": png_bytes(random_image(3, 4, 3))},
        "DIV2K_valid_HR.zip": {"DIV2K_valid_HR/0801.png": png_bytes(hr_valid)},
        "DIV2K_valid_LR_bicubic_X4.zip": {"DIV2K_valid_LR_bicubic/X4/0801x4.png": png_bytes(random_image(4, 4, 3))},
    }
    paths = {name: write_tree(tmp_path / name, files) for name, files in folders.items()}
    dataset = registry_copy("DIV2K-x4", pairs={"train": 1, "test": 1})
    folder = prepare_dataset(dataset, tmp_path / "data", tmp_path / "res", paths=paths, offline=True, progress=False)
    gt, lq = read_uint8(folder / "train" / "GT" / "0001.png"), read_uint8(folder / "train" / "LQ" / "0001.png")
    assert gt.shape == lq.shape == (12, 16, 3)
    assert np.array_equal(gt, np.asarray(hr_train)[:12, :16])
    assert (folder / "test" / "GT" / "0801.png").read_bytes() == png_bytes(hr_valid)


# -- validation ----------------------------------------------------------------------------------------


def rain_folder(tmp_path, files):
    return write_tree(tmp_path / "user", files)


def prepare_test_split(tmp_path, files, pairs, **kwargs):
    user = rain_folder(tmp_path, files)
    train = write_tree(tmp_path / "train", rain_files("RainTrainH", 1, padded=False, seed=7))
    dataset = registry_copy("Rain100H", pairs={"train": 1, "test": pairs})
    return prepare_dataset(dataset, tmp_path / "data", tmp_path / "res", offline=True, progress=False,
                           paths={"Rain100H.zip": user, "RainTrainH.zip": train}, **kwargs)


def test_unpaired_files_are_all_named_before_any_work(tmp_path):
    files = rain_files("Rain100H", 3, padded=True, seed=0)
    del files["Rain100H/rain-002.png"], files["Rain100H/norain-003.png"]
    with pytest.raises(ValueError) as caught:
        prepare_test_split(tmp_path, files, 3)
    message = str(caught.value)
    assert "2 problem(s)" in message
    assert "GT " + str(tmp_path / "user" / "Rain100H" / "norain-002.png") + " has no LQ" in message
    assert "LQ " + str(tmp_path / "user" / "Rain100H" / "rain-003.png") + " has no GT" in message
    assert not (tmp_path / "data" / "Rain100H").exists() and no_leftovers(tmp_path / "data")


def test_unreadable_mismatched_and_16_bit_pairs_are_all_reported_by_name(tmp_path):
    files = rain_files("Rain100H", 5, padded=True, seed=0)
    files["Rain100H/norain-002.png"] = b"\x89PNG truncated garbage"
    files["Rain100H/rain-003.png"] = png_bytes(random_image(3, width=14))
    files["Rain100H/norain-004.png"] = png_bytes(Image.fromarray(np.full((10, 12), 40000, np.uint16)))
    files["Rain100H/rain-005.png"] = png_bytes(random_image(5, mode="RGBA"))  # converted, not an error
    with pytest.raises(ValueError) as caught:
        prepare_test_split(tmp_path, files, 5)
    message = str(caught.value)
    where = tmp_path / "user" / "Rain100H"
    assert "3 problem(s)" in message
    assert f"cannot read image {where / 'norain-002.png'}" in message
    assert f"GT {where / 'norain-003.png'} is 12x10, LQ {where / 'rain-003.png'} is 14x10" in message
    assert f"{where / 'norain-004.png'} is a 16-bit image (mode I;16)" in message
    assert "rain-005" not in message
    assert not (tmp_path / "data" / "Rain100H").exists() and no_leftovers(tmp_path / "data")


def test_pair_count_mismatch_is_an_error_unless_allowed(tmp_path):
    files = rain_files("Rain100H", 3, padded=True, seed=0)
    with pytest.raises(ValueError, match="expected 4 pairs, found 3"):
        prepare_test_split(tmp_path, files, 4)
    folder = prepare_test_split(tmp_path, files, 4, strict_counts=False)
    assert read_marker(folder.parent, "Rain100H")["splits"]["test"]["warnings"]


def test_crash_midway_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    files = rain_files("Rain100H", 4, padded=True, seed=0)
    folder = prepare_test_split(tmp_path, files, 4)
    complete = tree_hashes(folder)
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of the split
        return real(*args, **kwargs)

    real = prepare.prepare_pair
    monkeypatch.setattr(prepare, "prepare_pair", dying)
    with pytest.raises(KeyboardInterrupt):
        prepare_test_split(tmp_path, files, 4, force=True)
    assert tree_hashes(folder) == complete  # the previous complete build is untouched
    assert no_leftovers(tmp_path / "data")
    verify_prepared(tmp_path / "data", "Rain100H")


def test_leftovers_of_a_killed_build_are_removed_and_never_look_complete(tmp_path):
    dead = write_tree(tmp_path / "data" / ".Rain100H.tmp-killed", {"test/GT/0001.png": b"partial"})
    assert read_marker(tmp_path / "data", "Rain100H") is None
    prepare_test_split(tmp_path, rain_files("Rain100H", 2, padded=True, seed=0), 2)
    assert not dead.exists() and no_leftovers(tmp_path / "data")


def test_a_folder_without_marker_is_replaced_only_when_empty_or_forced(tmp_path):
    files = rain_files("Rain100H", 2, padded=True, seed=0)
    (tmp_path / "data" / "Rain100H").mkdir(parents=True)  # e.g. made by Snakemake for its output
    prepare_test_split(tmp_path, files, 2)
    (tmp_path / "data" / "Rain100H" / MARKER).unlink()  # e.g. Snakemake removing the output before a re-run
    write_tree(tmp_path / "data" / "Rain100H", {"mine.txt": b"precious"})
    with pytest.raises(RuntimeError, match="no dataset.json"):
        prepare_test_split(tmp_path, files, 2)
    assert (tmp_path / "data" / "Rain100H" / "mine.txt").read_bytes() == b"precious"
    folder = prepare_test_split(tmp_path, files, 2, force=True)
    assert not (folder / "mine.txt").exists()
    verify_prepared(tmp_path / "data", "Rain100H")


def test_verify_names_changed_missing_and_extra_files(tmp_path):
    folder = prepare_test_split(tmp_path, rain_files("Rain100H", 3, padded=True, seed=0), 3)
    (folder / "test" / "LQ" / "0001.png").write_bytes(b"changed")
    (folder / "test" / "GT" / "0002.png").unlink()
    (folder / "test" / "GT" / "9999.png").write_bytes(png_bytes(random_image(9)))
    with pytest.raises(ValueError) as caught:
        verify_prepared(tmp_path / "data", "Rain100H")
    message = str(caught.value)
    assert "changed (sha256" in message and str(folder / "test" / "LQ" / "0001.png") in message
    assert f"missing: {folder / 'test' / 'GT' / '0002.png'}" in message
    assert f"not recorded in dataset.json: {folder / 'test' / 'GT' / '9999.png'}" in message
    assert f"{folder / 'test' / 'LQ' / '0002.png'} has no GT partner" in message
    json.loads((folder / MARKER).read_text())  # the marker itself is untouched
