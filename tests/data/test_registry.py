import json
import re
from dataclasses import replace

import pytest

from irsde.data.lock import PINNED_LOCK
from irsde.data.prepare import FIXES
from irsde.data.records import SYNTHESIS_KINDS, ArchiveSource, output_name
from irsde.data.registry import DATASETS, get_dataset


def all_splits():
    return [(dataset, split) for dataset in DATASETS.values() for split in dataset.splits]


@pytest.mark.parametrize("dataset, split", all_splits(), ids=lambda x: getattr(x, "name", ""))
def test_every_split_is_consistent(dataset, split):
    names = {source.name for source in dataset.sources}
    assert set(split.sources) <= names
    gt_groups = set(re.compile(split.gt).groupindex)
    if split.lq is None:
        assert split.synthesis is not None and split.synthesis.kind in SYNTHESIS_KINDS
        assert split.synthesis.masks is None or split.synthesis.masks in names
        groups = gt_groups
    else:
        groups = set(re.compile(split.lq).groupindex)
        assert gt_groups <= groups  # every LQ names its GT
    assert output_name(split.output, {group: "7" for group in groups}).endswith(".png")
    assert split.fix is None or split.fix in FIXES
    assert split.pairs > 0


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=lambda d: d.name)
def test_every_dataset_says_where_to_get_it_and_how_to_cite_it(dataset):
    assert dataset.citation and dataset.licence and dataset.description
    for source in dataset.sources:
        assert source.urls and all(url.startswith(("http://", "https://")) for url in source.urls)
        if source.browser:
            assert f"resources/{source.name}" in source.instructions or "--path" in source.instructions


def test_browser_only_datasets_are_marked():
    assert {name for name, dataset in DATASETS.items() if dataset.needs_browser} == {"CelebA-HQ-thin", "RESIDE-indoor"}


def test_pair_counts_from_the_fact_sheet():
    counts = {name: {split.name: split.pairs for split in dataset.splits} for name, dataset in DATASETS.items()}
    assert counts["Rain100H"] == {"train": 1800, "test": 100}
    assert counts["Rain100L"] == {"train": 200, "test": 100}
    assert counts["GoPro"] == counts["GoPro-gamma"] == {"train": 2103, "test": 1111}
    assert (counts["CBSD68"], counts["Kodak24"], counts["McMaster"]) == ({"test": 68}, {"test": 24}, {"test": 18})
    assert counts["DF2K-noise25"] == {"train": 800 + 2650}
    assert counts["DIV2K-x4"] == {"train": 800, "test": 100}
    assert counts["CelebA-HQ-thin"] == {"train": 29900, "test": 100}
    assert counts["RESIDE-indoor"] == {"train": 13990, "test": 500}
    assert not get_dataset("RESIDE-indoor").split("train").pairs_confirmed


