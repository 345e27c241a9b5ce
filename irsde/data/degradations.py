"""Synthetic degradations: clean image in, degraded image out.

Every degradation takes a float32 HxWx3 image in [0,1] and a seeded ``numpy.random.Generator``
and returns ``(degraded, params)``: the degraded float32 image (values may leave [0,1]; they are
clamped and rounded when written) and a JSON-friendly dict of the parameters drawn, which the
synthetic benchmark records in its metadata. Only the generator is random, so a degradation is
reproducible from the generator's seed.

``DEGRADATIONS`` maps the short names used by ``synthetic-<name>`` to these functions.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage, signal

from irsde.images import to_uint8

NOISE_SIGMA = 25.0  # on the 0-255 scale


# -- building blocks ------------------------------------------------------------------------------


def splat(points: np.ndarray, size: int) -> np.ndarray:
    """Bilinearly splat 2-D points (N x 2, (y, x) relative to the kernel centre) into a
    ``size x size`` kernel with unit sum."""
    kernel = np.zeros((size, size), dtype=np.float64)
    centre = (size - 1) / 2.0
    ys, xs = points[:, 0] + centre, points[:, 1] + centre
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < size) & (xx >= 0) & (xx < size)
            np.add.at(kernel, (yy[inside], xx[inside]), (wy * wx)[inside])
    return kernel / kernel.sum()


def line_kernel(length: float, angle_degrees: float) -> np.ndarray:
    """Anti-aliased straight line of ``length`` pixels; angle 0 is vertical (rain falls down)."""
    size = int(math.ceil(length)) | 1
    size += 2
    steps = np.linspace(-length / 2.0, length / 2.0, max(2, int(length * 4)))
    theta = math.radians(angle_degrees)
    points = np.stack([steps * math.cos(theta), steps * math.sin(theta)], axis=1)
    return splat(points, size)


def trajectory_kernel(rng: np.random.Generator, extent: float, steps: int = 64) -> np.ndarray:
    """Camera-shake kernel: a smooth random walk with momentum scaled to ``extent`` pixels."""
    direction = rng.uniform(0, 2 * math.pi)
    velocity = np.array([math.sin(direction), math.cos(direction)])
    position, points = np.zeros(2), []
    for _ in range(steps):
        turn = rng.normal(0.0, 0.25)
        rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
        velocity = rotation @ velocity + rng.normal(0.0, 0.15, size=2)
        velocity /= max(np.linalg.norm(velocity), 1e-6)
        position = position + velocity
        points.append(position.copy())
    points = np.array(points)
    points -= (points.max(axis=0) + points.min(axis=0)) / 2.0
    span = max(np.ptp(points, axis=0).max(), 1e-6)
    points *= extent / span
    return splat(points, int(math.ceil(extent)) | 1)


def convolve_reflect(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel of HxWx3 (or an HxW map) with ``kernel``, reflecting at the borders."""
    pad_y, pad_x = kernel.shape[0] // 2, kernel.shape[1] // 2
    planar = image[..., None] if image.ndim == 2 else image
    out = np.empty(planar.shape, dtype=np.float64)
    for channel in range(planar.shape[2]):
        padded = np.pad(planar[..., channel], ((pad_y, pad_y), (pad_x, pad_x)), mode="reflect")
        out[..., channel] = signal.fftconvolve(padded, kernel, mode="valid")
    return out[..., 0] if image.ndim == 2 else out


