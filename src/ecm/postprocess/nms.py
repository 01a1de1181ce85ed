"""Temporal IoU and greedy hard non-maximum suppression of 1-D segments.

Two IoU definitions:

* ``legacy=True`` — the reference implementation's image-style "+1" IoU applied to times in seconds:
  ``inter = max(0, min(e₁, e₂) − max(s₁, s₂) + 1)``, ``area = e − s + 1``. It over-states the overlap of
  short segments (two disjoint segments less than 1 s apart overlap) and is kept for paper parity only.
* ``legacy=False`` — the true continuous IoU on seconds.

Ordering: proposals are visited by score, highest first. Equal scores are visited in *reverse* input
order (``argsort(kind="stable")[::-1]``), which is what the reference's ``scores.argsort()[::-1]`` gives
whenever its sort is stable (numpy's quicksort is, on small inputs); here it is stable on every input.
A proposal is suppressed when its IoU with a kept one is ``≥ threshold``.

Speed: rather than one Python iteration per kept segment, :func:`nms` resolves the greedy result in a few
vectorised rounds over the sparse set of conflicting pairs (IoU ≥ threshold), found with a sweep over
segments sorted by start: a segment is kept as soon as no undecided higher-ranked segment conflicts with
it, and every undecided segment conflicting with a newly kept one is suppressed. This yields exactly the
greedy loop's result (same kept set, same order); the loop itself remains as the fallback for inputs with
too many overlapping pairs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ecm.ops.segments import interval_iou
from ecm.postprocess.proposals import FloatArray, IntArray


def _priority(scores: FloatArray) -> IntArray:
    """Visiting order: score descending, ties in reverse input order (the reference's ``argsort()[::-1]``)."""
    return np.argsort(scores, kind="stable")[::-1].astype(np.int64)


def _greedy_loop(
    starts: FloatArray, ends: FloatArray, order: IntArray, threshold: float, legacy: bool
) -> IntArray:
    """The textbook greedy NMS: one iteration per kept segment, IoU against all remaining at once."""
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        iou = interval_iou(starts[best], ends[best], starts[rest], ends[rest], legacy=legacy)
        order = rest[iou < threshold]
    return np.asarray(keep, dtype=np.int64)


def _candidate_pairs(
    starts: FloatArray, ends: FloatArray, legacy: bool, max_pairs: int
) -> tuple[IntArray, IntArray] | None:
    """All pairs ``(a, b)`` that may overlap — the only ones whose IoU can reach a positive threshold.

    With segments sorted by start, ``b`` after ``a`` can overlap ``a`` only if ``start_b < end_a`` (plus 1 s
    under the "+1" IoU). A small relative slack keeps rounding from losing a pair; extra pairs cost nothing
    but an IoU evaluation. Returns None when there would be more than ``max_pairs`` pairs.
    """
    count = starts.shape[0]
    by_start = np.argsort(starts, kind="stable")
    sorted_starts = starts[by_start]
    reach = ends[by_start] + (1.0 if legacy else 0.0)
    reach = reach + 1e-9 * (1.0 + np.abs(reach))
    position = np.arange(count)
    stop = np.maximum(np.searchsorted(sorted_starts, reach, side="left"), position + 1)
    partners = stop - position - 1  # (P,) later segments within reach of each one
    total = int(partners.sum())
    if total > max_pairs:
        return None
    first = np.repeat(position, partners)
    offset = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    return by_start[first], by_start[first + 1 + offset]


def nms(
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    threshold: float,
    legacy: bool = True,
    max_pairs: int = 4_000_000,
) -> IntArray:
    """Greedy hard NMS: keep the best segment, drop those overlapping it by IoU ≥ ``threshold``, repeat.

    Args:
        starts, ends: ``(P,)`` segment bounds in seconds.
        scores: ``(P,)`` finite confidence scores.
        threshold: IoU at or above which a segment is suppressed, in ``(0, 1]``.
        legacy: "+1" IoU of the reference (True) or continuous IoU (False).
        max_pairs: above this many possibly-overlapping pairs (memory), fall back to the plain greedy loop;
            0 always uses the loop. Both give the same result.

    Returns:
        int64 indices of the kept segments, in the order greedy NMS keeps them (score descending).
    """
    first = np.asarray(starts, dtype=np.float64)
    last = np.asarray(ends, dtype=np.float64)
    conf = np.asarray(scores, dtype=np.float64)
    if not first.shape == last.shape == conf.shape or first.ndim != 1:
        raise ValueError(
            f"starts, ends, scores must be (P,) arrays, got {first.shape}, {last.shape}, {conf.shape}"
        )
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"NMS threshold must lie in (0, 1], got {threshold}")
    if not (np.isfinite(first).all() and np.isfinite(last).all() and np.isfinite(conf).all()):
        raise ValueError("NMS segments and scores must be finite")
    order = _priority(conf)
    count = order.shape[0]
    pairs = _candidate_pairs(first, last, legacy, max_pairs) if count > 1 and max_pairs > 0 else None
    if pairs is None:
        return _greedy_loop(first, last, order, threshold, legacy)
    pairs_a, pairs_b = pairs

    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count)
    iou = interval_iou(first[pairs_a], last[pairs_a], first[pairs_b], last[pairs_b], legacy=legacy)
    conflict = iou >= threshold
    pairs_a, pairs_b = pairs_a[conflict], pairs_b[conflict]
    a_first = rank[pairs_a] < rank[pairs_b]
    higher = np.where(a_first, pairs_a, pairs_b)  # (Q,) the better-ranked segment of each conflicting pair
    lower = np.where(a_first, pairs_b, pairs_a)

    undecided = np.ones(count, dtype=bool)
    kept = np.zeros(count, dtype=bool)
    while undecided.any():
        live = undecided[higher] & undecided[lower]
        higher, lower = higher[live], lower[live]
        blocked = np.zeros(count, dtype=bool)
        blocked[lower] = True  # an undecided better-ranked segment may still suppress it
        newly_kept = undecided & ~blocked
        kept |= newly_kept
        undecided &= ~newly_kept
        undecided[lower[newly_kept[higher]]] = False  # suppressed
    picked = np.flatnonzero(kept)
    return picked[np.argsort(rank[picked], kind="stable")].astype(np.int64)


