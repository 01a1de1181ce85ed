"""False-positive error diagnosis at one tIoU (paper Table 6): what each prediction is, and what it costs.

Predictions are first limited, per class, to the top ``10 × G`` by rank (G = ground-truth instances of the
class; same tie rule as :mod:`ecm.evaluation.detection`). Each kept prediction is then either a **true
positive** under the protocol's matching at θ, or is judged against the best-overlapping ground-truth
instance of *any* class in its video (highest tIoU; on equal tIoU a same-label instance wins):

* ``double_detection`` — tIoU ≥ θ, same label (that instance is already matched by a better prediction);
* ``wrong_label`` — tIoU ≥ θ, other label;
* ``localization`` — 0.1 ≤ tIoU < θ, same label;
* ``confusion`` — 0.1 ≤ tIoU < θ, other label;
* ``background`` — tIoU < 0.1 with everything (also every prediction on a video without ground truth).

Shares are percentages of the kept predictions. The **mAP gain** of an error type is the mAP at θ with that
type's predictions removed minus the base mAP at θ, both on the kept predictions (removing false positives
changes no match, only the precision of the predictions ranked after them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecm.data.annotations import VideoAnnotation
from ecm.evaluation.detection import Detection, DetectionTable, GroundTruthTable, rank_predictions
from ecm.evaluation.matching import candidate_pairs, match_ranked, ranked_average_precision

log = logging.getLogger(__name__)

ERROR_TYPES: tuple[str, ...] = ("double_detection", "wrong_label", "localization", "confusion", "background")
CATEGORIES: tuple[str, ...] = ("true_positive", *ERROR_TYPES)
#: Human-readable name of each category, in report order.
CATEGORY_TITLES: dict[str, str] = {
    "true_positive": "true positive",
    "double_detection": "double detection",
    "wrong_label": "wrong label",
    "localization": "localization",
    "confusion": "confusion",
    "background": "background",
}
_NEAR = 0.1  # below this tIoU a prediction is background


@dataclass(frozen=True)
class DiagnosisResult:
    """Error breakdown at one tIoU (percentages are percent; gains are mAP points).

    Attributes:
        tiou: θ.
        num_predictions: predictions kept by the top-10×G limit (the population of every share).
        num_given: predictions of the evaluated classes before the limit.
        counts: predictions per category (:data:`CATEGORIES`).
        shares: percent of ``num_predictions`` per category.
        base_map: mAP at θ on the kept predictions, percent.
        map_gain: per error type, mAP with that type removed minus ``base_map``.
    """

    tiou: float
    num_predictions: int
    num_given: int
    counts: dict[str, int]
    shares: dict[str, float]
    base_map: float
    map_gain: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """A plain JSON-able dict of every field."""
        return {
            "tiou": self.tiou,
            "num_predictions": self.num_predictions,
            "num_given": self.num_given,
            "counts": self.counts,
            "shares": self.shares,
            "base_mAP": self.base_map,
            "mAP_gain": self.map_gain,
        }

    def format_table(self) -> str:
        """A table for people: count, share and mAP gain per category."""
        lines = [
            f"error diagnosis at tIoU {self.tiou:g}: {self.num_predictions} of {self.num_given} predictions "
            f"(the top 10 × instances of each class); their mAP {self.base_map:.2f}",
            f"{'category':<18}{'count':>9}{'share %':>10}{'mAP gain if removed':>22}",
        ]
        for name in CATEGORIES:
            gain = f"{self.map_gain[name]:+22.2f}" if name in self.map_gain else f"{'':>22}"
            lines.append(
                f"{CATEGORY_TITLES[name]:<18}{self.counts[name]:>9d}{self.shares[name]:>10.2f}{gain}"
            )
        return "\n".join(lines)


def diagnose_errors(
    ground_truth: Mapping[str, VideoAnnotation] | GroundTruthTable,
    predictions: DetectionTable | Mapping[str, Sequence[Detection]],
    tiou: float = 0.5,
    *,
    subset: str | None = None,
    top_factor: int = 10,
) -> DiagnosisResult:
    """Classify predictions at ``tiou`` and measure each error type's cost (see module docstring)."""
    if not 0.0 < tiou <= 1.0:
        raise ValueError(f"tIoU must lie in (0, 1], got {tiou}")
    gt = (
        ground_truth
        if isinstance(ground_truth, GroundTruthTable)
        else GroundTruthTable.from_annotations(ground_truth, subset)
    )
    table = (
        predictions
        if isinstance(predictions, DetectionTable)
        else DetectionTable.from_detections(predictions)
    )
    ranked = rank_predictions(gt, table)
    positives = gt.num_instances
    place = np.arange(len(ranked.label)) - ranked.bounds[ranked.label]  # position within its class
    kept = place < top_factor * positives[ranked.label]
    label, video, segments = ranked.label[kept], ranked.video[kept], ranked.segments[kept]
    bounds = np.searchsorted(label, np.arange(len(gt.class_names) + 1))
    v = ranked.num_videos
    tp = match_ranked(gt.label * v + gt.video, gt.segments, label * v + video, segments, [tiou])[0]
    category = _categories(gt, label, video, segments, tp, tiou)

    # Row 0: all kept predictions; row 1 + e: without error type e.
    keep_rows = np.stack(
        [np.ones(len(label), dtype=bool)] + [category != 1 + e for e in range(len(ERROR_TYPES))]
    )
    tp_rows = np.broadcast_to(tp, keep_rows.shape)
    ap = np.zeros((len(gt.class_names), keep_rows.shape[0]))
    for k in range(len(gt.class_names)):
        lo, hi = bounds[k], bounds[k + 1]
        ap[k] = ranked_average_precision(tp_rows[:, lo:hi], int(positives[k]), keep_rows[:, lo:hi])
    maps = 100.0 * ap.mean(axis=0) if len(gt.class_names) else np.zeros(keep_rows.shape[0])
    counts = np.bincount(category, minlength=len(CATEGORIES))
    total = len(label)
    return DiagnosisResult(
        tiou=float(tiou),
        num_predictions=total,
        num_given=len(ranked.label),
        counts={name: int(c) for name, c in zip(CATEGORIES, counts, strict=True)},
        shares={
            name: 100.0 * int(c) / total if total else 0.0 for name, c in zip(CATEGORIES, counts, strict=True)
        },
        base_map=float(maps[0]),
        map_gain={name: float(maps[1 + e] - maps[0]) for e, name in enumerate(ERROR_TYPES)},
    )


