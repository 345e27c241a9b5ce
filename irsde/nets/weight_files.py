"""Reading network weight files: the authors' published checkpoints and our own runs' weights.

A weight file may be a plain state_dict, one wrapped in a dict (``params_ema``, ``state_dict``,
...; EMA weights preferred) or one whose keys carry a ``module.`` / ``_orig_mod.`` prefix.
:func:`read_state_dict` unwraps all of these without executing code from the file
(``weights_only=True``); :func:`infer_architecture` reads the U-Net's settings off the tensor
shapes; :func:`load_weights` loads strictly and explains a mismatch with the nf/depth the file
was trained with; :func:`build_net_from_checkpoint` does both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from irsde.finite import check_finite_weights
from irsde.nets.blocks import ATTENTION_HEADS
from irsde.nets.unet import ConditionalUNet
from irsde.torchfile import load_torch_file

logger = logging.getLogger(__name__)

PUBLISHED_WEIGHTS_HINT = (
    "The authors' published IR-SDE checkpoints are linked from "
    "https://github.com/Algolzw/image-restoration-sde (their section 'Pretrained models'; Google "
    "Drive, needs a browser); see this project's README, section 'Released checkpoints'."
)

# Wrapper keys a checkpoint dict may hold its weights under, most preferred first. EMA weights
# come first: when a training checkpoint carries both, the averaged weights are the ones used
# for restoration (the paper trains with EMA 0.995). Pass ``key=`` to load_weights to override.
CHECKPOINT_WRAPPER_KEYS = ("params_ema", "ema", "state_dict", "params", "model", "net")
# Prefixes added to every key by DataParallel/DistributedDataParallel and by torch.compile.
CHECKPOINT_KEY_PREFIXES = ("module.", "_orig_mod.")
MAX_LISTED_KEYS = 10
# The middle attention's query/key/value projection: its rows give the attention's head width.
MID_ATTENTION_QKV = "mid_attn.fn.fn.to_qkv.weight"
# The output conv of a full softmax middle attention (linear attention has to_out.0 and a LayerNorm).
FULL_MID_ATTENTION_OUT = "mid_attn.fn.fn.to_out.weight"


def infer_architecture(state_dict: Mapping[str, torch.Tensor], source: str | Path | None = None) -> dict:
    """Read ``nf, depth, in_nc, out_nc, time_conditioned, attn_head_dim, conditional,
    mid_attention`` off a ConditionalUNet state_dict.

    nf comes from the stem ``init_conv.weight`` (nf, C, 7, 7), out_nc from ``final_conv.weight``,
    depth from the number of ``downs.<i>`` levels, the attention's head width from ``mid_attn``'s
    query/key/value projection (3 * 4 heads * head_dim rows), the middle attention's kind from
    its output (``to_out.weight``: a plain 1x1 conv, full softmax attention; ``to_out.0.weight``
    and a LayerNorm: linear). The stem sees ``C = 2 * in_nc`` channels when conditional and
    ``C = in_nc`` when not; a file does not record which, so a stem of as many channels as the
    output has is read as unconditional (``in_nc = out_nc``, as in every model of the authors':
    the Denoising-SDE network), any other as conditional (``in_nc = C / 2``). Raises
    KeyError naming a key the inference needs when it is absent (and ``source``, the file, when
    given).
    """
    for key in ("init_conv.weight", "final_conv.weight", MID_ATTENTION_QKV):
        if key not in state_dict:
            where = f"{source} is " if source is not None else ""
            raise KeyError(
                f"{where}not a ConditionalUNet state_dict: no {key!r} (the weights of another model?); "
                f"use weights trained by irsde or the authors' IR-SDE checkpoints"
            )
    stem = state_dict["init_conv.weight"].shape
    levels = {name.split(".")[1] for name in state_dict if name.startswith("downs.")}
    out_nc = int(state_dict["final_conv.weight"].shape[0])
    conditional = int(stem[1]) != out_nc
    return dict(
        nf=int(stem[0]),
        depth=len(levels),
        in_nc=int(stem[1]) // 2 if conditional else int(stem[1]),
        out_nc=out_nc,
        time_conditioned="time_mlp.1.weight" in state_dict,
        attn_head_dim=int(state_dict[MID_ATTENTION_QKV].shape[0]) // (3 * ATTENTION_HEADS),
        conditional=conditional,
        mid_attention="full" if FULL_MID_ATTENTION_OUT in state_dict else "linear",
    )


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's parameter names or shapes do not match the network it is loaded into."""


