"""The training loop shared by IR-SDE and the CNN baseline.

``train(config)`` runs one training run described by a config (see :mod:`irsde.train.config`)
in one process or, under ``torchrun``, in several (DDP). Each iteration:

1. loads this rank's rows of the iteration's global batch (:mod:`irsde.train.batches`);
2. computes the method's loss on them (:mod:`irsde.methods`); the loss averaged over ranks
   must be finite, else training stops naming the iteration (the step is not applied);
3. backward (DDP averages the gradients), Adam step, MultiStepLR step, EMA update;
4. every ``log_every`` iterations a training-log row, every ``val_every`` a validation record
   and every ``checkpoint_every`` a checkpoint (all three also at the last iteration), written
   by rank 0 only, in that order, so that the logs are complete up to every checkpoint; the
   log rows and validations also go to TensorBoard event files in the run folder
   (``train.tensorboard``, :mod:`irsde.train.tensorboard`).

Rank 0 shows a tqdm bar on a terminal; otherwise (a batch job, whose stderr is its log) it logs
a progress line with the ETA every ``train.progress_every`` seconds (:mod:`irsde.train.progress`).

All randomness comes from the seed: the network's initial weights (torch's generator seeded
with ``seed`` inside ``fork_rng``, so the caller's global state is untouched), the data order and
crops (pure functions of seed and iteration) and the (t, noise) draws (a dedicated generator,
identical on every rank, saved in every checkpoint). Hence a run resumed from a checkpoint ends
with exactly the weights of an uninterrupted run (bit-identical on the CPU).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from irsde.data import PairedTrainDataset
from irsde.data.seeding import derive_rng
from irsde.diagnostics import TIMESTEP_COLUMNS
from irsde.train import distributed
from irsde.train.batches import BatchPlan, iterate_batches
from irsde.fileio import atomic_write_text, exclusive_folder, remove_stale_parts
from irsde.train.checkpoint import RunLayout, load_training_state, refuse_run_without_state, save_checkpoint
from irsde.train.config import RESUMABLE_CHANGES, config_differences, dump_config, validate_config
from irsde.train.distributed import DistributedContext, rank_shard
from irsde.train.ema import build_ema, ema_state_dict
from irsde.methods import Method, build_method
from irsde.train.records import (
    TRAIN_LOG_COLUMNS,
    VAL_LOG_COLUMNS,
    CsvLog,
    end_session,
    start_session,
    state_dict_digest,
)
from irsde.train.progress import ProgressLines
from irsde.train.rng import capture_rng_state, restore_rng_state
from irsde.train.tensorboard import TensorBoardLog
from irsde.train.validation import Validator

logger = logging.getLogger(__name__)

RESUME_MODES = ("auto", "never")
TRAIN_GENERATOR = "train"
STATE_KEYS = ("config", "ema", "optimizer", "scheduler", "rng", "log_window", "wall_time")
"""What resuming reads from a training state besides its weights and iteration (:meth:`TrainingRun._checkpoint`)."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the iteration."""


@dataclass(frozen=True)
class TrainResult:
    """Where a finished run left its files."""

    output_dir: Path
    iteration: int
    resumed_from: int | None
    net_weights: Path
    ema_weights: Path
    is_main: bool


def train(config: Mapping, resume: str = "auto", progress: bool | None = None) -> TrainResult:
    """Run (or resume) the training run described by ``config``; return where its weights are.

    ``resume="auto"`` continues from ``<output_dir>/training_state.pt`` when it exists (its config
    must match, except for the keys in ``RESUMABLE_CHANGES``); ``"never"`` refuses to touch a
    folder that holds a checkpoint. ``progress`` forces the tqdm bar on/off (None: on a terminal).
    Everything that can be wrong with the config or the input folders fails before any training.
    """
    config = validate_config(config)
    if resume not in RESUME_MODES:
        raise ValueError(f"resume must be one of {', '.join(RESUME_MODES)}, got {resume!r}")
    check_input_folders(config)
    method = build_method(config)
    dataset = PairedTrainDataset(config["data"]["train"], config["data"]["crop_size"], config["seed"],
                                 noise_sigma=config["data"]["noise_sigma"])
    plan = BatchPlan(len(dataset), config["data"]["batch_size"], config["seed"])
    validator = Validator.from_config(config)
    context = distributed.setup(config["device"])
    try:
        rank_shard(config["data"]["batch_size"], context.rank, context.world_size)  # fail early if uneven
        with owned_output_folder(config, context):
            run = TrainingRun(config, method, context, progress)
            return run.execute(dataset, plan, validator, resume)
    finally:
        distributed.teardown(context)


