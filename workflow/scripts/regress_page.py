"""Snakemake adapter: the regress verdict (text) -> a report page."""
import logging
from pathlib import Path

from irsde.report import pages
from irsde.logs import log_to_file

log_to_file(snakemake.log[0])
text = Path(snakemake.input[0]).read_text()
Path(snakemake.output[0]).write_text(pages.page(snakemake.params.title, pages.element("pre", text)))
logging.info("regress verdict page from %s", snakemake.input[0])
