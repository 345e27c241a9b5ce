"""The dataset registry: one declarative record per benchmark of the paper.

Each dataset is a :class:`Dataset` record (:mod:`irsde.data.records`: its sources, and how each
split is normalised to ``<root>/<dataset>/<split>/{GT,LQ}/<name>.png``). Facts (URLs, layouts,
counts) come from each dataset's publishers, named in its record; where a count is folklore
rather than sourced, ``pairs_confirmed`` is False and a mismatch only warns (docs/datasets.md).

Adding a dataset means adding a record here; no per-dataset code.
"""

from __future__ import annotations

from irsde.data.records import ArchiveSource, Dataset, GitTreeSource, Split, Synthesis
from irsde.registry import Registry

# -- the records ------------------------------------------------------------------------------------

_PKU = "http://www.icst.pku.edu.cn/struct/att"
_RAIN_MIRRORS = (
    "The PKU server is often slow or unreachable. Mirrors (browser only): PReNet's 'original "
    "version' on BaiduYun https://pan.baidu.com/s/1J0q6Mrno9aMCsaWZUtmbkg or OneDrive "
    "https://1drv.ms/f/s!AqLfQqtZ6GwGgep-hgjLxkov2SSZ3g. The archive must hold the flat "
    "rain-N.png / norain-N.png files."
)
# norain-NNN.png is GT, rain-NNN.png is LQ; rainregion-*/rainstreak-* maps do not match.
_RAIN_GT = r"(?:^|/)norain-(?P<id>\d+)\.png$"
_RAIN_LQ = r"(?:^|/)rain-(?P<id>\d+)\.png$"
_JORDER = (
    "Yang, Tan, Feng, Liu, Guo, Yan. Deep Joint Rain Detection and Removal from a Single Image. "
    "CVPR 2017 (Yang2017RainRemoval)."
)


def _rain(name: str, level: str, train_pairs: int) -> Dataset:
    test_archive, train_archive = f"Rain100{level}.zip", f"RainTrain{level}.zip"
    return Dataset(
        name=name,
        task="derain",
        description=f"Rain100{level} test (100 pairs) with RainTrain{level} ({train_pairs} pairs) for training",
        sources=(
            ArchiveSource(test_archive, (f"{_PKU}/{test_archive}",), instructions=_RAIN_MIRRORS),
            ArchiveSource(train_archive, (f"{_PKU}/{train_archive}",), instructions=_RAIN_MIRRORS),
        ),
        splits=(
            Split("train", (train_archive,), _RAIN_GT, "{id:04d}.png", train_pairs, lq=_RAIN_LQ),
            Split("test", (test_archive,), _RAIN_GT, "{id:04d}.png", 100, lq=_RAIN_LQ),
        ),
        citation=_JORDER,
        licence="no licence stated by the authors; research use",
        notes=(
            "Old PKU release (flat rain-N/norain-N). Training uses all pairs, as IR-SDE did; PReNet "
            "reports that 546 RainTrainH images share backgrounds with the test set "
            "(see `irsde data audit`)."
        ),
    )


_RAIN100H_GIT = ("yuyi-sd/Robust_Rain_Removal", "5962c9f6d2b4704250f893d2801d104caddc90e1")


def _rain100h_git() -> Dataset:
    """The original Rain100H test set (100 pairs) from a git repository that tracks it: no
    archive, every file verified by its git blob id. The rainy images are also named
    ``norain-N.png`` (in ``rain/``); both folders are normalised to ``NNNN.png``."""
    rainy = GitTreeSource("Rain100H-git-rain", *_RAIN100H_GIT, "data/test/small/rain",
                          "4b4bde4fc6f72b5fd9defbd26db140029d029409")
    clean = GitTreeSource("Rain100H-git-norain", *_RAIN100H_GIT, "data/test/small/norain",
                          "f3869605b8b15e7ed064539b9fcc767b0130d687")
    pattern = r"^norain-(?P<id>\d+)\.png$"
    return Dataset(
        name="Rain100H-git",
        task="derain",
        description="Rain100H test (100 pairs, 481x321 / 321x481) from a git-pinned copy; no training split",
        sources=(rainy, clean),
        splits=(Split("test", (rainy.name, clean.name), pattern, "{id:04d}.png", 100, lq=pattern,
                      lq_source=rainy.name),),
        citation=_JORDER,
        licence="no licence stated by the authors; research use",
        notes=(
            "The original 100-pair Rain100H (the authors later released a 200-pair version), as "
            f"tracked in {_RAIN100H_GIT[0]}@{_RAIN100H_GIT[1][:8]} data/test/small/{{rain,norain}}; "
            "both folders name their files norain-N.png. 9 clean backgrounds occur twice under different "
            "rain (pairs 3/4, 5/14, 6/25, 7/36, 8/47, 9/58, 10/69, 11/80, 12/91 have pixel-identical GT): "
            "91 distinct clean images. They are kept as they are, as every published Rain100H number "
            "does; the duplicates weigh twice in a mean."
        ),
    )


