"""The student's training examples: windows of a video's snippets with the dense targets of its pseudo labels.

A video longer than ``window`` snippets contributes a random crop of ``window`` snippets (its start drawn
from ``default_rng([seed, epoch, index])``, so resumption and worker counts change nothing); a shorter one
is taken whole. A batch is zero-padded to its longest member, rounded up to a multiple of the coarsest
stride, and its targets are laid over that length. Labels are clipped to the window; those left empty are dropped. Only
videos with at least one pseudo label are examples: a labelled video where the teacher found nothing
would teach the student that its action is background.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ecm.data.dataset import Batch
from ecm.data.folder import SplitData
from ecm.structures import Detection
from ecm.student.targets import assign_targets, point_layout


@dataclass(frozen=True)
class WindowExample:
    """One training window: features (W', D) with W' ≤ W, its labels' ``segments`` (M, 2) in the window's
    snippets and their ``classes`` (M,), the video's labels (C,)."""

    features: torch.Tensor
    segments: np.ndarray
    classes: np.ndarray
    labels: torch.Tensor
    video_id: str


class WindowDataset(Dataset[WindowExample]):
    """Windows over the videos of ``split`` that have pseudo labels.

    Args:
        split: the training split.
        pseudo: pseudo labels per video id (seconds, class names of ``split.class_index``).
        window: W, the longest example, in snippets.
        seed: base seed of the crops.
    """

    def __init__(
        self,
        split: SplitData,
        pseudo: Mapping[str, Sequence[Detection]],
        *,
        window: int,
        seed: int = 0,
    ) -> None:
        self.split, self.window, self.seed = split, window, seed
        self.indices = [i for i, v in enumerate(split.videos) if pseudo.get(v.video_id)]
        names = split.class_index
        self.segments = {
            v.video_id: (
                np.array([d.start for d in pseudo[v.video_id]]) / v.timing.seconds_per_snippet,
                np.array([d.end for d in pseudo[v.video_id]]) / v.timing.seconds_per_snippet,
                np.array([names.index(d.label) for d in pseudo[v.video_id]], dtype=np.int64),
            )
            for v in (split.videos[i] for i in self.indices)
        }
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crops ``__getitem__`` reproduces."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> WindowExample:
        video = self.indices[index]
        record = self.split.videos[video]
        features = self.split.features(video)  # (T, D)
        length = features.shape[0]
        offset = 0
        if length > self.window:
            offset = int(
                np.random.default_rng([self.seed, self.epoch, index]).integers(0, length - self.window + 1)
            )
        crop = features[offset : offset + self.window]
        starts, ends, classes = self.segments[record.video_id]
        starts = np.clip(starts - offset, 0.0, crop.shape[0])
        ends = np.clip(ends - offset, 0.0, crop.shape[0])
        inside = ends > starts
        return WindowExample(
            torch.from_numpy(np.ascontiguousarray(crop)),
            np.stack([starts[inside], ends[inside]], axis=1),
            classes[inside],
            torch.from_numpy(record.labels),
            record.video_id,
        )


def collate_windows(
    examples: Sequence[WindowExample], *, levels: int, num_classes: int, radius: float
) -> Batch:
    """Stack windows into a :class:`~ecm.data.dataset.Batch` with dense ``targets`` (B, N, C + 3), zero-padded
    to the longest, rounded up to a multiple of ``2^(levels − 1)`` (``times`` are unused and left 0)."""
    stride = 2 ** (levels - 1)
    length = -(-max(int(e.features.shape[0]) for e in examples) // stride) * stride
    layout = point_layout(length, levels)
    dim = examples[0].features.shape[1]
    features = torch.zeros(len(examples), length, dim, dtype=torch.float32)
    mask = torch.zeros(len(examples), length, dtype=torch.bool)
    targets = []
    for b, e in enumerate(examples):
        size = e.features.shape[0]
        features[b, :size] = e.features
        mask[b, :size] = True
        dense = assign_targets(
            layout,
            e.segments[:, 0],
            e.segments[:, 1],
            e.classes,
            num_classes=num_classes,
            valid_length=size,
            radius=radius,
        )
        targets.append(torch.from_numpy(dense))
    return Batch(
        features,
        mask,
        torch.stack([e.labels for e in examples]),
        tuple(e.video_id for e in examples),
        torch.zeros(len(examples), length),
        torch.stack(targets),
    )
