"""Datasets: registry, verified fetching, safe preparation, the embedded synthetic benchmark,
paired loaders and the train/test overlap audit.

Layout of every prepared dataset: ``<root>/<name>/<split>/{GT,LQ}/<file>.png`` with identical
file names in GT and LQ, plus ``<root>/<name>/dataset.json`` (the completion marker: provenance,
counts, file hashes). Modules, one concept each:

- ``records`` / ``registry``: the declarative :class:`Dataset` record type; ``DATASETS``, ``get_dataset``
  (``ALL_DATASETS`` adds the synthetic stand-ins)
- ``lock``: checksum lock files (pinned in the package, trust-on-first-use in ``resources/``)
- ``fetch``: a dataset's sources into ``resources/``, verified; offline use of what is there
- ``download`` / ``git_trees``: one file over HTTP (resume, retries, mirrors); git-tree folders
- ``archives``: zip/tar checks (whole, safe, within limits) and extraction
- ``prepare``: sources -> normalised, validated pairs (atomic, idempotent)
- ``layout``: the prepared layout, its marker, atomic builds, ``verify_prepared``
- ``degradations`` / ``synthetic``: the offline embedded benchmark ``synthetic-*``
- ``loaders``: ``PairedTrainDataset`` / ``PairedTestDataset``
- ``audit``: near-duplicate backgrounds between train and test GT
"""

from irsde.data.audit import Overlap, audit_overlap, find_overlaps, write_overlap_csv
from irsde.data.degradations import DEGRADATIONS
from irsde.data.download import DownloadError, DownloadPolicy
from irsde.data.fetch import default_resources, fetch_dataset, fetch_source, source_location
from irsde.data.layout import MARKER, dataset_dir, marker_path, read_marker, verify_prepared
from irsde.data.loaders import PairedTestDataset, PairedTrainDataset, paired_files
from irsde.data.lock import PINNED_LOCK, ChecksumMismatch, user_lock_path
from irsde.data.prepare import prepare_dataset
from irsde.data.records import ArchiveSource, Dataset, GitTreeSource, Split, Synthesis
from irsde.data.registry import DATASETS, get_dataset, source_owners
from irsde.data.synthetic import SYNTHETIC, build_synthetic
from irsde.registry import Registry

ALL_DATASETS = Registry("dataset", {**DATASETS, **SYNTHETIC}, ignore_case=True)
"""Every name ``irsde data prepare`` accepts: the registry's datasets and the synthetic stand-ins,
matched whatever their case (``rain100h`` is ``Rain100H``; :meth:`Registry.canonical`)."""

__all__ = [
    "ALL_DATASETS", "ArchiveSource", "ChecksumMismatch", "DATASETS", "DEGRADATIONS", "Dataset", "DownloadError",
    "DownloadPolicy", "GitTreeSource", "MARKER", "Overlap", "PINNED_LOCK", "PairedTestDataset",
    "PairedTrainDataset", "SYNTHETIC", "Split", "Synthesis", "audit_overlap", "build_synthetic",
    "dataset_dir", "default_resources", "fetch_dataset", "fetch_source", "find_overlaps", "get_dataset",
    "marker_path", "paired_files", "prepare_dataset", "read_marker", "source_location", "source_owners", "user_lock_path",
    "verify_prepared", "write_overlap_csv",
]
