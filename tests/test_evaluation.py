"""Restoring test sets into clean folders and scoring them into tidy tables."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from irsde.evaluation import (
    COLUMNS,
    SET_IMAGE,
    RestoredSet,
    blend_weights,
    evaluate,
    match_pairs,
    restore_dataset,
    restore_folder,
    restore_tiled,
    summarize,
    tile_starts,
)
from irsde.images import list_images, read_image, read_uint8
from irsde.metrics import ALEXNET_WEIGHTS, LPIPSMetric, PerceptualWeightsMissing, get_protocol, psnr, ssim
from irsde.nets import ConditionalUNet
from irsde.sde import MeanRevertingSDE
from metrics_support import (  # noqa: F401  (fixtures)
    distort,
    empty_torch_home,
    generated_torch_home,
    textured_images,
    torch_home,
    write_folder,
    write_split,
)


def noisy_restorer(lq, generator):
    """A stand-in method: LQ plus a little noise from the generator (can leave [0,1])."""
    return lq * 1.1 - 0.02 + 0.03 * torch.randn(lq.shape, generator=generator)


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
    restored = restore_folder(noisy_restorer, lq_paths, tmp_path / "out", seed=3, batch_size=2,
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


def test_restore_batches_same_size_images_only(split_dir, tmp_path):
    shapes = []
    recording = lambda lq, generator: shapes.append(tuple(lq.shape)) or lq  # noqa: E731
    restore_folder(recording, list_images(split_dir / "LQ"), tmp_path / "out", batch_size=2, progress=False)
    assert shapes == [(2, 3, 40, 40), (1, 3, 40, 40), (2, 3, 32, 32)]


def test_restore_is_reproducible_per_seed(split_dir, tmp_path):
    lq_paths = list_images(split_dir / "LQ")
    runs = {name: restore_folder(noisy_restorer, lq_paths, tmp_path / name, seed=seed, progress=False)
            for name, seed in (("a", 1), ("b", 1), ("c", 2))}
    load = lambda run: np.load(run.float_dir / "img-1.npy")  # noqa: E731
    np.testing.assert_array_equal(load(runs["a"]), load(runs["b"]))
    assert not np.array_equal(load(runs["a"]), load(runs["c"]))


def test_restore_folder_tiles_large_images_into_the_same_result(split_dir, tmp_path):
    pixelwise = lambda lq, generator: lq * 0.8 + 0.1  # noqa: E731
    lq_paths = list_images(split_dir / "LQ")
    whole = restore_folder(pixelwise, lq_paths, tmp_path / "whole", progress=False)
    tiled = restore_folder(pixelwise, lq_paths, tmp_path / "tiled", tile=24, tile_overlap=6, batch_size=3, progress=False)
    assert tiled.manifest()["tile"] == 24 and tiled.manifest()["tile_overlap"] == 6
    for path in lq_paths:
        np.testing.assert_allclose(np.load(tiled.float_dir / f"{path.stem}.npy"),
                                   np.load(whole.float_dir / f"{path.stem}.npy"), atol=1e-6)


def test_an_interrupted_restore_leaves_no_manifest(split_dir, tmp_path):
    lq_paths = list_images(split_dir / "LQ")
    restore_folder(noisy_restorer, lq_paths, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "restore.json").is_file()

    def failing(lq, generator):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        restore_folder(failing, lq_paths, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "restore.json").exists()


def test_restore_refuses_a_png_folder_with_foreign_files(split_dir, tmp_path):
    (tmp_path / "out" / "png").mkdir(parents=True)
    (tmp_path / "out" / "png" / "other.png").write_bytes(b"")
    with pytest.raises(ValueError, match="other.png"):
        restore_folder(noisy_restorer, list_images(split_dir / "LQ"), tmp_path / "out", progress=False)


def test_restore_dataset_runs_the_sde_sampler(split_dir, tmp_path):
    net = ConditionalUNet(nf=8, depth=2).eval()
    sde = MeanRevertingSDE("cosine", T=3, max_sigma=10, eps=0.005)
    restored = restore_dataset(net, sde, split_dir, tmp_path / "out", sampler="sde", seed=0, batch_size=3,
                               limit=4, progress=False)
    assert len(list_images(restored.png_dir)) == 4
    manifest = restored.manifest()
    assert manifest["sampler"] == "sde" and manifest["sde"] == {"schedule": "cosine", "T": 3, "max_sigma": 10, "eps": 0.005}


# ----------------------------------------------------------------------------------- evaluate


@pytest.fixture
def restored_set(split_dir, tmp_path):
    return restore_folder(noisy_restorer, list_images(split_dir / "LQ"), tmp_path / "restored", seed=0, progress=False)


def test_evaluate_psnr_ssim_rows_follow_the_protocol(restored_set, split_dir):
    frame = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "stand-in", "toy", 0,
                     metrics=["psnr", "ssim"], progress=False)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 10 and set(frame["metric"]) == {"psnr", "ssim"}
    assert set(frame["protocol"]) == {"irsde-derain"} and set(frame["method"]) == {"stand-in"}
    row = frame[(frame["image"] == "img-3.png") & (frame["metric"] == "ssim")].iloc[0]
    restored, gt = read_uint8(restored_set.png_dir / "img-3.png"), read_uint8(split_dir / "GT" / "img-3.png")
    assert row["value"] == ssim(restored, gt, crop_border=4, y_channel=True)
    rgb = evaluate(restored_set.png_dir, split_dir / "GT", "rgb-full", "m", "toy", 0, metrics=["psnr"], progress=False)
    assert rgb[rgb["image"] == "img-3.png"]["value"].iloc[0] == psnr(restored, gt, crop_border=0, y_channel=False)


def test_evaluate_lpips_uses_the_float_output_under_paper_protocols(restored_set, split_dir, torch_home):
    on_float = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0, metrics=["lpips"],
                        device="cpu", download_weights=False, progress=False)
    on_png = evaluate(restored_set.root, split_dir / "GT", "rgb-full", "m", "toy", 0, metrics=["lpips"],
                      device="cpu", download_weights=False, progress=False)
    metric = LPIPSMetric(device="cpu", download=False)
    gt = read_image(split_dir / "GT" / "img-0.png")
    expected_float = metric(np.load(restored_set.float_dir / "img-0.npy"), gt)
    expected_png = metric(read_image(restored_set.png_dir / "img-0.png"), gt)
    value = lambda frame: frame[frame["image"] == "img-0.png"]["value"].iloc[0]  # noqa: E731
    assert value(on_float) == pytest.approx(expected_float, rel=1e-5)
    assert value(on_png) == pytest.approx(expected_png, rel=1e-5)
    assert expected_float != pytest.approx(expected_png, rel=1e-4)


def test_lpips_on_float_needs_the_float_folder(restored_set, split_dir, torch_home):
    with pytest.raises(FileNotFoundError, match="unclamped float output"):
        evaluate(restored_set.png_dir, split_dir / "GT", "irsde-derain", "m", "toy", 0, metrics=["lpips"],
                 download_weights=False, progress=False)


def test_a_plain_image_folder_gets_lpips_on_its_images_under_float_protocols(split_dir, torch_home):
    # e.g. the degraded input, or another method that only delivers PNGs
    frame = evaluate(split_dir / "LQ", split_dir / "GT", "irsde-derain", "input", "toy", 0, metrics=["lpips"],
                     device="cpu", download_weights=False, progress=False)
    metric = LPIPSMetric(device="cpu", download=False)
    expected = metric(read_image(split_dir / "LQ" / "img-0.png"), read_image(split_dir / "GT" / "img-0.png"))
    assert frame[frame["image"] == "img-0.png"]["value"].iloc[0] == pytest.approx(expected, rel=1e-5)


def test_missing_weights_raise_or_become_noted_nans(restored_set, split_dir, empty_torch_home):
    with pytest.raises(PerceptualWeightsMissing, match=ALEXNET_WEIGHTS.filename):
        evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0, metrics=["lpips"],
                 download_weights=False, progress=False)
    frame = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0,
                     metrics=["psnr", "lpips", "fid"], allow_missing_weights=True, download_weights=False, progress=False)
    lpips_rows, fid_rows = frame[frame["metric"] == "lpips"], frame[frame["metric"] == "fid"]
    assert len(lpips_rows) == 5 and lpips_rows["value"].isna().all()
    assert list(fid_rows["image"]) == [SET_IMAGE] and fid_rows["value"].isna().all()
    assert all(ALEXNET_WEIGHTS.filename in note and str(empty_torch_home) in note for note in lpips_rows["note"])
    assert "pt_inception-2015-12-05-6726825d.pth" in fid_rows["note"].iloc[0]
    assert frame[frame["metric"] == "psnr"]["value"].notna().all()


def test_evaluate_rejects_unknown_metrics_and_protocols(restored_set, split_dir):
    with pytest.raises(ValueError, match="valid: psnr, ssim, lpips, fid"):
        evaluate(restored_set.root, split_dir / "GT", "rgb-full", "m", "toy", 0, metrics=["niqe"], progress=False)
    with pytest.raises(ValueError, match="irsde-derain"):
        evaluate(restored_set.root, split_dir / "GT", "paper", "m", "toy", 0, progress=False)


def test_match_pairs_names_missing_and_extra_images(tmp_path):
    restored = write_folder(tmp_path / "r", textured_images(2, size=16), ["a.png", "b.png"])
    gt = write_folder(tmp_path / "g", textured_images(2, size=16), ["a.png", "c.png"])
    with pytest.raises(ValueError, match=r"1 missing \(c\).*1 without ground truth \(b\)"):
        match_pairs(restored, gt)


@pytest.mark.slow
def test_evaluate_all_metrics_with_generated_weights(restored_set, split_dir, torch_home, tmp_path):
    frame = evaluate(restored_set.root, split_dir / "GT", "irsde-derain", "m", "toy", 0, device="cpu",
                     download_weights=False, fid_cache_dir=tmp_path / "cache", progress=False)
    counts = frame.groupby("metric").size().to_dict()
    assert counts == {"psnr": 5, "ssim": 5, "lpips": 5, "fid": 1}
    assert frame["value"].notna().all() and frame[frame["metric"] == "fid"]["value"].iloc[0] > 0


# ----------------------------------------------------------------------------------- summary


def per_image_rows(seed, values, metric="psnr", method="m"):
    return pd.DataFrame({"dataset": "toy", "method": method, "image": [f"{i}.png" for i in range(len(values))],
                         "seed": seed, "protocol": "rgb-full", "metric": metric, "value": values, "note": ""})


def test_summary_means_over_images_then_seeds():
    frame = pd.concat([per_image_rows(0, [30.0, 32.0]), per_image_rows(1, [28.0, 28.0]),
                       per_image_rows(0, [0.5, 0.7], metric="ssim")])
    summary = summarize(frame).set_index("metric")
    assert summary.loc["psnr", "mean"] == pytest.approx(29.5)
    assert summary.loc["psnr", "std"] == pytest.approx(math.sqrt(4.5))  # sample std of 31 and 28
    assert summary.loc["psnr", "seeds"] == 2 and summary.loc["psnr", "images"] == 2
    assert summary.loc["ssim", "mean"] == pytest.approx(0.6) and math.isnan(summary.loc["ssim", "std"])
    assert list(summarize(frame).columns) == ["dataset", "method", "protocol", "metric", "mean", "std", "seeds", "images", "note"]


def test_summary_keeps_the_note_of_an_unavailable_metric():
    rows = per_image_rows(0, [np.nan], metric="fid").assign(image=SET_IMAGE, note="FID weights missing: ...")
    summary = summarize(rows).iloc[0]
    assert math.isnan(summary["mean"]) and summary["note"] == "FID weights missing: ..." and summary["images"] == 0


def test_restored_set_without_manifest_reads_as_empty(tmp_path):
    assert RestoredSet(tmp_path).manifest() == {}
    (tmp_path / "restore.json").write_text(json.dumps({"seed": 4}))
    assert RestoredSet(tmp_path).manifest() == {"seed": 4}
