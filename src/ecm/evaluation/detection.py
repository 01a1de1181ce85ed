"""ActivityNet detection mAP: exact, vectorised over tIoUs and predictions, in memory.

Protocol (the ActivityNet challenge's ``eval_detection.py``, reproduced number for number):

* per class, predictions are ranked by score, highest first;
* in rank order, each prediction takes the not-yet-matched ground-truth instance of its class in its video
  with the highest tIoU, if that tIoU ≥ θ; otherwise it is a false positive — as is every prediction on a
  video with no ground truth of its class, including videos outside the evaluated subset;
* AP is the VOC-2011 interpolated AP: the area under the running-max-from-the-right precision envelope
  over the recall steps; mAP is the mean over the classes present in the evaluated ground truth, and a
  class without predictions has AP 0. tIoU is on continuous seconds (no "+1").

**Ties.** The given order of predictions is, for a prediction file, the order of the videos in the file,
then each video's list order; for :class:`DetectionMetric`, the order of ``update`` calls, then list order.

* ``ties="official"`` (the default) orders ties exactly as the reference does: a class's predictions, in
  the given order, are ranked by ``scores.argsort()[::-1]``, and a prediction visits the instances of its
  video and class in ``tiou.argsort()[::-1]`` order — numpy's default sort, which is not stable (so equal
  values are not kept in a simple order), on the same arrays, so the result is the reference's bit for bit.
* ``ties="stable"``: predictions with equal scores keep the given order (a stable sort of ``-score``), and a
  prediction whose best unmatched instances have equal tIoU takes the one first in the ground truth
  (video order of the file, then annotation order).
* two segments have tIoU 0 when their union is empty (both zero-length), unless they are identical, 1 (the
  reference divides 0 by 0 there).

The arithmetic (tIoU, matching at all thresholds at once, AP) lives in :mod:`ecm.evaluation.matching`;
this module maps predictions and ground truth onto it and holds the in-memory metric.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ecm.data.annotations import VideoAnnotation, check_video_id, select_subset
from ecm.errors import InputError
from ecm.evaluation.matching import (
    TIES,
    Ties,
    group_pairs,
    match_ranked,
    ranked_average_precision,
    score_order,
    stable_argsort,
)
from ecm.evaluation.result import DetectionResult
from ecm.structures import Detection

log = logging.getLogger(__name__)


def _as_float(values: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        array = array.reshape(shape)
    if array.shape != shape:
        raise ValueError(f"{what} has shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return array


@dataclass(frozen=True, eq=False)
class DetectionTable:
    """N predictions as flat arrays, in the order they were given (the tie order).

    Attributes:
        video_ids: the V distinct videos (including videos given with no predictions), first-seen order.
        labels: the L distinct label names, first-seen order.
        video: ``(N,)`` int64 index into ``video_ids``.
        label: ``(N,)`` int64 index into ``labels``.
        segments: ``(N, 2)`` float64 ``[start, end]`` in seconds, ``start <= end``.
        scores: ``(N,)`` float64 confidence, finite.
    """

    video_ids: tuple[str, ...]
    labels: tuple[str, ...]
    video: np.ndarray
    label: np.ndarray
    segments: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        n = len(np.asarray(self.scores).reshape(-1))
        object.__setattr__(self, "scores", _as_float(self.scores, (n,), "scores"))
        object.__setattr__(self, "segments", _as_float(self.segments, (n, 2), "segments"))
        for name, bound in (("video", len(self.video_ids)), ("label", len(self.labels))):
            index = np.asarray(getattr(self, name), dtype=np.int64).reshape(-1)
            if index.shape != (n,) or (n and (index.min() < 0 or index.max() >= bound)):
                raise ValueError(f"{name} must be ({n},) indices below {bound}")
            object.__setattr__(self, name, index)
        if n and (self.segments[:, 1] < self.segments[:, 0]).any():
            raise ValueError("a segment ends before it starts")

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def from_detections(cls, detections: Mapping[str, Sequence[Detection]]) -> DetectionTable:
        """Build from ``{video_id: [Detection, …]}`` (dict order, then list order, is the tie order)."""
        counts = [len(dets) for dets in detections.values()]
        flat = [d for dets in detections.values() for d in dets]
        labels: dict[str, int] = {}
        label = np.fromiter((labels.setdefault(d.label, len(labels)) for d in flat), np.int64, len(flat))
        return cls(
            video_ids=tuple(detections),
            labels=tuple(labels),
            video=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
            label=label,
            segments=np.array([(d.start, d.end) for d in flat], dtype=np.float64).reshape(-1, 2),
            scores=np.fromiter((d.score for d in flat), np.float64, len(flat)),
        )

    def to_detections(self) -> dict[str, list[Detection]]:
        """``{video_id: [Detection, …]}`` in table order; every video of ``video_ids`` is present."""
        out: dict[str, list[Detection]] = {vid: [] for vid in self.video_ids}
        for v, lab, (start, end), score in zip(
            self.video.tolist(),
            self.label.tolist(),
            self.segments.tolist(),
            self.scores.tolist(),
            strict=True,
        ):
            out[self.video_ids[v]].append(Detection(self.labels[lab], score, start, end))
        return out

    def select(self, keep: np.ndarray) -> DetectionTable:
        """The rows where the ``(N,)`` boolean ``keep`` is true; videos and label names are kept."""
        return DetectionTable(
            self.video_ids,
            self.labels,
            self.video[keep],
            self.label[keep],
            self.segments[keep],
            self.scores[keep],
        )


@dataclass(frozen=True, eq=False)
class GroundTruthTable:
    """The evaluated ground truth as flat arrays (M instances).

    Attributes:
        class_names: the K labels present in the evaluated videos, sorted; the classes of the mAP.
        known_labels: every label of the whole ground truth (all subsets); other predicted labels are errors.
        video_ids: the evaluated videos, in input order.
        video: ``(M,)`` index into ``video_ids``.
        label: ``(M,)`` index into ``class_names``.
        segments: ``(M, 2)`` ``[start, end]`` in seconds.
    """

    class_names: tuple[str, ...]
    known_labels: frozenset[str]
    video_ids: tuple[str, ...]
    video: np.ndarray
    label: np.ndarray
    segments: np.ndarray

    @classmethod
    def from_annotations(
        cls, ground_truth: Mapping[str, VideoAnnotation], subset: str | None = None
    ) -> GroundTruthTable:
        """Flatten ``ground_truth``, keeping the videos of ``subset`` (all videos when ``None``)."""
        known = frozenset(s.label for v in ground_truth.values() for s in v.segments)
        videos = dict(ground_truth) if subset is None else select_subset(ground_truth, subset)
        names = tuple(sorted({s.label for v in videos.values() for s in v.segments}))
        lookup = {name: k for k, name in enumerate(names)}
        instances = [
            (i, lookup[s.label], s.start, s.end) for i, v in enumerate(videos.values()) for s in v.segments
        ]
        table = np.array(instances, dtype=np.float64).reshape(-1, 4)
        return cls(
            class_names=names,
            known_labels=known,
            video_ids=tuple(videos),
            video=table[:, 0].astype(np.int64),
            label=table[:, 1].astype(np.int64),
            segments=np.ascontiguousarray(table[:, 2:]),
        )

    @property
    def num_instances(self) -> np.ndarray:
        """``(K,)`` instances per class."""
        return np.bincount(self.label, minlength=len(self.class_names))


@dataclass(frozen=True, eq=False)
class RankedPredictions:
    """Predictions of the evaluated classes, sorted by class, then rank (N' ≤ N rows).

    Attributes:
        rows: ``(N',)`` row of each in the source :class:`DetectionTable`.
        label: ``(N',)`` class index into the ground truth's ``class_names``.
        video: ``(N',)`` ground-truth video index; ``len(gt.video_ids)`` for videos outside it.
        segments: ``(N', 2)`` seconds.
        bounds: ``(K + 1,)``: class k's predictions are ``bounds[k]:bounds[k + 1]``.
        num_videos: V, the number of video indices (ground-truth videos + 1).
    """

    rows: np.ndarray
    label: np.ndarray
    video: np.ndarray
    segments: np.ndarray
    bounds: np.ndarray
    num_videos: int


def rank_predictions(
    gt: GroundTruthTable, predictions: DetectionTable, ties: Ties = "official"
) -> RankedPredictions:
    """Map predictions onto the ground truth's classes and videos and rank them (``ties``: module docstring).

    Raises :class:`InputError` for a label absent from the whole ground truth. Predictions of a label that
    exists in the ground truth but not in the evaluated subset cannot affect any class's AP and are left out.
    """
    used = np.bincount(predictions.label, minlength=len(predictions.labels))
    unknown = [i for i, name in enumerate(predictions.labels) if used[i] and name not in gt.known_labels]
    if unknown:
        raise InputError(
            None,
            f"predicted label {predictions.labels[unknown[0]]!r} is not a class of the ground truth "
            f"({len(unknown)} unknown label(s), {int(used[unknown].sum())} prediction(s))",
        )
    lookup = {name: k for k, name in enumerate(gt.class_names)}
    label_map = np.array([lookup.get(name, -1) for name in predictions.labels], dtype=np.int64)
    video_lookup = {vid: i for i, vid in enumerate(gt.video_ids)}
    outside = len(gt.video_ids)
    video_map = np.array([video_lookup.get(v, outside) for v in predictions.video_ids], dtype=np.int64)
    label = label_map[predictions.label] if len(predictions) else np.zeros(0, np.int64)
    num_classes = len(gt.class_names)
    if ties == "official":  # each class's predictions in the given order, ranked as the reference ranks them
        order = np.flatnonzero(label >= 0)
        order = order[stable_argsort(label[order], num_classes)]
        bounds = np.searchsorted(label[order], np.arange(num_classes + 1))
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            order[lo:hi] = order[lo:hi][score_order(predictions.scores[order[lo:hi]], "official")]
    else:
        order = score_order(predictions.scores)
        order = order[label[order] >= 0]
        order = order[stable_argsort(label[order], num_classes)]
    ranked_label = label[order]
    return RankedPredictions(
        rows=order,
        label=ranked_label,
        video=video_map[predictions.video[order]] if len(order) else np.zeros(0, np.int64),
        segments=predictions.segments[order],
        bounds=np.searchsorted(ranked_label, np.arange(len(gt.class_names) + 1)),
        num_videos=outside + 1,
    )


def evaluate_detections(
    ground_truth: Mapping[str, VideoAnnotation] | GroundTruthTable,
    predictions: DetectionTable | Mapping[str, Sequence[Detection]],
    tious: Sequence[float],
    *,
    subset: str | None = None,
    ties: Ties = "official",
) -> DetectionResult:
    """Score predictions against ground truth at every tIoU in ``tious`` (protocol: module docstring).

    ``subset`` selects the evaluated ground-truth videos when ``ground_truth`` is a mapping (``None``: all);
    ``ties`` is the tie order (``"official"`` or ``"stable"``, module docstring).
    Returns AP per class and threshold in percent.
    """
    if isinstance(ground_truth, GroundTruthTable):
        if subset is not None:
            raise ValueError("subset applies to annotations; a GroundTruthTable is already selected")
        gt = ground_truth
    else:
        gt = GroundTruthTable.from_annotations(ground_truth, subset)
    table = (
        predictions
        if isinstance(predictions, DetectionTable)
        else DetectionTable.from_detections(predictions)
    )
    thresholds = np.asarray(tious, dtype=np.float64).reshape(-1)
    if not thresholds.size or not ((thresholds > 0) & (thresholds <= 1)).all():
        raise ValueError(f"tIoU thresholds must be a non-empty list in (0, 1], got {list(tious)}")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    ranked = rank_predictions(gt, table, ties)
    v = ranked.num_videos
    tp = match_ranked(
        gt.label * v + gt.video,
        gt.segments,
        ranked.label * v + ranked.video,
        ranked.segments,
        thresholds,
        ties,
    )
    positives = gt.num_instances
    ap = np.zeros((len(gt.class_names), len(thresholds)))
    for k in range(len(gt.class_names)):
        lo, hi = ranked.bounds[k], ranked.bounds[k + 1]
        ap[k] = ranked_average_precision(tp[:, lo:hi], int(positives[k]))
    return DetectionResult(
        tious=tuple(float(t) for t in thresholds),
        class_names=gt.class_names,
        ap=100.0 * ap,
        num_ground_truth=positives,
        num_predictions=len(ranked.rows),
    )


def drop_overlapping(
    predictions: DetectionTable, spans: Mapping[str, Sequence[tuple[float, float]]]
) -> tuple[DetectionTable, int]:
    """Drop predictions that overlap (positive-length intersection) a span of the same video.

    W-TALC-style THUMOS14 evaluation passes the ``Ambiguous_test.txt`` spans. Returns the kept table and the
    number dropped.
    """
    lookup = {vid: i for i, vid in enumerate(predictions.video_ids)}
    span_video = [lookup[vid] for vid, items in spans.items() if vid in lookup for _ in items]
    span_segments = [seg for vid, items in spans.items() if vid in lookup for seg in items]
    if not span_video or not len(predictions):
        return predictions, 0
    span_array = np.asarray(span_segments, dtype=np.float64).reshape(-1, 2)
    pair_pred, pair_span = group_pairs(np.asarray(span_video), predictions.video)
    a, b = predictions.segments[pair_pred], span_array[pair_span]
    overlaps = np.minimum(a[:, 1], b[:, 1]) > np.maximum(a[:, 0], b[:, 0])
    drop = np.zeros(len(predictions), dtype=bool)
    drop[pair_pred[overlaps]] = True
    return predictions.select(~drop), int(drop.sum())


class DetectionMetric:
    """Accumulate detections video by video and compute mAP in memory (no files), e.g. every epoch.

    Feed either :class:`Detection` lists (``update``) or arrays from a post-processor (``update_arrays``).
    The given order (``update`` call order, then list order) is the order ties are broken in (``ties``,
    see the module docstring). A video may be updated more than once; its detections are appended.

    Args:
        ground_truth: annotations by video id; ``subset`` picks the evaluated videos (``None``: all given).
        tious: T thresholds in (0, 1].
        ignore_unknown_labels: drop (and count in ``num_ignored``) detections whose label the ground truth
            does not have, instead of raising :class:`InputError`.
        ties: ``"official"`` or ``"stable"`` (module docstring).
    """

    def __init__(
        self,
        ground_truth: Mapping[str, VideoAnnotation],
        tious: Sequence[float],
        *,
        subset: str | None = None,
        ignore_unknown_labels: bool = False,
        ties: Ties = "official",
    ) -> None:
        self.ties: Ties = ties
        self.ground_truth = GroundTruthTable.from_annotations(ground_truth, subset)
        self.tious = tuple(float(t) for t in tious)
        if not self.tious or not all(0.0 < t <= 1.0 for t in self.tious):
            raise ValueError(f"tIoU thresholds must be a non-empty list in (0, 1], got {list(tious)}")
        self.ignore_unknown_labels = ignore_unknown_labels
        self.reset()

    def reset(self) -> None:
        """Forget every detection given so far."""
        self._videos: dict[str, int] = {}
        self._labels: dict[str, int] = {}
        self._parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self.num_ignored = 0

    def update(self, video_id: str, detections: Iterable[Detection]) -> None:
        """Add one video's detections (an empty list still marks the video as predicted)."""
        items = list(detections)
        self.update_arrays(
            video_id,
            segments=np.array([(d.start, d.end) for d in items], dtype=np.float64).reshape(-1, 2),
            scores=np.array([d.score for d in items], dtype=np.float64),
            labels=[d.label for d in items],
        )

    def update_arrays(
        self, video_id: str, segments: np.ndarray, scores: np.ndarray, labels: Sequence[str]
    ) -> None:
        """Add one video's detections as arrays: ``segments (n, 2)`` seconds, ``scores (n,)``, n labels."""
        check_video_id(video_id)
        n = len(labels)
        segs = _as_float(segments, (n, 2), f"video {video_id}: segments")
        score = _as_float(scores, (n,), f"video {video_id}: scores")
        if (segs[:, 1] < segs[:, 0]).any():
            raise ValueError(f"video {video_id}: a segment ends before it starts")
        known = np.array([name in self.ground_truth.known_labels for name in labels], dtype=bool)
        if not known.all():
            if not self.ignore_unknown_labels:
                bad = labels[int(np.argmin(known))]
                raise InputError(None, f"video {video_id}: label {bad!r} is not a class of the ground truth")
            self.num_ignored += int((~known).sum())
            labels = [name for name, ok in zip(labels, known, strict=True) if ok]
            segs, score = segs[known], score[known]
        label = np.array(
            [self._labels.setdefault(name, len(self._labels)) for name in labels], dtype=np.int64
        )
        self._parts.append((self._videos.setdefault(video_id, len(self._videos)), label, segs, score))

    def table(self) -> DetectionTable:
        """Everything given so far as one :class:`DetectionTable`."""
        parts = self._parts
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return DetectionTable((), (), empty, empty, np.zeros((0, 2)), np.zeros(0))
        return DetectionTable(
            video_ids=tuple(self._videos),
            labels=tuple(self._labels),
            video=np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts]),
            label=np.concatenate([p[1] for p in parts]),
            segments=np.concatenate([p[2] for p in parts]),
            scores=np.concatenate([p[3] for p in parts]),
        )

    def compute(self) -> DetectionResult:
        """mAP per tIoU, AP per class (percent) and the standard averages of everything given so far."""
        return evaluate_detections(self.ground_truth, self.table(), self.tious, ties=self.ties)
