"""PSNR / SSIM / Y conversion: golden values worked out by hand, and skimage cross-checks."""

import math

import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from irsde.metrics import psnr, rgb_to_y, ssim

C1 = (0.01 * 255) ** 2  # 6.5025
C2 = (0.03 * 255) ** 2  # 58.5225


def constant_image(height, width, rgb):
    return np.broadcast_to(np.array(rgb, np.uint8), (height, width, 3)).copy()


def random_pair(shape, seed, noise=25):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, shape, dtype=np.uint8)
    restored = np.clip(gt.astype(int) + rng.integers(-noise, noise + 1, shape), 0, 255).astype(np.uint8)
    return restored, gt


# ----------------------------------------------------------------------------------- Y channel


@pytest.mark.parametrize(
    "rgb, expected",
    [
        ((0, 0, 0), 16.0),
        ((255, 255, 255), 235.0),  # 16 + (65.481 + 128.553 + 24.966)
        ((255, 0, 0), 81.481),
        ((0, 255, 0), 144.553),
        ((0, 0, 255), 40.966),
        ((10, 20, 30), 16.0 + 3974.85 / 255.0),  # 654.81 + 2571.06 + 748.98 = 3974.85, not rounded
    ],
)
def test_y_channel_golden_values(rgb, expected):
    y = rgb_to_y(constant_image(2, 3, rgb))
    assert y.shape == (2, 3, 1) and y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


def test_y_channel_matches_skimage_bt601():
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(image)[..., 0], rgb2ycbcr(image)[..., 0], atol=1e-10)


# ----------------------------------------------------------------------------------- PSNR


def psnr_golden_pair():
    """10x12 images: a 4-pixel frame of 255 (ignored with crop 4) around a 2x4 interior that
    differs from the ground truth (zeros) in one pixel, by R = 3."""
    gt = np.zeros((10, 12, 3), np.uint8)
    restored = np.full((10, 12, 3), 255, np.uint8)
    restored[4:6, 4:8] = 0
    restored[4, 5] = (3, 0, 0)
    return restored, gt


def test_psnr_golden_rgb_with_crop():
    restored, gt = psnr_golden_pair()
    # MSE = 3^2 / (8 pixels * 3 channels) = 0.375; PSNR = 10 log10(255^2 / 0.375)
    assert psnr(restored, gt, crop_border=4, y_channel=False) == pytest.approx(52.390490931, abs=1e-8)


def test_psnr_golden_y_with_crop():
    restored, gt = psnr_golden_pair()
    # One pixel's Y differs by 3 * 65.481 / 255 = 0.770364706; MSE = 0.770364706^2 / 8 = 0.0741826
    assert psnr(restored, gt, crop_border=4, y_channel=True) == pytest.approx(59.427775930, abs=1e-8)


def test_psnr_without_crop_sees_the_frame():
    restored, gt = psnr_golden_pair()
    # 112 of 120 pixels are 255 in all channels, plus the one R = 3 pixel.
    mse = (112 * 3 * 255**2 + 9) / (120 * 3)
    assert psnr(restored, gt, crop_border=0, y_channel=False) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)


def test_identical_images_give_infinite_psnr_and_unit_ssim():
    image = np.random.default_rng(3).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    for y_channel in (True, False):
        assert psnr(image, image.copy(), crop_border=4, y_channel=y_channel) == math.inf
        assert ssim(image, image.copy(), crop_border=4, y_channel=y_channel) == 1.0


# ----------------------------------------------------------------------------------- SSIM golden


def gaussian_weights_2d():
    """The 11x11 window written out from its definition: exp(-(i^2 + j^2) / (2 * 1.5^2)), summing to 1."""
    offsets = np.arange(-5, 6)
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / 4.5)
    return window / window.sum()


def ssim_single_window(x, y):
    """Wang et al.'s SSIM of one 11x11 window, from the formula (population statistics)."""
    w = gaussian_weights_2d()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    cxy = (w * (x - mx) * (y - my)).sum()
    return (2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))


def ssim_by_loops(x, y):
    """Mean of single-window SSIM over every valid window position, per channel, then channels."""
    height, width, channels = x.shape
    per_channel = [
        np.mean(
            [
                ssim_single_window(x[i : i + 11, j : j + 11, c], y[i : i + 11, j : j + 11, c])
                for i in range(height - 10)
                for j in range(width - 10)
            ]
        )
        for c in range(channels)
    ]
    return float(np.mean(per_channel))


def test_ssim_of_constant_images_is_the_luminance_term():
    # No variance: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) = 22006.5025 / 22106.5025 per channel.
    restored, gt = constant_image(11, 11, (110, 110, 110)), constant_image(11, 11, (100, 100, 100))
    assert ssim(restored, gt, crop_border=0, y_channel=False) == pytest.approx(0.995476444, abs=1e-9)


