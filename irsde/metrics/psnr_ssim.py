"""PSNR and SSIM exactly as the IR-SDE test scripts compute them (docs/protocols.md#psnr-and-ssim).

Inputs are HxWx3 uint8 RGB arrays (the restored PNG and the ground truth). Optionally
``crop_border`` pixels are removed from every side and the images are converted to the BT.601
studio-swing luma ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` (R, G, B on the 0-255
scale, not rounded). All arithmetic is float64 on the 0-255 scale (data range 255).

SSIM is Wang et al. (2004): an 11x11 Gaussian window with sigma 1.5 (weights normalised to sum
1), K1 = 0.01, K2 = 0.03, population (co)variances, the SSIM map evaluated only where the window
fits inside the image ('valid' region), averaged per channel and then over channels. This equals
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=-1)``, which filters the whole image
and then discards the 5-pixel band where the window leaves it.

Speed: the Gaussian window is separable; each 1-D 'valid' pass is written as a matrix product
with a small banded Toeplitz block (see :func:`_correlate_last_axis`), which BLAS runs
several times faster than a scalar sliding loop, and only four maps per channel are filtered
(x, y, x^2 + y^2, x*y).
"""

from __future__ import annotations

import numpy as np

# BT.601 studio swing, R, G, B weights on the 0-255 scale (Y = 16 + (w . rgb) / 255).
Y_OFFSET = 16.0
Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)

