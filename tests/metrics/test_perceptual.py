"""LPIPS and FID through the real lpips / pytorch-fid loading paths, with generated weights in
a temporary TORCH_HOME; the missing-weights errors; weight downloads from a loopback server."""

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest
import torch

from irsde.metrics import (
    ALEXNET_WEIGHTS,
    FID_INCEPTION_WEIGHTS,
    FIDMetric,
    LPIPSMetric,
    PerceptualWeightsMissing,
    WeightFile,
    checkpoints_dir,
    clean_image_folder,
    ensure_weight_file,
)
from irsde.metrics.weights import weight_file, weights_for
from tests.support.metrics import distort, textured_images, write_folder


# ----------------------------------------------------------------------------------- weight files


def test_weight_file_names_are_the_ones_the_libraries_load():
    import pytorch_fid.inception
    from torchvision.models import AlexNet_Weights

    assert AlexNet_Weights.IMAGENET1K_V1.url == ALEXNET_WEIGHTS.url
    assert AlexNet_Weights.IMAGENET1K_V1.url.endswith("/" + ALEXNET_WEIGHTS.filename)
    assert pytorch_fid.inception.FID_WEIGHTS_URL == FID_INCEPTION_WEIGHTS.url
    assert FID_INCEPTION_WEIGHTS.url.endswith("/" + FID_INCEPTION_WEIGHTS.filename)


def test_checkpoints_dir_follows_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert checkpoints_dir() == tmp_path / "th" / "hub" / "checkpoints"


@pytest.mark.parametrize("weight", [ALEXNET_WEIGHTS, FID_INCEPTION_WEIGHTS], ids=["alexnet", "inception"])
def test_missing_file_error_names_file_folder_and_url(empty_torch_home, weight):
    with pytest.raises(PerceptualWeightsMissing) as caught:
        ensure_weight_file(weight, download=False)
    message = str(caught.value)
    folder = empty_torch_home / "hub" / "checkpoints"
    assert weight.filename in message and str(folder) in message and weight.url in message
    assert isinstance(caught.value, RuntimeError)
    # the footnote names the folder as every machine spells it; only the message (logged) resolves it
    note = caught.value.short_note()
    assert weight.filename in note and "$TORCH_HOME/hub/checkpoints" in note and str(empty_torch_home) not in note


def test_metrics_refuse_to_build_without_weights(empty_torch_home):
    with pytest.raises(PerceptualWeightsMissing, match=ALEXNET_WEIGHTS.filename):
        LPIPSMetric(device="cpu", download=False)
    with pytest.raises(PerceptualWeightsMissing, match=FID_INCEPTION_WEIGHTS.filename):
        FIDMetric(device="cpu", download=False)


