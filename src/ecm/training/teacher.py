"""The first stage seen from the second: a finished ECM run as a teacher, and its pseudo labels.

:func:`open_teacher` restores the run ``student.teacher`` names and checks that it can teach this data
(a finished ECM run, the same classes, the same feature width); :func:`make_pseudo_labels` runs it on a
split and filters its proposals (:mod:`ecm.student.pseudo`); :func:`pseudo_label_quality` scores them
against the split's temporal annotations, where it has them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ecm.data.folder import SplitData
from ecm.device import full_float32
from ecm.errors import InputError
from ecm.evaluation import DetectionResult
from ecm.inference import TrainedRun, localize_predictions, predict_split, score_detections
from ecm.inference.student import localize_two_stage, predict_two_stage
from ecm.structures import Detection
from ecm.student import StudentConfig, TwoStageModel, select_pseudo_labels
from ecm.training.checkpoint import load_run
from ecm.training.run_dir import RunDir


def open_teacher(
    folder: str | os.PathLike[str],
    checkpoint: str,
    *,
    class_names: Sequence[str] | None = None,
    feature_dim: int | None = None,
    device: str = "auto",
    student: bool = False,
) -> TrainedRun:
    """The finished ECM run in ``folder`` (with ``student``: the finished student run of a first round),
    restored from its ``checkpoint`` (``last`` or ``best``).

    Raises :class:`InputError` naming ``folder`` for anything but a finished run of that kind for
    ``class_names`` and ``feature_dim`` (when given).
    """
    path = Path(folder)
    if not path.is_dir():
        raise InputError(path, "student.teacher: no such run folder")
    if RunDir(path).read_summary() is None:
        raise InputError(path, "student.teacher is not a finished run (it has no summary.json)")
    run = load_run(path, checkpoint, device)
    if run.config.student.enabled and not student:
        raise InputError(path, "student.teacher is a student run; a teacher must be an ECM run")
    if class_names is not None and tuple(class_names) != run.class_names:
        raise InputError(
            path,
            f"student.teacher was trained for other classes ({len(run.class_names)}: "
            f"{', '.join(run.class_names[:3])}, …) than this data's ({len(class_names)})",
        )
    if feature_dim is not None and feature_dim != run.feature_dim:
        raise InputError(
            path,
            f"student.teacher was trained on {run.feature_dim}-wide features, this data's are {feature_dim}",
        )
    return run


def video_labels(split: SplitData) -> dict[str, frozenset[str]]:
    """Each video's known labels (its multi-hot vector as class names)."""
    names = split.class_index.names
    return {v.video_id: frozenset(names[i] for i in np.flatnonzero(v.labels)) for v in split.videos}


def make_pseudo_labels(
    teacher: TrainedRun, split: SplitData, cfg: StudentConfig, *, batch_size: int = 16
) -> dict[str, list[Detection]]:
    """The teacher's pseudo labels for every video of ``split`` (possibly empty lists).

    An ECM teacher's own post-processing makes the proposals, with its NMS off (IoU threshold 1: only exact
    duplicates go) so that the density filter sees every proposal; a first-round student's proposals are
    its decoded candidates for the video's known classes, NMS off likewise.
    :func:`ecm.student.select_pseudo_labels` does the rest.
    """
    labels = video_labels(split)
    if isinstance(teacher.model, TwoStageModel):  # a first-round student: its candidates before NMS
        with full_float32(teacher.device):
            two = predict_two_stage(teacher.model, split, device=teacher.device)
        names = split.class_index.names
        known = {vid: np.array([float(n in labels[vid]) for n in names]) for vid in two}
        first = teacher.config.student
        candidates = localize_two_stage(
            two,
            split,
            tau=0.5,
            cfg=dataclasses.replace(first, nms="hard", nms_iou=1.0, max_detections=first.pre_nms),
            video_probs=known,
        )
        return {vid: select_pseudo_labels(found, labels[vid], cfg) for vid, found in candidates.items()}
    with full_float32(teacher.device), torch.inference_mode():
        predictions = predict_split(
            teacher.model,
            split,
            device=teacher.device,
            batch_size=batch_size,
            uniform_length=teacher.config.test_length,
        )
    every = dataclasses.replace(teacher.config.postprocess, nms_threshold=1.0, legacy_nms=False)
    proposals = localize_predictions(predictions, split, every)
    return {vid: select_pseudo_labels(found, labels[vid], cfg) for vid, found in proposals.items()}


def pseudo_label_quality(
    pseudo: Mapping[str, Sequence[Detection]], split: SplitData, tious: Sequence[float]
) -> DetectionResult | None:
    """mAP of the pseudo labels (ranked by score) against ``split``'s temporal annotations, or None
    when it has none."""
    if not split.ground_truth:
        return None
    return score_detections(pseudo, split, tious)