def _gopro(name: str, blur_folder: str) -> Dataset:
    def pattern(split: str, folder: str) -> str:
        return rf"(?:^|/){split}/(?P<seq>[^/]+)/{folder}/(?P<frame>\d+)\.png$"

    output = "{seq}_{frame:06d}.png"  # frame numbers repeat across sequences
    return Dataset(
        name=name,
        task="deblur",
        description=f"GoPro (GOPRO_Large), LQ from {blur_folder}/, GT from sharp/",
        sources=(
            ArchiveSource(
                "GOPRO_Large.zip",
                ("http://data.cv.snu.ac.kr:8008/webdav/dataset/GOPRO/GOPRO_Large.zip",),
                instructions=(
                    "Official page https://seungjunnah.github.io/Datasets/gopro ; Google Drive file "
                    "1y4wvPdOG3mojpFCHTqLgriexhbjoWVkK (browser) holds the same GOPRO_Large.zip."
                ),
            ),
        ),
        splits=(
            Split("train", ("GOPRO_Large.zip",), pattern("train", "sharp"), output, 2103,
                  lq=pattern("train", blur_folder)),
            Split("test", ("GOPRO_Large.zip",), pattern("test", "sharp"), output, 1111,
                  lq=pattern("test", blur_folder)),
        ),
        citation="Nah, Kim, Lee. Deep Multi-Scale Convolutional Neural Network for Dynamic Scene Deblurring. CVPR 2017 (Nah_2017_CVPR).",
        licence="no licence stated on the official page; research use",
        notes=(
            "IR-SDE does not say which blur folder it used; 'GoPro' uses blur/ (linear CRF), "
            "'GoPro-gamma' blur_gamma/. Names are <sequence>_<frame>.png."
        ),
    )


_FFDNET_COMMIT = "e787f46df2f374ff3591186706229cb9a0591fea"
_NOISE25_TEST = Synthesis("gaussian-noise", sigma=25.0, seed=0, float_lq=True)
_NOISE25_TRAIN = Synthesis("gaussian-noise", sigma=25.0, seed=0)
_NOISE_NOTE = (
    "GT only; LQ = GT + Gaussian noise sigma 25/255, one fixed seeded draw per image (seed 0), "
    "stored unclipped as float32 LQ/<name>.npy (the paper's input) beside a clipped 8-bit PNG preview."
)


def _ffdnet_testset(name: str, folder: str, tree_id: str, gt: str, output: str, pairs: int,
                    citation: str, notes: str) -> Dataset:
    source = GitTreeSource(f"FFDNet-{folder}", "cszn/FFDNet", _FFDNET_COMMIT, f"testsets/{folder}", tree_id)
    return Dataset(
        name=name,
        task="denoise",
        description=f"{name} colour denoising test set (sigma 25), FFDNet's git-tracked copy",
        sources=(source,),
        splits=(Split("test", (source.name,), gt, output, pairs, synthesis=_NOISE25_TEST),),
        citation=citation,
        licence="no licence file in cszn/FFDNet; original image terms apply",
        notes=f"{_NOISE_NOTE} {notes}".strip(),
    )


_DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K"
_DIV2K_CITATION = (
    "Agustsson, Timofte. NTIRE 2017 Challenge on Single Image Super-Resolution: Dataset and Study. "
    "CVPR Workshops 2017 (Agustsson_2017_CVPR_Workshops)."
)


def _div2k(archive: str) -> ArchiveSource:
    return ArchiveSource(archive, (f"{_DIV2K}/{archive}",))


def _div2k_x4() -> Dataset:
    def hr(part: str) -> str:
        return rf"(?:^|/)DIV2K_{part}_HR/(?P<id>\d{{4}})\.png$"

    def lr(part: str) -> str:
        return rf"(?:^|/)DIV2K_{part}_LR_bicubic/X4/(?P<id>\d{{4}})x4\.png$"

    archives = ("DIV2K_train_HR.zip", "DIV2K_train_LR_bicubic_X4.zip", "DIV2K_valid_HR.zip",
                "DIV2K_valid_LR_bicubic_X4.zip")
    return Dataset(
        name="DIV2K-x4",
        task="sr",
        description="DIV2K bicubic x4 super-resolution: 800 train, 100 validation (used as test)",
        sources=tuple(_div2k(archive) for archive in archives),
        splits=(
            Split("train", archives[:2], hr("train"), "{id}.png", 800, lq=lr("train"), fix="bicubic-lq-x4"),
            Split("test", archives[2:], hr("valid"), "{id}.png", 100, lq=lr("valid"), fix="bicubic-lq-x4"),
        ),
        citation=_DIV2K_CITATION,
        licence="academic use only (DIV2K terms)",
        notes=(
            "LQ is stored upsampled x4 (bicubic) to the GT size, so pairs share a size as the SDE "
            "needs; GT is cropped at the bottom/right to 4x the LR size when it is not a multiple of 4."
        ),
    )


