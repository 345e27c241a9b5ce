"""What a table needs to know about its rows: :class:`RowFacts` and the sources a row's numbers
come from. Torch-free, so that tables, reports and the command line share these facts without
importing the methods (which :mod:`irsde.methods` describe with them).
"""

from __future__ import annotations

from dataclasses import dataclass

THIS_RUN = "this run"
"""Source of the rows this pipeline computed: trained and restored here (or the degraded input)."""
USER_OUTPUTS = "user outputs"
"""Source of the rows scored from a user's folder of precomputed restorations."""
RELEASED_WEIGHTS = "released weights, this run"
"""Source of the rows restored here with a released checkpoint (:mod:`irsde.checkpoints`)."""


@dataclass(frozen=True)
class RowFacts:
    """What tables, figures and the pipeline need to know about one kind of result row;
    ``source`` says where its numbers come from (:data:`THIS_RUN`, :data:`USER_OUTPUTS`,
    :data:`RELEASED_WEIGHTS`)."""

    id: str
    label: str
    paper_row: str | None
    stochastic: bool
    source: str = THIS_RUN


INPUT = RowFacts("input", "Input (degraded, no restoration)", paper_row=None, stochastic=False)
"""The degraded input itself, scored like a method: the floor every restoration should beat."""
