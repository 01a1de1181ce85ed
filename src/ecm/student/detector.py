"""The student: a temporal feature pyramid over snippet features with a classification and a boundary head.

Input ``(B, T, D)`` snippet features, ``T`` a multiple of ``2^(levels − 1)`` (pad with zeros). A stem of
kernel-3 convolutions maps D → H channels at stride 1; each further level halves the length with a stride-2
convolution. Every convolution but the heads' last is followed by a layer normalisation over the channels
of each time step (as ActionFormer's) and a ReLU: without it the detector learns its targets far worse
(README, "Beyond the paper"). Two heads, shared by all levels, run on every level: the classification head gives per point
and class a logit (its bias starts at the prior 0.01, as in RetinaNet), the boundary head two distances
(to the start and the end, in the level's strides) through a per-level learnable scale and a ReLU. Points
follow :func:`ecm.student.targets.point_layout`.

:class:`TwoStageModel` keeps the student's teacher (a trained ECM, frozen, always in eval mode) beside it:
the teacher's video-level scores choose the classes at inference, where the student has no video-level
classifier, and a checkpoint of the pair is all that inference needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ecm.student.config import StudentConfig


@dataclass(frozen=True)
class StudentOutput:
    """Per point (all levels concatenated, finest first).

    Attributes:
        logits: (B, N, C) classification logits.
        offsets: (B, N, 2) distances to start and end, in the point's strides, ≥ 0.
    """

    logits: Tensor
    offsets: Tensor

    def float(self) -> StudentOutput:
        """The same outputs in float32 (after an autocast forward)."""
        return StudentOutput(self.logits.float(), self.offsets.float())


class ChannelNorm(nn.Module):
    """Layer normalisation over the channels of each time step of a (B, H, T) sequence: a snippet's
    normalised features never depend on the padding beside it or on the other videos of a batch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, T) → (B, H, T)."""
        out: Tensor = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return out


def _conv_block(channels_in: int, channels: int, *, stride: int = 1, dropout: float = 0.0) -> list[nn.Module]:
    """Kernel-3 convolution, channel normalisation, ReLU[, dropout]."""
    parts: list[nn.Module] = [
        nn.Conv1d(channels_in, channels, 3, stride=stride, padding=1),
        ChannelNorm(channels),
        nn.ReLU(),
    ]
    return parts + ([nn.Dropout(dropout)] if dropout > 0 else [])


def _conv_stack(channels_in: int, channels: int, layers: int, dropout: float = 0.0) -> nn.Sequential:
    """``layers`` convolution blocks, the first from ``channels_in``."""
    parts: list[nn.Module] = []
    for i in range(layers):
        parts += _conv_block(channels_in if i == 0 else channels, channels, dropout=dropout)
    return nn.Sequential(*parts)


class StudentDetector(nn.Module):
    """The regression-based detector (see the module docstring).

    Args:
        feature_dim: D, input channels.
        num_classes: C.
        hidden_dim: H.
        levels: pyramid levels (strides 1 … 2^(levels − 1) snippets).
        stem_layers: stride-1 convolutions after the input one.
        head_layers: convolutions of each head before its output convolution.
        dropout: after each stem and pyramid convolution.
        prior: the classification head's initial foreground probability.
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        hidden_dim: int = 256,
        levels: int = 6,
        stem_layers: int = 2,
        head_layers: int = 2,
        dropout: float = 0.0,
        prior: float = 0.01,
    ) -> None:
        super().__init__()
        self.levels = levels
        self.stem = _conv_stack(feature_dim, hidden_dim, 1 + stem_layers, dropout)
        self.down = nn.ModuleList(
            nn.Sequential(*_conv_block(hidden_dim, hidden_dim, stride=2, dropout=dropout))
            for _ in range(levels - 1)
        )
        self.cls_tower = _conv_stack(hidden_dim, hidden_dim, head_layers)
        self.cls_out = nn.Conv1d(hidden_dim, num_classes, 3, padding=1)
        self.reg_tower = _conv_stack(hidden_dim, hidden_dim, head_layers)
        self.reg_out = nn.Conv1d(hidden_dim, 2, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(levels))
        assert self.cls_out.bias is not None
        nn.init.constant_(self.cls_out.bias, -math.log((1 - prior) / prior))

    @property
    def max_stride(self) -> int:
        """Stride of the coarsest level; inputs are padded to a multiple of it."""
        return int(2 ** (self.levels - 1))

    def forward(self, features: Tensor, labels: Tensor | None = None) -> StudentOutput:
        """``features`` (B, T, D), T a multiple of :attr:`max_stride` → :class:`StudentOutput`.

        ``labels`` (the training targets) are not used: the signature is the training loop's.
        """
        x = self.stem(features.transpose(1, 2))  # (B, H, T)
        logits, offsets = [], []
        for level in range(self.levels):
            if level > 0:
                x = self.down[level - 1](x)  # (B, H, T / 2^level)
            logits.append(self.cls_out(self.cls_tower(x)))  # (B, C, T_l)
            offsets.append(torch.relu(self.scales[level] * self.reg_out(self.reg_tower(x))))  # (B, 2, T_l)
        return StudentOutput(
            torch.cat(logits, dim=2).transpose(1, 2), torch.cat(offsets, dim=2).transpose(1, 2)
        )


class TwoStageModel(nn.Module):
    """A student with its frozen teacher.

    Args:
        teacher: the trained ECM (its parameters are frozen; it stays in eval mode).
        student: the detector trained here.
        teacher_length: snippets the teacher sees per video (uniform sampling), or None for all.
    """

    def __init__(self, teacher: nn.Module, student: StudentDetector, teacher_length: int | None) -> None:
        super().__init__()
        self.teacher = teacher.requires_grad_(False).eval()
        self.student = student
        self.teacher_length = teacher_length

    def train(self, mode: bool = True) -> TwoStageModel:
        """Train or evaluate the student; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, features: Tensor, labels: Tensor | None = None) -> StudentOutput:
        """The student's outputs on ``features`` (B, T, D)."""
        output: StudentOutput = self.student(features)
        return output


def build_student(cfg: StudentConfig, num_classes: int, feature_dim: int) -> StudentDetector:
    """The detector ``cfg`` describes, for C classes and D-wide features."""
    return StudentDetector(
        feature_dim,
        num_classes,
        hidden_dim=cfg.hidden_dim,
        levels=cfg.levels,
        stem_layers=cfg.stem_layers,
        head_layers=cfg.head_layers,
        dropout=cfg.dropout,
    )
