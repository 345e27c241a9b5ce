"""What a training run writes besides weights: tidy CSV logs and the reproducibility record.

* ``train_log.csv``: ``iteration, loss, lr, wall_time`` — one row every ``train.log_every``
  iterations (and at the last one): the mean training loss over the iterations since the previous
  row, the learning rate of the row's iteration, and the seconds of training so far (summed over
  resumed sessions).
* ``val_log.csv``: ``iteration, image, metric, value`` — per validation image and metric, plus
  one row per metric with image ``mean``.
* ``run.json``: resolved config, seed, package versions, git commit, host, command line, and one
  entry per session (start, resumed-from iteration, world size, device, end status).

Logs are append-only while training; when a run resumes from iteration k every row beyond k is
dropped first, so a resumed run's logs hold each iteration once.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import os
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from irsde.documents import read_json_object
from irsde.fileio import atomic_write_text
from irsde.software import git_commit, package_versions

TRAIN_LOG_COLUMNS = ("iteration", "loss", "lr", "wall_time")
VAL_LOG_COLUMNS = ("iteration", "image", "metric", "value")


class CsvLog:
    """An append-only CSV with a fixed header whose first column is ``iteration``."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = tuple(columns)

    def truncate_after(self, iteration: int) -> None:
        """Drop every row of an iteration beyond ``iteration`` (and any torn last line)."""
        if not self.path.is_file():
            return
        kept = [row for row in self._read_rows() if int(row["iteration"]) <= iteration]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path, buffer.getvalue())

    def _read_rows(self) -> list[dict]:
        with self.path.open(newline="") as stream:
            reader = csv.DictReader(stream)
            if tuple(reader.fieldnames or ()) != self.columns:
                raise RuntimeError(
                    f"{self.path}: expected columns {', '.join(self.columns)}, found {reader.fieldnames}"
                )
            return [row for row in reader if _is_complete(row, self.columns)]

    def append(self, rows: Iterable[Mapping]) -> None:
        """Append rows (mappings with every column) and flush them to disk."""
        new_file = not self.path.is_file() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=self.columns, lineterminator="\n")
            if new_file:
                writer.writeheader()
            writer.writerows({column: row[column] for column in self.columns} for row in rows)
            stream.flush()


def _is_complete(row: Mapping, columns: Sequence[str]) -> bool:
    """A row cut short by a kill mid-write has empty trailing fields; it is dropped."""
    return all(row.get(column) not in (None, "") for column in columns)


# ----------------------------------------------------------------------------------- run record


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_run_record(path: str | os.PathLike) -> dict:
    """A run.json as a dict (empty when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    return read_json_object(path, "run record", "put a good copy back, or move it away (a run resumes from training_state.pt without it)")


def start_session(
    path: str | os.PathLike, config: Mapping, resumed_from: int | None, world_size: int, device: str
) -> dict:
    """Write run.json for a new session (keeping the sessions of earlier ones) and return it."""
    record = read_run_record(path)
    sessions = record.get("sessions", [])
    sessions.append(
        {
            "started": now_iso(),
            "resumed_from_iteration": resumed_from,
            "hostname": socket.gethostname(),
            "command": [sys.executable, *sys.argv],
            "world_size": world_size,
            "device": device,
            "status": "running",
        }
    )
    record = {
        "name": config["name"],
        "method": config["method"],
        "seed": config["seed"],
        "config": dict(config),
        "versions": package_versions(),
        "git": git_commit(),
        "hostname": socket.gethostname(),
        "command": [sys.executable, *sys.argv],
        "sessions": sessions,
    }
    write_run_record(path, record)
    return record


def end_session(path: str | os.PathLike, record: dict, status: str, iteration: int, wall_time: float) -> None:
    """Mark the current session of ``record`` as ended with ``status`` and rewrite run.json."""
    record["sessions"][-1].update(ended=now_iso(), status=status, iteration=iteration, wall_time=round(wall_time, 3))
    record["iteration"] = iteration
    record["finished"] = status == "finished"
    write_run_record(path, record)


def write_run_record(path: str | os.PathLike, record: Mapping) -> None:
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False, default=str) + "\n")


def state_dict_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the names, shapes, dtypes and bytes of every tensor (order-independent of
    insertion: names are sorted)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