def batched_nms(
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    scores: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    threshold: float,
    legacy: bool = True,
) -> IntArray:
    """:func:`nms` run independently within each group (e.g. per class).

    Args:
        starts, ends, scores: ``(P,)`` as for :func:`nms`.
        groups: ``(P,)`` integer group of each segment.
        threshold, legacy: as for :func:`nms`.

    Returns:
        int64 indices of the kept segments: groups in ascending order, each in its kept order.
    """
    first = np.asarray(starts, dtype=np.float64)
    last = np.asarray(ends, dtype=np.float64)
    conf = np.asarray(scores, dtype=np.float64)
    label = np.asarray(groups, dtype=np.int64)
    kept: list[IntArray] = []
    for group in np.unique(label):
        members = np.flatnonzero(label == group)
        picked = nms(first[members], last[members], conf[members], threshold=threshold, legacy=legacy)
        kept.append(members[picked])
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def soft_nms(
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    sigma: float,
    min_score: float = 0.0,
    max_keep: int | None = None,
) -> tuple[IntArray, FloatArray]:
    """Gaussian soft-NMS (Bodla et al. 2017) on continuous IoU: take the best, decay the others' scores by
    ``exp(−IoU² / σ)``, repeat; segments whose score falls below ``min_score`` are dropped.

    Returns:
        (indices, scores): the kept segments in the order taken (decayed score descending) and their
        decayed scores; at most ``max_keep``.
    """
    first = np.asarray(starts, dtype=np.float64)
    last = np.asarray(ends, dtype=np.float64)
    conf = np.array(scores, dtype=np.float64)
    if sigma <= 0:
        raise ValueError(f"soft-NMS sigma must be > 0, got {sigma}")
    live = np.flatnonzero(conf >= min_score)
    taken: list[int] = []
    values: list[float] = []
    limit = len(live) if max_keep is None else max_keep
    while live.size and len(taken) < limit:
        best = live[np.argmax(conf[live])]
        taken.append(int(best))
        values.append(float(conf[best]))
        live = live[live != best]
        iou = interval_iou(first[best], last[best], first[live], last[live], legacy=False)
        conf[live] *= np.exp(-(iou**2) / sigma)
        live = live[conf[live] >= min_score]
    return np.asarray(taken, dtype=np.int64), np.asarray(values, dtype=np.float64)
