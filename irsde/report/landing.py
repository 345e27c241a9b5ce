"""What the report's landing page says about a configuration: its benchmarks (what each is,
whether its numbers are a synthetic stand-in's) and the commands that reproduce it.

Snakemake renders the workflow-level report page (``workflow/report/workflow.rst``) with the
config as its only data, so the workflow stores these facts in the config under
``report_landing`` after validating it; the page reads them there.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from irsde.data import ALL_DATASETS, SYNTHETIC


def configfile_argument(configfiles: Sequence[str | os.PathLike], repository: str | os.PathLike) -> str:
    """`` --configfile FILE`` for the config files given on the command line (a path inside the
    repository relative to it), or nothing for the default config."""
    if not configfiles:
        return ""
    repository = Path(repository).resolve()
    shown = []
    for configfile in configfiles:
        path = Path(configfile).resolve()
        shown.append(str(path.relative_to(repository)) if path.is_relative_to(repository) else str(path))
    return " --configfile " + " ".join(shlex.quote(path) for path in shown)


def benchmark_facts(config: Mapping, name: str) -> dict:
    bench = config["benchmarks"][name]
    dataset = bench["dataset"]
    return {
        "name": name,
        "dataset": dataset,
        "description": ALL_DATASETS[dataset].description,
        "synthetic": dataset in SYNTHETIC,
        "protocol": bench["protocol"],
        "published": bench.get("published"),
    }


def landing_facts(config: Mapping, configfiles: Sequence[str | os.PathLike], repository: str | os.PathLike) -> dict:
    """The facts ``workflow/report/workflow.rst`` shows (see the module docstring)."""
    argument = configfile_argument(configfiles, repository)
    benchmarks = [benchmark_facts(config, name) for name, bench in config["benchmarks"].items()
                  if bench.get("enabled", True)]
    return {
        "name": config["name"],
        "benchmarks": benchmarks,
        "any_synthetic": any(b["synthetic"] for b in benchmarks),
        "seeds": ", ".join(str(seed) for seed in config["seeds"]),
        "tables_command": f"snakemake --cores 8 tables{argument}",
        # a report per configuration, named after it (configurations live side by side)
        "report_command": f"snakemake --report results/report-{config['name']}.html{argument}",
        "all_report_command": f"snakemake --report results/report-{config['name']}.html all{argument}",
    }
