"""The second stage's settings (component-owned; no torch here, so the config layer can check them).

A run is a *student* run when ``student.teacher`` names a finished ECM run folder, or when
``student.teacher_recipe`` names the recipe to train one with first: the student is then a regression-based
temporal detector trained on that teacher's detections on the training videos (pseudo labels). Without
either, the ``student`` section is unused and the run trains ECM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ecm.errors import InputError


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise InputError(None, problem)


@dataclass(frozen=True)
class StudentConfig:
    """The student detector, its targets and losses, its inference, and the pseudo labels it learns from."""

    teacher: str | None = None  # a finished ECM run folder: train a student on its pseudo labels
    # Or a recipe (name or YAML file): first train the teacher with it into RUN/teacher (on this config's
    # data, with its seed), then the student on it: two stages, one command, resumable at either.
    teacher_recipe: str | None = None
    teacher_checkpoint: Literal["last", "best"] = "last"  # which of the teacher's checkpoints labels
    rounds: int = 1  # 2: a first student is trained into RUN/round1, and its detections label the second
    # The network: a temporal feature pyramid (stride 2 per level) with shared heads.
    hidden_dim: int = 256  # channels of the stem, the pyramid and the heads
    levels: int = 6  # pyramid levels, strides 1, 2, …, 2^(levels − 1) snippets
    stem_layers: int = 2  # convolutions (kernel 3) at stride 1 before the pyramid
    head_layers: int = 2  # convolutions (kernel 3) in each head before its output convolution
    dropout: float = 0.0  # dropout in the stem and the pyramid
    window: int = 512  # training crop in snippets (a multiple of 2^(levels − 1)); shorter videos pad
    # Targets and losses.
    center_radius: float = 1.5  # a point is positive within this many of its strides of a segment's centre
    focal_alpha: float = 0.25  # sigmoid focal loss α (classification head)
    focal_gamma: float = 2.0  # sigmoid focal loss γ
    reg_weight: float = 1.0  # weight of the DIoU loss of the boundary head
    # Inference: candidates → segments → per-class NMS; classes from the teacher's video-level scores.
    min_score: float = 0.001  # candidates below this score are dropped
    pre_nms: int = 2000  # at most this many candidates per video enter NMS
    nms: Literal["hard", "soft"] = "hard"  # hard NMS, or Gaussian soft-NMS
    nms_iou: float = 0.5  # hard NMS: IoU at which a segment is suppressed
    soft_sigma: float = 0.5  # soft-NMS: scores decay by exp(−IoU² / σ)
    max_detections: int = 500  # per video, after NMS
    # Pseudo labels from the teacher's detections (restricted to each video's labels).
    pseudo_relative: float = 0.2  # keep detections scoring ≥ this × the video's top score of their class
    pseudo_density: int = 4  # keep proposals with ≥ this many overlapping proposals of their class (0: off)
    pseudo_density_iou: float = 0.5  # IoU at which two proposals count as overlapping
    pseudo_nms_iou: float = 0.4  # NMS among the kept proposals (IoU, continuous)

    def __post_init__(self) -> None:
        _require(self.teacher is None or bool(self.teacher), "student.teacher must not be empty")
        _require(
            self.teacher_recipe is None or bool(self.teacher_recipe),
            "student.teacher_recipe must not be empty",
        )
        _require(
            self.teacher is None or self.teacher_recipe is None,
            "student.teacher and student.teacher_recipe exclude each other (a teacher is given or trained)",
        )
        _require(self.rounds in (1, 2), f"student.rounds must be 1 or 2, got {self.rounds}")
        for name in ("hidden_dim", "levels", "window", "pre_nms", "max_detections"):
            _require(getattr(self, name) >= 1, f"student.{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("stem_layers", "head_layers", "pseudo_density"):
            _require(getattr(self, name) >= 0, f"student.{name} must be ≥ 0, got {getattr(self, name)}")
        _require(
            self.window % self.max_stride == 0,
            f"student.window must be a multiple of 2^(levels − 1) = {self.max_stride}, got {self.window}",
        )
        _require(0.0 <= self.dropout < 1.0, f"student.dropout must lie in [0, 1), got {self.dropout}")
        for name in ("center_radius", "focal_gamma", "reg_weight", "min_score", "soft_sigma"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value >= 0.0, f"student.{name} must be ≥ 0, got {value}")
        for name in ("nms_iou", "pseudo_density_iou", "pseudo_nms_iou"):
            value = getattr(self, name)
            _require(0.0 < value <= 1.0, f"student.{name} must lie in (0, 1], got {value}")
        for name in ("focal_alpha", "pseudo_relative"):
            value = getattr(self, name)
            _require(0.0 <= value <= 1.0, f"student.{name} must lie in [0, 1], got {value}")
        _require(self.soft_sigma > 0.0, f"student.soft_sigma must be > 0, got {self.soft_sigma}")

    @property
    def enabled(self) -> bool:
        """Whether the run trains a student (it has a teacher, given or to train)."""
        return self.teacher is not None or self.teacher_recipe is not None

    @property
    def max_stride(self) -> int:
        """Stride of the coarsest level, in snippets."""
        return int(2 ** (self.levels - 1))
