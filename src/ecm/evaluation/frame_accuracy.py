"""Snippet-level (frame) classification accuracy over action snippets (paper Table 10).

For each video: the classes kept are those whose video-level score is ≥ τ (as in localization);
each snippet is assigned the kept class with the highest CAS value (ties: the lower class index). Only
**action snippets** count — snippets whose centre ``(t + 0.5) · snippet_seconds`` lies inside a ground-truth
instance (bounds included) — and one is correct when its assigned class is the label of an instance covering
that centre. A video with no kept class counts all its action snippets as wrong. The result is the
micro-average over all action snippets of all videos, in percent.

Which CAS to pass (raw logits or normalised) is the caller's choice; the argmax runs over the values given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ecm.data.annotations import ClassIndex, VideoAnnotation
from ecm.postprocess.proposals import Gate, kept_classes

log = logging.getLogger(__name__)


def frame_accuracy(
    cas: Mapping[str, np.ndarray],
    video_scores: Mapping[str, np.ndarray],
    ground_truth: Mapping[str, VideoAnnotation],
    class_index: ClassIndex,
    snippet_seconds: float | Mapping[str, float],
    tau: float,
    gate: Gate = "absolute",
) -> float:
    """Percent of action snippets whose argmax class (over kept classes) is a ground-truth label there.

    Args:
        cas: per video, ``(C, T)`` class activation sequence (C = ``len(class_index)``, T snippets).
        video_scores: per video, ``(C,)`` video-level class scores (probabilities), compared with ``tau``.
        ground_truth: the evaluated videos; those without instances are skipped.
        class_index: maps ground-truth label names to CAS rows.
        snippet_seconds: duration of one snippet in seconds, for all videos or per video.
        tau: class-rejection threshold on ``video_scores`` (THUMOS14 0.25).
        gate: how ``video_scores`` meet ``tau`` (``postprocess.gate``: absolute, or relative to their max).
    Raises:
        ValueError: a missing video, a shape mismatch, a non-finite value, an unknown label, or no action
            snippet at all.
    """
    correct = 0
    total = 0
    num_classes = len(class_index)
    for vid, annotation in ground_truth.items():
        if not annotation.segments:
            continue
        if vid not in cas or vid not in video_scores:
            raise ValueError(f"video {vid}: no CAS or video scores given")
        scores = np.asarray(cas[vid], dtype=np.float64)
        probs = np.asarray(video_scores[vid], dtype=np.float64)
        if scores.ndim != 2 or scores.shape[0] != num_classes or probs.shape != (num_classes,):
            raise ValueError(
                f"video {vid}: CAS {scores.shape} / video scores {probs.shape} do not match {num_classes} classes"
            )
        if not (np.isfinite(scores).all() and np.isfinite(probs).all()):
            raise ValueError(f"video {vid}: CAS or video scores hold NaN or infinite values")
        seconds = float(snippet_seconds[vid] if isinstance(snippet_seconds, Mapping) else snippet_seconds)
        if not seconds > 0:
            raise ValueError(f"video {vid}: snippet duration must be positive seconds, got {seconds}")
        try:
            labels = np.array([class_index.index(s.label) for s in annotation.segments], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"video {vid}: label {exc.args[0]!r} is not in the class index") from None
        bounds = np.array([(s.start, s.end) for s in annotation.segments], dtype=np.float64)
        centres = (np.arange(scores.shape[1]) + 0.5) * seconds  # (T,) seconds
        covers = (centres[None, :] >= bounds[:, :1]) & (centres[None, :] <= bounds[:, 1:])  # (S, T)
        action = covers.any(axis=0)  # (T,)
        total += int(action.sum())
        kept = np.zeros(num_classes, dtype=bool)  # (C,)
        kept[kept_classes(probs, tau, gate)] = True
        if not kept.any():
            continue
        assigned = np.argmax(np.where(kept[:, None], scores, -np.inf), axis=0)  # (T,) class index
        hit = (covers & (labels[:, None] == assigned[None, :])).any(axis=0)  # (T,)
        correct += int((hit & action).sum())
    if total == 0:
        raise ValueError("no action snippet in the ground truth: frame accuracy is undefined")
    log.debug("frame accuracy: %d of %d action snippets", correct, total)
    return 100.0 * correct / total
