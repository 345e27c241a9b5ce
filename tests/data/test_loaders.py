import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from irsde.data.loaders import PairedTestDataset, PairedTrainDataset, paired_files
from irsde.images import float_companion, to_uint8, write_float_image, write_png

SIZES = {"a.png": (24, 20), "b.png": (30, 18), "c.png": (16, 16)}  # name: (width, height)


def make_split(root, sizes=SIZES, lq_of=lambda gt: 255 - gt):
    """GT random, LQ a known per-pixel function of GT: any misalignment breaks the relation."""
    rng = np.random.default_rng(0)
    for name, (width, height) in sizes.items():
        gt = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        write_png(root / "GT" / name, gt)
        write_png(root / "LQ" / name, lq_of(gt))
    return root


def as_uint8(sample):
    return to_uint8(sample["gt"]), to_uint8(sample["lq"])


def test_crops_are_aligned_between_gt_and_lq(tmp_path):
    dataset = PairedTrainDataset(make_split(tmp_path), crop_size=12, seed=3)
    for epoch in range(6):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            sample = dataset[index]
            gt, lq = as_uint8(sample)
            assert sample["gt"].shape == sample["lq"].shape == (3, 12, 12)
            assert sample["gt"].dtype == torch.float32
            assert np.array_equal(lq, 255 - gt)


def test_samples_are_a_pure_function_of_seed_epoch_and_index(tmp_path):
    split = make_split(tmp_path)
    first, second = PairedTrainDataset(split, 12, seed=3), PairedTrainDataset(split, 12, seed=3, cache=True)
    for epoch, index in [(0, 1), (4, 0), (2, 2), (0, 1)]:  # any order, any instance
        second.set_epoch(epoch)
        assert torch.equal(first.sample(index, epoch)["gt"], second[index]["gt"])
    crops = {tuple(to_uint8(first.sample(1, epoch)["gt"]).ravel()[:20]) for epoch in range(8)}
    assert len(crops) > 1  # a new epoch brings new crops
    other_seed = PairedTrainDataset(split, 12, seed=4)
    assert any(not torch.equal(first.sample(1, e)["gt"], other_seed.sample(1, e)["gt"]) for e in range(4))


def test_augmentation_covers_all_eight_flips_and_transposes(tmp_path):
    dataset = PairedTrainDataset(make_split(tmp_path, {"c.png": (16, 16)}), crop_size=16, seed=0)
    base = to_uint8(PairedTestDataset(tmp_path)[0]["gt"])
    variants = {np.rot90(flipped, k).tobytes() for flipped in (base, base[:, ::-1]) for k in range(4)}
    seen = {as_uint8(dataset.sample(0, epoch))[0].tobytes() for epoch in range(64)}
    assert seen == variants


def test_images_smaller_than_the_crop_are_named(tmp_path):
    with pytest.raises(ValueError) as caught:
        PairedTrainDataset(make_split(tmp_path), crop_size=19, seed=0)
    message = str(caught.value)
    assert str(tmp_path / "GT" / "b.png") in message and str(tmp_path / "GT" / "c.png") in message
    assert "a.png" not in message


def test_unpaired_or_mismatched_files_are_named(tmp_path):
    split = make_split(tmp_path)
    write_png(tmp_path / "LQ" / "extra.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "GT" / "c.png").unlink()
    with pytest.raises(ValueError) as caught:
        paired_files(split)
    assert f"{tmp_path / 'LQ' / 'extra.png'} has no GT partner" in str(caught.value)
    assert f"{tmp_path / 'LQ' / 'c.png'} has no GT partner" in str(caught.value)
    (tmp_path / "LQ" / "extra.png").unlink()
    (tmp_path / "LQ" / "c.png").unlink()
    write_png(tmp_path / "LQ" / "a.png", np.zeros((20, 25, 3), np.uint8))
    with pytest.raises(ValueError, match="a.png is 24x20 but .*a.png is 25x20"):
        PairedTrainDataset(split, 8)


def test_test_dataset_yields_full_images_with_names(tmp_path):
    dataset = PairedTestDataset(make_split(tmp_path))
    assert dataset.names == ["a.png", "b.png", "c.png"] and len(dataset) == 3
    sample = dataset[1]
    assert sample["name"] == "b.png" and sample["gt"].shape == (3, 18, 30)
    gt, lq = as_uint8(sample)
    assert np.array_equal(lq, 255 - gt)
    assert 0.0 <= float(sample["gt"].min()) and float(sample["gt"].max()) <= 1.0


def test_batches_collate_through_a_dataloader(tmp_path):
    dataset = PairedTrainDataset(make_split(tmp_path), crop_size=8, seed=1)
    batch = next(iter(DataLoader(dataset, batch_size=3)))
    assert batch["gt"].shape == batch["lq"].shape == (3, 3, 8, 8)
    assert batch["name"] == ["a.png", "b.png", "c.png"]
    assert torch.allclose(batch["lq"], 1 - batch["gt"], atol=1e-6)


def test_train_noise_is_drawn_afresh_for_every_sample_and_epoch_and_not_clipped(tmp_path):
    split = make_split(tmp_path, sizes={"a.png": (40, 40), "b.png": (40, 40)})
    dataset = PairedTrainDataset(split, crop_size=32, seed=3, noise_sigma=25)
    samples = [dataset.sample(index, epoch) for epoch in range(3) for index in range(2)]
    noises = [sample["lq"] - sample["gt"] for sample in samples]  # the stored LQ (255 - GT) is not used
    stacked = torch.stack(noises)
    assert abs(stacked.std().item() / (25 / 255) - 1) < 0.03 and abs(stacked.mean().item()) < 0.005
    assert all(not torch.equal(noises[0], other) for other in noises[1:])  # fresh every epoch and sample
    assert (torch.stack([s["lq"] for s in samples]) < 0).any()  # float, not clipped
    again = PairedTrainDataset(split, crop_size=32, seed=3, noise_sigma=25, cache=True)
    assert torch.equal(again.sample(1, 2)["lq"], samples[5]["lq"])  # a pure function of (seed, epoch, index)


def test_test_dataset_reads_the_lossless_float_lq_beside_the_preview(tmp_path):
    split = make_split(tmp_path, sizes={"a.png": (12, 10)})
    noisy = np.random.default_rng(1).normal(0.5, 0.6, (10, 12, 3)).astype(np.float32)
    write_float_image(float_companion(split / "LQ" / "a.png"), noisy)
    item = PairedTestDataset(split)[0]
    assert torch.equal(item["lq"], torch.from_numpy(noisy).permute(2, 0, 1))
    write_float_image(float_companion(split / "LQ" / "a.png"), noisy[:5])
    with pytest.raises(ValueError, match="a.npy is 12x5 but its preview"):
        PairedTestDataset(split)[0]
