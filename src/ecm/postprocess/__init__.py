"""Post-processing: a video's CAS and class probabilities → temporal detections in seconds.

The steps and constants are those of the reference implementation's post-processing.

numpy only — no torch import, so scoring tools can use it without paying torch's start-up time.

* :mod:`ecm.postprocess.config` — :class:`PostprocessConfig` and the THUMOS14 / ActivityNet presets;
* :mod:`ecm.postprocess.proposals` — probabilities, CAS normalisation, up-sampling, grouping, OIC scores;
* :mod:`ecm.postprocess.nms` — temporal IoU (legacy "+1" or continuous) and greedy per-class NMS;
* :mod:`ecm.postprocess.localize` — the per-video pipeline, :func:`localize_video`.
"""

from ecm.postprocess.config import (
    PRESET_NAMES,
    PostprocessConfig,
    activitynet12,
    activitynet13,
    arange_thresholds,
    thumos14,
)
from ecm.postprocess.localize import RawDetection, frames_to_seconds, localize_video, to_detections
from ecm.postprocess.nms import batched_nms, nms
from ecm.postprocess.proposals import (
    GATES,
    FrameProposals,
    Gate,
    find_runs,
    gate_bar,
    generate_proposals,
    kept_classes,
    normalize_cas,
    outer_inner_contrast,
    upsample_linear,
    video_probabilities,
)

__all__ = [
    "GATES",
    "PRESET_NAMES",
    "FrameProposals",
    "Gate",
    "PostprocessConfig",
    "RawDetection",
    "activitynet12",
    "activitynet13",
    "arange_thresholds",
    "batched_nms",
    "find_runs",
    "frames_to_seconds",
    "gate_bar",
    "generate_proposals",
    "kept_classes",
    "localize_video",
    "nms",
    "normalize_cas",
    "outer_inner_contrast",
    "thumos14",
    "to_detections",
    "upsample_linear",
    "video_probabilities",
]
