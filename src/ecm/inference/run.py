"""A trained run applied to a split: the restored model, the checks that it fits the data, localization.

:class:`TrainedRun` is what :func:`ecm.training.load_run` restores from a run folder; the functions here
open the split to localize (checking classes and feature width against the checkpoint) and localize it
in memory. Files are written by :mod:`ecm.inference.outputs`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ecm.config import ExperimentConfig
from ecm.data.annotations import ClassIndex
from ecm.data.folder import CLASS_FILE, DatasetFolder, SplitData, load_class_index
from ecm.data.timing import SnippetTiming
from ecm.device import full_float32
from ecm.distributed import balanced_shards
from ecm.errors import InputError
from ecm.inference.predict import VideoPrediction, localize_predictions, predict_split
from ecm.inference.student import localize_two_stage, predict_two_stage
from ecm.progress import progress_bar
from ecm.structures import Detection
from ecm.student import TwoStageModel


@dataclass(frozen=True)
class TrainedRun:
    """A trained model restored from a run folder, ready for inference (eval mode, on ``device``).

    Attributes:
        run_dir: the run folder.
        checkpoint: the ``.pt`` file the weights came from.
        config: the run's resolved config.
        model: the network in eval mode.
        class_names: the C classes, in CAS row order.
        feature_dim: input width D the model expects.
        epoch: the epoch the checkpoint was written after (1-based).
        device: where ``model`` lives.
    """

    run_dir: Path
    checkpoint: Path
    config: ExperimentConfig
    model: torch.nn.Module
    class_names: tuple[str, ...]
    feature_dim: int
    epoch: int
    device: torch.device


@dataclass(frozen=True)
class Localization:
    """A split localized in memory.

    Attributes:
        predictions: per video, the model's CAS ``(C, T)`` and video logits ``(C,)``.
        detections: per video (every video of the split), detections in seconds.
        forward_seconds: wall time of the model forward passes, feature loading included.
        postprocess_seconds: wall time of the post-processing.
    """

    predictions: dict[str, VideoPrediction]
    detections: dict[str, list[Detection]]
    forward_seconds: float
    postprocess_seconds: float

    @property
    def num_detections(self) -> int:
        """Detections over all videos."""
        return sum(len(d) for d in self.detections.values())


def dataset_classes(root: Path, ground_truth: dict[str, Any], train_split: str) -> tuple[str, ...] | None:
    """The classes a dataset folder defines itself (``classes.txt``, else its labelled training videos), or None."""
    try:
        return load_class_index(root, ground_truth, train_split).names
    except InputError:
        if (root / CLASS_FILE).is_file():
            raise  # a classes.txt that does not read is an error, not "no classes"
        return None


def open_split_for_run(run: TrainedRun, data: str | os.PathLike[str] | None, split: str | None) -> SplitData:
    """Open the split to localize with ``run``, checking it fits the model.

    Args:
        run: the restored run (its config gives the default folder, split and snippet timing).
        data: dataset or feature folder; ``None`` → the run's ``data.root``.
        split: split name; ``None`` → the run's ``data.test_split``.

    Raises:
        InputError: the folder's classes differ from the checkpoint's, a label is not one of them, or the
            features' width is not the model's input width.
    """
    cfg = run.config.data
    root = Path(data if data is not None else cfg.root)
    folder = DatasetFolder(
        root,
        train_split=cfg.train_split,
        timing=SnippetTiming(cfg.frames_per_snippet, cfg.feature_fps),
        class_index=ClassIndex(run.class_names),
    )
    own = dataset_classes(root, folder.ground_truth, cfg.train_split)
    if own is not None and set(own) != set(run.class_names):
        only_data = sorted(set(own) - set(run.class_names))
        only_model = sorted(set(run.class_names) - set(own))
        example = (
            f"{only_data[0]!r} is not one of the model's"
            if only_data
            else f"the model's {only_model[0]!r} is not"
        )
        raise InputError(
            root,
            f"the dataset's {len(own)} classes are not the {len(run.class_names)} the checkpoint "
            f"{run.checkpoint} was trained on ({example})",
        )
    opened = folder.open_split(split or cfg.test_split)
    if opened.feature_dim != run.feature_dim:
        raise InputError(
            root / "features" / opened.name,
            f"features are {opened.feature_dim} channels wide, the model {run.checkpoint} expects "
            f"{run.feature_dim}",
        )
    if not opened.videos:
        raise InputError(root, f"split {opened.name!r} has no videos")
    return opened


def localize_split(
    run: TrainedRun,
    split: SplitData,
    *,
    batch_size: int = 16,
    quiet: bool = True,
    progress: Callable[[int], object] | None = None,
) -> Localization:
    """Forward every video of ``split`` through ``run.model``, then post-process each CAS.

    Equal-length videos share a forward pass (``batch_size`` at most); with the run's
    ``data.test_sampling == "uniform"`` every video is ``model.train_length`` snippets long.
    """
    cfg = run.config
    started = time.perf_counter()
    with progress_bar(len(split), "localize", quiet=quiet) as bar:

        def advance(done: int) -> None:
            bar.update(done)
            if progress is not None:
                progress(done)

        if isinstance(run.model, TwoStageModel):  # a student: the teacher's CAS, the student's detections
            with full_float32(run.device):
                two = predict_two_stage(run.model, split, device=run.device, progress=advance)
            forward = time.perf_counter() - started
            started = time.perf_counter()
            detections = localize_two_stage(
                two, split, tau=cfg.postprocess.tau, cfg=cfg.student, gate=cfg.postprocess.gate
            )
            predictions = {vid: p.teacher for vid, p in two.items()}
            return Localization(predictions, detections, forward, time.perf_counter() - started)
        with full_float32(run.device):  # as in training's evaluation
            predictions = predict_split(
                run.model,
                split,
                device=run.device,
                batch_size=max(1, batch_size),
                uniform_length=cfg.test_length,
                progress=advance,
            )
    forward = time.perf_counter() - started
    started = time.perf_counter()
    detections = localize_predictions(predictions, split, cfg.postprocess)
    return Localization(predictions, detections, forward, time.perf_counter() - started)


def select_videos(split: SplitData, video_ids: Sequence[str]) -> SplitData:
    """``split`` restricted to ``video_ids``, in that order; :class:`InputError` for an id it lacks."""
    records = {r.video_id: r for r in split.videos}
    missing = [v for v in video_ids if v not in records]
    if missing:
        raise InputError(None, f"video {missing[0]!r} is not in split {split.name!r}")
    chosen = tuple(records[v] for v in video_ids)
    ground_truth = {v: a for v, a in split.ground_truth.items() if v in set(video_ids)}
    return dataclasses.replace(split, videos=chosen, ground_truth=ground_truth)


def shard_split(split: SplitData, shard: tuple[int, int]) -> SplitData:
    """The videos of shard ``(i, N)`` of ``split``, balanced by snippet count; ``split`` itself for (0, 1)."""
    index, count = shard
    if count == 1:
        return split
    shards = balanced_shards([record.timing.num_snippets for record in split.videos], count)
    return select_videos(split, [split.videos[i].video_id for i in shards[index]])


def merge_localizations(parts: Sequence[Localization], split: SplitData) -> Localization:
    """The shards' localizations as one, videos in ``split``'s order; times are the slowest shard's."""
    predictions = {vid: p for part in parts for vid, p in part.predictions.items()}
    detections = {vid: d for part in parts for vid, d in part.detections.items()}
    order = [r.video_id for r in split.videos if r.video_id in detections]
    return Localization(
        {vid: predictions[vid] for vid in order},
        {vid: detections[vid] for vid in order},
        max(part.forward_seconds for part in parts),
        max(part.postprocess_seconds for part in parts),
    )