def resize_uint8(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of an HxWx3 uint8 image with Pillow (antialiased when shrinking)."""
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))


def apply_mask(image: np.ndarray, known: np.ndarray, fill: float = 1.0) -> np.ndarray:
    """Keep pixels where ``known`` is 1 and fill the rest with ``fill`` (IR-SDE fills white)."""
    known = known.astype(np.float32)[..., None]
    return (image * known + fill * (1.0 - known)).astype(np.float32)


def smooth_field(rng: np.random.Generator, height: int, width: int, cells: int = 4) -> np.ndarray:
    """A smooth random field in [0,1]: a coarse random grid upsampled with cubic splines."""
    coarse = rng.random((cells + 1, cells + 1))
    field = ndimage.zoom(coarse, (height / (cells + 1), width / (cells + 1)), order=3, mode="nearest")
    field = field[:height, :width]
    return (field - field.min()) / max(np.ptp(field), 1e-6)


# -- degradations ---------------------------------------------------------------------------------


def gaussian_noise(image: np.ndarray, rng: np.random.Generator, sigma: float = NOISE_SIGMA):
    """Additive white Gaussian noise, ``sigma`` on the 0-255 scale (clamped only when written)."""
    noisy = image + rng.standard_normal(image.shape) * (sigma / 255.0)
    return noisy.astype(np.float32), {"sigma": sigma}


def rain_streaks(image: np.ndarray, rng: np.random.Generator):
    """Rain100H-style rain: 2-4 layers of motion-blurred streaks sharing a main direction (each
    layer tilted a little), of different densities, lengths and opacities, screen-blended onto
    the image, plus a faint veil of light scattered by the rain."""
    height, width = image.shape[:2]
    scale = min(height, width)
    base_angle = rng.uniform(-25.0, 25.0)
    rain = np.zeros((height, width))
    layers = []
    for _ in range(int(rng.integers(2, 5))):
        layer = {
            "angle": float(base_angle + rng.normal(0.0, 4.0)),
            "length": float(rng.uniform(0.08, 0.3) * scale),
            "density": float(rng.uniform(0.002, 0.012)),
            "opacity": float(rng.uniform(0.35, 0.85)),
            "width": float(rng.uniform(0.35, 0.9)),
        }
        kernel = line_kernel(layer["length"], layer["angle"])
        margin = kernel.shape[0]
        seeds = rng.random((height + 2 * margin, width + 2 * margin)) < layer["density"]
        drops = seeds * rng.uniform(0.5, 1.0, seeds.shape)
        streak = signal.fftconvolve(drops, kernel * kernel.shape[0] * 0.6, mode="same")
        streak = streak[margin:-margin, margin:-margin]
        streak = ndimage.gaussian_filter(np.clip(streak, 0.0, 1.0), layer["width"])
        streak = np.clip(streak / max(streak.max(), 1e-6), 0.0, 1.0) * layer["opacity"]
        rain = 1.0 - (1.0 - rain) * (1.0 - streak)
        layers.append(layer)
    veil = float(rng.uniform(0.0, 0.12))
    rainy = 1.0 - (1.0 - image) * (1.0 - rain[..., None])
    rainy = rainy * (1.0 - veil) + veil * 0.9
    return rainy.astype(np.float32), {"layers": layers, "veil": veil}


def motion_blur(image: np.ndarray, rng: np.random.Generator):
    """Uniform camera-shake blur with a random smooth trajectory kernel (extent 4-9% of the
    image side, at least 5 px)."""
    extent = max(5.0, float(rng.uniform(0.04, 0.09)) * min(image.shape[:2]))
    kernel = trajectory_kernel(rng, extent)
    blurred = convolve_reflect(image.astype(np.float64), kernel)
    return blurred.astype(np.float32), {"kernel_extent": extent, "kernel_size": int(kernel.shape[0])}


def bicubic_x4(image: np.ndarray, rng: np.random.Generator, scale: int = 4):
    """x4 bicubic down-sampling (8-bit, antialiased, as an LR PNG would be) then bicubic
    up-sampling back to the original size, so LQ and GT share a size as the SDE needs."""
    height, width = image.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"image size {width}x{height} is not a multiple of the scale {scale}")
    low = resize_uint8(to_uint8(image), width // scale, height // scale)
    up = resize_uint8(low, width, height)
    return up.astype(np.float32) / 255.0, {"scale": scale, "kernel": "bicubic (Pillow)"}


def thin_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """RePaint-style thin mask (1 = known, 0 = hole): 4-9 thin brush strokes, each a polyline
    of 3-7 segments with rounded joints, 1-2.5% of the image side wide."""
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    side = min(height, width)
    for _ in range(int(rng.integers(4, 10))):
        brush = max(2, int(round(rng.uniform(0.01, 0.025) * side)))
        point = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        heading = rng.uniform(0, 2 * math.pi)
        vertices = [tuple(point)]
        for _ in range(int(rng.integers(3, 8))):
            heading += rng.normal(0.0, 0.9)
            point = point + rng.uniform(0.05, 0.2) * side * np.array([math.cos(heading), math.sin(heading)])
            vertices.append(tuple(point))
        draw.line(vertices, fill=0, width=brush, joint="curve")
        for x, y in vertices:
            draw.ellipse((x - brush / 2, y - brush / 2, x + brush / 2, y + brush / 2), fill=0)
    return (np.asarray(canvas) >= 128).astype(np.float32)


def thin_mask_inpaint(image: np.ndarray, rng: np.random.Generator):
    """Thin-mask inpainting input: holes filled white."""
    known = thin_mask(rng, *image.shape[:2])
    return apply_mask(image, known), {"hole_fraction": float(1.0 - known.mean()), "fill": 1.0}


def haze(image: np.ndarray, rng: np.random.Generator):
    """Atmospheric scattering model I = J t + A (1 - t), t = exp(-beta d), with a synthetic
    depth d in [0.2, 1] (farther towards the top, plus a smooth random field) and a slightly
    tinted bright airlight A."""
    height, width = image.shape[:2]
    gradient = np.linspace(1.0, 0.0, height)[:, None] * np.ones((1, width))
    depth = 0.2 + 0.8 * (0.6 * gradient + 0.4 * smooth_field(rng, height, width))
    beta = float(rng.uniform(0.8, 2.0))
    airlight = float(rng.uniform(0.75, 0.95)) + rng.uniform(-0.03, 0.03, size=3)
    transmission = np.exp(-beta * depth)[..., None]
    hazy = image * transmission + airlight * (1.0 - transmission)
    return hazy.astype(np.float32), {"beta": beta, "airlight": [float(a) for a in airlight]}


DEGRADATIONS = {
    "rain": rain_streaks,
    "noise": gaussian_noise,
    "blur": motion_blur,
    "sr4": bicubic_x4,
    "inpaint": thin_mask_inpaint,
    "haze": haze,
}
