"""irsde: the mean-reverting SDE of IR-SDE (Luo et al., ICML 2023), its network, training,
sampling and evaluation.

Importing the package has exactly one side effect, documented in ``irsde._torchvision_compat``:
when torchvision's compiled extension cannot load next to the installed torch, the operator
schemas torchvision needs at import time are declared so that ``import lpips`` and
``import pytorch_fid`` work. Where the extension loads, it is loaded as torchvision would.
"""

from irsde import _torchvision_compat

_torchvision_compat.apply()

__version__ = "0.1.0"
