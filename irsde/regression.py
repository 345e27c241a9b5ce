"""Metric regression: compare this run's summary metrics with committed reference values.

Tolerances are per metric and direction-aware: a metric where higher is better (PSNR, SSIM)
regresses when it drops by more than its tolerance; a lower-is-better metric (LPIPS, FID) when
it rises by more than its tolerance. Moving in the good direction by more than the tolerance is
reported as "improved" (the reference should be refreshed) but does not fail.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from irsde.report.tables import summarize_methods

HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "fid": False}
KEY_COLUMNS = ["benchmark", "method", "metric"]


def summary_frame(per_image: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """Per-image tidy metrics of one benchmark -> (benchmark, method, metric, value): the same
    means the tables print (:func:`irsde.report.tables.summarize_methods`)."""
    means = summarize_methods(per_image).rename(columns={"mean": "value"})
    means = means.assign(benchmark=benchmark).sort_values(["method", "metric"], ignore_index=True)
    return means[["benchmark", "method", "metric", "value"]]


def compare(current: pd.DataFrame, reference: pd.DataFrame, tolerances: dict[str, float]) -> pd.DataFrame:
    """One row per reference entry with current value, change, tolerance and status.

    Status is one of: ok, improved, REGRESSED, MISSING (in the reference, absent from this run),
    and NEW rows (in this run only) are listed as new. A metric without a tolerance is an error.
    """
    unknown = sorted(set(reference["metric"]) - set(tolerances))
    if unknown:
        raise KeyError(f"regress.tolerances has no entry for metric(s) {unknown}")
    merged = reference.merge(current, on=KEY_COLUMNS, how="outer", suffixes=("_reference", "_current"), indicator=True)
    rows = []
    for record in merged.to_dict("records"):
        metric = record["metric"]
        ref, cur = record.get("value_reference"), record.get("value_current")
        tolerance = tolerances.get(metric, math.nan)
        status = _status(metric, ref, cur, tolerance, record["_merge"])
        rows.append({**{k: record[k] for k in KEY_COLUMNS}, "reference": ref, "current": cur,
                     "change": (cur - ref) if _finite(ref) and _finite(cur) else math.nan,
                     "tolerance": tolerance, "status": status})
    return pd.DataFrame(rows)


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _status(metric: str, reference, current, tolerance: float, presence: str) -> str:
    if presence == "right_only":
        return "new"
    if presence == "left_only":
        return "MISSING"
    if not _finite(reference) and not _finite(current):
        return "ok"
    if _finite(reference) != _finite(current):
        return "REGRESSED" if _finite(reference) else "new"
    change = current - reference
    if metric not in HIGHER_IS_BETTER:
        raise KeyError(f"no direction known for metric '{metric}' (known: {sorted(HIGHER_IS_BETTER)})")
    gain = change if HIGHER_IS_BETTER[metric] else -change
    if gain < -tolerance:
        return "REGRESSED"
    if gain > tolerance:
        return "improved"
    return "ok"


def failed(comparison: pd.DataFrame) -> bool:
    return bool(comparison["status"].isin(["REGRESSED", "MISSING"]).any())


def format_comparison(comparison: pd.DataFrame) -> str:
    """A readable fixed-width table of every compared value, regressions first."""
    order = {"REGRESSED": 0, "MISSING": 1, "improved": 2, "new": 3, "ok": 4}
    ordered = comparison.assign(_order=comparison["status"].map(order)).sort_values(["_order", *KEY_COLUMNS])
    ordered = ordered.drop(columns="_order")
    lines = [f"{'benchmark':<18} {'method':<34} {'metric':<6} {'reference':>10} {'current':>10} "
             f"{'change':>9} {'tol':>7}  status"]
    for r in ordered.to_dict("records"):
        lines.append(
            f"{r['benchmark']:<18} {r['method']:<34} {r['metric']:<6} {_fmt(r['reference']):>10} "
            f"{_fmt(r['current']):>10} {_fmt(r['change'], signed=True):>9} {_fmt(r['tolerance']):>7}  {r['status']}"
        )
    regressed = int(comparison["status"].isin(["REGRESSED", "MISSING"]).sum())
    lines.append(f"{len(comparison)} values compared, {regressed} regressed or missing")
    return "\n".join(lines)


def _fmt(value, signed: bool = False) -> str:
    if not _finite(value):
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def read_reference(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"reference metrics {path} not found; run the `regress` target once, check the values "
            f"it wrote next to its report (<results>/regress/<name>.current.csv), copy that file "
            f"to {path} and commit it"
        )
    frame = pd.read_csv(path)
    missing = set(KEY_COLUMNS + ["value"]) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return frame
