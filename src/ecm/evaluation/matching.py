"""The numerical core of the detection protocol: tIoU, greedy matching at many thresholds, interpolated AP.

Pure numpy functions on flat arrays; :mod:`ecm.evaluation.detection` maps predictions and ground truth onto
them. Conventions: segments are ``[start, end]`` in seconds; tIoU is continuous (no "+1"), computed with the
ActivityNet reference's formula and evaluation order so that threshold comparisons agree bit for bit; two
zero-length segments have tIoU 1 if identical, else 0 (the reference divides 0 by 0).

Matching. In rank order, each prediction takes the not-yet-matched instance of its group (class and video)
with the highest tIoU, if that tIoU ≥ θ. Equal tIoUs go, with ``ties="official"``, to the instance the
reference's ``tiou_arr.argsort()[::-1]`` puts first (numpy's default sort of the prediction's tIoUs with
every instance of its group, in instance order), and with ``ties="stable"`` to the lower instance index.
That greedy result is the unique stable matching between predictions (each with its strict preference
order over instances) and instances (all preferring earlier-ranked predictions), so it equals the outcome
of deferred acceptance proposed by the instances — which runs as a few vectorised rounds over all groups
and thresholds at once, with no Python loop over predictions. Only pairs that can reach the lowest
threshold are formed (a window search on start times).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ecm.ops.segments import paired_iou

log = logging.getLogger(__name__)

# How equal scores and equal tIoUs are ordered: as the official ActivityNet evaluator orders them, or stably.
Ties = Literal["official", "stable"]
TIES: tuple[str, ...] = ("official", "stable")


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """VOC-2011 interpolated AP of precision/recall curves ``(…, n)`` → ``(…)``, as fractions.

    The precision envelope is the running max from the right (with a 0 appended); AP is the sum over
    recall increments of increment × envelope.
    """
    prec = np.asarray(precision, dtype=np.float64)
    rec = np.asarray(recall, dtype=np.float64)
    if prec.shape[-1] == 0:
        return np.zeros(prec.shape[:-1])
    envelope = np.maximum.accumulate(np.maximum(prec, 0.0)[..., ::-1], axis=-1)[..., ::-1]
    steps = np.diff(rec, axis=-1, prepend=0.0)
    return np.sum(np.where(steps != 0, steps * envelope, 0.0), axis=-1)


def ranked_average_precision(
    tp: np.ndarray, num_positives: int, keep: np.ndarray | None = None
) -> np.ndarray:
    """AP (fraction) of ranked predictions of one class, for R curves at once.

    Args:
        tp: ``(R, n)`` true-positive flags in rank order (R = tIoU thresholds, or variants).
        num_positives: ground-truth instances of the class (> 0).
        keep: optional ``(R, n)`` mask; predictions outside it are left out (they must not be true positives).
    Returns: ``(R,)``.
    """
    tp = np.asarray(tp, dtype=bool)
    if tp.shape[-1] == 0:
        return np.zeros(tp.shape[:-1])
    tp_count = np.cumsum(tp, axis=-1, dtype=np.float64)
    if keep is None:
        precision = tp_count / np.arange(1, tp.shape[-1] + 1, dtype=np.float64)
    else:
        seen = np.cumsum(keep, axis=-1, dtype=np.float64)
        precision = np.where(keep, tp_count / np.maximum(seen, 1.0), 0.0)
    return interpolated_average_precision(precision, tp_count / float(num_positives))


def stable_argsort(keys: np.ndarray, bound: int) -> np.ndarray:
    """Stable argsort of non-negative integer ``keys`` below ``bound`` (radix sort when they fit 16 bits)."""
    if bound <= np.iinfo(np.uint16).max:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def score_order(scores: np.ndarray, ties: Ties = "stable") -> np.ndarray:
    """Indices ranking ``(N,)`` scores highest first.

    Equal scores keep their given order (``"stable"``), or come in the order of the reference's
    ``scores.argsort()[::-1]`` (``"official"``: numpy's default, unstable sort, reversed).
    """
    values = np.asarray(scores, dtype=np.float64)
    if ties == "official":
        return np.argsort(values)[::-1]
    return np.argsort(-values, kind="stable")


def group_pairs(gt_groups: np.ndarray, pred_groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ``(prediction, ground truth)`` index pairs with equal group keys (e.g. class·V + video).

    Returns ``(pair_pred, pair_gt)``, ordered by prediction, then by ground-truth index.
    """
    gt_groups = np.asarray(gt_groups, dtype=np.int64)
    pred_groups = np.asarray(pred_groups, dtype=np.int64)
    gt_order = np.argsort(gt_groups, kind="stable")
    sorted_groups = gt_groups[gt_order]
    low = np.searchsorted(sorted_groups, pred_groups, side="left")
    counts = np.searchsorted(sorted_groups, pred_groups, side="right") - low
    total = int(counts.sum())
    pair_pred = np.repeat(np.arange(len(pred_groups), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    pair_gt = gt_order[np.repeat(low - first, counts) + np.arange(total, dtype=np.int64)]
    return pair_pred, pair_gt


def _group_bounds(sorted_groups: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query group, the ``[low, high)`` range it occupies in ``sorted_groups`` (empty if absent)."""
    top = int(max(sorted_groups.max(), queries.max())) + 1
    if top > 4 * (len(sorted_groups) + len(queries)) + 4096:  # sparse keys: binary search
        return (
            np.searchsorted(sorted_groups, queries, side="left"),
            np.searchsorted(sorted_groups, queries, side="right"),
        )
    edges = np.searchsorted(sorted_groups, np.arange(top + 1))  # dense keys: a lookup table
    return edges[queries], edges[queries + 1]


def candidate_pairs(
    gt_groups: np.ndarray,
    gt_segments: np.ndarray,
    pred_groups: np.ndarray,
    pred_segments: np.ndarray,
    min_iou: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``(prediction, instance)`` pairs of equal group whose tIoU is at least ``min_iou`` (> 0).

    Only instances that can reach ``min_iou`` are compared: an instance at tIoU ≥ θ with a prediction of
    length L is at most L/θ long and overlaps it, so it starts in ``[start − L/θ, end]``; a search over
    instances sorted by (group, start) finds them. Returns ``(pair_pred, pair_gt, iou)``, by prediction.
    """
    gt_groups = np.asarray(gt_groups, dtype=np.int64).reshape(-1)
    pred_groups = np.asarray(pred_groups, dtype=np.int64).reshape(-1)
    gts = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    preds = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)
    if not min_iou > 0:
        raise ValueError(f"min_iou must be positive, got {min_iou}")
    if not (len(gts) and len(preds)):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    gt_order = np.lexsort((gts[:, 0], gt_groups))
    groups, starts = gt_groups[gt_order], gts[gt_order, 0]
    origin = min(starts.min(), preds[:, 0].min())
    span = 2.0 * (max(gts[:, 1].max(), preds[:, 1].max()) - origin) + 1.0  # > any start − origin
    slack = (max(groups.max(), pred_groups.max(), 0) + 1.0) * span * 1e-12  # above float rounding
    keys = groups * span + (starts - origin)  # non-decreasing: (group, start) order
    base = pred_groups * span - origin
    reach = (preds[:, 1] - preds[:, 0]) / min_iou
    group_low, group_high = _group_bounds(groups, pred_groups)
    low = np.maximum(np.searchsorted(keys, base + preds[:, 0] - reach - slack, side="left"), group_low)
    high = np.minimum(np.searchsorted(keys, base + preds[:, 1] + slack, side="right"), group_high)
    counts = np.maximum(high - low, 0)
    total = int(counts.sum())
    pair_pred = np.repeat(np.arange(len(preds), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    pair_gt = gt_order[np.repeat(low - first, counts) + np.arange(total, dtype=np.int64)]
    iou = paired_iou(preds[pair_pred], gts[pair_gt])
    hit = iou >= min_iou
    return pair_pred[hit], pair_gt[hit], iou[hit]


def official_tiebreak(
    gt_groups: np.ndarray,
    gt_segments: np.ndarray,
    pred_groups: np.ndarray,
    pred_segments: np.ndarray,
    pair_pred: np.ndarray,
    pair_gt: np.ndarray,
    iou: np.ndarray,
) -> np.ndarray:
    """Per candidate pair, the instance's position in the reference's order for its prediction.

    The reference visits a prediction's instances in ``tiou_arr.argsort()[::-1]`` order, ``tiou_arr`` being
    the tIoUs with every instance of the group in instance order. Only equal tIoUs need that position (the
    rest are ordered by value), so it is computed, with numpy's own sort on those same arrays, just for
    predictions with equal tIoUs among their candidates; other pairs get 0.

    Args:
        gt_groups, gt_segments, pred_groups, pred_segments: as :func:`match_ranked`.
        pair_pred, pair_gt, iou: the candidate pairs (:func:`candidate_pairs`).

    Returns:
        ``(P,)`` int64, lower visited first.
    """
    tiebreak = np.zeros(len(pair_pred), dtype=np.int64)
    if not len(pair_pred):
        return tiebreak
    # 2·prediction + tIoU (tIoU ≤ 1) is equal for equal tIoUs of one prediction; one float sort finds them
    # (keys that merely round together are harmless: those predictions take the exact path below).
    keys = np.sort(pair_pred * 2.0 + iou)
    repeated = keys[1:][np.diff(keys) == 0]
    if not repeated.size:
        return tiebreak
    tied = np.floor(repeated / 2.0).astype(np.int64)  # predictions with equal candidate tIoUs (sorted)
    tied = tied[np.concatenate(([True], tied[1:] != tied[:-1]))]  # unique (np.unique imports numpy.ma)
    gts = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    preds = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)
    # Every instance of each tied prediction's group, in instance order, as the reference forms tiou_arr.
    full_row, full_gt = group_pairs(gt_groups, np.asarray(pred_groups)[tied])
    full_iou = paired_iou(preds[tied[full_row]], gts[full_gt])
    counts = np.bincount(full_row, minlength=len(tied))
    first = np.cumsum(counts) - counts
    position = np.empty(len(full_row), dtype=np.int64)
    # equal-length tIoU arrays are sorted together, one row each
    for size in np.flatnonzero(np.bincount(counts)):  # the lengths present
        rows = np.flatnonzero(counts == size)
        index = first[rows, None] + np.arange(size)  # (m, size)
        visit = np.argsort(full_iou[index], axis=1)[:, ::-1]  # the reference's order, row by row
        place = np.empty_like(visit)
        np.put_along_axis(place, visit, np.arange(size)[None, :], axis=1)
        position[index] = place
    # Look the candidate pairs of tied predictions up among the full pairs, whose keys group_pairs already
    # gives in ascending order (by prediction, then instance).
    num_gt = len(gts) + 1
    full_key = tied[full_row] * num_gt + full_gt
    marked = np.zeros(len(preds), dtype=bool)
    marked[tied] = True
    is_tied = marked[pair_pred]
    key = pair_pred[is_tied] * num_gt + pair_gt[is_tied]
    tiebreak[is_tied] = position[np.searchsorted(full_key, key)]
    return tiebreak


def match_ranked(
    gt_groups: np.ndarray,
    gt_segments: np.ndarray,
    pred_groups: np.ndarray,
    pred_segments: np.ndarray,
    tious: Sequence[float] | np.ndarray,
    ties: Ties = "official",
) -> np.ndarray:
    """Greedy protocol matching at every threshold at once.

    Predictions must be given in rank order within each group (index order = priority). A prediction may
    match only a ground-truth instance of the same group (class and video). See the module docstring.

    Args:
        gt_groups: ``(M,)`` int group key per instance; gt_segments: ``(M, 2)`` seconds.
        pred_groups: ``(N,)``; pred_segments: ``(N, 2)`` seconds.
        tious: T thresholds.
        ties: which of two instances at equal tIoU a prediction takes (module docstring).
    Returns: ``(T, N)`` bool, true where the prediction is a true positive at that threshold.
    """
    thresholds = np.asarray(tious, dtype=np.float64).reshape(-1)
    num_t, num_pred, num_gt = len(thresholds), len(pred_groups), len(gt_groups)
    if not (num_pred and num_gt and num_t):
        return np.zeros((num_t, num_pred), dtype=bool)
    pair_pred, pair_gt, iou = candidate_pairs(
        gt_groups, gt_segments, pred_groups, pred_segments, thresholds.min()
    )
    # Order the pairs by instance, then prediction rank (they come by rank: a stable sort keeps it), then
    # copy each into threshold t's own id space; the copies stay sorted by (t, instance, rank).
    if ties == "official":
        tiebreak = official_tiebreak(
            gt_groups, gt_segments, pred_groups, pred_segments, pair_pred, pair_gt, iou
        )
    else:
        tiebreak = pair_gt
    order = stable_argsort(pair_gt, num_gt)
    pair_pred, pair_gt, iou, tiebreak = pair_pred[order], pair_gt[order], iou[order], tiebreak[order]
    t_index, p_index = np.nonzero(iou[None, :] >= thresholds[:, None])  # row-major: by t, then pair
    pred_ids = t_index * num_pred + pair_pred[p_index]
    gt_ids = t_index * num_gt + pair_gt[p_index]
    held = _defer_accept(pred_ids, gt_ids, iou[p_index], tiebreak[p_index], num_t * num_pred)
    return (held >= 0).reshape(num_t, num_pred)


def _defer_accept(
    pred_ids: np.ndarray, gt_ids: np.ndarray, iou: np.ndarray, tiebreak: np.ndarray, num_slots: int
) -> np.ndarray:
    """Instance-proposing deferred acceptance over candidate pairs → ``(num_slots,)`` matched instance.

    Pairs come sorted by instance id, then prediction rank. Each free instance proposes to the next
    prediction on its list; a prediction keeps the best proposal so far (higher tIoU, then lower
    ``tiebreak``, distinct among a prediction's equal tIoUs) and rejects the others, which move on. As every instance ranks predictions alike, the stable
    matching is unique and equals the greedy rank-order assignment. Returns, per prediction slot, a compact
    instance number (order-preserving) or −1.
    """
    held = np.full(num_slots, -1, dtype=np.int64)
    if not len(gt_ids):
        return held
    starts = np.flatnonzero(np.r_[True, gt_ids[1:] != gt_ids[:-1]])
    ends = np.r_[starts[1:], len(gt_ids)]
    held_iou = np.zeros(num_slots)
    held_tiebreak = np.zeros(num_slots, dtype=np.int64)
    cursor = starts.copy()
    free = np.arange(len(starts))
    while free.size:
        position = cursor[free]
        alive = position < ends[free]
        free, position = free[alive], position[alive]
        if not free.size:
            break
        target = pred_ids[position]
        holder = held[target]
        has = holder >= 0  # the current holder competes too (listed once per proposal: deduplicated below)
        cand_pred = np.concatenate([target, target[has]])
        cand_gt = np.concatenate([free, holder[has]])
        cand_iou = np.concatenate([iou[position], held_iou[target[has]]])
        cand_tie = np.concatenate([tiebreak[position], held_tiebreak[target[has]]])
        rank = np.lexsort((cand_tie, -cand_iou, cand_pred))
        cand_pred, cand_gt, cand_iou, cand_tie = (
            cand_pred[rank],
            cand_gt[rank],
            cand_iou[rank],
            cand_tie[rank],
        )
        new_pred = np.r_[True, cand_pred[1:] != cand_pred[:-1]]
        repeat = np.r_[False, cand_gt[1:] == cand_gt[:-1]] & ~new_pred
        held[cand_pred[new_pred]] = cand_gt[new_pred]
        held_iou[cand_pred[new_pred]] = cand_iou[new_pred]
        held_tiebreak[cand_pred[new_pred]] = cand_tie[new_pred]
        free = cand_gt[~new_pred & ~repeat]
        cursor[free] += 1
    return held
