"""Evaluation: ActivityNet detection mAP, frame accuracy and error diagnosis — numpy only, in memory.

Pure functions beside a thin metric object (:class:`DetectionMetric`); files are read and written only by
:mod:`ecm.evaluation.io`. Nothing here imports torch, so ``ecm evaluate`` and ``ecm diagnose`` start fast.
"""

from ecm.evaluation.detection import (
    Detection,
    DetectionMetric,
    DetectionTable,
    GroundTruthTable,
    drop_overlapping,
    evaluate_detections,
)
from ecm.evaluation.diagnosis import (
    CATEGORIES,
    ERROR_TYPES,
    DiagnosisResult,
    VideoBreakdown,
    diagnose_errors,
    video_breakdown,
)
from ecm.evaluation.frame_accuracy import frame_accuracy
from ecm.evaluation.io import drop_unknown_labels, read_predictions, write_predictions
from ecm.evaluation.matching import (
    interpolated_average_precision,
    match_ranked,
    ranked_average_precision,
    score_order,
)
from ecm.evaluation.result import (
    DetectionResult,
    MapSummary,
    check_selection,
    parse_tious,
    standard_averages,
    tiou_key,
)

__all__ = [
    "CATEGORIES",
    "ERROR_TYPES",
    "Detection",
    "DetectionMetric",
    "DetectionResult",
    "DetectionTable",
    "DiagnosisResult",
    "GroundTruthTable",
    "MapSummary",
    "VideoBreakdown",
    "check_selection",
    "diagnose_errors",
    "drop_overlapping",
    "drop_unknown_labels",
    "evaluate_detections",
    "frame_accuracy",
    "interpolated_average_precision",
    "match_ranked",
    "parse_tious",
    "ranked_average_precision",
    "read_predictions",
    "score_order",
    "standard_averages",
    "tiou_key",
    "video_breakdown",
    "write_predictions",
]
