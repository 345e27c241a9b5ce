"""The released-checkpoint registry: one declarative record per published weight file.

Facts (repositories, commits, paths, git blob ids, sha256, sizes, layouts, published rows)
were read from the pinned upstream repositories. Adding a checkpoint means adding a record
here; no per-checkpoint code. ``irsde weights list`` prints this registry.
"""

from __future__ import annotations

from irsde.checkpoints.records import BrowserFile, Checkpoint, GitFile
from irsde.registry import Registry

_PRENET_COMMIT = "6d908d1e3c7ff5c26fee624112297ad1c8603ca7"
_PRENET_PAPER = (
    "Ren, Zuo, Hu, Zhu, Meng. Progressive Image Deraining Networks: A Better and Simpler Baseline. "
    "CVPR 2019 (ren2019progressive)."
)
_PRENET_LICENCE = "no licence file in csdwren/PReNet; research use"
_KAIR_COPY_COMMIT = "dadd26a2981901153f465549a31d1c458c703464"
_KAIR_NOTE = (
    "The KAIR toolbox's (cszn/KAIR) released model, batch normalisation folded into the "
    "convolutions; a git-pinned copy in zhengdihan/Unsupervised_denoising/model_zoo."
)
_KAIR_LICENCE = "no licence file in zhengdihan/Unsupervised_denoising; KAIR (the model's origin) is MIT"
_DNCNN_PAPER = (
    "Zhang, Zuo, Chen, Meng, Zhang. Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for "
    "Image Denoising. IEEE TIP 26(7), 2017 (zhang2017beyond)."
)
_FFDNET_PAPER = (
    "Zhang, Zuo, Zhang. FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image Denoising. "
    "IEEE TIP 27(9), 2018 (zhang2018ffdnet)."
)
_IRSDE_PAPER = (
    "Luo, Gustafsson, Zhao, Sjölund, Schön. Image Restoration with Mean-Reverting Stochastic "
    "Differential Equations. ICML 2023 (luo2023image)."
)
_IRSDE_DRIVE = "https://drive.google.com/drive/folders/14SvJXvp0HPKFHpGaaHy7h2I2fkRnIXAG"


def _prenet(level: str, blob: str, sha256: str) -> Checkpoint:
    return Checkpoint(
        name=f"prenet-rain100{level.lower()}",
        method="prenet",
        file=f"prenet6-rain100{level.lower()}.pth",
        source=GitFile("csdwren/PReNet", _PRENET_COMMIT, f"logs/Rain100{level}/PReNet6/net_latest.pth",
                       blob, sha256, 681694),
        label=f"PReNet (released weights, RainTrain{level})",
        paper=_PRENET_PAPER,
        licence=_PRENET_LICENCE,
        reproduces=((f"rain100{level.lower()}", "PReNet"),),
        options={"stages": 6},
        notes=(f"6 stages, 32 features, trained on RainTrain{level}"
               + (" without the 546 images that share backgrounds with Rain100H." if level == "H" else ".")),
    )


def _build() -> dict[str, Checkpoint]:
    records = [
        _prenet("H", "cc604a708bf339f2053c07c304c4c53ed572a4a2",
                "127c0098787c5272f1f8583f6c5202e7ef674f750cd145a1691912a6d9e96210"),
        _prenet("L", "c745548d7b628d10584ae51cb59c13ad1233cb7c",
                "cb9b743bb33cf6e5c56ba45f8ade93add46266dea9fa582e1934dc5eed942333"),
        Checkpoint(
            name="dncnn-color-blind",
            method="dncnn",
            file="dncnn_color_blind.pth",
            source=GitFile("zhengdihan/Unsupervised_denoising", _KAIR_COPY_COMMIT, "model_zoo/dncnn_color_blind.pth",
                           "293a2787238c1664673c1e52ac3fc61ce27d82d5",
                           "dfe11a6b703304df82cdf236f431fc6492766c7b9119d97e943edeb392c710a3", 2678121),
            label="DnCNN (released weights, colour blind)",
            paper=_DNCNN_PAPER,
            licence=_KAIR_LICENCE,
            reproduces=(("cbsd68-sigma25", "DnCNN"), ("kodak24-sigma25", "DnCNN"), ("mcmaster-sigma25", "DnCNN")),
            notes=f"CDnCNN-B: one model for noise levels 0-55, 20 convolutions of 64 features. {_KAIR_NOTE}",
        ),
        Checkpoint(
            name="ffdnet-color",
            method="ffdnet",
            file="ffdnet_color.pth",
            source=GitFile("zhengdihan/Unsupervised_denoising", _KAIR_COPY_COMMIT, "model_zoo/ffdnet_color.pth",
                           "59ab60f7ad0514b5420065bf6c9be71b62329b48",
                           "286f04f7e3a20254c067ba95efb5d3339f4fc8a09a365a93cd469184d4cdb279", 3411551),
            label="FFDNet (released weights, colour)",
            paper=_FFDNET_PAPER,
            licence=_KAIR_LICENCE,
            reproduces=(("cbsd68-sigma25", "FFDNet"), ("kodak24-sigma25", "FFDNet"), ("mcmaster-sigma25", "FFDNet")),
            notes=f"12 convolutions of 96 features on the 2x2 sub-images and a noise-level map. {_KAIR_NOTE}",
        ),
        Checkpoint(
            name="irsde-derain-rain100h",
            method="irsde",
            file="irsde-derain-rain100h.pth",
            source=BrowserFile(
                _IRSDE_DRIVE,
                "The IR-SDE authors' Google Drive folder (linked from github.com/Algolzw/image-restoration-sde, "
                "'Pretrained models'; needs a browser or a Drive client such as gdown): download the deraining "
                "model their test config calls pretrained/rain100h_sde.pth (nf 64, depth 4, a plain state_dict)",
            ),
            label="IR-SDE (released weights)",
            paper=_IRSDE_PAPER,
            licence="no licence file in Algolzw/image-restoration-sde; research use",
            reproduces=(("rain100h", "IR-SDE"),),
            options={"prediction": "noise"},
            notes="Restored with the paper's SDE (cosine, T 100, max_sigma 10, eps 0.005) and sampler.",
        ),
    ]
    return {record.name: record for record in records}


CHECKPOINTS: Registry[Checkpoint] = Registry("released checkpoint", _build(),
                                             hint="`irsde weights list` prints them")
"""Released weight files by name."""
