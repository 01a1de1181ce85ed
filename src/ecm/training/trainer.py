"""The training recipe: seeded, resumable, logged, checkpointed with its config.

``Trainer(config, run_dir).fit()`` trains for ``train.epochs`` epochs and, every ``train.eval_interval``
epochs, localizes and scores the test split in memory. The run folder is described in
:mod:`ecm.training.run_dir`.

Resumption (``resume=True``) restores parameters, optimiser state and torch RNG state from ``last.pt``;
data sampling and shuffling depend only on (seed, epoch, index), so a run resumed after epoch k ends
with exactly the weights of an uninterrupted run (CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from ecm.config import (
    CONTINUABLE_KEYS,
    ExperimentConfig,
    OptimConfig,
    build_dataset,
    config_differences,
    config_from_dict,
    config_to_dict,
    load_config,
)
from ecm.data.dataset import SnippetDataset, collate, seeded_loader, set_epoch
from ecm.data.folder import SplitData
from ecm.data.prepare import hold_out
from ecm.device import resolve_device
from ecm.distributed import (
    ShardedBatchSampler,
    barrier,
    gather_to_main,
    init_from_environment,
    process_device,
    sum_across,
)
from ecm.errors import InputError
from ecm.evaluation import DetectionResult
from ecm.inference import TrainedRun, localize_predictions, predict_split, score_detections, select_videos
from ecm.inference.student import localize_two_stage, predict_two_stage
from ecm.losses import Criterion, build_criterion
from ecm.model import build_model
from ecm.progress import progress_bar
from ecm.structures import Detection
from ecm.student import (
    StudentCriterion,
    TwoStageModel,
    WindowDataset,
    build_student,
    collate_windows,
    dump_pseudo_labels,
    read_pseudo_labels,
    write_pseudo_labels,
)
from ecm.training.checkpoint import (
    INFERENCE_FIELDS,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ecm.training.loop import evaluate_split, learning_rate, train_one_epoch
from ecm.training.precision import Precision
from ecm.training.run_dir import EpochRecord, RunDir, RunSummary, summarize
from ecm.training.teacher import make_pseudo_labels, open_teacher, pseudo_label_quality

log = logging.getLogger(__name__)

PSEUDO_FILE = "pseudo_labels.json"  # a student run's training labels, made by its teacher
TEACHER_DIR = "teacher"  # a two-stage run's first stage, inside its folder
ROUND1_DIR = "round1"  # a two-round student run's first round, inside its folder


@dataclass(frozen=True)
class TrainingData:
    """The splits a run uses: training (after the hold-out), validation (or None), test; C and D."""

    train: SplitData
    val: SplitData | None
    test: SplitData
    class_names: tuple[str, ...]
    feature_dim: int


def open_training_data(config: ExperimentConfig, *, quiet: bool = True) -> TrainingData:
    """Prepare the dataset, hold out ``data.val_fraction`` of the training split, open the test split."""
    data = config.data
    dataset = build_dataset(data, quiet=quiet)
    train, val = hold_out(
        dataset.open_split(data.train_split, require_labels=True), data.val_fraction, config.train.seed
    )
    test = dataset.open_split(data.test_split)
    if not test.ground_truth:
        raise InputError(
            dataset.root / "gt.json", f"split {data.test_split!r} has no annotations to evaluate"
        )
    if test.feature_dim != train.feature_dim:
        raise InputError(dataset.root / "features", "train and test features differ in width")
    return TrainingData(train, val, test, tuple(dataset.class_index.names), train.feature_dim)


def build_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """Adam with coupled (L2) weight decay, as the paper, or AdamW (decoupled), over the trained parameters."""
    kind = torch.optim.AdamW if optim.optimizer == "adamw" else torch.optim.Adam
    return kind(
        [p for p in model.parameters() if p.requires_grad],
        lr=optim.lr,
        betas=optim.betas,
        eps=optim.eps,
        weight_decay=optim.weight_decay,
    )


class Trainer:
    """Trains one run. Only :meth:`fit` does work; the constructor checks the run folder and the config.

    Args:
        config: the resolved experiment config.
        run_dir: the run folder (created).
        resume: continue from ``RUN/checkpoints/last.pt``.
        overwrite: delete an existing run folder's contents first.
        quiet: no progress bar.
        device: overrides ``train.device``.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        quiet: bool = False,
        device: str | None = None,
    ) -> None:
        self.run = RunDir(run_dir)
        self.teacher_config: dict[str, Any] = {}  # a student run's teacher: its config, saved in checkpoints
        self.pseudo: dict[str, list[Detection]] = {}  # and its pseudo labels
        self.config, self.resume, self.overwrite, self.quiet = config, resume, overwrite, quiet
        name = device or config.train.device
        self.group = init_from_environment(name)
        self.device = resolve_device(process_device(self.group, name))
        self.stage = self._stage_folder()  # a preceding stage trained here: RUN/round1 or RUN/teacher
        self.resume_stage = resume and self.stage is not None
        if resume and self.stage is not None and not self.run.last_checkpoint.exists():
            if self.stage.is_empty():
                raise InputError(
                    self.run.last_checkpoint,
                    f"nothing to resume (no last.pt, nor a {self.stage.path.name} stage)",
                )
            self.resume = resume = False  # stopped in the earlier stage: this one starts afresh
        if resume:
            if not self.run.last_checkpoint.exists():
                raise InputError(self.run.last_checkpoint, "nothing to resume (no last.pt)")
            saved = config_from_dict(load_checkpoint(self.run.last_checkpoint)["config"])
            changed = config_differences(saved, config, ignore=CONTINUABLE_KEYS)
            if changed:
                raise InputError(
                    None, f"--resume with a different config ({changed[0][0]} differs from the run's)"
                )
        elif not self.run.is_empty() and not overwrite and not self.resume_stage:
            raise InputError(
                self.run.path, "run folder exists and is not empty (use --resume or --overwrite)"
            )

    def fit(self) -> RunSummary:
        """Train (or continue training) to ``train.epochs``; returns the run summary.

        The data are opened before anything is written. A new run folder that fails before its first
        checkpoint is removed again, so a corrected re-run does not find a half-made run in its way.
        Under torchrun, rank 0 prepares the data first (it may generate them) and alone writes.
        """
        main = self.group.is_main
        data = open_training_data(self.config, quiet=self.quiet) if main else None
        barrier(self.group)
        data = data or open_training_data(self.config, quiet=True)
        teacher = None
        if self.config.student.enabled and self.stage is None:
            teacher = self._teacher(data)  # checked before anything is written
        if main and self.overwrite and not self.resume and not self.resume_stage and self.run.path.exists():
            shutil.rmtree(self.run.path)
        if self.stage is not None:
            self._train_stage(self.stage)
            teacher = self._teacher(data)
        existed, fresh = self.run.path.exists(), self.run.is_empty()
        barrier(self.group)
        try:
            return self._train(data, teacher)
        except BaseException:
            if main and fresh and not self.run.last_checkpoint.exists():  # all in it is ours, worth nothing
                for child in self.run.path.iterdir() if existed else ():
                    if child.is_dir():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
                if not existed:
                    shutil.rmtree(self.run.path, ignore_errors=True)
            raise

    def _train(self, data: TrainingData, teacher: TrainedRun | None) -> RunSummary:
        """The recipe: seed, build, (restore,) then train and evaluate epoch by epoch, checkpointing each."""
        cfg, main = self.config, self.group.is_main
        if main:
            self.run.checkpoints.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.train.seed)
        model, criterion = self._model_and_criterion(data, teacher)
        optimizer = build_optimizer(model, cfg.optim)
        precision = Precision(cfg.train.precision, self.device)
        average = weight_average(model, cfg.train.ema_decay, cfg.train.swa_start)
        if average is not None and cfg.train.average_start > cfg.train.epochs and main:
            log.warning(
                "the average of the weights begins at epoch %d, after the last (%d): the trained weights are "
                "what is evaluated and saved",
                cfg.train.average_start,
                cfg.train.epochs,
            )
        history = self._restore(model, optimizer, precision, average) if self.resume else []
        if main:
            self.run.write_config(cfg)
        loader = self._loader(data)
        network = self._parallel(model)
        if cfg.train.compile:
            # Training batches have one length (model.train_length): one graph, and a second, with a
            # dynamic batch size, for a last partial batch. Evaluation runs the eager model.
            network = cast(torch.nn.Module, torch.compile(network))
        best = max((h.selection for h in history if h.selection is not None), default=-math.inf)
        with (
            progress_bar(cfg.train.epochs, "train", quiet=self.quiet or not main, unit="epoch") as bar,
            self._tensorboard() as board,
            precision.session(),
        ):
            bar.update(len(history))
            for epoch in range(len(history) + 1, cfg.train.epochs + 1):
                record = self._epoch(
                    epoch, network, model, criterion, optimizer, loader, data, precision, average
                )
                history.append(record)
                if main:
                    payload = self._payload(epoch, model, optimizer, history, data, precision, average)
                    if record.selection is not None and record.selection > best:
                        best = record.selection  # best.pt first: last.pt never runs ahead of a newer best
                        save_checkpoint(self.run.checkpoint("best"), payload)
                    save_checkpoint(self.run.last_checkpoint, payload)
                    self.run.write_history(history)
                    log_epoch(board, record)
                bar.set_postfix(progress_postfix(record, cfg.eval.selection))
                bar.update(1)
        summary = summarize(history, cfg.eval.selection)
        if main:
            self.run.write_summary(summary)
        barrier(self.group)
        return summary

    def _stage_folder(self) -> RunDir | None:
        """The run folder of the stage trained before this one: the first round's student (``student.rounds:
        2``), or the teacher (``student.teacher_recipe``); None when there is none."""
        student = self.config.student
        if student.rounds == 2:
            return RunDir(self.run.path / ROUND1_DIR)
        if student.teacher_recipe is not None:
            return RunDir(self.run.path / TEACHER_DIR)
        return None

    @property
    def teacher_folder(self) -> Path:
        """Where the pseudo labels come from: the first round, ``student.teacher``, or ``RUN/teacher``."""
        if self.stage is not None:
            return self.stage.path
        given = self.config.student.teacher
        assert given is not None
        return Path(given)

    def stage_experiment(self) -> ExperimentConfig:
        """The earlier stage's config: this one with one round; or ``student.teacher_recipe`` on this
        config's data, with its seed."""
        student = self.config.student
        if student.rounds == 2:
            return dataclasses.replace(self.config, student=dataclasses.replace(student, rounds=1))
        recipe = student.teacher_recipe
        assert recipe is not None
        loaded = load_config(recipe)
        if loaded.student.enabled:
            raise InputError(None, f"student.teacher_recipe {recipe!r} trains a student, not an ECM teacher")
        train = dataclasses.replace(
            loaded.train, seed=self.config.train.seed, device=self.config.train.device
        )
        return dataclasses.replace(loaded, data=self.config.data, train=train)

    def _train_stage(self, stage: RunDir) -> None:
        """Train (or finish) the earlier stage in its folder; a finished one is kept."""
        config = self.stage_experiment()
        history = stage.read_history() if stage.read_summary() is not None else []
        if len(history) >= config.train.epochs:
            return
        again = self.resume_stage and not stage.is_empty()
        log.info("first %s → %s", stage.path.name, stage.path)
        Trainer(config, stage.path, resume=again, quiet=self.quiet, device=str(self.device)).fit()
        log.info("then this run → %s", self.run.path)

    def _teacher(self, data: TrainingData) -> TrainedRun:
        """A student run's teacher, checked against the data, and its pseudo labels (kept for the loader):
        read back from the run folder when resuming, else made now. No pseudo labels at all is an error."""
        cfg = self.config.student
        first_round = cfg.rounds == 2
        teacher = open_teacher(
            self.teacher_folder,
            "last" if first_round else cfg.teacher_checkpoint,
            class_names=data.class_names,
            feature_dim=data.feature_dim,
            device=str(self.device),
            student=first_round,
        )
        if first_round:  # the second student keeps the first one's teacher for its classes
            state = load_checkpoint(teacher.checkpoint, INFERENCE_FIELDS)
            self.teacher_config = dict(state["teacher_config"])
        else:
            self.teacher_config = config_to_dict(teacher.config)
        path = self.run.path / PSEUDO_FILE
        if self.resume and path.exists():
            self.pseudo = read_pseudo_labels(path)
        else:
            self.pseudo = make_pseudo_labels(teacher, data.train, cfg)
        if not any(self.pseudo.values()):
            raise InputError(
                self.teacher_folder,
                f"the teacher found nothing on the {len(data.train)} training videos: no pseudo labels to train on",
            )
        return teacher

    def _model_and_criterion(
        self, data: TrainingData, teacher: TrainedRun | None
    ) -> tuple[torch.nn.Module, Criterion | StudentCriterion]:
        """ECM and its criterion; or, for a student run, the student beside its teacher and the student's
        criterion (the pseudo labels written to the run folder on the way)."""
        cfg = self.config
        classes, width = len(data.class_names), data.feature_dim
        if teacher is None:
            ecm = build_model(cfg.model, classes, width).to(self.device)
            return ecm, build_criterion(cfg.loss, cfg.model.variant)
        if self.group.is_main and not (self.resume and (self.run.path / PSEUDO_FILE).exists()):
            self._write_pseudo_labels(data)
        student = build_student(cfg.student, classes, width)
        if isinstance(
            teacher.model, TwoStageModel
        ):  # a second round: the first one's teacher chooses classes
            first, length = teacher.model.teacher, teacher.model.teacher_length
        else:
            first, length = teacher.model, teacher.config.test_length
        model = TwoStageModel(first, student, length).to(self.device)
        s = cfg.student
        return model, StudentCriterion(alpha=s.focal_alpha, gamma=s.focal_gamma, reg_weight=s.reg_weight)

    def _write_pseudo_labels(self, data: TrainingData) -> None:
        """``RUN/pseudo_labels.json``, and their quality in the log where the training videos are annotated."""
        pseudo = self.pseudo
        timing = {v.video_id: (v.timing.duration, v.timing.fps) for v in data.train.videos}
        teacher = str(self.teacher_folder)
        write_pseudo_labels(
            self.run.path / PSEUDO_FILE,
            dump_pseudo_labels(pseudo, timing, subset=data.train.name, teacher=teacher),
        )
        quality = pseudo_label_quality(pseudo, data.train, self.config.eval.tious)
        if quality is not None:
            tious = quality.tious
            log.info(
                "pseudo labels: %d on %d videos; their mAP@%g %.2f, average over tIoU %g:%g %.2f",
                sum(map(len, pseudo.values())),
                sum(1 for found in pseudo.values() if found),
                tious[0],
                quality.map_at(tious[0]),
                tious[0],
                tious[-1],
                quality.average,
            )

    def _loader(self, data: TrainingData) -> DataLoader[Any]:
        """The training loader: ECM's examples, or the student's windows of its pseudo-labelled videos; in
        the one-process order (:func:`ecm.data.dataset.seeded_loader`), or this rank's share of each global
        batch."""
        cfg = self.config
        dataset: Any
        if cfg.student.enabled:
            s = cfg.student
            dataset = WindowDataset(data.train, self.pseudo, window=s.window, seed=cfg.train.seed)
            collate_fn: Any = functools.partial(
                collate_windows, levels=s.levels, num_classes=len(data.class_names), radius=s.center_radius
            )
        else:
            dataset = SnippetDataset(
                data.train, length=cfg.model.train_length, mode=cfg.data.train_sampling, seed=cfg.train.seed
            )
            collate_fn = collate
        pin = self.device.type == "cuda"
        if not self.group.distributed:
            return seeded_loader(
                dataset,
                collate_fn,
                batch_size=cfg.train.batch_size,
                shuffle=True,
                seed=cfg.train.seed,
                num_workers=cfg.data.num_workers,
                pin_memory=pin,
            )
        sampler = ShardedBatchSampler(
            len(dataset),
            cfg.train.batch_size,
            seed=cfg.train.seed,
            rank=self.group.rank,
            world=self.group.world,
        )
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate_fn,
            num_workers=cfg.data.num_workers,
            pin_memory=pin,
        )

    def _parallel(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` wrapped in DistributedDataParallel under torchrun, else itself."""
        if not self.group.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # A warm-up on L_pre alone leaves the post stream's parameters without gradient for a while.
        unused = self.config.loss.warmup_epochs > 0 and not self.config.student.enabled
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)

    def _epoch(
        self,
        epoch: int,
        network: torch.nn.Module,
        model: torch.nn.Module,
        criterion: Criterion | StudentCriterion,
        optimizer: torch.optim.Optimizer,
        loader: DataLoader[Any],
        data: TrainingData,
        precision: Precision,
        average: AveragedModel | None,
    ) -> EpochRecord:
        """Train one epoch, then evaluate when the schedule says so (the record's scores on rank 0 only).

        With an exponential average of the weights, it is updated after every step from epoch
        ``train.ema_start`` on; with SWA, at the end of each epoch from ``train.swa_start`` on. Once it holds
        weights, the average is what is evaluated.
        """
        cfg = self.config
        swa = cfg.train.swa_start > 0
        update = None  # adds the current weights to the average, once it has begun
        if average is not None and epoch >= cfg.train.average_start:
            update = functools.partial(average.update_parameters, model)
        started = time.perf_counter()
        lr = learning_rate(cfg.optim, epoch, cfg.train.epochs)
        set_epoch(loader, epoch)
        batches: Any = loader
        if self.group.distributed:
            sampler = loader.batch_sampler
            assert isinstance(sampler, ShardedBatchSampler)
            batches = zip(loader, sampler.shares(), strict=True)
        with warnings.catch_warnings():
            # DDP notes that a 1×1 convolution's gradient has other strides than its bucket: speed only.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            factor = cfg.loss.post_factor(epoch)
            if isinstance(criterion, Criterion) and factor != 1.0:
                criterion = criterion.scaled(factor)
            sums, count = train_one_epoch(
                network,
                criterion,
                optimizer,
                batches,
                lr=lr,
                device=self.device,
                world=self.group.world,
                precision=precision,
                after_step=None if swa else update,
            )
        if swa and update is not None:
            update()
        loss = {name: total / max(count, 1) for name, total in sum_across(self.group, sums).items()}
        interval = cfg.train.eval_interval
        if not (epoch == cfg.train.epochs or (interval > 0 and epoch % interval == 0)):
            return EpochRecord(epoch, lr, loss, time.perf_counter() - started)
        evaluated = averaged_or_trained(model, average)
        test = self.evaluate(evaluated, data.test)
        val = self.evaluate(evaluated, data.val) if data.val is not None else None
        if test is None:  # not rank 0
            return EpochRecord(epoch, lr, loss, time.perf_counter() - started)
        summary = test.summary()
        selection = summary.value(cfg.eval.selection)
        val_summary = val.summary() if val is not None else None
        return EpochRecord(epoch, lr, loss, time.perf_counter() - started, summary, val_summary, selection)

    def evaluate(self, model: torch.nn.Module, split: SplitData) -> DetectionResult | None:
        """Localize and score ``split`` with the current weights, in memory.

        Under torchrun every rank predicts its share of the videos and rank 0 scores them all; the other
        ranks get ``None``.
        """
        cfg = self.config
        if isinstance(model, TwoStageModel):
            return self._evaluate_two_stage(model, split)
        if not self.group.distributed:
            return evaluate_split(
                model,
                split,
                postprocess=cfg.postprocess,
                tious=cfg.eval.tious,
                device=self.device,
                batch_size=cfg.train.eval_batch_size,
                length=cfg.test_length,
            )
        ids = [v.video_id for v in split.videos]
        share = select_videos(split, ids[self.group.rank :: self.group.world])
        mine = predict_split(
            model,
            share,
            device=self.device,
            batch_size=cfg.train.eval_batch_size,
            uniform_length=cfg.test_length,
        )
        parts = gather_to_main(self.group, mine)
        if parts is None:
            return None
        predictions = {vid: part[vid] for part in parts for vid in part}
        ordered = {vid: predictions[vid] for vid in ids}
        return score_detections(localize_predictions(ordered, split, cfg.postprocess), split, cfg.eval.tious)

    def _evaluate_two_stage(self, model: TwoStageModel, split: SplitData) -> DetectionResult | None:
        """:meth:`evaluate` for a student: each rank predicts its share, rank 0 decodes and scores."""
        cfg = self.config
        ids = [v.video_id for v in split.videos]
        share = (
            split
            if not self.group.distributed
            else select_videos(split, ids[self.group.rank :: self.group.world])
        )
        mine = predict_two_stage(model, share, device=self.device)
        parts = gather_to_main(self.group, mine) if self.group.distributed else [mine]
        if parts is None:
            return None
        predictions = {vid: part[vid] for part in parts for vid in part}
        detections = localize_two_stage(
            predictions, split, tau=cfg.postprocess.tau, cfg=cfg.student, gate=cfg.postprocess.gate
        )
        return score_detections(detections, split, cfg.eval.tious)

    def _restore(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        precision: Precision,
        average: AveragedModel | None,
    ) -> list[EpochRecord]:
        """Load ``last.pt`` into the model (and its average), the optimiser, the gradient scaler and the
        RNG; returns the history so far."""
        state = load_checkpoint(self.run.last_checkpoint)
        if average is None:
            model.load_state_dict(state["model"])
        else:
            if not isinstance(state.get("train_model"), dict) or not isinstance(state.get("ema_count"), int):
                raise InputError(self.run.last_checkpoint, "it holds no training weights beside the average")
            model.load_state_dict(state["train_model"])
            average.module.load_state_dict(state["model"])
            average.n_averaged.fill_(state["ema_count"])
        optimizer.load_state_dict(state["optimizer"])
        scaler = state.get("scaler", {})
        try:
            if not isinstance(scaler, dict):
                raise TypeError(type(scaler).__name__)
            precision.load_state_dict(scaler)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputError(
                self.run.last_checkpoint, f"its gradient scaler state is unusable ({exc})"
            ) from None
        set_rng_state(state["rng"])
        history = [EpochRecord.from_json(h, self.run.last_checkpoint) for h in state["metrics"]]
        if len(history) != int(state["epoch"]):
            raise InputError(self.run.last_checkpoint, "its history does not match its epoch")
        return history

    def _payload(
        self,
        epoch: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        history: list[EpochRecord],
        data: TrainingData,
        precision: Precision,
        average: AveragedModel | None,
    ) -> dict[str, Any]:
        """What a checkpoint holds (see :mod:`ecm.training.checkpoint`): ``model`` is what is evaluated
        and localized (the average of the weights when there is one, with the trained weights beside it)."""
        extra: dict[str, Any] = {}
        if self.config.student.enabled:
            extra["teacher_config"] = self.teacher_config
        if average is not None:
            extra.update(train_model=model.state_dict(), ema_count=int(average.n_averaged))
        return {
            "epoch": epoch,
            "model": averaged_or_trained(model, average).state_dict(),
            **extra,
            "optimizer": optimizer.state_dict(),
            "scaler": precision.state_dict(),
            "config": config_to_dict(self.config),
            "metrics": [h.to_json() for h in history],
            "class_names": list(data.class_names),
            "feature_dim": data.feature_dim,
            "rng": rng_state(),
        }

    def _tensorboard(self) -> contextlib.AbstractContextManager[Any]:
        """A TensorBoard writer under ``RUN/tensorboard`` when ``train.tensorboard`` is on, else a no-op."""
        if not self.config.train.tensorboard or not self.group.is_main:
            return contextlib.nullcontext()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise InputError(
                None, "train.tensorboard needs the tensorboard extra: pip install 'ecm-tal[tensorboard]'"
            ) from None
        return SummaryWriter(str(self.run.tensorboard))


def weight_average(model: torch.nn.Module, decay: float, swa_start: int) -> AveragedModel | None:
    """An average of ``model``'s weights (and buffers), or None for neither option.

    ``decay`` > 0: exponential, ``w̄ ← decay · w̄ + (1 − decay) · w`` after each step. ``swa_start`` ≥ 1:
    the plain mean of the weights at the end of each epoch from that epoch on (stochastic weight
    averaging, Izmailov et al. 2018). The first update copies ``w``.
    """
    if decay > 0.0:
        return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    if swa_start > 0:
        return AveragedModel(model, use_buffers=True)
    return None


def averaged_or_trained(model: torch.nn.Module, average: AveragedModel | None) -> torch.nn.Module:
    """What is evaluated, localized and saved as ``model``: the average once it holds weights."""
    if average is None or int(average.n_averaged) == 0:
        return model
    module: torch.nn.Module = average.module
    return module


def progress_postfix(record: EpochRecord, selection: str) -> dict[str, str]:
    """The progress bar's postfix: mean total loss, and the selection metric when evaluated."""
    postfix = {"loss": f"{record.loss.get('total', 0.0):.3f}"}
    if record.selection is not None:
        postfix[selection] = f"{record.selection:.2f}"
    return postfix


def log_epoch(writer: Any, record: EpochRecord) -> None:
    """Every loss term and mAP of ``record`` as TensorBoard scalars (``writer`` None: nothing)."""
    if writer is None:
        return
    for name, value in record.loss.items():
        writer.add_scalar(f"loss/{name}", value, record.epoch)
    for part, scores in (("test", record.test), ("val", record.val)):
        if scores is not None:
            for tiou, value in scores.mAP.items():
                writer.add_scalar(f"{part}/mAP@{tiou}", value, record.epoch)
            writer.add_scalar(f"{part}/average", scores.average, record.epoch)