def _categories(
    gt: GroundTruthTable,
    label: np.ndarray,
    video: np.ndarray,
    segments: np.ndarray,
    tp: np.ndarray,
    tiou: float,
) -> np.ndarray:
    """``(n,)`` index into :data:`CATEGORIES` of ranked predictions with their true-positive flags ``tp``."""
    # Best-overlapping instance of any class in the same video; ties prefer the same label.
    best_iou = np.zeros(len(label))
    best_same = np.zeros(len(label), dtype=bool)
    pair_pred, pair_gt, iou = candidate_pairs(gt.video, gt.segments, video, segments, min(tiou, _NEAR))
    if len(pair_pred):
        same = gt.label[pair_gt] == label[pair_pred]
        order = np.lexsort((same, iou, pair_pred))
        last = np.r_[pair_pred[order][1:] != pair_pred[order][:-1], True]
        winners = pair_pred[order][last]
        best_iou[winners] = iou[order][last]
        best_same[winners] = same[order][last]
    return np.select(
        [tp, best_iou >= tiou, best_iou >= _NEAR],
        [0, np.where(best_same, 1, 2), np.where(best_same, 3, 4)],
        default=5,
    )


@dataclass(frozen=True)
class VideoBreakdown:
    """Every prediction's category and each video's AP at one tIoU (the per-video view of ``ecm report``).

    Attributes:
        tiou: θ.
        categories: ``(N,)`` index into :data:`CATEGORIES` per row of the prediction table, with no top-10×G
            limit (a category does not depend on the predictions ranked after it, so the predictions that
            :func:`diagnose_errors` keeps get the same ones). Predictions of a class outside the evaluated
            classes, or on a video outside the ground truth, are background.
        video_ap: per evaluated video, the mean over its ground-truth classes of the AP (percent) of its own
            predictions of that class against its instances (the protocol's matching restricted to one
            video); ``None`` for a video without instances.
    """

    tiou: float
    categories: np.ndarray
    video_ap: dict[str, float | None]


def video_breakdown(gt: GroundTruthTable, predictions: DetectionTable, tiou: float = 0.5) -> VideoBreakdown:
    """Categories of all predictions and per-video AP at ``tiou`` (see :class:`VideoBreakdown`)."""
    if not 0.0 < tiou <= 1.0:
        raise ValueError(f"tIoU must lie in (0, 1], got {tiou}")
    ranked = rank_predictions(gt, predictions)
    v = ranked.num_videos
    tp = match_ranked(
        gt.label * v + gt.video, gt.segments, ranked.label * v + ranked.video, ranked.segments, [tiou]
    )[0]
    categories = np.full(len(predictions), CATEGORIES.index("background"), dtype=np.int64)
    categories[ranked.rows] = _categories(gt, ranked.label, ranked.video, ranked.segments, tp, tiou)
    # AP per (class, video) pair with instances: the ranked order within a class restricted to one video.
    positives = np.bincount(gt.label * v + gt.video, minlength=len(gt.class_names) * v)
    key = ranked.label * v + ranked.video
    order = np.argsort(key, kind="stable")  # rank order kept within each (class, video)
    bounds = np.searchsorted(key[order], np.arange(len(positives) + 1))
    per_video: dict[int, list[float]] = {}
    for pair in np.flatnonzero(positives).tolist():
        rows = order[bounds[pair] : bounds[pair + 1]]
        ap = ranked_average_precision(tp[rows][None, :], int(positives[pair]))[0]
        per_video.setdefault(pair % v, []).append(100.0 * float(ap))
    video_ap: dict[str, float | None] = {
        vid: (float(np.mean(per_video[i])) if i in per_video else None) for i, vid in enumerate(gt.video_ids)
    }
    return VideoBreakdown(tiou=float(tiou), categories=categories, video_ap=video_ap)
