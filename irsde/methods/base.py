"""What every restoration method is: its facts and the four things the engine and restoration ask of it.

A method is a subclass of :class:`Method`. It declares, as class attributes,

* ``id``: the key of its results everywhere (run and output folders, metric CSVs, regression
  references): lower case, digits and ``_``;
* ``label``: how tables and figures name it, applied only when they are drawn (renaming a label
  changes the tables and nothing else);
* ``paper_row``: the method of the paper's tables its rows are compared with (None: none);
* ``stochastic``: whether restoring draws random numbers (then each sampling seed is a result
  of its own; otherwise one seed is restored);
* ``samples`` (default False): whether it restores by running a sampler of
  :mod:`irsde.sampling`, which ``with_sampler`` can change (one trained model then gives more
  table rows, :meth:`Method.sampler_variant`);
* ``sampler_rows`` (default none): :class:`SamplerRow` s, the rows the method always adds,
  restored from the same trained model with another of its own samplers (``with_sampler``);
* ``trainable`` (default True): whether irsde can train it; a method that only restores from
  released weights (PReNet, DnCNN, FFDNet) sets it False;
* ``options_schema`` (default none): its own options (``method_options.<id>`` of the pipeline
  config, ``--option KEY=VALUE`` of ``irsde restore``), as JSON Schema by option name, with
  defaults; :meth:`Method.resolve_options` validates them, naming the key at fault;

and implements

* ``build_net()``: its network, freshly initialised (the engine seeds torch first);
* ``restore(net, lq, generator)``: the restored batch (not clamped), all randomness drawn from
  ``generator``; called without gradients by validation and by :mod:`irsde.restoration`, always
  through :func:`restore_batch`, which refuses an output that cannot be the restoration of
  ``lq`` (not a tensor, another count or size of images, an integer dtype) and names the method;
* if trainable, ``from_config(config)``: the method configured from a resolved training config
  (:mod:`irsde.train.config`), and ``loss(net, gt, lq, generator, shard)``: the scalar training
  loss of this process's part ``shard`` (a :class:`Shard`) of the global batch (``gt``/``lq``
  are that part; ``generator`` is the run's training generator, identical on every rank);
* to restore from a released weight file (:mod:`irsde.checkpoints`), ``from_weights(state_dict,
  options, sde)``: the method configured for those weights (its ``build_net()`` then builds the
  architecture the file holds).

``to(device)``, ``settings()`` (what restore.json records about how it restored),
``with_sampler(name)`` and ``timestep_errors(...)`` (a validation diagnostic) have defaults for
methods without tensors, settings, samplers or diagnostics.
:class:`RowFacts` is the part of this a table needs; it also describes table rows that are no
trained method (the degraded input, published weights).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from irsde.losses import TrainingBatch, draw_training_batch
from irsde.rows import RELEASED_WEIGHTS, RowFacts
from irsde.sde import MeanRevertingSDE

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Shard:
    """Samples ``start:stop`` of a global batch of ``total`` samples (one rank's part of it)."""

    start: int
    stop: int
    total: int

    @classmethod
    def whole(cls, size: int) -> "Shard":
        return cls(0, size, size)

    @property
    def is_whole(self) -> bool:
        return self.start == 0 and self.stop == self.total


@dataclass(frozen=True)
class SamplerRow:
    """A table row a method always adds: its facts, and the method's sampler that restores it."""

    facts: RowFacts
    sampler: str


class Method(abc.ABC):
    """Base class of restoration methods (see the module docstring)."""

    id: ClassVar[str]
    label: ClassVar[str]
    paper_row: ClassVar[str | None] = None
    stochastic: ClassVar[bool]
    samples: ClassVar[bool] = False
    sampler_rows: ClassVar[tuple[SamplerRow, ...]] = ()
    trainable: ClassVar[bool] = True
    options_schema: ClassVar[Mapping[str, Mapping]] = {}
    default_sde: ClassVar[Mapping | None] = None
    """The SDE its released weights restore with by default (None: the method uses no SDE)."""

    @classmethod
    def facts(cls) -> RowFacts:
        return RowFacts(cls.id, cls.label, cls.paper_row, cls.stochastic)

    @classmethod
    def sampler_variant(cls, sampler: str, steps: int) -> RowFacts:
        """The facts of the rows of this (sampling) method restored with another sampler and
        number of network evaluations, e.g. ``irsde-fast-sde-10``, "IR-SDE (fast-sde, 10 NFE)"."""
        name = cls.paper_row or cls.label
        return RowFacts(f"{cls.id}-{sampler}-{steps}", f"{name} ({sampler}, {steps} NFE)", cls.paper_row, cls.stochastic)

    @classmethod
    def released_facts(cls, checkpoint: str, label: str) -> RowFacts:
        """The facts of the rows restored with released checkpoint ``checkpoint`` (its name is
        the row id)."""
        return RowFacts(checkpoint, label, cls.paper_row, cls.stochastic, RELEASED_WEIGHTS)

    @classmethod
    def resolve_options(cls, options: Mapping | None, where: str) -> dict:
        """``options`` checked against :attr:`options_schema`, defaults filled in; a ValueError
        naming ``where`` (e.g. ``config key 'method_options.prenet'``) and the option otherwise."""
        from irsde import schema

        schema_document = {"type": "object", "additionalProperties": False, "properties": dict(cls.options_schema)}
        try:
            return schema.validate(dict(options or {}), schema_document)
        except ValueError as error:
            known = ", ".join(cls.options_schema) or "none"
            raise ValueError(f"{where}: method {cls.id!r}: {error} (its options: {known})") from None

    @classmethod
    def from_config(cls, config: Mapping) -> "Method":
        raise ValueError(cls._not_trainable())

    @classmethod
    def from_weights(cls, state_dict: Mapping[str, Tensor], options: Mapping, sde: Mapping | None) -> "Method":
        """The method configured to restore with ``state_dict`` (resolved ``options``; ``sde``:
        the SDE settings of a method with a :attr:`default_sde`, else None)."""
        raise ValueError(f"method {cls.id!r} does not restore from a weight file; restore its training run (--run)")

    @abc.abstractmethod
    def build_net(self) -> nn.Module: ...

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
        raise ValueError(self._not_trainable())

    @classmethod
    def _not_trainable(cls) -> str:
        return (f"method {cls.id!r} is not trained by irsde: it restores from released weights "
                f"(`irsde weights list`; a `released:` entry of a pipeline benchmark)")

    @abc.abstractmethod
    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor: ...

    def to(self, device: torch.device) -> "Method":
        """Move any tensors the method holds to ``device``; returns the method."""
        return self

    def settings(self) -> dict:
        """How this method restores, as recorded in restore.json (e.g. sampler and SDE)."""
        return {}

    def timestep_errors(self, net: nn.Module, gt: Tensor, lq: Tensor, seed: int) -> list[dict]:
        """Optional diagnostic logged at every validation: rows ``{t, metric, value}`` of how the
        network's prediction errs by timestep (:mod:`irsde.diagnostics`); none by default."""
        return []

    def with_sampler(self, sampler: str | None = None, steps: int | None = None) -> "Method":
        """The same method restoring with another sampler and/or ``steps`` network evaluations
        per image (None: unchanged); only for methods that sample (:attr:`samples`)."""
        raise ValueError(f"method {self.id!r} restores without a sampler; a sampler or steps cannot be chosen for it")


def check_method_class(candidate: object, origin: str) -> type[Method]:
    """``candidate`` if it is a complete :class:`Method` subclass, else a ValueError naming
    ``origin`` (where it came from) and what is missing."""
    if not (isinstance(candidate, type) and issubclass(candidate, Method)):
        raise ValueError(f"{origin}: {candidate!r} is not a subclass of irsde.methods.Method")
    missing = set(candidate.__abstractmethods__)
    if getattr(candidate, "trainable", True):
        missing |= {name for name in ("from_config", "loss") if getattr(candidate, name).__qualname__.startswith("Method.")}
    if missing:
        raise ValueError(f"{origin}: method class {candidate.__name__} does not implement {', '.join(sorted(missing))}")
    facts = {"id": str, "label": str, "stochastic": bool}
    for name, kind in facts.items():
        if not isinstance(getattr(candidate, name, None), kind):
            raise ValueError(f"{origin}: method class {candidate.__name__} must declare {name} ({kind.__name__})")
    if not ID_PATTERN.match(candidate.id):
        raise ValueError(f"{origin}: method id {candidate.id!r} must match {ID_PATTERN.pattern}")
    if candidate.paper_row is not None and not isinstance(candidate.paper_row, str):
        raise ValueError(f"{origin}: paper_row of {candidate.__name__} must be a string or None")
    return candidate


UNET_FLAGS = ("time_conditioned", "conditional", "mid_attention")
"""Architecture keys of a U-Net weight file that say which method it belongs to, not its size."""


def unet_network_from_weights(state_dict: Mapping[str, Tensor], method_id: str, conditional: bool) -> dict:
    """The ``network`` config (nf, depth, attention width ...) of the U-Net weights ``state_dict``
    for method ``method_id``, whose network is ``conditional`` on the degraded image or not; a
    ValueError saying whose weights the file holds otherwise."""
    from irsde.nets import infer_architecture

    try:
        architecture = infer_architecture(state_dict)
    except KeyError as error:
        raise ValueError(f"method {method_id!r}: {error.args[0]}") from None
    if not architecture["time_conditioned"]:
        raise ValueError("the file has no time input: it is a CNN baseline's, not IR-SDE weights; "
                         "restore its training run with --run RUN_DIR")
    if architecture["conditional"] != conditional:
        owner = "IR-SDE (conditional)" if architecture["conditional"] else "Denoising-SDE (unconditional)"
        raise ValueError(f"method {method_id!r}: the file holds {owner} U-Net weights; "
                         f"restore it with --method {'irsde' if architecture['conditional'] else 'denoising_sde'}")
    return {name: value for name, value in architecture.items() if name not in UNET_FLAGS}


class MethodOutputError(RuntimeError):
    """A method's ``restore`` failed or returned something that cannot be the restoration of its
    input batch; the message names the method's class and the shapes."""


def method_name(method: Method) -> str:
    """How errors name a method: its id and its class, e.g. ``'tiny_cnn' (examples.tiny_cnn.TinyCNN)``."""
    cls = type(method)
    return f"{getattr(method, 'id', '?')!r} ({cls.__module__}.{cls.__qualname__})"


def restore_batch(method: Method, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor:
    """``method.restore(net, lq, generator)``, checked before anyone uses it: one float image per
    input image, each of its input's size (the output's shape is ``lq``'s). Raises
    :class:`MethodOutputError` naming the method's class, what it returned and ``lq``'s shape, also
    when ``restore`` itself raises (the original error is chained)."""
    shape = tuple(lq.shape)
    try:
        output = method.restore(net, lq, generator)
    except Exception as error:  # noqa: BLE001 - any failure of a (user's) method, named and chained
        raise MethodOutputError(
            f"method {method_name(method)} failed to restore a batch of shape {shape}: "
            f"{type(error).__name__}: {error}") from error
    if not isinstance(output, Tensor):
        raise MethodOutputError(
            f"method {method_name(method)} returned a {type(output).__name__} from restore, not a tensor: it must "
            f"return a float tensor of its input's shape {shape}")
    if tuple(output.shape) != shape:
        raise MethodOutputError(
            f"method {method_name(method)} returned shape {tuple(output.shape)} for an input batch of shape "
            f"{shape}: restore must return one image per input image, each of its input's size")
    if not output.is_floating_point():
        raise MethodOutputError(
            f"method {method_name(method)} returned a {output.dtype} tensor of shape {shape}: restore must return "
            f"float values (1.0 is white; not 8-bit 0-255 values, which would be clamped to white)")
    return output


# ----------------------------------------------------------------------- shared by several methods


def draw_shard_batch(
    sde: MeanRevertingSDE, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard
) -> TrainingBatch:
    """Draw (t, noise, x_t) for a whole global batch and keep this shard's part.

    Every rank holds the same generator state, draws the times and noise of all ``shard.total``
    samples exactly as a single process would, and keeps rows ``shard.start:shard.stop``; so
    training on N ranks sees the very same random numbers as training in one process. Rows of
    other ranks are formed from zero images and discarded (x_t is elementwise per sample).
    """
    if shard.is_whole:
        return draw_training_batch(sde, gt, lq, generator)
    full_shape = (shard.total, *gt.shape[1:])
    gt_full, lq_full = gt.new_zeros(full_shape), lq.new_zeros(full_shape)
    gt_full[shard.start : shard.stop] = gt
    lq_full[shard.start : shard.stop] = lq
    full = draw_training_batch(sde, gt_full, lq_full, generator)
    rows = slice(shard.start, shard.stop)
    return TrainingBatch(t=full.t[rows], noise=full.noise[rows], xt=full.xt[rows], x0=gt, mu=lq)


PREDICTIONS = ("noise", "data")
"""What a sampling method's network output means: ``noise`` (the paper's: eps_hat of x_t) or
``data`` (the clean image, as a residual, read as the noise it implies)."""

PREDICTION_OPTION = {"prediction": {
    "type": "string", "enum": list(PREDICTIONS), "default": "noise",
    "description": "what the network outputs: noise (the paper's eps_hat) or data (the clean image as a residual)"}}
"""The ``prediction`` option of the methods whose network predicts the noise of a diffusion."""
