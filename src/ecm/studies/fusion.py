"""Late-fusion baselines of two separately trained streams (paper Table 4, and the supplement's Table 9).

ECM's claim is that *sharing* the classifier between a pre- and a post-classification stream helps; the
obvious alternative is to train the two pipelines apart and fuse their outputs. Two fusions, both of a
stream A (``pre_only`` in an ablation study) and a stream B (``post_only``), each from its own run:

* **concatenation + NMS** (:func:`concatenate_detections`) — per video, the detections of A and of B
  (each already post-processed) are pooled and per-class hard NMS is applied again, with the
  threshold and IoU definition (legacy "+1" or continuous) of the post-processing config. The paper's
  "two separate classifiers, results concatenated + NMS" row (21.4 mAP@0.5 on THUMOS14).
* **weighted-sum CAS** (:func:`weighted_sum_predictions`) — per video, ``cas = λ·cas_A + (1 − λ)·cas_B``
  on the raw CAS logits ``(C, T)``, and the video logits likewise, ``s = λ·s_A + (1 − λ)·s_B`` (so the class
  probabilities are ``softmax(s)``, not a mix of probabilities); then the normal post-processing.
  λ = 1 is stream A alone, λ = 0 stream B alone; the supplement uses λ ∈ {0.2, 0.4, 0.6, 0.8}.

Everything is numpy on predictions already in memory: no model is needed here. Torch is imported only
through :mod:`ecm.inference` (for :class:`~ecm.inference.VideoPrediction`), inside the functions, so the
names below can be read without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecm.postprocess.config import PostprocessConfig
from ecm.postprocess.nms import batched_nms
from ecm.structures import Detection

if TYPE_CHECKING:
    from ecm.data.folder import SplitData
    from ecm.inference import VideoPrediction

log = logging.getLogger(__name__)

# λ values of the weighted-sum baseline in the paper's supplement (Table 9).
FUSION_WEIGHTS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
CONCAT = "concat"
# The two separately trained variants a study fuses: stream A, stream B.
FUSION_STREAMS: tuple[str, str] = ("pre_only", "post_only")


def weighted_sum_name(weight: float) -> str:
    """Name of the weighted-sum fusion with λ = ``weight``: ``0.2 → "wsum_0.2"``."""
    return f"wsum_{weight:g}"


def concatenate_detections(
    first: Mapping[str, Sequence[Detection]],
    second: Mapping[str, Sequence[Detection]],
    *,
    nms_threshold: float,
    legacy_nms: bool = True,
    class_names: Sequence[str] | None = None,
) -> dict[str, list[Detection]]:
    """Pool two detection sets per video and re-apply per-class hard NMS.

    Args:
        first, second: per video, detections in seconds (e.g. of a ``pre_only`` and a ``post_only`` run).
        nms_threshold: IoU at or above which a detection is suppressed by a better one of its class.
        legacy_nms: the reference's "+1" IoU on seconds (True) or the continuous IoU (False).
        class_names: the class order of the output (each video's detections come class by class, in this
            order, each class by score descending — as :func:`ecm.postprocess.localize_video` writes them);
            ``None``: sorted label names.

    Returns:
        every video of ``first`` then those only in ``second``, each with its kept detections.

    Raises:
        ValueError: a label that is not in ``class_names``.
    """
    videos = list(dict.fromkeys([*first, *second]))
    if class_names is None:
        class_names = sorted({d.label for dets in (*first.values(), *second.values()) for d in dets})
    order = {name: i for i, name in enumerate(class_names)}
    fused: dict[str, list[Detection]] = {}
    for video in videos:
        pool = [*first.get(video, ()), *second.get(video, ())]
        if not pool:
            fused[video] = []
            continue
        unknown = [d.label for d in pool if d.label not in order]
        if unknown:
            raise ValueError(f"video {video}: label {unknown[0]!r} is not one of the given class names")
        keep = batched_nms(
            np.array([d.start for d in pool], dtype=np.float64),
            np.array([d.end for d in pool], dtype=np.float64),
            np.array([d.score for d in pool], dtype=np.float64),
            np.array([order[d.label] for d in pool], dtype=np.int64),
            threshold=nms_threshold,
            legacy=legacy_nms,
        )
        fused[video] = [Detection(pool[i].label, pool[i].score, pool[i].start, pool[i].end) for i in keep]
    return fused


def weighted_sum_predictions(
    first: Mapping[str, VideoPrediction], second: Mapping[str, VideoPrediction], weight: float
) -> dict[str, VideoPrediction]:
    """``λ·first + (1 − λ)·second`` of the CAS logits ``(C, T)`` and the video logits ``(C,)`` of each video.

    Args:
        first, second: the two streams' predictions of the same videos (same keys, same shapes: both
            models saw the same snippets).
        weight: λ in [0, 1], the weight of ``first``.

    Raises:
        ValueError: λ outside [0, 1], different videos, or different shapes.
    """
    from ecm.inference import VideoPrediction

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"fusion weight λ must lie in [0, 1], got {weight}")
    if set(first) != set(second):
        missing = sorted(set(first) ^ set(second))
        raise ValueError(f"the two streams predicted different videos (e.g. {missing[0]})")
    fused = {}
    for video, a in first.items():
        b = second[video]
        if a.cas.shape != b.cas.shape or a.video_logits.shape != b.video_logits.shape:
            raise ValueError(
                f"video {video}: CAS {a.cas.shape} and {b.cas.shape} (or video logits) differ in shape"
            )
        fused[video] = VideoPrediction(
            cas=weight * a.cas + (1.0 - weight) * b.cas,  # (C, T) logits
            video_logits=weight * a.video_logits + (1.0 - weight) * b.video_logits,  # (C,) logits
        )
    return fused


@dataclass(frozen=True)
class FusionOutput:
    """One fusion baseline's output.

    Attributes:
        name: ``"concat"`` or ``"wsum_<λ>"``.
        detections: per video, detections in seconds.
        predictions: the fused CAS and video logits (weighted sum only; ``None`` for concatenation, which
            has no CAS — frame accuracy is then undefined).
    """

    name: str
    detections: dict[str, list[Detection]]
    predictions: dict[str, VideoPrediction] | None


def fusion_baselines(
    first: Mapping[str, VideoPrediction],
    second: Mapping[str, VideoPrediction],
    split: SplitData,
    cfg: PostprocessConfig,
    weights: Sequence[float] = FUSION_WEIGHTS,
) -> list[FusionOutput]:
    """Every fusion of two streams' predictions on ``split``: concatenation + NMS, then one per λ.

    Each stream is first localized on its own (with ``cfg``) for the concatenation; the weighted
    sums are localized from the fused CAS with the same ``cfg``.
    """
    from ecm.inference import localize_predictions

    names = split.class_index.names
    detections_first = localize_predictions(first, split, cfg)
    detections_second = localize_predictions(second, split, cfg)
    outputs = [
        FusionOutput(
            CONCAT,
            concatenate_detections(
                detections_first,
                detections_second,
                nms_threshold=cfg.nms_threshold,
                legacy_nms=cfg.legacy_nms,
                class_names=names,
            ),
            None,
        )
    ]
    for weight in weights:
        fused = weighted_sum_predictions(first, second, weight)
        outputs.append(
            FusionOutput(weighted_sum_name(weight), localize_predictions(fused, split, cfg), fused)
        )
    log.debug("fusion baselines: %s", ", ".join(o.name for o in outputs))
    return outputs
