"""What the pipeline shows: tables (:mod:`~irsde.report.tables`), figures
(:mod:`~irsde.report.figures`), the protocol-sensitivity table (:mod:`~irsde.report.sensitivity`)
and the HTML report's pages (:mod:`~irsde.report.pages` the page skeleton,
:mod:`~irsde.report.table_page`, :mod:`~irsde.report.provenance`, :mod:`~irsde.report.seed_spread`,
:mod:`~irsde.report.landing`), with :mod:`~irsde.report.job_params` for the job parameters the
Snakemake report prints. Each reads tidy CSVs and records; none trains or restores. Nothing is
imported here, so a table needs neither matplotlib nor torch.
"""
