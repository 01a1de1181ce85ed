"""The second stage: a regression-based temporal detector trained on a teacher's pseudo labels.

* :mod:`ecm.student.config` — :class:`StudentConfig`, the ``student`` section of an experiment;
* :mod:`ecm.student.pseudo` — the teacher's proposals → pseudo labels (filters, the JSON file);
* :mod:`ecm.student.targets` — pyramid points and their classification / boundary targets;
* :mod:`ecm.student.data` — training windows with dense targets;
* :mod:`ecm.student.detector` — the network (:class:`StudentDetector`) and its pairing with the teacher;
* :mod:`ecm.student.losses` — sigmoid focal loss and 1-D DIoU;
* :mod:`ecm.student.decode` — outputs → detections in seconds (NMS or soft-NMS).
"""

from ecm.student.config import StudentConfig
from ecm.student.data import WindowDataset, WindowExample, collate_windows
from ecm.student.decode import decode_video
from ecm.student.detector import StudentDetector, StudentOutput, TwoStageModel, build_student
from ecm.student.losses import StudentCriterion, diou_loss_1d, sigmoid_focal_loss
from ecm.student.pseudo import (
    dump_pseudo_labels,
    read_pseudo_labels,
    select_pseudo_labels,
    write_pseudo_labels,
)
from ecm.student.targets import PointLayout, assign_targets, level_sizes, point_layout

__all__ = [
    "PointLayout",
    "StudentConfig",
    "StudentCriterion",
    "StudentDetector",
    "StudentOutput",
    "TwoStageModel",
    "WindowDataset",
    "WindowExample",
    "assign_targets",
    "build_student",
    "collate_windows",
    "decode_video",
    "diou_loss_1d",
    "dump_pseudo_labels",
    "level_sizes",
    "point_layout",
    "read_pseudo_labels",
    "select_pseudo_labels",
    "sigmoid_focal_loss",
    "write_pseudo_labels",
]
