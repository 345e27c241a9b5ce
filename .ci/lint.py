"""`snakemake --lint` must report nothing but the advice to give every rule a conda environment
or container (the pipeline runs in the project's pinned virtualenv instead; docs/pipeline.md#linting).
Prints the linter's report and exits non-zero on any other lint, or when the linter fails.

    python .ci/lint.py [WORKFLOW_DIR]     (default: this repository)"""

import re
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
ACCEPTED = {"Specify a conda environment or container for each rule."}
LINT_TITLE = re.compile(r"^    \* (.+?):?$", re.MULTILINE)


def main(folder: Path = REPOSITORY) -> int:
    snakemake = Path(sys.executable).with_name("snakemake")
    result = subprocess.run([str(snakemake), "--lint"], cwd=folder, capture_output=True, text=True)
    report = result.stdout + result.stderr
    titles = LINT_TITLE.findall(report)
    rejected = sorted(set(titles) - ACCEPTED)
    if rejected or (result.returncode != 0 and not titles):
        print(report)
        print(f"snakemake --lint: {len(rejected)} kind(s) of lint besides the accepted advice: {rejected}"
              if rejected else f"snakemake --lint failed (exit {result.returncode})", file=sys.stderr)
        return 1
    print(f"snakemake --lint: clean apart from the accepted advice ({len(titles)} rules without conda/container)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*map(Path, sys.argv[1:2])))
