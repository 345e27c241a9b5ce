import subprocess
import sys


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
