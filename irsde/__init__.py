"""irsde: the mean-reverting SDE of IR-SDE (Luo et al., ICML 2023), its network, training,
sampling and evaluation.

Importing the package has exactly one side effect, documented in ``irsde._torchvision_compat``:
an import hook that, when torchvision is first imported, makes it importable next to a CPU-only
torch (declaring the operator schemas torchvision needs when its compiled extension cannot
load), so that ``import lpips`` and ``import pytorch_fid`` work. Importing the package imports
neither torch nor torchvision, which keeps ``irsde --help`` fast.
"""

from irsde import _torchvision_compat

_torchvision_compat.install()

__version__ = "0.1.0"
