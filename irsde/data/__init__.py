"""Datasets: registry, verified fetching, safe preparation, the embedded synthetic benchmark,
paired loaders and the train/test overlap audit.

Layout of every prepared dataset: ``<root>/<name>/<split>/{GT,LQ}/<file>.png`` with identical
file names in GT and LQ, plus ``<root>/<name>/dataset.json`` (the completion marker: provenance,
counts, file hashes). Modules, one concept each:

- ``registry``: declarative :class:`Dataset` records, ``DATASETS``, ``get_dataset``
- ``lock``: checksum lock files (pinned in the package, trust-on-first-use in ``resources/``)
- ``fetch``: downloads with resume/retries/verification, offline use of ``resources/``
- ``archives``: zip/tar checks (whole, safe, within limits) and extraction
- ``prepare``: sources -> normalised, validated pairs (atomic, idempotent)
- ``layout``: the prepared layout, its marker, atomic builds, ``verify_prepared``
- ``degradations`` / ``synthetic``: the offline embedded benchmark ``synthetic-*``
- ``loaders``: ``PairedTrainDataset`` / ``PairedTestDataset``
- ``audit``: near-duplicate backgrounds between train and test GT
"""

from irsde.data.audit import Overlap, audit_overlap, find_overlaps, write_overlap_csv
from irsde.data.degradations import DEGRADATIONS
from irsde.data.fetch import DownloadError, DownloadPolicy, default_resources, fetch_dataset, fetch_source, source_location
from irsde.data.layout import MARKER, dataset_dir, marker_path, read_marker, verify_prepared
from irsde.data.loaders import PairedTestDataset, PairedTrainDataset, paired_files
from irsde.data.lock import PINNED_LOCK, ChecksumMismatch, user_lock_path
from irsde.data.prepare import prepare_dataset
from irsde.data.registry import DATASETS, ArchiveSource, Dataset, GitTreeSource, Split, Synthesis, get_dataset
from irsde.data.synthetic import SYNTHETIC, build_synthetic, get_synthetic

__all__ = [
    "ArchiveSource", "ChecksumMismatch", "DATASETS", "DEGRADATIONS", "Dataset", "DownloadError",
    "DownloadPolicy", "GitTreeSource", "MARKER", "Overlap", "PINNED_LOCK", "PairedTestDataset",
    "PairedTrainDataset", "SYNTHETIC", "Split", "Synthesis", "audit_overlap", "build_synthetic",
    "dataset_dir", "default_resources", "fetch_dataset", "fetch_source", "find_overlaps", "get_dataset",
    "get_synthetic", "marker_path", "paired_files", "prepare_dataset", "read_marker", "source_location", "user_lock_path",
    "verify_prepared", "write_overlap_csv",
]
