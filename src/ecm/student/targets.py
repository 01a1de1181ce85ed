"""Where the student predicts and what it should predict there: pyramid points and their targets.

Time is in snippets: snippet t covers ``[t, t + 1)``. Level l of the pyramid has stride ``s = 2^l`` and
``length / s`` points; point i sits at the centre ``(i + 0.5) · s`` of the snippets it pools. A point
regresses the distances from its centre to a segment's start and end, in units of its stride.

Assignment (FCOS / ActionFormer style): a point is positive for a segment when its centre lies inside the
segment and within ``radius · s`` of the segment's centre (centre sampling), and the larger of its two
distances lies in its level's range ``[lo, hi)`` (level 0: ``[0, 2)``; level l: ``[2^l, 2^(l+1))``; the last
level: up to infinity). A point claimed by several segments takes the shortest. A segment no point claims
(shorter than a snippet, say) takes the point of its level nearest its centre, distances clamped at 0, so
that every segment trains at least one point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PointLayout:
    """The points of a pyramid over ``length`` snippets, all levels concatenated (finest first).

    Attributes:
        centres: (N,) float64 point centres in snippets.
        strides: (N,) float64 stride of each point's level, snippets.
        lo, hi: (N,) float64 the level's range of the larger regression distance, snippets.
    """

    centres: np.ndarray
    strides: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return int(self.centres.shape[0])


def level_sizes(length: int, levels: int) -> list[int]:
    """Points per level for a sequence of ``length`` snippets (a multiple of ``2^(levels − 1)``)."""
    if length % 2 ** (levels - 1):
        raise ValueError(f"length {length} is not a multiple of 2^(levels − 1) = {2 ** (levels - 1)}")
    return [length // 2**level for level in range(levels)]


def point_layout(length: int, levels: int) -> PointLayout:
    """The :class:`PointLayout` of ``levels`` levels over ``length`` snippets."""
    centres, strides, lo, hi = [], [], [], []
    for level, count in enumerate(level_sizes(length, levels)):
        stride = float(2**level)
        centres.append((np.arange(count) + 0.5) * stride)
        strides.append(np.full(count, stride))
        lo.append(np.full(count, 0.0 if level == 0 else stride))
        hi.append(np.full(count, np.inf if level == levels - 1 else 2.0 * stride))
    return PointLayout(*(np.concatenate(part) for part in (centres, strides, lo, hi)))


def assign_targets(
    layout: PointLayout,
    starts: np.ndarray,
    ends: np.ndarray,
    classes: np.ndarray,
    *,
    num_classes: int,
    valid_length: float,
    radius: float,
) -> np.ndarray:
    """Dense targets of one sequence.

    Args:
        layout: the sequence's points.
        starts, ends: (M,) segments in snippets (``start < end``).
        classes: (M,) class index of each segment.
        num_classes: C.
        valid_length: snippets of real video; points centred past it are padding.
        radius: centre-sampling radius, in strides.

    Returns:
        (N, C + 3) float32: per point the one-hot class (all zero: background), the distances to start and
        end in strides (0 for background), and 1 where the point lies in the real video.
    """
    n = len(layout)
    out = np.zeros((n, num_classes + 3), dtype=np.float32)
    out[:, -1] = layout.centres < valid_length
    if starts.size == 0:
        return out
    c, s = layout.centres[:, None], layout.strides[:, None]  # (N, 1)
    left, right = c - starts[None, :], ends[None, :] - c  # (N, M), snippets
    mid = (starts + ends)[None, :] / 2
    inside = (left >= 0) & (right >= 0) & (np.abs(c - mid) <= radius * s)
    reach = np.maximum(left, right)
    claimed = inside & (reach >= layout.lo[:, None]) & (reach < layout.hi[:, None])
    for m in np.flatnonzero(~claimed.any(axis=0)):  # unclaimed: the nearest point of its level
        half = (ends[m] - starts[m]) / 2
        level = np.flatnonzero((layout.lo <= half) & (half < layout.hi))
        candidates = level if level.size else np.arange(n)
        nearest = candidates[np.argmin(np.abs(layout.centres[candidates] - mid[0, m]))]
        claimed[nearest, m] = True
    lengths = np.where(claimed, (ends - starts)[None, :], np.inf)  # (N, M)
    shortest = lengths.min(axis=1)  # (N,)
    positive = np.isfinite(shortest)
    rows = np.flatnonzero(positive)
    chosen = lengths[rows].argmin(axis=1)  # the first shortest segment: its distances
    tied_row, tied_segment = np.nonzero(lengths[rows] == shortest[rows, None])  # every shortest: its class
    out[rows[tied_row], classes[tied_segment]] = 1.0
    stride = layout.strides[rows]
    out[rows, num_classes] = np.maximum(left[rows, chosen], 0.0) / stride
    out[rows, num_classes + 1] = np.maximum(right[rows, chosen], 0.0) / stride
    return out
