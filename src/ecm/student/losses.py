"""The student's losses: sigmoid focal loss on every real point, DIoU on the positive points' distances.

Both are sums normalised by the number of positive points in the batch (at least 1), as in FCOS and
ActionFormer. The criterion returns named terms, ``total`` = ``cls + reg_weight · reg``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from ecm.student.detector import StudentOutput


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, *, alpha: float, gamma: float) -> Tensor:
    """Element-wise focal loss (Lin et al. 2017) of logits against {0, 1} targets, same shape.

    ``FL = −α_t (1 − p_t)^γ log p_t`` with ``p_t = p`` where the target is 1, ``1 − p`` where it is 0, and
    ``α_t = α`` / ``1 − α`` likewise (``α`` < 0: no weighting).
    """
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss


def diou_loss_1d(pred: Tensor, target: Tensor) -> Tensor:
    """Per-point 1-D DIoU loss of (P, 2) predicted against (P, 2) target distances (start, end; ≥ 0).

    With both segments around the same point: IoU = overlap / union, and the penalty is the squared
    distance between their centres over the squared length of the smallest segment holding both;
    ``loss = 1 − IoU + penalty`` (0 for equal segments, below 2 always).
    """
    pl, pr = pred[:, 0], pred[:, 1]
    tl, tr = target[:, 0], target[:, 1]
    overlap = torch.minimum(pl, tl) + torch.minimum(pr, tr)
    union = (pl + pr) + (tl + tr) - overlap
    iou = overlap / union.clamp(min=1e-8)
    enclosing = torch.maximum(pl, tl) + torch.maximum(pr, tr)
    centre_gap = ((pr - pl) - (tr - tl)) / 2
    return 1 - iou + centre_gap**2 / enclosing.clamp(min=1e-8) ** 2


class StudentCriterion:
    """Focal + DIoU over dense targets (:func:`ecm.student.targets.assign_targets`, batched)."""

    def __init__(self, *, alpha: float = 0.25, gamma: float = 2.0, reg_weight: float = 1.0) -> None:
        self.alpha, self.gamma, self.reg_weight = alpha, gamma, reg_weight

    def __call__(self, output: StudentOutput, targets: Tensor) -> dict[str, Tensor]:
        """Loss terms of ``output`` against ``targets`` (B, N, C + 3): ``cls``, ``reg`` and ``total``."""
        classes = output.logits.shape[-1]
        one_hot, distances, valid = targets[..., :classes], targets[..., classes:-1], targets[..., -1] > 0
        positive = (one_hot.sum(-1) > 0) & valid  # (B, N)
        count = positive.sum().clamp(min=1).float()
        cls = sigmoid_focal_loss(output.logits[valid], one_hot[valid], alpha=self.alpha, gamma=self.gamma)
        reg = diou_loss_1d(output.offsets[positive], distances[positive])
        terms = {"cls": cls.sum() / count, "reg": reg.sum() / count}
        terms["total"] = terms["cls"] + self.reg_weight * terms["reg"]
        return terms