def _df2k_denoise() -> Dataset:
    return Dataset(
        name="DF2K-noise25",
        task="denoise",
        description="DIV2K train HR (800) + Flickr2K HR (2650): training set for colour denoising, sigma 25",
        sources=(
            _div2k("DIV2K_train_HR.zip"),
            ArchiveSource("Flickr2K.tar", ("https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",)),
        ),
        splits=(
            Split("train", ("DIV2K_train_HR.zip", "Flickr2K.tar"),
                  r"(?:^|/)(?P<set>DIV2K_train_HR|Flickr2K_HR)/(?P<id>\d+)\.png$", "{set}_{id}.png",
                  3450, synthesis=_NOISE25_TRAIN),
        ),
        citation=(
            f"{_DIV2K_CITATION} Lim, Son, Kim, Nah, Lee. Enhanced Deep Residual Networks for Single "
            "Image Super-Resolution. CVPR Workshops 2017 (lim2017enhanced)."
        ),
        licence="DIV2K: academic use only; Flickr2K: no licence stated",
        notes=(
            "GT only; its LQ is a fixed 8-bit noisy preview (sigma 25/255, seed 0). Training with "
            "data.noise_sigma: 25 draws fresh unclipped noise every epoch instead, as the authors do. "
            "The paper also trains on BSD400 and WED; its author reports DIV2K + "
            "Flickr2K alone work about as well. Test on CBSD68 / Kodak24 / McMaster."
        ),
    )


_THIN_MASKS = GitTreeSource(
    "RePaint-thin-masks",
    "Algolzw/image-restoration-sde",
    "2598d73cde3a1e2cf78c4ba4923414e1f4b90393",
    "codes/config/inpainting/data/datasets/gt_keep_masks/thin",
    "f0607e7c98f0564eab392c40b5f6dfcc4a34b562",
)


def _browser_archive(name: str, page: str, where: str, layout: str) -> ArchiveSource:
    """An archive only reachable through a browser: the user saves it into resources/."""
    return ArchiveSource(name, (page,), browser=True, instructions=(
        f"{where} Save it as resources/{name} ({layout}), or pass the extracted folder with "
        f"--path {name}=FOLDER."
    ))


def _celeba_hq() -> Dataset:
    archive = _browser_archive(
        "data256x256.zip",
        "https://drive.google.com/drive/folders/11Vz0fqHS2rXDb5pprgTjpD7S2BAJhi1P",
        "CelebA-HQ 256x256 has no automatic download: get LaMa's data256x256.zip from the Google "
        "Drive folder 11Vz0fqHS2rXDb5pprgTjpD7S2BAJhi1P.",
        "it unzips to data256x256/00001.jpg ... 30000.jpg",
    )
    image = r"(?:^|/)data256x256/(?P<id>\d+)\.(?:jpg|png)$"
    return Dataset(
        name="CelebA-HQ-thin",
        task="inpaint",
        description="CelebA-HQ 256x256 with RePaint thin masks; the first 100 images are the test set",
        sources=(archive, _THIN_MASKS),
        splits=(
            Split("train", (archive.name,), image, "{id:05d}.png", 29900, select=(100, None),
                  synthesis=Synthesis("inpaint-mask", masks=_THIN_MASKS.name, mask_choice="random")),
            Split("test", (archive.name,), image, "{id:05d}.png", 100, select=(0, 100),
                  synthesis=Synthesis("inpaint-mask", masks=_THIN_MASKS.name, mask_choice="index")),
        ),
        citation=(
            "Karras, Aila, Laine, Lehtinen. Progressive Growing of GANs. ICLR 2018 (karras2018progressive); "
            "masks: Lugmayr et al. RePaint. CVPR 2022 (lugmayr2022repaint)."
        ),
        licence="CelebA terms: non-commercial research only, no redistribution; RePaint: CC BY-NC-SA 4.0",
        notes=(
            "Test image i (sorted) gets thin mask i (000000..000099.png) as in IR-SDE; holes are "
            "filled white. Training images get a seeded random thin mask with a random flip/rotation."
        ),
    )


