"""Per-video localization: CAS + class probabilities → detections in seconds.

Pipeline for one video (numpy only), as in the reference implementation's post-processing:

1. the caller turns video logits into probabilities (:func:`~ecm.postprocess.proposals.video_probabilities`);
2. :func:`~ecm.postprocess.proposals.normalize_cas` on the whole ``(C, T)`` CAS;
3. keep classes with ``p_c ≥ τ`` (or ``τ · max p``, ``cfg.gate``; no fallback: a video may get no detections);
4. up-sample the kept rows to the video's ``frame_num`` frames;
5. multi-threshold grouping and outer-inner-contrast scoring, ``score = inner − outer + γ·p_c``;
6. per-class hard NMS (legacy "+1" or continuous IoU), no cap on the number of detections.

Detections come out class by class (ascending class index), each class in NMS order (score descending),
as the reference writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ecm.postprocess.config import PostprocessConfig, TimeMode
from ecm.postprocess.nms import batched_nms
from ecm.postprocess.proposals import (
    FloatArray,
    generate_proposals,
    kept_classes,
    normalize_cas,
    upsample_linear,
)
from ecm.structures import Detection


class RawDetection(NamedTuple):
    """One detection before class names are attached. ``start``/``end`` in seconds."""

    class_index: int  # row of the CAS / entry of the probability vector
    score: float  # inner − outer + γ·p_c
    start: float  # seconds
    end: float  # seconds


def frames_to_seconds(
    first_frame: npt.ArrayLike,
    last_frame: npt.ArrayLike,
    *,
    frame_num: int,
    time_mode: TimeMode,
    fps: float | None = None,
    duration: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Convert inclusive frame ranges ``[first, last]`` to ``[start, end)`` in seconds.

    ``time_mode="fps"`` (THUMOS14): ``start = first / fps``, ``end = (last + 1) / fps``.
    ``time_mode="duration"`` (ActivityNet): ``start = first / frame_num · duration``,
    ``end = (last + 1) / frame_num · duration`` — evaluated in that order, as the reference does.

    Args:
        first_frame, last_frame: ``(P,)`` frame indices.
        frame_num: frames in the video (the length the CAS was up-sampled to).
        time_mode: ``"fps"`` or ``"duration"``.
        fps: the video's frames per second (needed for ``"fps"``).
        duration: the video's length in seconds (needed for ``"duration"``).

    Returns:
        ``(start, end)``, two ``(P,)`` float64 arrays in seconds.
    """
    first = np.asarray(first_frame, dtype=np.float64)
    stop = np.asarray(last_frame, dtype=np.float64) + 1.0
    if time_mode == "fps":
        if fps is None or not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"time_mode 'fps' needs a positive, finite fps, got {fps!r}")
        return first / fps, stop / fps
    if time_mode == "duration":
        if duration is None or not np.isfinite(duration) or duration <= 0:
            raise ValueError(f"time_mode 'duration' needs a positive, finite duration, got {duration!r}")
        return first / frame_num * duration, stop / frame_num * duration
    raise ValueError(f"time_mode must be 'fps' or 'duration', got {time_mode!r}")


def localize_video(
    cas: npt.ArrayLike,
    video_probs: npt.ArrayLike,
    *,
    frame_num: int,
    cfg: PostprocessConfig,
    fps: float | None = None,
    duration: float | None = None,
) -> list[RawDetection]:
    """Detections of one video (steps 2–6 of the module's pipeline).

    Args:
        cas: ``(C, T)`` class activation sequence of the pre-classification stream (logits), one column
            per snippet, dropout off.
        video_probs: ``(C,)`` class probabilities ``softmax(s_pre)``; compute them from video logits with
            :func:`~ecm.postprocess.proposals.video_probabilities`.
        frame_num: number of frames of the source video; the CAS is up-sampled to this many samples.
        cfg: post-processing constants.
        fps: frames per second, required when ``cfg.time_mode == "fps"``.
        duration: video length in seconds, required when ``cfg.time_mode == "duration"``.

    Returns:
        the detections, class by class (ascending index), each class by score descending.
    """
    scores = np.asarray(cas, dtype=np.float64)
    probs = np.asarray(video_probs, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"cas must have shape (C, T) with T ≥ 1, got {scores.shape}")
    if probs.shape != (scores.shape[0],):
        raise ValueError(f"video_probs must have shape ({scores.shape[0]},), got {probs.shape}")
    if not (np.isfinite(scores).all() and np.isfinite(probs).all()):
        raise ValueError("cas and video_probs must be finite (found NaN or Inf)")
    if int(frame_num) != frame_num or frame_num < 1:
        raise ValueError(f"frame_num must be a positive integer, got {frame_num!r}")
    frame_num = int(frame_num)
    # Validate the time arguments before any work, even for a video that ends up with no detections.
    frames_to_seconds(
        np.zeros(0), np.zeros(0), frame_num=frame_num, time_mode=cfg.time_mode, fps=fps, duration=duration
    )

    kept = kept_classes(probs, cfg.tau, cfg.gate)  # (K,) class indices, ascending
    if kept.size == 0:
        return []
    normalized = normalize_cas(scores)[kept]  # (K, T) snippets
    per_frame = upsample_linear(normalized, frame_num)  # (K, N) frames
    proposals = generate_proposals(
        per_frame, cfg.thresholds, outer_ratio=cfg.outer_ratio, index0_quirk=cfg.index0_quirk
    )
    if len(proposals) == 0:
        return []
    class_index = kept[proposals.rows]
    final = proposals.contrast + cfg.class_weight * probs[class_index]
    start, end = frames_to_seconds(
        proposals.starts,
        proposals.ends,
        frame_num=frame_num,
        time_mode=cfg.time_mode,
        fps=fps,
        duration=duration,
    )
    keep = batched_nms(start, end, final, class_index, threshold=cfg.nms_threshold, legacy=cfg.legacy_nms)
    columns = (class_index[keep].tolist(), final[keep].tolist(), start[keep].tolist(), end[keep].tolist())
    return [RawDetection(int(c), float(s), float(a), float(b)) for c, s, a, b in zip(*columns, strict=True)]


def to_detections(raw: Sequence[RawDetection], class_names: Sequence[str]) -> list[Detection]:
    """Attach class names: :class:`RawDetection` records → :class:`ecm.structures.Detection`.

    Args:
        raw: detections from :func:`localize_video`.
        class_names: name of every CAS row, in class-index order.

    Returns:
        one :class:`~ecm.structures.Detection` per record, same order.
    """
    out = []
    for det in raw:
        if not 0 <= det.class_index < len(class_names):
            raise ValueError(f"class index {det.class_index} outside the {len(class_names)} class names")
        out.append(
            Detection(label=class_names[det.class_index], score=det.score, start=det.start, end=det.end)
        )
    return out
