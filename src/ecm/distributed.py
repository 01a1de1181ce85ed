"""Work across processes with torch.distributed (``torchrun``): who this process is, and its share.

``torchrun --nproc-per-node N -m ecm train …`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` set; :func:`init_from_environment` joins them (NCCL on GPUs, gloo on CPUs). Without
torchrun nothing changes: one process, rank 0 of 1, no process group.

Extraction and localization split their videos into shards of near-equal length
(:func:`balanced_shards`), one per process (:func:`choose_shard`: torchrun's ranks, or ``--shard i/N`` for
processes a scheduler starts independently).

Training: the data stay those of the one-process run: every epoch's shuffled order is cut into the same global
batches, and rank r takes the videos at positions r, r + N, … of each (:class:`ShardedBatchSampler`). Each
rank's loss is a mean over its share, weighted by ``N · share / global batch`` (:func:`loss_scale`), so
that DistributedDataParallel's average of the ranks' gradients is the gradient of the mean over the whole
global batch — the one-process gradient, a last partial batch included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from ecm.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place: ``rank`` of ``world`` processes (0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether there are several processes."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes metrics, checkpoints and outputs."""
        return self.rank == 0


def init_from_environment(device_name: str) -> ProcessGroup:
    """Join the process group torchrun describes in the environment, once; rank 0 of 1 without it.

    ``device_name`` ``auto`` or ``cuda`` picks NCCL and ``cuda:LOCAL_RANK``; otherwise gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return ProcessGroup()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return ProcessGroup(rank, world, local_rank)


def process_device(group: ProcessGroup, device_name: str) -> str:
    """The device name for this process: ``cuda:LOCAL_RANK`` under torchrun on GPUs, else ``device_name``."""
    if group.distributed and device_name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{group.local_rank}"
    return device_name


def global_batches(size: int, batch_size: int, order: Sequence[int]) -> list[list[int]]:
    """``order`` cut into batches of ``batch_size`` (the last one partial).

    >>> global_batches(5, 2, [4, 0, 3, 1, 2])
    [[4, 0], [3, 1], [2]]
    """
    return [list(order[start : start + batch_size]) for start in range(0, size, batch_size)]


class ShardedBatchSampler(Sampler[list[int]]):
    """This rank's share of every global batch of the epoch's order (the one-process run's order).

    Per global batch, the videos at positions ``rank, rank + world, …`` of it. A rank whose share of a last
    batch smaller than ``world`` is empty gets the batch's first video instead, to be weighted 0
    (:meth:`shares`): every rank must run the forward and backward for the gradient average to happen.
    """

    def __init__(self, size: int, batch_size: int, *, seed: int, rank: int, world: int) -> None:
        self.size, self.batch_size, self.seed, self.rank, self.world = size, batch_size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order is cut."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size).tolist()
        return global_batches(self.size, self.batch_size, order)

    def shares(self) -> list[float]:
        """Per batch of the epoch, this rank's real videos over the global batch size (0 for a stand-in)."""
        return [len(batch[self.rank :: self.world]) / len(batch) for batch in self._batches()]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches():
            yield batch[self.rank :: self.world] or batch[:1]

    def __len__(self) -> int:
        return (self.size + self.batch_size - 1) // self.batch_size


def loss_scale(local: int, global_size: int, world: int) -> float:
    """The weight of a rank's mean loss over ``local`` videos so that averaged gradients are the global mean.

    >>> loss_scale(3, 5, 2), loss_scale(2, 5, 2)
    (1.2, 0.8)
    """
    return world * local / global_size


def gather_to_main(group: ProcessGroup, value: T) -> list[T] | None:
    """Every rank's ``value`` on rank 0 (in rank order), ``None`` elsewhere; ``[value]`` in one process."""
    if not group.distributed:
        return [value]
    gathered: list[Any] | None = [None] * group.world if group.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def sum_across(group: ProcessGroup, values: dict[str, float]) -> dict[str, float]:
    """Each entry summed over the ranks (a key missing on a rank counts 0)."""
    if not group.distributed:
        return dict(values)
    every: list[Any] = [None] * group.world
    dist.all_gather_object(every, values)
    keys = list(dict.fromkeys(k for part in every for k in part))
    return {k: sum(part.get(k, 0.0) for part in every) for k in keys}


def barrier(group: ProcessGroup) -> None:
    """Wait for every rank (nothing in one process)."""
    if group.distributed:
        dist.barrier()


def all_gather(group: ProcessGroup, value: T) -> list[T]:
    """Every rank's ``value`` on every rank, in rank order (``[value]`` in one process)."""
    if not group.distributed:
        return [value]
    every: list[Any] = [None] * group.world
    dist.all_gather_object(every, value)
    return every


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` → ``(i, N)`` with ``0 ≤ i < N``.

    >>> parse_shard("1/4")
    (1, 4)
    """
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(None, f"--shard {text!r}: expected i/N, e.g. 0/4") from None
    if not 0 <= index < count:
        raise InputError(None, f"--shard {text!r}: needs 0 ≤ i < N")
    return index, count


def choose_shard(group: ProcessGroup, shard: str | None) -> tuple[int, int]:
    """Which share of the work is this process's: ``--shard i/N``, else torchrun's (rank, world), else (0, 1)."""
    if shard is not None:
        if group.distributed:
            raise InputError(None, "--shard splits work between independent processes; torchrun already does")
        return parse_shard(shard)
    return group.rank, group.world


def balanced_shards(lengths: Sequence[float], count: int) -> list[list[int]]:
    """Item indices in ``count`` shards of near-equal total length: longest first, each to the lightest shard.

    Deterministic (ties by index); each shard lists its items in their original order.

    >>> balanced_shards([5, 1, 4, 2, 3], 2)
    [[0, 1, 3], [2, 4]]
    """
    loads = [0.0] * count
    shards: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        lightest = min(range(count), key=lambda s: (loads[s], s))
        shards[lightest].append(index)
        loads[lightest] += lengths[index]
    return [sorted(shard) for shard in shards]


def shutdown(*, wait: bool) -> None:
    """Leave the process group, if this process joined one: after every rank arrives (``wait``), or at once.

    A rank that exits while another still talks to it can abort the job; so a command that succeeded waits.
    """
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
