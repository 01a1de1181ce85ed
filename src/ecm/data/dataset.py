"""The torch side of the data layer: examples, batches, seeded loaders.

Batches are **time-major**: ``features`` is (B, T, D) float32 (snippets × channels, D = rgb ++ flow);
the model transposes to channels-first itself. ``mask`` (B, T) marks real snippets when videos of
different lengths are padded together (full-length evaluation with batch size > 1).

Determinism: an example's snippet sampling draws from ``numpy.random.default_rng([seed, epoch, index])``
and the shuffling order from ``default_rng([seed, epoch])``. Both depend only on (seed, epoch, index),
never on which DataLoader worker runs them or how many there are, so results do not change with
``num_workers`` and a run resumed at epoch k sees exactly the data an uninterrupted run would.
Call :meth:`SnippetDataset.set_epoch` and :meth:`EpochSampler.set_epoch` before each epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence, Sized
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ecm.data.folder import SplitData
from ecm.data.sampling import SamplingMode, sample_indices


@dataclass(frozen=True)
class Example:
    """One video's sampled snippets."""

    features: torch.Tensor  # (T, D) float32
    labels: torch.Tensor  # (C,) float32 multi-hot
    video_id: str
    times: torch.Tensor  # (T,) float32, start time of each sampled snippet in seconds


@dataclass(frozen=True)
class Batch:
    """A collated batch (time-major).

    Attributes:
        features: (B, T, D) float32, zero-padded past each video's length.
        mask: (B, T) bool, True at real snippets.
        labels: (B, C) float32 multi-hot video labels.
        video_ids: B ids.
        times: (B, T) float32 snippet start times in seconds (0 in padding).
        targets: dense per-point training targets of a detector (``ecm.student``), (B, N, C + 3); None
            for ECM, which learns from ``labels``.
    """

    features: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    video_ids: tuple[str, ...]
    times: torch.Tensor
    targets: torch.Tensor | None = None

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        """The same batch with its tensors on ``device`` (``non_blocking``: from pinned memory, asynchronously)."""
        return Batch(
            self.features.to(device, non_blocking=non_blocking),
            self.mask.to(device, non_blocking=non_blocking),
            self.labels.to(device, non_blocking=non_blocking),
            self.video_ids,
            self.times.to(device, non_blocking=non_blocking),
            None if self.targets is None else self.targets.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> Batch:
        """The same batch in page-locked memory (the ``DataLoader`` calls it when ``pin_memory`` is on)."""
        return Batch(
            self.features.pin_memory(),
            self.mask.pin_memory(),
            self.labels.pin_memory(),
            self.video_ids,
            self.times.pin_memory(),
            None if self.targets is None else self.targets.pin_memory(),
        )


class SnippetDataset(Dataset[Example]):
    """Examples of one split: ``length`` sampled snippets per video, or the full sequence.

    Args:
        split: an opened split (:meth:`ecm.data.folder.DatasetFolder.open_split`).
        length: snippets per example (T_train); ignored for ``mode="full"``.
        mode: ``random`` (random-perturb, training), ``uniform`` or ``full`` (evaluation).
        seed: base seed of the sampling randomness.
    """

    def __init__(self, split: SplitData, *, length: int | None, mode: SamplingMode, seed: int = 0) -> None:
        self.split = split
        self.length = length
        self.mode = mode
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random sampling ``__getitem__`` reproduces."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> Example:
        record = self.split.videos[index]
        features = self.split.features(index)  # (T, D)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        idx = sample_indices(features.shape[0], self.length, self.mode, rng)
        step = record.timing.seconds_per_snippet
        return Example(
            features=torch.from_numpy(np.ascontiguousarray(features[idx])),
            labels=torch.from_numpy(record.labels),
            video_id=record.video_id,
            times=torch.from_numpy((idx * step).astype(np.float32)),
        )


def collate(examples: Sequence[Example]) -> Batch:
    """Stack examples into a :class:`Batch`, zero-padding to the longest."""
    length = max(e.features.shape[0] for e in examples)
    dim = examples[0].features.shape[1]
    features = torch.zeros(len(examples), length, dim, dtype=torch.float32)
    mask = torch.zeros(len(examples), length, dtype=torch.bool)
    times = torch.zeros(len(examples), length, dtype=torch.float32)
    for b, e in enumerate(examples):
        n = e.features.shape[0]
        features[b, :n] = e.features
        mask[b, :n] = True
        times[b, :n] = e.times
    labels = torch.stack([e.labels for e in examples])
    return Batch(features, mask, labels, tuple(e.video_id for e in examples), times)


class EpochSampler(Sampler[int]):
    """Indices ``0..n-1``, shuffled by ``default_rng([seed, epoch])`` when ``shuffle`` (else in order)."""

    def __init__(self, size: int, *, shuffle: bool, seed: int = 0) -> None:
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order ``__iter__`` yields."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.size))
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.size


def make_loader(
    split: SplitData,
    *,
    batch_size: int,
    train: bool,
    length: int | None,
    mode: SamplingMode,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Example]:
    """A DataLoader over ``split``'s examples: :func:`seeded_loader` of a :class:`SnippetDataset`."""
    dataset = SnippetDataset(split, length=length, mode=mode, seed=seed)
    return seeded_loader(
        dataset,
        collate,
        batch_size=batch_size,
        shuffle=train,
        seed=seed,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


def seeded_loader(
    dataset: Dataset[Any],
    collate_fn: Callable[[Any], Any],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """The one-process loader over a sized ``dataset``: an :class:`EpochSampler`'s order, batches of
    ``batch_size`` with the last partial batch kept (as the reference training does). Its dataset and
    sampler expose ``set_epoch`` (see :func:`set_epoch`). ``pin_memory`` (for CUDA) puts each batch in
    page-locked memory, so that its copy to the GPU overlaps the previous step.
    """
    sampler = EpochSampler(len(cast(Sized, dataset)), shuffle=shuffle, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        drop_last=False,
        pin_memory=pin_memory,
    )


def set_epoch(loader: DataLoader[Example], epoch: int) -> None:
    """Select ``epoch`` on a loader's dataset, sampler and batch sampler, whichever can (sampling, shuffling)."""
    for part in (loader.dataset, loader.sampler, loader.batch_sampler):
        select = getattr(part, "set_epoch", None)
        if callable(select):
            select(epoch)
