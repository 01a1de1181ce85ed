"""Segment geometry on times in seconds: the temporal IoU in its two definitions, in one place.

* :func:`segment_iou` / :func:`paired_iou` — the continuous tIoU of the ActivityNet detection protocol,
  with its formula and evaluation order (so that comparisons with a threshold agree bit for bit); two
  zero-length segments have tIoU 1 when identical, else 0.
* :func:`interval_iou` — the IoU of non-maximum suppression: continuous, or (``legacy=True``) the ECM
  reference implementation's image-style "+1" IoU applied to seconds, kept for parity with its results.

>>> segment_iou(np.array([[0.0, 2.0]]), np.array([[1.0, 3.0], [4.0, 5.0]])).tolist()
[[0.3333333333333333, 0.0]]
>>> interval_iou(0.0, 1.0, [0.5], [1.5], legacy=True).tolist()
[0.6]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def segment_iou(segments_a: np.ndarray, segments_b: np.ndarray) -> np.ndarray:
    """Pairwise temporal IoU of ``(N, 2)`` and ``(M, 2)`` segments in seconds → ``(N, M)``."""
    a = np.asarray(segments_a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(segments_b, dtype=np.float64).reshape(-1, 2)
    return paired_iou(a[:, None, :], b[None, :, :])


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """tIoU of broadcast segment arrays ``(…, 2)``; the reference's formula and evaluation order."""
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    union = (b[..., 1] - b[..., 0]) + (a[..., 1] - a[..., 0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    if not np.isfinite(iou).all():  # empty union: both segments are points
        same = (a[..., 0] == b[..., 0]) & (a[..., 1] == b[..., 1])
        iou = np.where(union > 0, iou, same.astype(np.float64))
    return iou


def interval_iou(
    start: npt.ArrayLike,
    end: npt.ArrayLike,
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    *,
    legacy: bool,
) -> FloatArray:
    """IoU of segments ``[start, end]`` with segments ``[starts, ends]``, broadcast (times in seconds).

    Symmetric in its two segments, bit for bit.

    Args:
        start, end: the first segments, e.g. scalars (one reference segment) or ``(P,)``.
        starts, ends: the second segments, e.g. ``(P,)``.
        legacy: use the reference's "+1" IoU instead of the continuous one.

    Returns:
        float64 IoUs of the broadcast shape; 0 where the union is empty (two zero-length segments).
    """
    first_start = np.asarray(start, dtype=np.float64)
    first_end = np.asarray(end, dtype=np.float64)
    other_start = np.asarray(starts, dtype=np.float64)
    other_end = np.asarray(ends, dtype=np.float64)
    extra = 1.0 if legacy else 0.0
    inter = np.maximum(0.0, np.minimum(first_end, other_end) - np.maximum(first_start, other_start) + extra)
    union = (first_end - first_start + extra) + (other_end - other_start + extra) - inter
    safe = np.where(union > 0, union, 1.0)
    return np.asarray(np.where(union > 0, inter / safe, 0.0), dtype=np.float64)
