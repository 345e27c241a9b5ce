import subprocess
import sys


def test_log_to_file_captures_records_warnings_and_the_final_traceback(tmp_path):
    log = tmp_path / "sub" / "job.log"
    code = (
        "import logging, warnings\n"
        "from irsde.logs import log_to_file\n"
        f"log_to_file({str(log)!r})\n"
        "logging.getLogger('x').info('started')\n"
        "warnings.warn('careful')\n"
        "raise FileNotFoundError('resources/Rain100H.zip is missing')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    text = log.read_text()
    assert "INFO x: started" in text
    assert "careful" in text
    assert "FileNotFoundError: resources/Rain100H.zip is missing" in text
    assert result.stderr == ""