# (dataset, split, path inside the source, "GT"/"LQ"/None, normalised name)
LAYOUT_EXAMPLES = [
    ("Rain100H", "test", "Rain100H/norain-001.png", "GT", "0001.png"),
    ("Rain100H", "test", "Rain100H/rain-001.png", "LQ", "0001.png"),
    ("Rain100H", "test", "rainregion-001.png", None, None),
    ("Rain100H", "test", "rainstreak-001.png", None, None),
    ("Rain100H", "train", "RainTrainH/norain-1800.png", "GT", "1800.png"),
    ("Rain100L", "train", "rain-17.png", "LQ", "0017.png"),
    ("GoPro", "train", "GOPRO_Large/train/GOPR0372_07_00/sharp/000047.png", "GT", "GOPR0372_07_00_000047.png"),
    ("GoPro", "train", "GOPRO_Large/train/GOPR0372_07_00/blur/000047.png", "LQ", "GOPR0372_07_00_000047.png"),
    ("GoPro", "train", "GOPRO_Large/train/GOPR0372_07_00/blur_gamma/000047.png", None, None),
    ("GoPro", "test", "GOPRO_Large/train/GOPR0372_07_00/sharp/000047.png", None, None),
    ("GoPro-gamma", "test", "GOPRO_Large/test/GOPR0384_11_00/blur_gamma/000001.png", "LQ", "GOPR0384_11_00_000001.png"),
    ("CBSD68", "test", "101085.png", "GT", "101085.png"),
    ("Kodak24", "test", "kodim07.png", "GT", "kodim07.png"),
    ("McMaster", "test", "9.tif", "GT", "09.png"),
    ("DF2K-noise25", "train", "DIV2K_train_HR/0001.png", "GT", "DIV2K_train_HR_0001.png"),
    ("DF2K-noise25", "train", "Flickr2K/Flickr2K_HR/000001.png", "GT", "Flickr2K_HR_000001.png"),
    ("DF2K-noise25", "train", "Flickr2K/Flickr2K_LR_bicubic/X4/000001x4.png", None, None),
    ("DIV2K-x4", "train", "DIV2K_train_LR_bicubic/X4/0001x4.png", "LQ", "0001.png"),
    ("DIV2K-x4", "test", "DIV2K_valid_HR/0801.png", "GT", "0801.png"),
    ("CelebA-HQ-thin", "test", "data256x256/00001.jpg", "GT", "00001.png"),
    ("RESIDE-indoor", "test", "SOTS/indoor/hazy/1400_10.png", "LQ", "1400_10.png"),
    ("RESIDE-indoor", "test", "SOTS/indoor/gt/1400.png", "GT", "1400.png"),
    ("RESIDE-indoor", "test", "nyuhaze500/gt/1449.png", "GT", "1449.png"),
    ("RESIDE-indoor", "train", "ITS/hazy/1_1_0.90179.png", "LQ", "0001_01.png"),
    ("RESIDE-indoor", "train", "ITS/clear/1.png", "GT", "1.png"),
    ("RESIDE-indoor", "train", "ITS/trans/1_1.png", None, None),
]


@pytest.mark.parametrize("name, split_name, path, role, output", LAYOUT_EXAMPLES)
def test_real_archive_paths_are_recognised(name, split_name, path, role, output):
    split = get_dataset(name).split(split_name)
    gt = re.search(split.gt, path)
    lq = re.search(split.lq, path) if split.lq else None
    assert (gt is not None, lq is not None) == (role == "GT", role == "LQ")
    if role == "LQ":
        assert output_name(split.output, lq.groupdict()) == output
    if role == "GT" and split.lq is None:
        assert output_name(split.output, gt.groupdict()) == output


def test_recipe_digest_tracks_layout_but_not_urls():
    dataset = get_dataset("Rain100H")
    moved = replace(dataset, sources=tuple(replace(s, urls=("https://mirror.example/x.zip",)) for s in dataset.sources))
    assert moved.recipe_digest() == dataset.recipe_digest()
    renamed = replace(dataset, splits=(replace(dataset.splits[0], output="{id:05d}.png"), dataset.splits[1]))
    assert renamed.recipe_digest() != dataset.recipe_digest()


def test_unknown_names_list_the_choices():
    with pytest.raises(KeyError, match="Rain100H"):
        get_dataset("Rain100X")
    with pytest.raises(KeyError, match="RainTrainH.zip"):
        get_dataset("Rain100H").source("nope.zip")


def test_pinned_lock_holds_the_published_div2k_digests():
    entries = json.loads(PINNED_LOCK.read_text())["files"]
    assert entries["DIV2K_train_HR.zip"]["sha256"] == "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335"
    assert entries["Flickr2K.tar"]["md5"] == "5d3f39443d5e9489bff8963f8f26cb03"
    archives = {s.name for d in DATASETS.values() for s in d.sources if isinstance(s, ArchiveSource)}
    assert set(entries) <= archives


def test_resources_readme_names_every_source():
    readme = (PINNED_LOCK.parents[2] / "resources" / "README.md").read_text()
    for dataset in DATASETS.values():
        assert dataset.name in readme
        for source in dataset.sources:
            assert f"`{source.name}" in readme, source.name
