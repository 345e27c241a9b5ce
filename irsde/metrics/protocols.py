"""Named metric protocols (docs/protocols.md#metric-protocols): how a restored image is scored, never implicit.

A protocol is a small frozen record. Every row of a metrics CSV carries the name of the protocol
it was computed under, and every table caption names it.

Common to all presets: the restored float output is clamped to [0,1] and quantised to uint8
before PSNR and SSIM, rounded to nearest (that is how ``irsde restore`` writes its PNGs) unless a
preset says ``truncate`` (``np.uint8(255 * x)``, as PReNet's test script saves its outputs; read
from the float output); FID is pytorch-fid between the folder of restored PNGs and the folder of
ground-truth PNGs, without crop; every metric except FID is per image, then the arithmetic mean.

The presets ``irsde-derain-nocrop``, ``irsde-derain-truncate`` and ``prenet-matlab`` vary the
deraining protocol one convention at a time, for protocol-sensitivity tables: how much of a gap
between two papers' numbers is the protocol rather than the method.
"""

from __future__ import annotations

from dataclasses import dataclass

from irsde.registry import Registry

METRIC_NAMES = ("psnr", "ssim", "lpips", "fid")


@dataclass(frozen=True)
class MetricProtocol:
    """How PSNR/SSIM/LPIPS/FID are computed for one benchmark.

    Attributes:
        name: the preset's name, printed in CSVs and table captions.
        crop_border: pixels removed from every border before PSNR and SSIM.
        y_channel: PSNR/SSIM on BT.601 luma (True) or on RGB (False).
        lpips_on_float: LPIPS on the unclamped float network output (True; needs the ``float/``
            arrays written by ``irsde restore``) or on the uint8 PNG (False). Never cropped.
        clamp: float outputs are clamped to [0,1] and rounded to uint8 before PSNR/SSIM/FID.
            Always True for the presets: the PNGs written by ``irsde restore`` are exactly this.
        quantize: how the clamped float output becomes uint8 for PSNR/SSIM: ``round`` (the PNG)
            or ``truncate`` (from the float output: ``floor(255 x)``).
        description: one sentence for captions and ``irsde evaluate --help``.
    """

    name: str
    crop_border: int
    y_channel: bool
    lpips_on_float: bool
    description: str
    clamp: bool = True
    quantize: str = "round"

    def caption(self) -> str:
        """A short, complete statement of the protocol for table captions."""
        channel = "Y (BT.601)" if self.y_channel else "RGB"
        crop = f"crop {self.crop_border}px" if self.crop_border else "no crop"
        lpips_input = "unclamped float output" if self.lpips_on_float else "uint8 PNG"
        quantized = "rounded" if self.quantize == "round" else "truncated"
        return (
            f"protocol '{self.name}': PSNR/SSIM on {quantized} uint8 {channel}, {crop}; "
            f"LPIPS (AlexNet v0.1) on the {lpips_input}; FID (pytorch-fid, pool3) on PNG folders"
        )


PROTOCOLS: Registry[MetricProtocol] = Registry("metric protocol", {
    protocol.name: protocol
    for protocol in (
        MetricProtocol(
            name="irsde-derain",
            crop_border=4,
            y_channel=True,
            lpips_on_float=True,
            description="the paper's deraining test script: uint8, crop 4, Y channel, LPIPS on the float output",
        ),
        MetricProtocol(
            name="irsde-derain-nocrop",
            crop_border=0,
            y_channel=True,
            lpips_on_float=True,
            description="irsde-derain without the 4-pixel border crop",
        ),
        MetricProtocol(
            name="irsde-derain-truncate",
            crop_border=4,
            y_channel=True,
            lpips_on_float=True,
            quantize="truncate",
            description="irsde-derain with the output truncated to uint8 instead of rounded",
        ),
        MetricProtocol(
            name="prenet-matlab",
            crop_border=0,
            y_channel=True,
            lpips_on_float=True,
            quantize="truncate",
            description=("PReNet's own evaluation: outputs truncated to uint8 (its test script), Y channel "
                         "of MATLAB's rgb2ycbcr unrounded, Wang's SSIM, no crop (its statistic scripts)"),
        ),
        MetricProtocol(
            name="irsde-deblur",
            crop_border=4,
            y_channel=False,
            lpips_on_float=True,
            description="the paper's deblurring (GoPro) protocol: uint8, crop 4, RGB, LPIPS on the float output",
        ),
        MetricProtocol(
            name="irsde-denoise",
            crop_border=0,
            y_channel=False,
            lpips_on_float=True,
            description="the paper's denoising protocol: uint8, no crop, RGB, LPIPS on the float output",
        ),
        MetricProtocol(
            name="rgb-full",
            crop_border=0,
            y_channel=False,
            lpips_on_float=False,
            description="generic: everything from the uint8 PNGs, RGB, no crop (any method's output folder)",
        ),
    )
})


def get_protocol(name: str | MetricProtocol) -> MetricProtocol:
    """The preset called ``name`` (a MetricProtocol passes through). Unknown -> ValueError listing the valid names."""
    return name if isinstance(name, MetricProtocol) else PROTOCOLS[name]
