"""Where each table row comes from: the report's provenance panels.

A row's facts are read from the records the pipeline leaves, whatever made the row:

* every restored row has a ``restore.json`` per sampling seed (:mod:`irsde.restoration`): the
  sampler and its network evaluations (NFE), the seed, the seconds it took, the device, the
  package versions and git commit of the restoring process, and its source:
  - ``run``: a training run folder, whose ``run.json`` (:mod:`irsde.train.records`) gives the
    training seed, iterations and time, the resolved config (its digest here), package
    versions and git commit;
  - ``weights`` without a run: a checkpoint file (e.g. the authors' released weights), named
    with its sha256;
  - ``source: user outputs``: a folder of a user's restorations, with a sha256 per file;
* the degraded input (no restoration) is described by its prepared test split (``dataset.json``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from irsde.report import pages
from irsde.data.layout import sha256_file
from irsde.methods import INPUT, USER_OUTPUTS
from irsde.report.tables import BenchmarkTable
from irsde.restoration import RestoredSet
from irsde.train.progress import format_duration
from irsde.train.records import read_run_record

# Keys of a run's config that name where it ran, not what it computed (left out of its digest).
PLACE_KEYS = (("output_dir",), ("device",), ("data", "train"), ("data", "val"))


@dataclass(frozen=True)
class RowProvenance:
    """The provenance panel of one table row: its id, label and (name, value) facts, and the
    training run it was restored from (None: a checkpoint, user outputs, the input)."""

    row: str
    label: str
    facts: list[tuple[str, str]]
    run: Path | None = None


def config_digest(config: Mapping) -> str:
    """sha256 (first 16 hex digits) of a run's resolved config without the keys that only say
    where it ran (output folder, data folders, device): equal settings, equal digest."""
    settings = json.loads(json.dumps(config, default=str))
    for path in PLACE_KEYS:
        section = settings
        for key in path[:-1]:
            section = section.get(key, {})
        section.pop(path[-1], None)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def format_versions(versions: Mapping | None) -> str:
    if not versions:
        return "not recorded"
    return ", ".join(f"{name} {version if version is not None else 'none'}" for name, version in versions.items())


def format_commit(git: Mapping | None) -> str:
    if not git:
        return "not recorded (not a git checkout)"
    return git["commit"] + (" with uncommitted changes" if git.get("dirty") else "")


def row_provenance(row: str, label: str, restored: Sequence[str | Path], test_dir: str | Path) -> RowProvenance:
    """The facts of row ``row`` from its restoration folders (one per sampling seed; none for
    the degraded input, which is described by the test split ``test_dir``)."""
    if not restored:
        return RowProvenance(row, label, input_facts(test_dir))
    manifests = [manifest for manifest in (RestoredSet(Path(folder)).manifest() for folder in restored) if manifest]
    if not manifests:
        return RowProvenance(row, label, [("Source", f"not recorded: no restore.json in {', '.join(map(str, restored))}")])
    first = manifests[0]
    if "run" in first:
        return RowProvenance(row, label, run_facts(Path(first["run"])) + restore_facts(manifests), Path(first["run"]))
    if first.get("source") == USER_OUTPUTS:
        source = [("Source", f"user outputs, folder {first['folder']}"),
                  ("Files", f"{len(first.get('sha256', {}))} images, sha256 of each in restore.json")]
    elif "weights" in first:
        source = checkpoint_facts(first)
    else:
        source = [("Source", "not recorded in restore.json")]
    return RowProvenance(row, label, source + restore_facts(manifests))


def row_labels(table: BenchmarkTable) -> dict[str, str]:
    """Row id -> label of the rows of a table this pipeline scored (not the published ones), in order."""
    return {str(row["id"]): str(row["method"]) for row in table.rows.to_dict("records") if isinstance(row["id"], str)}


def benchmark_provenance(labels: Mapping[str, str], per_image: pd.DataFrame, restored: str,
                         test_dir: str | Path) -> list[RowProvenance]:
    """The panel of every row of ``labels``: its restoration folders are ``restored`` formatted
    with ``row`` and ``seed``, for each sampling seed its per-image metrics have."""
    panels = []
    for row, label in labels.items():
        seeds = sorted(int(seed) for seed in per_image.loc[per_image["method"] == row, "seed"].unique())
        folders = [] if row == INPUT.id else [restored.format(row=row, seed=seed) for seed in seeds]
        panels.append(row_provenance(row, label, folders, test_dir))
    return panels


def training_runs(rows: Sequence[RowProvenance]) -> list[tuple[str, Path]]:
    """(label, run folder) of each training run behind ``rows``, labelled by its first row."""
    runs = {}
    for row in rows:
        if row.run is not None:
            runs.setdefault(row.run, row.label)
    return [(label, run) for run, label in runs.items()]


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory (the pipeline's) when it lies inside it, so a
    page names no machine's folders and the same run reads the same wherever it ran."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_facts(run: Path) -> list[tuple[str, str]]:
    record = read_run_record(run / "run.json")
    if not record:
        return [("Training run", f"{shown_path(run)} (no run.json)")]
    sessions = record.get("sessions", [])
    last = sessions[-1] if sessions else {}
    trained = f"{record.get('iteration', '?')} iterations"
    if "wall_time" in last:
        trained += f" in {format_duration(last['wall_time'])}"
    trained += f" on {last.get('device', '?')}, {last.get('world_size', 1)} process(es), {len(sessions)} session(s)"
    return [
        ("Training run", shown_path(run)),
        ("Method", str(record.get("method"))),
        ("Config digest", config_digest(record.get("config", {}))),
        ("Training seed", str(record.get("seed"))),
        ("Trained", trained),
        ("Training package versions", format_versions(record.get("versions"))),
        ("Training git commit", format_commit(record.get("git"))),
    ]


def checkpoint_facts(manifest: Mapping) -> list[tuple[str, str]]:
    """A row restored from a weight file: a released checkpoint of the registry (its name,
    upstream location and options are recorded) or a file given by hand."""
    weights = Path(manifest["weights"])
    digest = sha256_file(weights) if weights.is_file() else "file not found when the report was made"
    facts = [("Checkpoint", str(weights)), ("Checkpoint sha256", digest)]
    if manifest.get("checkpoint"):
        upstream = manifest.get("source") or {}
        where = (f"{upstream['repo']}@{upstream['commit']}:{upstream['path']}" if upstream.get("repo")
                 else upstream.get("url", "not recorded"))
        facts += [("Released checkpoint", str(manifest["checkpoint"])), ("Upstream", where)]
    for key, name in (("options", "Options"), ("network", "Network")):
        if manifest.get(key):
            facts.append((name, ", ".join(f"{option} {value}" for option, value in manifest[key].items())))
    return facts


def restore_facts(manifests: Sequence[Mapping]) -> list[tuple[str, str]]:
    """What the restorations of a row record: sampler, NFE, seeds, time, device, software."""
    first = manifests[0]
    facts = []
    if first.get("sampler"):
        facts += [("Sampler", str(first["sampler"])), ("NFE (network evaluations per image)", str(first.get("nfe")))]
    else:
        facts.append(("Sampler", "none (no sampler: one network evaluation per image, or outputs given)"))
    facts.append(("Sampling seeds", ", ".join(str(m.get("seed")) for m in manifests)))
    times = [f"{m['seconds']:.1f} s (seed {m.get('seed')})" for m in manifests if "seconds" in m]
    if times:
        facts.append(("Restore time", f"{'; '.join(times)} for {len(first.get('images', []))} images"))
    if first.get("device"):
        facts.append(("Restored on", str(first["device"])))
    if "versions" in first or "git" in first:
        facts += [("Restore package versions", format_versions(first.get("versions"))),
                  ("Restore git commit", format_commit(first.get("git")))]
    return facts


def input_facts(test_dir: str | Path) -> list[tuple[str, str]]:
    test_dir = Path(test_dir)
    facts = [("Source", f"the degraded test inputs themselves, {test_dir / 'LQ'}, scored without restoration")]
    marker = test_dir.parent / "dataset.json"
    if marker.is_file():
        record = json.loads(marker.read_text())
        facts.append(("Dataset", f"{record.get('dataset')}: {record.get('description', '')}".rstrip(": ")))
        if record.get("synthetic"):
            facts.append(("Synthetic stand-in", f"{record.get('label', 'yes')}; generated with seed {record.get('seed')}"))
        counts = record.get("counts") or {}
        if counts:
            facts.append(("Pairs", ", ".join(f"{split} {count}" for split, count in counts.items())))
    return facts


def render_page(benchmark: str, rows: Sequence[RowProvenance], reproduce: str) -> str:
    """One panel per row, after the command that reproduces the benchmark."""
    parts = [pages.element("p", pages.join(["Reproduce: ", pages.element("code", reproduce)]),
                                 class_="caption")]
    for row in rows:
        parts.append(pages.element("h2", f"{row.label} ({row.row})"))
        parts.append(pages.facts(row.facts))
    return pages.page(f"Provenance: {benchmark}", *parts)
