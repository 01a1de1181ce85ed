"""A student run's inference: the teacher's CAS and video scores, the student's detections.

For every video of a split, :func:`predict_two_stage` runs the frozen teacher (its
:class:`~ecm.inference.predict.VideoPrediction`: the CAS, which reports and CAS folders show, and the
video logits, whose probabilities choose the classes) and the student on the full snippet sequence,
zero-padded to a multiple of its coarsest stride. :func:`localize_two_stage` decodes each video
(:func:`ecm.student.decode.decode_video`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ecm.data.folder import SplitData
from ecm.data.sampling import uniform_indices
from ecm.inference.predict import VideoPrediction
from ecm.postprocess.localize import to_detections
from ecm.postprocess.proposals import Gate
from ecm.structures import Detection
from ecm.student import PointLayout, StudentConfig, TwoStageModel, decode_video, point_layout


@dataclass(frozen=True)
class TwoStagePrediction:
    """One video's outputs: the teacher's, and the student's per point of the padded length.

    Attributes:
        teacher: the teacher's CAS and video logits.
        logits: (N, C) the student's classification logits.
        offsets: (N, 2) its distances to start and end, in strides.
        padded: the padded length in snippets the points were laid over.
    """

    teacher: VideoPrediction
    logits: np.ndarray
    offsets: np.ndarray
    padded: int


def predict_two_stage(
    model: TwoStageModel,
    split: SplitData,
    *,
    device: torch.device,
    progress: Callable[[int], object] | None = None,
) -> dict[str, TwoStagePrediction]:
    """Teacher and student on every video of ``split`` (one video per forward pass)."""
    was_training = model.training
    model.eval()
    stride = model.student.max_stride
    out: dict[str, TwoStagePrediction] = {}
    try:
        with torch.inference_mode():
            for i, record in enumerate(split.videos):
                features = split.features(i)  # (T, D)
                seen = features
                if model.teacher_length is not None:
                    seen = features[uniform_indices(features.shape[0], model.teacher_length)]
                taught = model.teacher(torch.from_numpy(np.ascontiguousarray(seen))[None].to(device))
                length = features.shape[0]
                padded = -(-length // stride) * stride
                batch = torch.zeros(1, padded, features.shape[1], device=device)
                batch[0, :length] = torch.from_numpy(features).to(device)
                output = model.student(batch)
                out[record.video_id] = TwoStagePrediction(
                    VideoPrediction(
                        taught.cas[0].float().cpu().numpy(), taught.video_logits[0].float().cpu().numpy()
                    ),
                    output.logits[0].float().cpu().numpy(),
                    output.offsets[0].float().cpu().numpy(),
                    padded,
                )
                if progress is not None:
                    progress(1)
    finally:
        model.train(was_training)
    return out


def localize_two_stage(
    predictions: Mapping[str, TwoStagePrediction],
    split: SplitData,
    *,
    tau: float,
    cfg: StudentConfig,
    video_probs: Mapping[str, np.ndarray] | None = None,
    gate: Gate = "absolute",
) -> dict[str, list[Detection]]:
    """The student's detections for every predicted video of ``split`` (seconds).

    ``video_probs`` (C,) per video replace the teacher's class probabilities (the known labels, when the
    student labels training videos); ``tau`` and ``gate`` choose the classes from them, as
    ``postprocess.tau`` and ``postprocess.gate``."""
    names = split.class_index.names
    layouts: dict[int, PointLayout] = {}
    detections: dict[str, list[Detection]] = {}
    for record in split.videos:
        pred = predictions.get(record.video_id)
        if pred is None:
            continue
        layout = layouts.get(pred.padded)
        if layout is None:
            layout = layouts[pred.padded] = point_layout(pred.padded, cfg.levels)
        raw = decode_video(
            pred.logits,
            pred.offsets,
            layout,
            pred.teacher.probabilities if video_probs is None else video_probs[record.video_id],
            num_snippets=record.timing.num_snippets,
            seconds_per_snippet=record.timing.seconds_per_snippet,
            tau=tau,
            cfg=cfg,
            gate=gate,
        )
        detections[record.video_id] = to_detections(raw, names)
    return detections
