"""From the student's outputs on one video to detections in seconds.

1. classes: those whose teacher video-level probability passes the ``tau`` gate (ECM's rule, paper §3.4);
2. candidates: every point and kept class, score ``σ(logit) · p_video(class)``, above ``min_score``, the
   best ``pre_nms`` of them;
3. segments: ``[centre − d_start · stride, centre + d_end · stride]`` snippets, clipped to the video, in
   seconds (``× seconds per snippet``); empty ones dropped;
4. per-class NMS (hard on continuous IoU, or Gaussian soft-NMS), the best ``max_detections`` overall.
"""

from __future__ import annotations

import numpy as np

from ecm.postprocess.localize import RawDetection
from ecm.postprocess.nms import batched_nms, soft_nms
from ecm.postprocess.proposals import Gate, kept_classes
from ecm.student.config import StudentConfig
from ecm.student.targets import PointLayout


def decode_video(
    logits: np.ndarray,
    offsets: np.ndarray,
    layout: PointLayout,
    video_probs: np.ndarray,
    *,
    num_snippets: int,
    seconds_per_snippet: float,
    tau: float,
    cfg: StudentConfig,
    gate: Gate = "absolute",
) -> list[RawDetection]:
    """Detections of one video (see the module docstring), best first.

    Args:
        logits: (N, C) classification logits of the video's points.
        offsets: (N, 2) distances to start and end, in strides.
        layout: the points' layout (over the padded length).
        video_probs: (C,) the teacher's video-level class probabilities.
        num_snippets: T, the video's real length in snippets.
        seconds_per_snippet: the video's snippet length in seconds.
        tau: class threshold on ``video_probs``.
        gate: ``"absolute"`` (p ≥ tau) or ``"relative"`` (p ≥ tau · max p), as ``postprocess.gate``.
    """
    classes = kept_classes(video_probs, tau, gate)
    real = np.flatnonzero(layout.centres < num_snippets)
    if classes.size == 0 or real.size == 0:
        return []
    probs = 1.0 / (1.0 + np.exp(-logits[np.ix_(real, classes)].astype(np.float64)))  # (N', K)
    scores = probs * video_probs[classes][None, :]
    point, which = np.nonzero(scores > cfg.min_score)
    values = scores[point, which]
    if values.size > cfg.pre_nms:
        top = np.argsort(-values, kind="stable")[: cfg.pre_nms]
        point, which, values = point[top], which[top], values[top]
    index = real[point]
    stride = layout.strides[index]
    starts = np.clip(layout.centres[index] - offsets[index, 0] * stride, 0.0, num_snippets)
    ends = np.clip(layout.centres[index] + offsets[index, 1] * stride, 0.0, num_snippets)
    keep = ends > starts
    starts, ends, values, label = starts[keep], ends[keep], values[keep], classes[which[keep]]
    starts, ends = starts * seconds_per_snippet, ends * seconds_per_snippet
    if cfg.nms == "soft":
        parts = []
        for c in np.unique(label):
            members = np.flatnonzero(label == c)
            kept, decayed = soft_nms(
                starts[members], ends[members], values[members], sigma=cfg.soft_sigma, min_score=cfg.min_score
            )
            parts.append((members[kept], decayed))
        chosen = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        final = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    else:
        chosen = batched_nms(starts, ends, values, label, threshold=cfg.nms_iou, legacy=False)
        final = values[chosen]
    order = np.argsort(-final, kind="stable")[: cfg.max_detections]
    return [
        RawDetection(int(label[chosen[i]]), float(final[i]), float(starts[chosen[i]]), float(ends[chosen[i]]))
        for i in order
    ]
