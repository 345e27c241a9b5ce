"""Start-up cost of the command line: ``irsde --help`` against a bare interpreter and ``import torch``.

    python benchmarks/cli_startup.py [--repeats 5]

Each command runs in a fresh interpreter (``sys.executable``); prints the best-of-``--repeats``
wall time of each, the help's overhead over a bare interpreter, and whether building the
parser imported torch (it must not: ``import irsde`` defers the torchvision fix to the first
torchvision import).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

TORCH_IMPORT = "python -c 'import torch'"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "irsde --help": [sys.executable, "-m", "irsde", "--help"],
    TORCH_IMPORT: [sys.executable, "-c", "import torch"],
}
TORCH_PROBE = "import sys, irsde.cli; irsde.cli.build_parser(); print('torch' in sys.modules)"


def best_time(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command, best kept (default 5)")
    args = parser.parse_args(argv)
    timings = {label: best_time(command, args.repeats) for label, command in COMMANDS.items()}
    for label, seconds in timings.items():
        print(f"{label:28} {seconds * 1000:8.0f} ms")
    bare = timings["python -c pass"]
    print(f"irsde --help costs {(timings['irsde --help'] - bare) * 1000:.0f} ms over a bare interpreter; "
          f"import torch alone costs {(timings[TORCH_IMPORT] - bare) * 1000:.0f} ms")
    imported = subprocess.run([sys.executable, "-c", TORCH_PROBE], check=True, capture_output=True, text=True)
    print(f"building the CLI parser imports torch: {imported.stdout.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
