"""Restoring test sets into clean folders: batching, tiling, the manifest, one path for every method."""

import numpy as np
import pytest
import torch

from irsde.images import list_images, read_image, read_uint8, to_tensor
from irsde.methods.ir_sde import IRSDEMethod
from irsde.nets import ConditionalUNet
from irsde.restoration import blend_weights, restore_split, restore_tiled, tile_starts
from irsde.sde import MeanRevertingSDE
from tests.support.metrics import noisy_restorer, restore_with, write_split


@pytest.fixture
def split_dir(tmp_path):
    """A prepared split: GT textures, LQ = noisy GT; two image sizes."""
    return write_split(tmp_path / "split")


# ----------------------------------------------------------------------------------- tiling


def test_tile_starts_cover_the_length_with_the_overlap():
    assert tile_starts(100, 40, 10) == [0, 30, 60]
    assert tile_starts(30, 40, 10) == [0]
    assert tile_starts(40, 40, 8) == [0]
    starts = tile_starts(97, 32, 8)
    assert starts[-1] + 32 == 97 and all(b - a <= 24 for a, b in zip(starts, starts[1:]))
    with pytest.raises(ValueError, match="larger than the overlap"):
        tile_starts(100, 8, 8)


def test_blend_weights_ramp_and_stay_positive():
    weights = blend_weights(10, 3)
    assert weights.tolist() == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1, 1, 0.75, 0.5, 0.25])


def test_tiled_restoration_of_a_pixelwise_method_equals_the_whole_image():
    lq = torch.rand(1, 3, 45, 70, generator=torch.Generator().manual_seed(0))
    pixelwise = lambda x, generator: x * 2 - 0.3  # noqa: E731
    calls = []
    counting = lambda x, generator: calls.append(x.shape) or pixelwise(x, generator)  # noqa: E731
    tiled = restore_tiled(counting, lq, torch.Generator(), tile=32, overlap=8, batch_size=4)
    torch.testing.assert_close(tiled, pixelwise(lq, None), rtol=0, atol=1e-6)
    assert all(shape[-2:] == (32, 32) and shape[0] <= 4 for shape in calls)
    assert sum(shape[0] for shape in calls) == len(tile_starts(45, 32, 8)) * len(tile_starts(70, 32, 8))


# ----------------------------------------------------------------------------------- restore


def test_restore_folder_writes_clean_png_folder_floats_and_manifest(split_dir, tmp_path):
    lq_paths = list_images(split_dir / "LQ")
    restored = restore_with(noisy_restorer, lq_paths, tmp_path / "out", seed=3, batch_size=2,
                              metadata={"method": "stand-in"}, progress=False)
    assert sorted(p.name for p in restored.png_dir.iterdir()) == sorted(p.name for p in lq_paths)
    assert sorted(p.name for p in restored.float_dir.iterdir()) == sorted(f"{p.stem}.npy" for p in lq_paths)
    floats = np.load(restored.float_dir / "img-0.npy")
    assert floats.dtype == np.float32 and floats.shape == (40, 40, 3)
    assert floats.min() < 0 or floats.max() > 1  # unclamped
    png = read_uint8(restored.png_dir / "img-0.png")
    np.testing.assert_array_equal(png, np.rint(np.clip(floats.astype(np.float64), 0, 1) * 255).astype(np.uint8))
    manifest = restored.manifest()
    assert manifest["seed"] == 3 and manifest["batch_size"] == 2 and manifest["method"] == "stand-in"
    assert manifest["images"] == [p.stem for p in lq_paths]
    assert restore_with(noisy_restorer, lq_paths, tmp_path / "own", progress=False).manifest()["method"] == "stand_in"


def test_restore_batches_same_size_images_only(split_dir, tmp_path):
    shapes = []
    recording = lambda lq, generator: shapes.append(tuple(lq.shape)) or lq  # noqa: E731
    restore_with(recording, list_images(split_dir / "LQ"), tmp_path / "out", batch_size=2, progress=False)
    assert shapes == [(2, 3, 40, 40), (1, 3, 40, 40), (2, 3, 32, 32)]


def test_restore_is_reproducible_per_seed(split_dir, tmp_path):
    lq_paths = list_images(split_dir / "LQ")
    runs = {name: restore_with(noisy_restorer, lq_paths, tmp_path / name, seed=seed, progress=False)
            for name, seed in (("a", 1), ("b", 1), ("c", 2))}
    load = lambda run: np.load(run.float_dir / "img-1.npy")  # noqa: E731
    np.testing.assert_array_equal(load(runs["a"]), load(runs["b"]))
    assert not np.array_equal(load(runs["a"]), load(runs["c"]))


def test_restore_folder_tiles_large_images_into_the_same_result(split_dir, tmp_path):
    pixelwise = lambda lq, generator: lq * 0.8 + 0.1  # noqa: E731
    lq_paths = list_images(split_dir / "LQ")
    whole = restore_with(pixelwise, lq_paths, tmp_path / "whole", progress=False)
    tiled = restore_with(pixelwise, lq_paths, tmp_path / "tiled", tile=24, tile_overlap=6, batch_size=3, progress=False)
    assert tiled.manifest()["tile"] == 24 and tiled.manifest()["tile_overlap"] == 6
    for path in lq_paths:
        np.testing.assert_allclose(np.load(tiled.float_dir / f"{path.stem}.npy"),
                                   np.load(whole.float_dir / f"{path.stem}.npy"), atol=1e-6)


def test_an_interrupted_restore_leaves_no_manifest(split_dir, tmp_path):
    lq_paths = list_images(split_dir / "LQ")
    restore_with(noisy_restorer, lq_paths, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "restore.json").is_file()

    def failing(lq, generator):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        restore_with(failing, lq_paths, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "restore.json").exists()


def test_restore_refuses_a_png_folder_with_foreign_files(split_dir, tmp_path):
    (tmp_path / "out" / "png").mkdir(parents=True)
    (tmp_path / "out" / "png" / "other.png").write_bytes(b"")
    with pytest.raises(ValueError, match="other.png"):
        restore_with(noisy_restorer, list_images(split_dir / "LQ"), tmp_path / "out", progress=False)


def test_restore_split_runs_the_method_and_records_its_settings(split_dir, tmp_path):
    net = ConditionalUNet(nf=8, depth=2).eval()
    sde = MeanRevertingSDE("cosine", T=3, max_sigma=10, eps=0.005)
    method = IRSDEMethod({"nf": 8, "depth": 2}, sde, sampler="ode")
    restored = restore_split(method, net, split_dir, tmp_path / "out", seed=0, batch_size=3, limit=4, progress=False)
    assert len(list_images(restored.png_dir)) == 4
    manifest = restored.manifest()
    assert manifest["method"] == "irsde" and manifest["sampler"] == "ode"
    assert manifest["sde"] == {"schedule": "cosine", "T": 3, "max_sigma": 10, "eps": 0.005}
    assert manifest["gt_dir"] == str((split_dir / "GT").resolve())
    # the same images as the method's own restore of the batch, with a generator seeded alike
    generator = torch.Generator().manual_seed(0)
    lq = torch.stack([to_tensor(read_image(path)) for path in list_images(split_dir / "LQ")[:3]])
    with torch.no_grad():
        expected = method.restore(net, lq, generator)
    np.testing.assert_array_equal(np.load(restored.float_dir / "img-0.npy"), expected[0].permute(1, 2, 0).numpy())
