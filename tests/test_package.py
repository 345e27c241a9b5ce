import json
import re
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