def read_state_dict(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Load a checkpoint file's network weights as a plain state_dict on the CPU.

    Accepts a plain state_dict, or a dict wrapping one under one of
    ``CHECKPOINT_WRAPPER_KEYS`` (EMA weights preferred; ``key`` picks one explicitly), and strips
    a ``module.`` (DataParallel) or ``_orig_mod.`` (torch.compile) prefix shared by all keys.
    An irsde training state (``training_state.pt``) gives its EMA weights (``key="net"``: the raw
    ones). Uses :func:`irsde.torchfile.load_torch_file`: no code in the file is executed, and a
    damaged file is a one-line error naming it. Weights holding NaN/inf are refused
    (:class:`irsde.finite.NonFiniteError`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}. {PUBLISHED_WEIGHTS_HINT}")
    payload = training_state_weights(load_torch_file(path, "checkpoint"))
    state_dict = _strip_key_prefixes(_unwrap_state_dict(payload, path, key))
    check_finite_weights(state_dict, str(path))
    return state_dict


def training_state_weights(payload):
    """An irsde training state (a dict with ``format_version``, ``net`` and the EMA's
    AveragedModel state ``ema``) as ``{"ema": plain EMA weights, "net": raw weights}``; any
    other payload is returned unchanged."""
    if not (isinstance(payload, Mapping) and "format_version" in payload and isinstance(payload.get("net"), Mapping)
            and isinstance(payload.get("ema"), Mapping)):
        return payload
    averaged = {name[len("module."):]: value for name, value in payload["ema"].items() if name.startswith("module.")}
    return {"ema": averaged, "net": payload["net"]}


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _unwrap_state_dict(payload, path: Path, key: str | None) -> Mapping[str, torch.Tensor]:
    if key is not None:
        if not isinstance(payload, Mapping) or key not in payload:
            raise KeyError(f"checkpoint {path} has no entry {key!r}")
        payload = payload[key]
    while not _is_state_dict(payload):
        wrapper = _find_wrapper_key(payload)
        if wrapper is None:
            found = sorted(map(str, payload)) if isinstance(payload, Mapping) else type(payload).__name__
            raise ValueError(
                f"checkpoint {path} holds no state_dict: expected a dict of tensors or one under "
                f"{', '.join(CHECKPOINT_WRAPPER_KEYS)}; found {found}"
            )
        logger.info("loading weights from entry %r of %s", wrapper, path)
        payload = payload[wrapper]
    return payload


def _find_wrapper_key(payload) -> str | None:
    if not isinstance(payload, Mapping):
        return None
    return next((k for k in CHECKPOINT_WRAPPER_KEYS if isinstance(payload.get(k), Mapping)), None)


def _strip_key_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state_dict = dict(state_dict)
    stripped = True
    while stripped:
        stripped = False
        for prefix in CHECKPOINT_KEY_PREFIXES:
            if all(name.startswith(prefix) for name in state_dict):
                state_dict = {name[len(prefix) :]: value for name, value in state_dict.items()}
                stripped = True
    return state_dict


def load_weights(net: torch.nn.Module, path: str | Path, key: str | None = None) -> torch.nn.Module:
    """Load checkpoint ``path`` into ``net`` (strict) and return ``net``.

    See :func:`read_state_dict` for the accepted file layouts. On any missing or unexpected key
    or shape mismatch raises :class:`CheckpointMismatchError` listing them and, for a
    :class:`ConditionalUNet`, stating the nf/depth the file was trained with next to those of ``net``.
    """
    return load_state(net, read_state_dict(path, key), path)


def load_state(net: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | Path) -> torch.nn.Module:
    """Load ``state_dict`` (read from ``path``) into ``net`` strictly, or raise
    :class:`CheckpointMismatchError` as :func:`load_weights` does; returns ``net``."""
    problems = describe_mismatch(net.state_dict(), state_dict)
    if problems:
        raise CheckpointMismatchError(
            f"checkpoint {path} does not fit the network: {_architecture_sentence(net, state_dict)}\n{problems}"
        )
    net.load_state_dict(state_dict, strict=True)
    return net


def build_net_from_checkpoint(path: str | Path, key: str | None = None) -> ConditionalUNet:
    """Build the network a checkpoint was trained with (via :func:`infer_architecture`) and load it."""
    state_dict = read_state_dict(path, key)
    net = ConditionalUNet(**infer_architecture(state_dict, path))
    net.load_state_dict(state_dict, strict=True)
    return net


def describe_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> str:
    """Human-readable list of missing keys, unexpected keys and shape mismatches ('' if none)."""
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    shapes = [
        f"{name}: file {tuple(found[name].shape)} vs network {tuple(expected[name].shape)}"
        for name in expected
        if name in found and found[name].shape != expected[name].shape
    ]
    # Loading copies values into the network's dtype: integers, booleans or complex numbers where the
    # network holds real weights would be cast silently (complex ones losing their imaginary part).
    dtypes = [
        f"{name}: file {found[name].dtype} vs network {expected[name].dtype}"
        for name in expected
        if name in found and expected[name].is_floating_point() and not found[name].is_floating_point()
    ]
    sections = [
        _listing("missing keys", missing),
        _listing("unexpected keys", unexpected),
        _listing("shape mismatches", shapes),
        _listing("values that are not real numbers", dtypes),
    ]
    return "\n".join(section for section in sections if section)


def _listing(title: str, items: list[str]) -> str:
    if not items:
        return ""
    shown = ", ".join(items[:MAX_LISTED_KEYS])
    more = f" ... and {len(items) - MAX_LISTED_KEYS} more" if len(items) > MAX_LISTED_KEYS else ""
    return f"{title} ({len(items)}): {shown}{more}"


def _architecture_sentence(net: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str:
    if not isinstance(net, ConditionalUNet):
        return f"the network is a {type(net).__name__}."
    network = f"the network is nf={net.nf}, depth={net.depth}."
    try:
        arch = infer_architecture(state_dict)
    except KeyError as error:
        return f"the file's architecture cannot be inferred ({error.args[0]}); {network}"
    return f"this file was trained with nf={arch['nf']}, depth={arch['depth']}; {network}"
