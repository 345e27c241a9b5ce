import json
import re
import shlex
import subprocess
import sys
from pathlib import Path


def test_lpips_and_pytorch_fid_import_after_irsde():
    # A fresh interpreter: the fix must work on the very first torchvision import.
    code = "import irsde, lpips, pytorch_fid.inception, torchvision.models; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_compat_fix_is_idempotent():
    from irsde import _torchvision_compat

    first = _torchvision_compat.apply()
    assert _torchvision_compat.apply() == first


def test_torch_pin_is_the_installed_torch():
    import torch

    assert torch.__version__.split("+")[0] == "2.13.0"


def test_import_and_the_cli_parser_import_no_torch():
    # `irsde --help` must not pay for torch (seconds); the torchvision fix waits for torchvision.
    code = "import sys, irsde, irsde.cli; irsde.cli.build_parser(); print(sorted({'torch', 'torchvision'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "irsde", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "restore" in help_text.stdout


def test_the_tests_read_nothing_outside_the_repository(reference_dir):
    # A clone with nothing beside it must pass its own tests: reference data is committed here.
    repository = Path(__file__).resolve().parents[1]
    assert reference_dir.resolve().is_relative_to(repository)
    for name in ("sde_cosine_T100.json", "conditional_unet_nf64_depth4.json", "conditional_unet_nf32_depth4.json"):
        assert json.loads((reference_dir / name).read_text())
    outside = [path.name for path in (repository / "tests").glob("*.py")
               if re.search(r"\.\./shared|parent\s*/\s*[\"']shared", path.read_text())]
    assert outside == []


REPOSITORY = Path(__file__).resolve().parents[1]


def readme_blocks(language: str = "bash") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (REPOSITORY / "README.md").read_text(), flags=re.DOTALL)


def test_the_readme_starts_with_set_up_and_its_test_command_runs_the_fast_suite_with_the_slow_one_flag_away():
    """The README's second command runs pytest as configured, whose default selection leaves the
    slow tests out; the slow tests are the same command plus the documented `-m slow`. .ci/run
    runs both, in that order, then regress."""
    import tomllib

    first = readme_blocks()[0].strip().splitlines()
    assert len(first) == 2 and "pip install -e ." in first[0] and "snakemake" in first[0], first
    assert shlex.split(first[1]) == [".venv/bin/python", "-m", "pytest"], first[1]
    options = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert options["addopts"][options["addopts"].index("-m") + 1] == "not slow"
    assert any(marker.startswith("slow:") for marker in options["markers"])
    slow_commands = [line.split("#")[0].strip() for block in readme_blocks() for line in block.splitlines()
                     if "pytest" in line and "slow" in line]
    assert slow_commands == [".venv/bin/python -m pytest -m slow"], slow_commands
    ci = (REPOSITORY / ".ci" / "run").read_text().splitlines()

    def line_running(command: str) -> int:  # (an environment variable may precede the command)
        return next(i for i, line in enumerate(ci) if line == command or line.endswith(f" {command}"))

    assert line_running(first[1]) < line_running(slow_commands[0]) < line_running(
        ".venv/bin/snakemake --cores 2 regress --configfile config/ci.yaml")


def test_irsde_version_and_a_help_text_for_users():
    import irsde

    version = subprocess.run([sys.executable, "-m", "irsde", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"irsde {irsde.__version__} (irsde-bench)"
    text = subprocess.run([sys.executable, "-m", "irsde", "--help"], capture_output=True, text=True).stdout
    assert "``" not in text and ":func:" not in text and "sub-command module" not in text
    assert "IR-SDE" in text and "examples:" in text and "--version" in text and "README" in text
    for command in ("data", "train", "restore", "evaluate"):
        assert f"\n    {command} " in text and f"irsde {command} " in text, command


def test_licence_citation_and_bibtex_agree_with_the_package():
    import tomllib

    import yaml

    import irsde

    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    licence = (REPOSITORY / "LICENSE").read_text()
    assert project["license"] == {"text": "MIT"} and licence.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in licence
    citation = yaml.safe_load((REPOSITORY / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    assert citation["version"] == project["version"] == irsde.__version__
    paper = citation["references"][0]
    assert paper["title"] == "Image Restoration with Mean-Reverting Stochastic Differential Equations"
    assert [author["family-names"] for author in paper["authors"]] == ["Luo", "Gustafsson", "Zhao", "Sjölund", "Schön"]
    bibtex = readme_blocks("bibtex")
    assert len(bibtex) == 1
    entries = re.findall(r"@(\w+)\{(\w+),", bibtex[0])
    assert entries == [("inproceedings", "luo2023irsde"), ("software", "irsde_bench")]
    assert bibtex[0].count("{") == bibtex[0].count("}")
    assert f"version = {{{irsde.__version__}}}" in bibtex[0] and paper["title"] in bibtex[0]
