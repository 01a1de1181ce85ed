"""Inference: a model's CAS for every video of a split, post-processed into detections, scored in memory.

* :mod:`ecm.inference.predict` — forward passes (:func:`predict_split`), localization, mAP and frame accuracy;
* :mod:`ecm.inference.run` — a restored :class:`TrainedRun` applied to a dataset folder (checks, localization);
* :mod:`ecm.inference.outputs` — prediction JSON, CSV and CAS folders, each written all or nothing.
"""

from ecm.inference.predict import (
    VideoPrediction,
    frame_accuracy_of,
    localize_predictions,
    predict_split,
    score_detections,
)
from ecm.inference.run import (
    Localization,
    TrainedRun,
    localize_split,
    merge_localizations,
    open_split_for_run,
    select_videos,
    shard_split,
)

__all__ = [
    "Localization",
    "TrainedRun",
    "VideoPrediction",
    "frame_accuracy_of",
    "localize_predictions",
    "localize_split",
    "merge_localizations",
    "open_split_for_run",
    "predict_split",
    "score_detections",
    "select_videos",
    "shard_split",
]