@pytest.fixture
def file_server(tmp_path):
    """A loopback HTTP server serving ``tmp_path / 'served'``; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_places_a_verified_file(empty_torch_home, file_server):
    served, base = file_server
    payload = b"weights" * 1000
    (served / "w-1.pth").write_bytes(payload)
    weight = WeightFile("w-1.pth", f"{base}/w-1.pth", "test", hashlib.sha256(payload).hexdigest()[:8])
    path = ensure_weight_file(weight, download=True)
    assert path == empty_torch_home / "hub" / "checkpoints" / "w-1.pth"
    assert path.read_bytes() == payload


def test_download_with_wrong_checksum_leaves_nothing(empty_torch_home, file_server):
    served, base = file_server
    (served / "w-2.pth").write_bytes(b"not the published file")
    weight = WeightFile("w-2.pth", f"{base}/w-2.pth", "test", "00000000")
    with pytest.raises(PerceptualWeightsMissing, match="download failed"):
        ensure_weight_file(weight, download=True)
    assert list((empty_torch_home / "hub" / "checkpoints").iterdir()) == []


def test_unreachable_download_reports_missing_file(empty_torch_home, file_server):
    _, base = file_server
    weight = WeightFile("absent.pth", f"{base}/absent.pth", "test")
    with pytest.raises(PerceptualWeightsMissing, match=r"absent\.pth.*404"):
        ensure_weight_file(weight, download=True)


def test_download_tries_each_mirror_before_the_publisher(empty_torch_home, file_server, monkeypatch):
    served, base = file_server
    (served / "copy").mkdir()
    (served / "copy" / "w-3.pth").write_bytes(b"mirrored")
    weight = WeightFile("w-3.pth", f"{base}/publisher/w-3.pth", "test")
    monkeypatch.setenv("IRSDE_MIRROR", f"{base}/empty {base}/copy")  # the first mirror lacks it
    assert ensure_weight_file(weight, download=True).read_bytes() == b"mirrored"


def test_failed_downloads_name_every_url_tried(empty_torch_home, file_server):
    _, base = file_server
    weight = WeightFile("w-4.pth", f"{base}/publisher/w-4.pth", "test")
    with pytest.raises(PerceptualWeightsMissing) as caught:
        ensure_weight_file(weight, download=True, mirrors=[f"{base}/mirror"])
    assert f"{base}/mirror/w-4.pth" in str(caught.value) and f"{base}/publisher/w-4.pth" in str(caught.value)


def test_metrics_name_the_weight_files_they_need():
    assert weights_for(["psnr", "ssim"]) == []
    assert weights_for(["psnr", "lpips", "fid"]) == [ALEXNET_WEIGHTS, FID_INCEPTION_WEIGHTS]
    assert weight_file(FID_INCEPTION_WEIGHTS.filename) is FID_INCEPTION_WEIGHTS
    with pytest.raises(KeyError, match="no metric weight file"):
        weight_file("resnet.pth")


# ----------------------------------------------------------------------------------- LPIPS


@pytest.fixture
def lpips_metric(torch_home):
    return LPIPSMetric(device="cpu", download=False)


def test_lpips_loads_alexnet_from_torch_home_and_the_packaged_linear_layers(lpips_metric, torch_home):
    stored = torch.load(torch_home / "hub" / "checkpoints" / ALEXNET_WEIGHTS.filename, weights_only=True)
    first_conv = lpips_metric.model.net.slice1[0].weight
    assert torch.equal(first_conv, stored["features.0.weight"])


def test_lpips_of_an_image_with_itself_is_zero(lpips_metric):
    image = textured_images(1)[0]
    assert lpips_metric(image, image.copy()) == 0.0


def test_lpips_grows_with_distortion(lpips_metric):
    image = textured_images(1, seed=1)[0]
    light, heavy = (lpips_metric(distort(image, noise, seed=2), image) for noise in (4, 40))
    assert 0 < light < heavy


def test_lpips_maps_inputs_to_minus_one_one(lpips_metric):
    restored, gt = (image.astype(np.float32) / 255 for image in textured_images(2, seed=3))
    direct = lpips_metric.model(torch.from_numpy(restored * 2 - 1).permute(2, 0, 1)[None],
                                torch.from_numpy(gt * 2 - 1).permute(2, 0, 1)[None])
    assert lpips_metric(restored, gt) == pytest.approx(float(direct), rel=1e-6)


def test_lpips_batch_matches_single_pairs_and_accepts_unclamped_floats(lpips_metric):
    images = [image.astype(np.float32) / 255 for image in textured_images(3, seed=4)]
    restored = [image * 1.2 - 0.1 for image in images]  # outside [0,1], as a raw network output
    singles = [lpips_metric(r, g) for r, g in zip(restored, images)]
    batch = lpips_metric.batch(
        torch.stack([torch.from_numpy(r).permute(2, 0, 1) for r in restored]),
        torch.stack([torch.from_numpy(g).permute(2, 0, 1) for g in images]),
    )
    np.testing.assert_allclose(batch, singles, rtol=1e-5)
    clamped = lpips_metric(np.clip(restored[0], 0, 1), images[0])
    assert clamped != pytest.approx(singles[0], rel=1e-4)


def test_lpips_rejects_mismatched_or_too_small_pairs(lpips_metric):
    with pytest.raises(ValueError, match=r"\(64, 64, 3\).*\(32, 64, 3\)"):
        lpips_metric(np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="at least 31x31"):
        lpips_metric(np.zeros((30, 64, 3), np.uint8), np.zeros((30, 64, 3), np.uint8))
    assert lpips_metric(np.zeros((31, 31, 3), np.uint8), np.full((31, 31, 3), 9, np.uint8)) > 0


# ----------------------------------------------------------------------------------- FID


def test_fid_folder_must_be_clean(tmp_path):
    folder = write_folder(tmp_path / "gt", textured_images(2, size=16))
    (folder / "notes.txt").write_text("stray")
    with pytest.raises(ValueError, match=r"image files only.*notes\.txt"):
        clean_image_folder(folder)
    with pytest.raises(ValueError, match="at least 2 images"):
        clean_image_folder(write_folder(tmp_path / "one", textured_images(1, size=16)))


@pytest.mark.slow
def test_fid_of_a_set_with_itself_is_zero(torch_home, tmp_path):
    # The reported FID: 2048-d pool3 features (the 2048x2048 matrix square root takes ~20 s).
    clean = textured_images(4, seed=5)
    gt = write_folder(tmp_path / "gt", clean)
    same = write_folder(tmp_path / "same", clean)
    metric = FIDMetric(device="cpu", download=False, cache_dir=tmp_path / "cache")
    assert metric.dims == 2048
    assert abs(metric(same, gt)) < 1e-3


def test_fid_grows_with_distortion(torch_home, tmp_path):
    # Same code path on pytorch-fid's 64-d first-block features, which are fast to compare.
    clean = textured_images(6, size=48, seed=5)
    gt = write_folder(tmp_path / "gt", clean)
    light = write_folder(tmp_path / "light", [distort(image, 8, seed=i) for i, image in enumerate(clean)])
    heavy = write_folder(tmp_path / "heavy", [distort(image, 60, seed=i) for i, image in enumerate(clean)])
    metric = FIDMetric(device="cpu", download=False, batch_size=6, cache_dir=tmp_path / "cache", dims=64)
    fid_same, fid_light, fid_heavy = (metric(folder, gt) for folder in (gt, light, heavy))
    assert abs(fid_same) < 1e-6
    assert fid_same < fid_light < fid_heavy


def test_fid_reference_statistics_are_cached_by_folder_content(torch_home, tmp_path, monkeypatch):
    gt = write_folder(tmp_path / "gt", textured_images(3, size=32, seed=6))
    metric = FIDMetric(device="cpu", download=False, cache_dir=tmp_path / "cache", dims=64)
    first = metric.reference_statistics(gt)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    computed = []
    monkeypatch.setattr(metric, "statistics", lambda folder: computed.append(folder) or first)
    again = metric.reference_statistics(gt)
    assert computed == [] and np.array_equal(again[1], first[1])

    key = metric.cache_key(gt)
    write_folder(gt, [distort(textured_images(1, size=32, seed=6)[0], 10, seed=0)], ["000.png"])
    assert metric.cache_key(gt) != key
    metric.reference_statistics(gt)
    assert computed == [gt]


def test_fid_handles_folders_of_mixed_image_sizes(torch_home, tmp_path):
    images = textured_images(2, size=48, seed=7) + textured_images(2, size=32, seed=8)
    gt = write_folder(tmp_path / "gt", images)
    restored = write_folder(tmp_path / "restored", [distort(image, 20, seed=1) for image in images])
    metric = FIDMetric(device="cpu", download=False, batch_size=4, cache_dir=tmp_path / "cache", dims=64)
    mu, sigma = metric.statistics(gt)
    assert mu.shape == (64,) and sigma.shape == (64, 64)
    assert metric(restored, gt) > 0


def test_fid_dims_must_be_a_pytorch_fid_layer(torch_home):
    with pytest.raises(ValueError, match="2048"):
        FIDMetric(device="cpu", download=False, dims=100)
