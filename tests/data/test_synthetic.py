import hashlib
import time

import numpy as np
import pytest
from skimage import data as skdata

from irsde.data import degradations as deg
from irsde.data.layout import MARKER, read_marker, verify_prepared
from irsde.data.seeding import derive_rng
from irsde.data.synthetic import SYNTHETIC, TEST_SOURCES, TRAIN_SOURCES, build_synthetic, load_source
from irsde.images import read_float_image, read_uint8, to_uint8
from tests.support.data import tree_hashes

SMALL = dict(train_count=4, test_count=2, size=32, progress=False)


def pixel_hash(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def test_train_and_test_photographs_are_disjoint_and_bundled():
    assert not set(TRAIN_SOURCES) & set(TEST_SOURCES)
    hashes = {name: pixel_hash(load_source(name)) for name in TRAIN_SOURCES + TEST_SOURCES}
    assert len(set(hashes.values())) == len(hashes)
    # skimage's "cat" is the chelsea photo: it must not sneak into training
    assert pixel_hash(skdata.cat()) == hashes["chelsea"]
    assert all(load_source(name).shape[2] == 3 for name in hashes)


def test_all_benchmarks_are_byte_identical_across_runs_and_depend_on_the_seed(tmp_path):
    for name in SYNTHETIC:
        build_synthetic(name, tmp_path / "a", seed=5, **SMALL)
        build_synthetic(name, tmp_path / "b", seed=5, **SMALL)
        build_synthetic(name, tmp_path / "c", seed=6, **SMALL)
        first, second = tree_hashes(tmp_path / "a" / name), tree_hashes(tmp_path / "b" / name)
        assert first == second, name  # every PNG and the metadata, byte for byte
        other = tree_hashes(tmp_path / "c" / name)
        assert first["train/LQ/0000.png"] != other["train/LQ/0000.png"], name


def test_layout_metadata_and_label(tmp_path):
    folder = build_synthetic("synthetic-rain", tmp_path, seed=3, **SMALL)
    for split, count in (("train", 4), ("test", 2)):
        expected = [f"{i:04d}.png" for i in range(count)]
        assert sorted(p.name for p in (folder / split / "GT").iterdir()) == expected
        assert sorted(p.name for p in (folder / split / "LQ").iterdir()) == expected
        assert all(read_uint8(p).shape == (32, 32, 3) for p in (folder / split / "LQ").iterdir())
    marker = read_marker(tmp_path, "synthetic-rain")
    assert marker["synthetic"] is True and "not the real benchmark" in marker["label"]
    assert (marker["seed"], marker["size"], marker["task"]) == (3, 32, "derain")
    assert marker["splits"] == {"train": {"pairs": 4}, "test": {"pairs": 2}}
    assert {marker["samples"][f"train/{i:04d}.png"]["source"] for i in range(4)} <= set(TRAIN_SOURCES)
    assert {marker["samples"][f"test/{i:04d}.png"]["source"] for i in range(2)} <= set(TEST_SOURCES)
    assert len(marker["samples"]["train/0000.png"]["degradation"]["layers"]) >= 2
    verify_prepared(tmp_path, "synthetic-rain")


def test_clean_crops_are_shared_between_benchmarks_of_a_seed(tmp_path):
    rain = build_synthetic("synthetic-rain", tmp_path, seed=1, **SMALL)
    noise = build_synthetic("synthetic-noise", tmp_path, seed=1, **SMALL)
    assert (rain / "test" / "GT" / "0001.png").read_bytes() == (noise / "test" / "GT" / "0001.png").read_bytes()
    assert (rain / "test" / "LQ" / "0001.png").read_bytes() != (noise / "test" / "LQ" / "0001.png").read_bytes()


def test_rebuild_only_when_the_recipe_changes(tmp_path):
    folder = build_synthetic("synthetic-haze", tmp_path, seed=0, **SMALL)
    stamp = (folder / MARKER).stat().st_mtime_ns
    build_synthetic("synthetic-haze", tmp_path, seed=0, **SMALL)
    assert (folder / MARKER).stat().st_mtime_ns == stamp
    build_synthetic("synthetic-haze", tmp_path, seed=0, **{**SMALL, "test_count": 3})
    assert read_marker(tmp_path, "synthetic-haze")["splits"]["test"]["pairs"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(KeyError, match="synthetic-rain"):
        build_synthetic("synthetic-snow", tmp_path)
    with pytest.raises(ValueError, match="multiple of 4"):
        build_synthetic("synthetic-sr4", tmp_path, size=30, progress=False)


@pytest.mark.slow
def test_default_benchmark_builds_in_seconds(tmp_path):
    start = time.perf_counter()
    build_synthetic("synthetic-rain", tmp_path, progress=False)  # 100 train + 10 test at 128 px
    assert time.perf_counter() - start < 20


# -- the degradations themselves ------------------------------------------------------------------------

GREY = np.full((64, 64, 3), 0.5, np.float32)


def texture(seed=0, size=64):
    return derive_rng(seed).random((size, size, 3)).astype(np.float32)


def test_gaussian_noise_has_sigma_25():
    noisy, params = deg.gaussian_noise(GREY, derive_rng(0))
    residual = (noisy - GREY) * 255
    assert params == {"sigma": 25.0}
    assert abs(residual.std() - 25) < 0.5 and abs(residual.mean()) < 0.5


def test_rain_streaks_brighten_along_one_direction():
    dark = np.zeros((128, 128, 3), np.float32)
    rainy, params = deg.rain_streaks(dark, derive_rng(4))
    angles = [layer["angle"] for layer in params["layers"]]
    assert 2 <= len(angles) <= 4 and max(angles) - min(angles) < 40
    streaks = rainy[..., 0] - params["veil"] * 0.9
    assert (streaks > 0.2).mean() > 0.02  # visible streaks
    # streaks are elongated along their angle: intensity varies less along them than across
    theta = np.radians(np.mean(angles))
    along = np.array([np.cos(theta), np.sin(theta)])
    grad_y, grad_x = np.gradient(streaks)
    along_energy = ((grad_y * along[0] + grad_x * along[1]) ** 2).mean()
    across_energy = ((-grad_y * along[1] + grad_x * along[0]) ** 2).mean()
    assert along_energy < 0.5 * across_energy
    assert np.array_equal(rainy, deg.rain_streaks(dark, derive_rng(4))[0])


def test_motion_blur_keeps_flat_images_and_removes_detail():
    blurred, params = deg.motion_blur(GREY, derive_rng(1))
    assert np.allclose(blurred, 0.5, atol=1e-5) and params["kernel_extent"] >= 5
    detail = texture()
    assert deg.motion_blur(detail, derive_rng(1))[0].std() < 0.6 * detail.std()
    kernel = deg.trajectory_kernel(derive_rng(2), 9.0)
    assert kernel.shape[0] % 2 == 1 and abs(kernel.sum() - 1) < 1e-9


def test_bicubic_x4_matches_down_then_up():
    image = texture(3)
    lq, params = deg.bicubic_x4(image, derive_rng(0))
    small = deg.resize_uint8((image * 255).round().astype(np.uint8), 16, 16)
    assert lq.shape == image.shape and params["scale"] == 4
    assert np.array_equal((lq * 255).round().astype(np.uint8), deg.resize_uint8(small, 64, 64))


def test_thin_masks_fill_thin_holes_white():
    image = texture(4, 128)
    lq, params = deg.thin_mask_inpaint(image, derive_rng(5))
    hole = (lq != image).any(axis=2)
    assert 0.01 < hole.mean() < 0.6 and abs(hole.mean() - params["hole_fraction"]) < 0.02
    assert (lq[hole] == 1.0).all()


def test_haze_follows_the_scattering_model():
    black, params = deg.haze(np.zeros((64, 64, 3), np.float32), derive_rng(6))
    white, _ = deg.haze(np.ones((64, 64, 3), np.float32), derive_rng(6))
    airlight = np.array(params["airlight"])
    transmission = 1 - black / airlight  # I(0) = A (1 - t)
    assert np.allclose(white, transmission + airlight * (1 - transmission), atol=1e-5)
    assert transmission.min() > 0 and transmission.max() < 1
    assert transmission[0].mean() < transmission[-1].mean()  # the top of the image is farther away


def test_synthetic_noise_stores_the_unclipped_float_input_beside_its_preview(tmp_path):
    folder = build_synthetic("synthetic-noise", tmp_path, seed=0, train_count=2, test_count=2, size=32, progress=False)
    verify_prepared(tmp_path, "synthetic-noise")
    for name in ("0000", "0001"):
        gt = read_uint8(folder / "test" / "GT" / f"{name}.png").astype(np.float32) / 255
        noisy = read_float_image(folder / "test" / "LQ" / f"{name}.npy")
        assert noisy.min() < 0 or noisy.max() > 1  # not clipped
        assert abs((noisy - gt).std() * 255 - 25) < 2.0
        assert np.array_equal(read_uint8(folder / "test" / "LQ" / f"{name}.png"), to_uint8(noisy))  # the preview
    rain = build_synthetic("synthetic-rain", tmp_path, seed=0, train_count=2, test_count=2, size=32, progress=False)
    assert not list((rain / "test" / "LQ").glob("*.npy"))
