"""Snippet sampling and seeded loaders: hand-checked indices, determinism, worker independence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ecm.data.dataset import make_loader, set_epoch
from ecm.data.folder import DatasetFolder
from ecm.data.sampling import random_perturb_indices, sample_indices, uniform_indices


def test_uniform_indices_by_hand() -> None:
    np.testing.assert_array_equal(uniform_indices(10, 4), [0, 2, 5, 7])
    np.testing.assert_array_equal(uniform_indices(3, 6), [0, 0, 1, 1, 2, 2])  # stretched
    np.testing.assert_array_equal(uniform_indices(5, 5), np.arange(5))


@pytest.mark.parametrize(("length", "n"), [(1000, 750), (750, 750), (300, 750), (7, 3), (1, 5)])
def test_random_perturb_stays_in_bins(length: int, n: int) -> None:
    rng = np.random.default_rng(0)
    idx = random_perturb_indices(length, n, rng)
    assert idx.shape == (n,) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < length
    lo = (np.arange(n) * length) // n
    hi = (np.arange(1, n + 1) * length) // n
    assert np.all((idx >= lo) & ((idx < hi) | (hi == lo)))
    assert np.all(np.diff(idx) >= 0)


def test_random_perturb_actually_random_and_seeded() -> None:
    a = random_perturb_indices(1000, 100, np.random.default_rng(1))
    b = random_perturb_indices(1000, 100, np.random.default_rng(1))
    c = random_perturb_indices(1000, 100, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_full_mode_keeps_everything() -> None:
    np.testing.assert_array_equal(sample_indices(6, 100, "full"), np.arange(6))


def _epoch_batches(root: Path, epoch: int, workers: int = 0, seed: int = 3) -> list:
    split = DatasetFolder(root).open_split("train")
    loader = make_loader(
        split, batch_size=5, train=True, length=40, mode="random", seed=seed, num_workers=workers
    )
    set_epoch(loader, epoch)
    return list(loader)


def test_loader_shapes_and_determinism(tiny_root: Path) -> None:
    first = _epoch_batches(tiny_root, epoch=0)
    assert [b.features.shape for b in first] == [(5, 40, 64)] * 3 + [(1, 40, 64)]  # last partial batch kept
    batch = first[0]
    assert batch.labels.shape == (5, 4) and batch.mask.all() and batch.times.shape == (5, 40)
    again = _epoch_batches(tiny_root, epoch=0)
    for a, b in zip(first, again, strict=True):
        assert a.video_ids == b.video_ids
        assert torch.equal(a.features, b.features)
    other = _epoch_batches(tiny_root, epoch=1)
    assert [b.video_ids for b in other] != [b.video_ids for b in first]


def test_loader_independent_of_worker_count(tiny_root: Path) -> None:
    serial = _epoch_batches(tiny_root, epoch=2, workers=0)
    parallel = _epoch_batches(tiny_root, epoch=2, workers=2)
    for a, b in zip(serial, parallel, strict=True):
        assert a.video_ids == b.video_ids
        assert torch.equal(a.features, b.features)


def test_full_length_eval_batches_pad_with_mask(tiny_root: Path) -> None:
    split = DatasetFolder(tiny_root).open_split("test")
    loader = make_loader(split, batch_size=3, train=False, length=None, mode="full")
    batch = next(iter(loader))
    lengths = [v.timing.num_snippets for v in split.videos[:3]]
    assert batch.features.shape[1] == max(lengths)
    assert batch.mask.sum(dim=1).tolist() == lengths
    assert list(batch.video_ids) == [v.video_id for v in split.videos[:3]]
    step = split.videos[0].timing.seconds_per_snippet
    assert batch.times[0, 1].item() == pytest.approx(step)