DATA_RANGE = 255.0
SSIM_WINDOW_RADIUS = 5  # 11x11 window
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# Output columns per Toeplitz block in the valid correlation (tuned on a 481x321 image; any
# value >= the window length is correct).
_BLOCK = 16
# SSIM works through horizontal strips whose statistics buffer stays below this size, so that
# intermediates stay in cache and are recycled by the allocator instead of freshly mapped.
_STRIP_BYTES = 2**19


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """HxWx3 RGB on the 0-255 scale (any numeric dtype) -> HxWx1 float64 BT.601 luma, unrounded."""
    rgb = np.asarray(image, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    return (Y_OFFSET + (rgb @ Y_WEIGHTS) / 255.0)[:, :, np.newaxis]


def psnr(restored: np.ndarray, gt: np.ndarray, crop_border: int = 4, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB between two HxWx3 uint8 RGB images.

    The mean squared error is taken over all remaining pixels and channels after cropping
    ``crop_border`` pixels from every side (and converting to Y when ``y_channel``). Identical
    images give ``inf``. Raises ValueError when shapes or dtypes differ or are not HxWx3 uint8.
    """
    first, second = _prepare_pair(restored, gt, crop_border, y_channel)
    mse = float(np.mean(np.square(first.astype(np.float64) - second)))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(DATA_RANGE**2 / mse))


def ssim(restored: np.ndarray, gt: np.ndarray, crop_border: int = 4, y_channel: bool = True) -> float:
    """Structural similarity (Wang et al. 2004) between two HxWx3 uint8 RGB images.

    Gaussian 11x11 window (sigma 1.5), K1 0.01, K2 0.03, data range 255, 'valid' region, mean
    over channels (Y is one channel). Identical images give exactly 1.0. Raises ValueError when
    shapes or dtypes differ, or when fewer than 11x11 pixels remain after cropping.
    """
    first, second = _prepare_pair(restored, gt, crop_border, y_channel)
    size = 2 * SSIM_WINDOW_RADIUS + 1
    if first.shape[0] < size or first.shape[1] < size:
        raise ValueError(
            f"SSIM needs at least {size}x{size} pixels after cropping {crop_border} per border; "
            f"got {first.shape[0]}x{first.shape[1]}"
        )
    if np.array_equal(first, second):
        return 1.0
    return float(np.mean(_ssim_per_channel(first, second)))


def _prepare_pair(restored: np.ndarray, gt: np.ndarray, crop_border: int, y_channel: bool):
    """Validate, crop and (optionally) convert to Y: two HxWxC arrays, uint8 RGB views or float64 Y."""
    _check_pair(restored, gt)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    height, width = restored.shape[:2]
    if 2 * crop_border >= min(height, width):
        raise ValueError(f"crop_border={crop_border} leaves no pixels of a {height}x{width} image")
    window = np.s_[crop_border : height - crop_border, crop_border : width - crop_border]
    if y_channel:
        return rgb_to_y(restored[window]), rgb_to_y(gt[window])
    return restored[window], gt[window]


def _check_pair(restored, gt) -> None:
    if not isinstance(restored, np.ndarray) or not isinstance(gt, np.ndarray):
        raise ValueError(
            f"expected numpy arrays, got restored {type(restored).__name__} and gt {type(gt).__name__}"
        )
    if restored.shape != gt.shape or restored.dtype != gt.dtype:
        raise ValueError(
            f"image pair mismatch: restored {restored.shape} {restored.dtype} vs "
            f"gt {gt.shape} {gt.dtype}"
        )
    if restored.dtype != np.uint8 or restored.ndim != 3 or restored.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8 RGB images, got {restored.shape} {restored.dtype}")


def gaussian_window_1d(radius: int = SSIM_WINDOW_RADIUS, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian weights exp(-k^2 / (2 sigma^2)), k = -radius..radius."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return weights / weights.sum()


def _ssim_per_channel(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Mean of the SSIM map over the valid region, one value per channel.

    Works through horizontal strips of whole blocks of output rows, sized by ``_STRIP_BYTES``.
    """
    weights = gaussian_window_1d()
    taps = len(weights)
    height, width, channels = first.shape
    valid_height, valid_width = height - taps + 1, width - taps + 1
    block = _block_size(taps)
    padded_width = _padded_length(width, taps)
    row_bytes = 4 * channels * padded_width * 8
    strip = block * max(1, _STRIP_BYTES // (block * row_bytes))
    # Layout (row, statistic, channel, column): the horizontal pass runs along the contiguous
    # last axis, the vertical pass along the leading axis; no transposes. Zeros in the padding
    # keep every product finite; outputs that depend on padding are discarded.
    maps = np.zeros((strip + block, 4, channels, padded_width), dtype=np.float64)
    totals = np.zeros(channels, dtype=np.float64)
    for top in range(0, valid_height, strip):
        rows = min(strip + block, height - top)
        x, y, sq_sum, xy = (maps[:rows, index, :, :width] for index in range(4))
        x[...] = first[top : top + rows].transpose(0, 2, 1)
        y[...] = second[top : top + rows].transpose(0, 2, 1)
        np.multiply(x, x, out=sq_sum)
        sq_sum += np.square(y)
        np.multiply(x, y, out=xy)
        # Vertical pass first: the horizontal pass then only sees the strip's output rows.
        vertical = _correlate_leading_axis(maps, weights)[:strip]
        filtered = _correlate_last_axis(vertical, weights)
        valid = filtered[: min(strip, valid_height - top), :, :, :valid_width]
        totals += _ssim_map_sums(*valid.transpose(1, 2, 0, 3))
    return totals / (valid_height * valid_width)


def _ssim_map_sums(mean_x, mean_y, mean_sq_sum, mean_xy) -> np.ndarray:
    """Per-channel sum of the SSIM map from the window statistics E[x], E[y], E[x²+y²], E[xy],
    each shaped (channel, rows, columns)."""
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    mean_product = mean_x * mean_y
    squared_means = np.square(mean_x)
    squared_means += np.square(mean_y)
    # numerator (2 mx my + C1)(2 cov + C2), with cov = E[xy] - mx my
    numerator = 2.0 * mean_product + c1
    covariance_term = mean_xy - mean_product
    covariance_term *= 2.0
    covariance_term += c2
    numerator *= covariance_term
    # denominator (mx² + my² + C1)(var_x + var_y + C2), var_x + var_y = E[x²+y²] - mx² - my²
    variance_term = mean_sq_sum - squared_means
    variance_term += c2
    squared_means += c1
    squared_means *= variance_term
    numerator /= squared_means
    return numerator.sum(axis=(-2, -1))


def _padded_length(length: int, taps: int) -> int:
    """Length of a line of ``length`` samples padded with zeros to whole blocks plus one, as
    :func:`_correlate_last_axis` and :func:`_correlate_leading_axis` require."""
    block = _block_size(taps)
    return (-(-(length - taps + 1) // block) + 1) * block


def _block_size(taps: int) -> int:
    return max(_BLOCK, taps - 1)


def _correlate_last_axis(lines: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """'Valid' correlation along the last axis, whose length is a :func:`_padded_length`:

    out[..., j] = sum_k weights[k] * lines[..., j + k]   (meaningful for j < length - taps + 1).

    Each line is a run of blocks of ``block`` samples. Output block b depends on input block b
    (through the Toeplitz matrix ``head``) and on the first taps - 1 samples of block b + 1
    (through ``tail``), so a whole pass is two matrix products, which BLAS runs much faster
    than a sliding loop. The output of the last block of a line (which picks up samples of the
    next line) and anything past the valid length is meaningless.
    """
    taps = len(weights)
    block = _block_size(taps)
    rows = lines.reshape(-1, block)
    head, tail = _toeplitz_blocks(weights, block)
    out = rows @ head
    out[:-1] += rows[1:, : taps - 1] @ tail
    return out.reshape(lines.shape)


def _correlate_leading_axis(array: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Same as :func:`_correlate_last_axis` along the first axis (length a :func:`_padded_length`)."""
    taps = len(weights)
    block = _block_size(taps)
    columns = array.reshape(-1, block, array[0].size)  # (blocks + 1, block, everything else)
    head, tail = _toeplitz_blocks(weights, block)
    out = np.matmul(head.T, columns)
    out[:-1] += np.matmul(tail.T, columns[1:, : taps - 1])
    return out.reshape(array.shape)


def _toeplitz_blocks(weights: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(head, tail): head[i + k, i] = w[k] for i + k < block; tail[i + k - block, i] otherwise."""
    taps = len(weights)
    extended = np.zeros((block + taps - 1, block), dtype=np.float64)
    for column in range(block):
        extended[column : column + taps, column] = weights
    return extended[:block], extended[block:]