def _reside_indoor() -> Dataset:
    its = _browser_archive(
        "ITS.zip",
        "https://bit.ly/3iwHmh0",
        "RESIDE ITS is only on Dropbox (https://bit.ly/3iwHmh0) or Baidu (http://tinyurl.com/yaohd3yv, code g0s6).",
        "layout .../hazy/<id>_<k>_<beta>.png and .../clear/<id>.png",
    )
    sots = _browser_archive(
        "SOTS.zip",
        "https://bit.ly/2XZH498",
        "RESIDE SOTS is only on Dropbox (https://bit.ly/2XZH498) or Baidu "
        "(https://pan.baidu.com/share/init?surl=SSVzR058DX5ar5WL5oBTLg, code s6tu).",
        "layout .../indoor/hazy/<id>_<k>.png and .../indoor/gt/<id>.png",
    )
    sots_dir = r"(?:^|/)(?:indoor|nyuhaze500)"
    return Dataset(
        name="RESIDE-indoor",
        task="dehaze",
        description="RESIDE ITS (train) and SOTS-indoor (test, 500 hazy images of 50 scenes)",
        sources=(its, sots),
        splits=(
            Split("train", (its.name,), r"(?:^|/)clear/(?P<id>\d+)\.(?:png|jpg)$", "{id:04d}_{k:02d}.png",
                  13990, lq=r"(?:^|/)hazy/(?P<id>\d+)_(?P<k>\d+)_(?P<beta>[0-9.]+)\.(?:png|jpg)$",
                  fix="crop-gt-centre", pairs_confirmed=False),
            Split("test", (sots.name,), rf"{sots_dir}/(?:gt|clear)/(?P<id>\d+)\.png$", "{id:04d}_{k:02d}.png",
                  500, lq=rf"{sots_dir}/hazy/(?P<id>\d+)_(?P<k>\d+)\.png$", fix="crop-gt-centre"),
        ),
        citation=(
            "Li, Ren, Fu, Tao, Feng, Zeng, Wang. Benchmarking Single-Image Dehazing and Beyond. "
            "IEEE TIP 28(1):492-505 (li2018benchmarking)."
        ),
        licence="no data licence found",
        notes=(
            "Each hazy image is paired with its scene's clear image (the GT is repeated under the "
            "hazy name). Official SOTS-indoor GT is 640x480 while hazy is 620x460: GT is centre-"
            "cropped to the hazy size (as FFA-Net does)."
        ),
    )


def _build_registry() -> dict[str, Dataset]:
    records = [
        _rain("Rain100H", "H", 1800),
        _rain("Rain100L", "L", 200),
        _rain100h_git(),
        _gopro("GoPro", "blur"),
        _gopro("GoPro-gamma", "blur_gamma"),
        _ffdnet_testset(
            "CBSD68", "CBSD68", "48cf8e6d555b1b0aa96feee08e83ee981f465c68", r"^(?P<id>\d+)\.png$", "{id}.png", 68,
            "Martin, Fowlkes, Tal, Malik. A Database of Human Segmented Natural Images. ICCV 2001; "
            "Roth, Black. Fields of Experts. CVPR 2005.",
            "",
        ),
        _ffdnet_testset(
            "Kodak24", "Kodak24", "e7b8d933b2ea07f139d27d8c480679c316e1d453", r"^kodim(?P<id>\d+)\.png$",
            "kodim{id:02d}.png", 24, "Kodak Lossless True Color Image Suite (Kodak PhotoCD PCD0992).",
            "This is FFDNet's 500x500 variant, not the 768x512 originals: PSNR is not comparable between them.",
        ),
        _ffdnet_testset(
            "McMaster", "McMaster", "aa2394d065e17d484f6e82d8a558dc4ee84a9928", r"^(?P<id>\d+)\.tif$",
            "{id:02d}.png", 18,
            "Zhang, Wu, Buades, Li. Color demosaicking by local directional interpolation and nonlocal "
            "adaptive thresholding. J. Electronic Imaging 2011 (zhang2011color).",
            "",
        ),
        _df2k_denoise(),
        _div2k_x4(),
        _celeba_hq(),
        _reside_indoor(),
    ]
    return {record.name: record for record in records}


DATASETS: Registry[Dataset] = Registry("dataset", _build_registry(), ignore_case=True)


def get_dataset(name: str | Dataset) -> Dataset:
    """The registry record called ``name`` (a :class:`Dataset` is returned unchanged)."""
    return name if isinstance(name, Dataset) else DATASETS[name]


def source_owners(folders: bool) -> dict[str, str]:
    """Archive (``folders=False``) or git-tree folder (``True``) source name -> the first registered
    dataset that uses it (sources shared by several datasets are fetched once)."""
    owners: dict[str, str] = {}
    for dataset in DATASETS.values():
        for source in dataset.sources:
            if isinstance(source, GitTreeSource) == folders:
                owners.setdefault(source.name, dataset.name)
    return owners
