"""PSNR + SSIM speed: irsde.metrics vs skimage.metrics with the same settings, side by side.

    python benchmarks/metrics_speed.py [--count 100] [--height 321] [--width 481] [--crop 4]
                                       [--threads 1] [--repeats 3] [--csv out.csv]

For ``--count`` random image pairs (ground truth uniform noise, restored = ground truth plus
noise) both implementations compute PSNR and SSIM under two settings, RGB and Y (BT.601), with
the same border crop. skimage's side is built from skimage alone: crop, ``rgb2ycbcr`` luma,
``peak_signal_noise_ratio(data_range=255)`` and ``structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255)``. Prints the best-of-``--repeats``
wall time of each, the speed-up, and the largest disagreement between the two.

BLAS/OpenMP threads default to 1 (scipy.ndimage, which skimage uses, is single-threaded).
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="image pairs (default 100)")
    parser.add_argument("--height", type=int, default=321)
    parser.add_argument("--width", type=int, default=481)
    parser.add_argument("--crop", type=int, default=4, help="border crop (default 4)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions, best kept (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", help="also write the results to this CSV")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)  # before numpy loads its BLAS

    import time

    import numpy as np
    import pandas as pd
    from skimage.color import rgb2ycbcr
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from irsde.metrics import psnr, ssim

    rng = np.random.default_rng(args.seed)
    shape = (args.height, args.width, 3)
    pairs = []
    for _ in range(args.count):
        gt = rng.integers(0, 256, shape, dtype=np.uint8)
        restored = np.clip(gt.astype(np.int16) + rng.integers(-20, 21, shape), 0, 255).astype(np.uint8)
        pairs.append((restored, gt))
    crop = np.s_[args.crop : args.height - args.crop, args.crop : args.width - args.crop]

    def ours(y_channel):
        return [(psnr(r, g, args.crop, y_channel), ssim(r, g, args.crop, y_channel)) for r, g in pairs]

    def skimage(y_channel):
        kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
        results = []
        for restored, gt in pairs:
            restored, gt = restored[crop], gt[crop]
            if y_channel:
                restored, gt = rgb2ycbcr(restored)[..., 0], rgb2ycbcr(gt)[..., 0]
                options = kwargs
            else:
                options = dict(kwargs, channel_axis=-1)
            results.append((peak_signal_noise_ratio(gt, restored, data_range=255),
                            structural_similarity(restored, gt, **options)))
        return results

    def best_time(function, y_channel):
        times, values = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            values = function(y_channel)
            times.append(time.perf_counter() - start)
        return min(times), np.array(values)

    rows = []
    print(f"{args.count} pairs of {args.width}x{args.height}, crop {args.crop}, {args.threads} thread(s), "
          f"best of {args.repeats}")
    print(f"{'setting':8s} {'irsde (s)':>10s} {'skimage (s)':>12s} {'speed-up':>9s} {'max |dPSNR|':>12s} {'max |dSSIM|':>12s}")
    for setting, y_channel in (("RGB", False), ("Y", True)):
        ours_time, ours_values = best_time(ours, y_channel)
        sk_time, sk_values = best_time(skimage, y_channel)
        difference = np.abs(ours_values - sk_values).max(axis=0)
        rows.append(dict(setting=setting, irsde_s=ours_time, skimage_s=sk_time, speedup=sk_time / ours_time,
                         max_abs_psnr_diff=difference[0], max_abs_ssim_diff=difference[1]))
        print(f"{setting:8s} {ours_time:10.3f} {sk_time:12.3f} {sk_time / ours_time:8.2f}x "
              f"{difference[0]:12.2e} {difference[1]:12.2e}")
    total_ours = sum(row["irsde_s"] for row in rows)
    total_sk = sum(row["skimage_s"] for row in rows)
    print(f"{'total':8s} {total_ours:10.3f} {total_sk:12.3f} {total_sk / total_ours:8.2f}x")
    if args.csv:
        pd.DataFrame(rows).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
