"""Job parameters that read well in the Snakemake report.

The report's info panel of a result shows each parameter of the job that made it as
``name=str(value)``: a list or a dict would appear as a Python repr. These keep their type for
the job's script (a list, a dict) and print as plain text.
"""

from __future__ import annotations


class Listing(list):
    """A list printed as its items separated by semicolons."""

    def __str__(self) -> str:
        return "; ".join(str(item) for item in self)


class Settings(dict):
    """A dict printed as ``name value, name value``."""

    def __str__(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in self.items())
