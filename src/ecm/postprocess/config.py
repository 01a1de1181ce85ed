"""Post-processing configuration: one frozen dataclass and the dataset presets.

Every constant of the localization step lives here; nothing in :mod:`ecm.postprocess` hard-codes a
dataset fact. The presets reproduce the values the authors' released configs use
(``experiments/THUMOS14.yaml``, ``ActivityNet1.2.yaml``, ``ActivityNet1.3.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np

from ecm.postprocess.proposals import GATES, Gate

TimeMode = Literal["fps", "duration"]

PRESET_NAMES: tuple[str, ...] = ("thumos14", "activitynet12", "activitynet13")


def arange_thresholds(start: float, stop: float, step: float) -> tuple[float, ...]:
    """Activation thresholds exactly as ``numpy.arange(start, stop, step)`` produces them.

    ``numpy.arange`` computes ``start + i·step`` in float64 for ``i < ceil((stop − start)/step)``, so the
    values carry the usual binary rounding (``arange(0.01, 0.2, 0.025)[2] == 0.060000000000000005``).
    The reference thresholds the up-sampled CAS with these very values, so the presets keep them.

    Returns:
        the thresholds as a tuple of Python floats (8 for THUMOS14's ``(0.01, 0.2, 0.025)``,
        7 for ActivityNet's ``(0, 0.175, 0.025)``).
    """
    return tuple(float(x) for x in np.arange(start, stop, step, dtype=np.float64))


@dataclass(frozen=True)
class PostprocessConfig:
    """How a video's CAS becomes detections (see :mod:`ecm.postprocess.localize`).

    Build with :meth:`preset` or field by field.
    """

    # τ: a class is localized only if its video probability softmax(s_pre)_c ≥ tau (no fallback class;
    # ``gate`` below may scale τ by the video's highest probability).
    tau: float
    # θ values: each kept class's up-sampled CAS is cut at every threshold; runs above it become proposals.
    thresholds: tuple[float, ...]
    # λ: the outer window of a run of length L frames reaches λ·L frames beyond each side (OIC score).
    outer_ratio: float
    # γ: weight of the class probability p_c added to every proposal score (score = inner − outer + γ·p_c).
    class_weight: float
    # Per-class hard NMS: a proposal is dropped when its IoU with a kept one is ≥ this value.
    nms_threshold: float
    # True: the reference's IoU with "+1" on seconds (inter = min e − max s + 1, area = e − s + 1);
    # False: continuous IoU on seconds.
    legacy_nms: bool = True
    # True: reproduce the reference's `any(position)` test, so a threshold whose only frame above it is
    # frame 0 yields no proposal at all; False: that single-frame run is scored like any other.
    index0_quirk: bool = True
    # Frame index → seconds. "fps": t = index / fps (THUMOS14, per-video fps);
    # "duration": t = index / frame_num · duration (ActivityNet, per-video duration in seconds).
    time_mode: TimeMode = "fps"
    # How p is compared with τ: "absolute", p_c ≥ τ (the paper); "relative", p_c ≥ τ · max p, so that
    # a class sharing its videos with another is not shut on the edge of τ (`thumos14-fast`).
    gate: Gate = "absolute"

    def __post_init__(self) -> None:
        # YAML gives lists; store a tuple of floats so the config stays hashable and immutable.
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        if not self.thresholds:
            raise ValueError("postprocess.thresholds must hold at least one threshold")
        if not all(np.isfinite(self.thresholds)):
            raise ValueError(f"postprocess.thresholds must be finite, got {self.thresholds}")
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"postprocess.tau must lie in [0, 1], got {self.tau}")
        if not (np.isfinite(self.outer_ratio) and self.outer_ratio >= 0.0):
            raise ValueError(f"postprocess.outer_ratio must be finite and ≥ 0, got {self.outer_ratio}")
        if not np.isfinite(self.class_weight):
            raise ValueError(f"postprocess.class_weight must be finite, got {self.class_weight}")
        if not 0.0 < self.nms_threshold <= 1.0:
            raise ValueError(f"postprocess.nms_threshold must lie in (0, 1], got {self.nms_threshold}")
        if self.time_mode not in ("fps", "duration"):
            raise ValueError(f"postprocess.time_mode must be 'fps' or 'duration', got {self.time_mode!r}")
        if self.gate not in GATES:
            raise ValueError(f"postprocess.gate must be one of {', '.join(GATES)}, got {self.gate!r}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> PostprocessConfig:
        """The authors' post-processing constants for one dataset, optionally with some fields replaced.

        Args:
            name: ``"thumos14"``, ``"activitynet12"`` or ``"activitynet13"``.
            overrides: field values to replace, e.g. ``legacy_nms=False``.
        """
        builders = {"thumos14": thumos14, "activitynet12": activitynet12, "activitynet13": activitynet13}
        if name not in builders:
            raise ValueError(
                f"unknown post-processing preset {name!r}; choose one of {', '.join(PRESET_NAMES)}"
            )
        base = builders[name]()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown post-processing field(s): {', '.join(unknown)}")
        return replace(base, **overrides) if overrides else base


def thumos14() -> PostprocessConfig:
    """THUMOS14: τ 0.25, θ = arange(0.01, 0.2, 0.025) (8 values), λ 0.4, γ 0.15, NMS 0.6, per-video fps."""
    return PostprocessConfig(
        tau=0.25,
        thresholds=arange_thresholds(0.01, 0.2, 0.025),
        outer_ratio=0.4,
        class_weight=0.15,
        nms_threshold=0.6,
        time_mode="fps",
    )


def _activitynet(tau: float) -> PostprocessConfig:
    return PostprocessConfig(
        tau=tau,
        thresholds=arange_thresholds(0.0, 0.175, 0.025),
        outer_ratio=0.5,
        class_weight=0.45,
        nms_threshold=0.7,
        time_mode="duration",
    )


def activitynet12() -> PostprocessConfig:
    """ActivityNet v1.2: τ 0.12, θ = arange(0, 0.175, 0.025) (7 values), λ 0.5, γ 0.45, NMS 0.7, duration."""
    return _activitynet(tau=0.12)


def activitynet13() -> PostprocessConfig:
    """ActivityNet v1.3: τ 0.05, θ = arange(0, 0.175, 0.025) (7 values), λ 0.5, γ 0.45, NMS 0.7, duration."""
    return _activitynet(tau=0.05)
