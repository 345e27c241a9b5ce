"""Snakemake adapter: the regress verdict (text) -> a report page."""
import logging
from pathlib import Path

from irsde import report_html
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
text = Path(snakemake.input[0]).read_text()
Path(snakemake.output[0]).write_text(report_html.page(snakemake.params.title, report_html.element("pre", text)))
logging.info("regress verdict page from %s", snakemake.input[0])