@contextmanager
def owned_output_folder(config: Mapping, context: DistributedContext) -> Iterator[None]:
    """Rank 0 owns ``output_dir`` while training: a second run into it fails at once
    (``irsde.fileio.exclusive_folder``), and the temporary files of checkpoints a killed run was
    writing (``.*.part``) are removed."""
    if not context.is_main:
        yield
        return
    with exclusive_folder(config["output_dir"], f"irsde train {config['name']}"):
        layout = RunLayout(config["output_dir"])
        remove_stale_parts(layout.root, layout.weights_dir)
        yield


def check_input_folders(config: Mapping) -> None:
    """``data.train`` (and ``data.val`` when set) must be folders holding ``GT/`` and ``LQ/``."""
    for key in ("train", "val"):
        folder = config["data"][key]
        if folder is None:
            continue
        missing = [sub for sub in ("GT", "LQ") if not (Path(folder) / sub).is_dir()]
        if missing:
            raise FileNotFoundError(
                f"config key 'data.{key}': {folder} has no {' and no '.join(missing)} folder "
                f"(expected <split>/GT and <split>/LQ with identical file names)"
            )


class LossWindow:
    """Running sum of the losses since the last training-log row."""

    def __init__(self, total: float = 0.0, count: int = 0):
        self.total, self.count = total, count

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    def take_mean(self) -> float:
        mean = self.total / self.count if self.count else math.nan
        self.total, self.count = 0.0, 0
        return mean

    def state(self) -> dict:
        return {"total": self.total, "count": self.count}