def test_ssim_of_constant_colours_on_y():
    restored, gt = constant_image(15, 15, (200, 30, 90)), constant_image(15, 15, (190, 40, 70))
    a = 16 + (200 * 65.481 + 30 * 128.553 + 90 * 24.966) / 255
    b = 16 + (190 * 65.481 + 40 * 128.553 + 70 * 24.966) / 255
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert ssim(restored, gt, crop_border=2, y_channel=True) == pytest.approx(expected, abs=1e-12)


def test_ssim_single_window_rgb_golden():
    restored, gt = random_pair((11, 11, 3), seed=1, noise=60)
    expected = np.mean([ssim_single_window(restored[..., c].astype(float), gt[..., c].astype(float)) for c in range(3)])
    assert ssim(restored, gt, crop_border=0, y_channel=False) == pytest.approx(expected, abs=1e-12)


def test_ssim_crop_and_y_golden():
    # 19x19 with crop 4 leaves exactly one 11x11 window of Y values.
    restored, gt = random_pair((19, 19, 3), seed=2, noise=40)
    window = np.s_[4:15, 4:15]
    expected = ssim_single_window(rgb_to_y(restored[window])[..., 0], rgb_to_y(gt[window])[..., 0])
    assert ssim(restored, gt, crop_border=4, y_channel=True) == pytest.approx(expected, abs=1e-12)


def test_ssim_matches_loops_over_every_window():
    restored, gt = random_pair((14, 17, 3), seed=4, noise=30)
    expected = ssim_by_loops(restored.astype(float), gt.astype(float))
    assert ssim(restored, gt, crop_border=0, y_channel=False) == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------------- skimage


def skimage_pair_metrics(restored, gt, crop_border, y_channel):
    """The same protocol built from skimage only: crop, rgb2ycbcr luma, skimage PSNR / SSIM."""
    if crop_border:
        restored = restored[crop_border:-crop_border, crop_border:-crop_border]
        gt = gt[crop_border:-crop_border, crop_border:-crop_border]
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    if y_channel:
        restored, gt = rgb2ycbcr(restored)[..., 0], rgb2ycbcr(gt)[..., 0]
    else:
        kwargs["channel_axis"] = -1
    return (
        peak_signal_noise_ratio(gt, restored, data_range=255),
        structural_similarity(restored, gt, **kwargs),
    )


@pytest.mark.parametrize("shape", [(321, 481, 3), (481, 321, 3), (37, 53, 3), (19, 300, 3), (44, 19, 3)])
@pytest.mark.parametrize("crop_border, y_channel", [(4, True), (4, False), (0, False), (0, True)])
def test_psnr_and_ssim_match_skimage(shape, crop_border, y_channel):
    restored, gt = random_pair(shape, seed=sum(shape) + crop_border, noise=20)
    expected_psnr, expected_ssim = skimage_pair_metrics(restored, gt, crop_border, y_channel)
    assert psnr(restored, gt, crop_border, y_channel) == pytest.approx(expected_psnr, abs=1e-10)
    assert ssim(restored, gt, crop_border, y_channel) == pytest.approx(expected_ssim, abs=1e-12)


def test_ssim_decreases_with_distortion_and_is_symmetric():
    restored_light, gt = random_pair((40, 50, 3), seed=5, noise=5)
    restored_heavy, _ = random_pair((40, 50, 3), seed=5, noise=80)
    assert ssim(restored_heavy, gt) < ssim(restored_light, gt) < 1.0
    assert ssim(gt, restored_light) == pytest.approx(ssim(restored_light, gt), abs=1e-12)


# ----------------------------------------------------------------------------------- errors


def test_mismatched_shapes_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(20, 30, 3\).*\(20, 31, 3\)"):
        psnr(np.zeros((20, 30, 3), np.uint8), np.zeros((20, 31, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(20, 30, 3\).*\(21, 30, 3\)"):
        ssim(np.zeros((20, 30, 3), np.uint8), np.zeros((21, 30, 3), np.uint8))


def test_mismatched_dtypes_name_both_dtypes():
    with pytest.raises(ValueError, match="uint8.*float32"):
        ssim(np.zeros((20, 30, 3), np.uint8), np.zeros((20, 30, 3), np.float32))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((20, 30, 3), np.float64), "uint8"),
        (np.zeros((20, 30), np.uint8), r"HxWx3"),
        (np.zeros((20, 30, 4), np.uint8), r"HxWx3"),
    ],
)
def test_non_rgb_uint8_inputs_are_rejected(image, message):
    with pytest.raises(ValueError, match=message):
        psnr(image, image.copy())


def test_too_small_after_crop_is_an_error():
    image = np.zeros((18, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="11x11"):
        ssim(image, image.copy(), crop_border=4)
    with pytest.raises(ValueError, match="crop_border=9"):
        psnr(image, image.copy(), crop_border=9)
    with pytest.raises(ValueError, match=">= 0"):
        psnr(image, image.copy(), crop_border=-1)