class TrainingRun:
    """The mutable state of one training run in this process (see :func:`train`)."""

    def __init__(self, config: dict, method: Method, context: DistributedContext, progress: bool | None):
        self.config = config
        self.method = method.to(context.device)
        self.context = context
        self.progress = progress
        self.layout = RunLayout(Path(config["output_dir"]))
        self.iterations = config["train"]["iterations"]
        self.shard = rank_shard(config["data"]["batch_size"], context.rank, context.world_size)
        self.iteration = 0
        self.wall_time_before = 0.0
        self.session_start = time.perf_counter()
        self.window = LossWindow()
        self.train_log = CsvLog(self.layout.train_log, TRAIN_LOG_COLUMNS)
        self.val_log = CsvLog(self.layout.val_log, VAL_LOG_COLUMNS)
        self.timestep_log = CsvLog(self.layout.timestep_log, TIMESTEP_COLUMNS)
        self.record: dict = {}
        self.tensorboard: TensorBoardLog | None = None
        self.progress_lines: ProgressLines | None = None
        self._build()

    # ------------------------------------------------------------------------------- set-up

    def _build(self) -> None:
        config, device = self.config, self.context.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config["seed"])
            self.model = self.method.build_net()
        self.model.to(device)
        self.ema = build_ema(self.model, config["train"]["ema_decay"])
        optim = config["optim"]
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=optim["lr"], betas=tuple(optim["betas"]), weight_decay=optim["weight_decay"]
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=optim["milestones"], gamma=optim["gamma"]
        )
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(derive_rng(config["seed"], "train-noise").integers(2**62)))
        self.network = self._wrap_for_ddp()  # what the loss calls: the DDP wrapper or the model

    def _restore(self, state: Mapping) -> None:
        self.model.load_state_dict(state["net"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"], {TRAIN_GENERATOR: self.generator})
        self.window = LossWindow(**state["log_window"])
        self.wall_time_before = float(state["wall_time"])
        self.iteration = int(state["iteration"])

    def _resume_state(self, resume: str) -> dict | None:
        state = load_training_state(self.layout, STATE_KEYS)
        if state is None:
            refuse_run_without_state(self.layout)
            return None
        if resume == "never":
            raise RuntimeError(
                f"{self.layout.root} already holds a checkpoint (iteration {state['iteration']}); "
                "resume it (--resume auto) or choose another output_dir"
            )
        changed = [key for key in config_differences(state["config"], self.config) if key not in RESUMABLE_CHANGES]
        if changed:
            raise ValueError(
                f"cannot resume {self.layout.state}: config key(s) {', '.join(changed)} differ from the "
                "checkpoint's config; use another output_dir for a different run"
            )
        if state["iteration"] > self.iterations:
            raise ValueError(
                f"config key 'train.iterations': {self.iterations} is below the checkpoint's iteration "
                f"{state['iteration']} in {self.layout.state}"
            )
        return state

    # ------------------------------------------------------------------------------- running

    def execute(self, dataset, plan: BatchPlan, validator: Validator | None, resume: str) -> TrainResult:
        """Resume if possible, train up to ``train.iterations``, write the final checkpoint."""
        state = self._resume_state(resume)
        resumed_from = None
        if state is not None:
            self._restore(state)
            resumed_from = self.iteration
            logger.info("resuming %s from iteration %d", self.layout.root, self.iteration)
        if self.context.is_main:
            self._open_records(resumed_from)
        logger.info(
            "training %s (%s) to iteration %d on %s in %d process(es); output in %s",
            self.config["name"], self.config["method"], self.iterations, self.context.device,
            self.context.world_size, self.layout.root,
        )
        try:
            self._loop(dataset, plan, validator)
        except BaseException as error:
            self._close_records(f"failed: {error}" if isinstance(error, Exception) else "interrupted")
            raise
        self._close_records("finished")
        self._write_rank_digest()
        distributed.barrier(self.context)
        return TrainResult(
            output_dir=self.layout.root,
            iteration=self.iteration,
            resumed_from=resumed_from,
            net_weights=self.layout.weights("net", "latest"),
            ema_weights=self.layout.weights("ema", "latest"),
            is_main=self.context.is_main,
        )

    def _wrap_for_ddp(self) -> torch.nn.Module:
        if not self.context.distributed:
            return self.model
        device_ids = [self.context.device] if self.context.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=device_ids)

    def _loop(self, dataset, plan: BatchPlan, validator: Validator | None) -> None:
        if self.iteration >= self.iterations:
            logger.info("%s is already trained to iteration %d", self.layout.root, self.iteration)
            return
        self.session_start = time.perf_counter()  # wall time counts the training loop only
        show_bar = self.context.is_main and (sys.stderr.isatty() if self.progress is None else self.progress)
        if self.context.is_main and not show_bar:
            self.progress_lines = ProgressLines(self.iterations, self.iteration, self.config["train"]["progress_every"])
        batches = iterate_batches(
            dataset,
            plan,
            self.shard,
            self.iteration + 1,
            self.iterations,
            num_workers=self.config["data"]["num_workers"],
            pin_memory=self.context.device.type == "cuda",
        )
        with tqdm(
            total=self.iterations, initial=self.iteration, unit="it", file=sys.stderr, disable=not show_bar,
            desc=self.config["name"], dynamic_ncols=True,
        ) as bar:
            for iteration, gt, lq in batches:
                loss, lr = self.step(iteration, gt, lq)
                self.iteration = iteration
                self._after_step(iteration, loss, lr, validator, bar)
                bar.update(1)

    def step(self, iteration: int, gt: torch.Tensor, lq: torch.Tensor) -> tuple[float, float]:
        """One optimisation step on this rank's rows; returns (loss averaged over ranks, lr used)."""
        device = self.context.device
        gt, lq = gt.to(device, non_blocking=True), lq.to(device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.method.loss(self.network, gt, lq, self.generator, self.shard)
        value = float(distributed.all_reduce_mean(loss.detach(), self.context))
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"training stopped: the loss is {value} at iteration {iteration} (not applied); "
                f"the last good checkpoint is kept in {self.layout.root}"
            )
        loss.backward()
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update_parameters(self.model)
        return value, lr

    def _after_step(self, iteration: int, loss: float, lr: float, validator: Validator | None, bar) -> None:
        train = self.config["train"]
        last = iteration == self.iterations
        self.window.add(loss)
        if self.progress_lines is not None:
            self.progress_lines.step(iteration, loss)
        if iteration % train["log_every"] == 0 or last:
            mean = self.window.take_mean()
            bar.set_postfix(loss=f"{mean:.4g}", lr=f"{lr:.3g}", refresh=False)
            if self.context.is_main:
                self.train_log.append([dict(iteration=iteration, loss=mean, lr=lr, wall_time=self.wall_time())])
                if self.tensorboard is not None:
                    self.tensorboard.training(iteration, mean, lr)
        if validator is not None and (iteration % train["val_every"] == 0 or last) and self.context.is_main:
            self._validate(validator, iteration)
        if (iteration % train["checkpoint_every"] == 0 or last) and self.context.is_main:
            self._checkpoint(iteration)

    def _validate(self, validator: Validator, iteration: int) -> None:
        net = self.ema.module if self.config["train"]["val_weights"] == "ema" else self.model
        restored = validator.restore(self.method, net, self.context.device)
        rows = validator.score(restored, iteration)
        self.val_log.append(rows)
        timestep_rows = validator.timestep_rows(self.method, net, self.context.device, iteration)
        if timestep_rows:
            self.timestep_log.append(timestep_rows)
        if self.tensorboard is not None:
            self.tensorboard.validation(iteration, rows, timestep_rows)
            self.tensorboard.restorations(iteration, validator.names, validator.lq, restored, validator.gt)
            self.tensorboard.flush()
        means = {row["metric"]: row["value"] for row in rows if row["image"] == "mean"}
        logger.info(
            "iteration %d validation: %s", iteration, ", ".join(f"{k} {v:.4f}" for k, v in means.items())
        )

    def _checkpoint(self, iteration: int) -> None:
        training_state = {
            "config": self.config,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict(),
            "rng": capture_rng_state({TRAIN_GENERATOR: self.generator}),
            "log_window": self.window.state(),
            "wall_time": self.wall_time(),
        }
        save_checkpoint(self.layout, iteration, self.model.state_dict(), ema_state_dict(self.ema), training_state)
        logger.debug("checkpoint of iteration %d written to %s", iteration, self.layout.root)

    def wall_time(self) -> float:
        """Seconds of training so far, summed over the sessions of this run."""
        return self.wall_time_before + time.perf_counter() - self.session_start

    # ------------------------------------------------------------------------------- records

    def _open_records(self, resumed_from: int | None) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.layout.config, dump_config(self.config))
        for log in (self.train_log, self.val_log, self.timestep_log):
            log.truncate_after(self.iteration)
        self.record = start_session(
            self.layout.run_record, self.config, resumed_from, self.context.world_size, str(self.context.device)
        )
        if self.config["train"]["tensorboard"]:
            self.tensorboard = TensorBoardLog(self.layout.root, resumed_from, self.config["train"]["tensorboard_images"])

    def _close_records(self, status: str) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self.context.is_main and self.record:
            end_session(self.layout.run_record, self.record, status, self.iteration, self.wall_time())

    def _write_rank_digest(self) -> None:
        """Debug (``train.rank_digests``): every rank writes a digest of its network and EMA."""
        if not self.config["train"]["rank_digests"]:
            return
        ema = {f"ema.{name}": value for name, value in ema_state_dict(self.ema).items()}
        digest = state_dict_digest({**self.model.state_dict(), **ema})
        atomic_write_text(self.layout.rank_digest(self.context.rank), digest + "\n")
