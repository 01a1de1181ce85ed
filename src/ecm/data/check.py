"""Validate a dataset folder and summarise it (``ecm data check ROOT``).

Every problem is collected (not just the first) as an :class:`InputError` naming the file at fault:
malformed ``gt.json`` or split files, labels outside the class list, segments with end < start, video
ids that are not plain file names, missing or extra feature files, rgb/flow length mismatches, wrong
widths, non-float dtypes and NaN/Inf values. ``quick=True`` reads only ``.npy`` headers (no NaN scan).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecm.data.features import NpyFeatureStore
from ecm.data.folder import DatasetFolder, open_store, split_names
from ecm.errors import InputError


@dataclass
class SplitSummary:
    """Counts for one split."""

    name: str
    videos: int = 0
    instances: int = 0
    lengths: list[int] = field(default_factory=list)  # snippets per video


@dataclass
class CheckReport:
    """Result of :func:`check_dataset`: problems (empty = valid) and a summary."""

    root: Path
    problems: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # odd but usable: reported, not an error
    classes: tuple[str, ...] = ()
    feature_dim: int | None = None
    splits: list[SplitSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_lines(self) -> list[str]:
        """Human-readable summary, one line per fact."""
        lines = [f"dataset {self.root}", f"classes: {len(self.classes)}", f"feature dim: {self.feature_dim}"]
        for s in self.splits:
            if s.lengths:
                arr = np.asarray(s.lengths)
                dist = (
                    f"snippets/video min {arr.min()}, median {int(np.median(arr))}, mean {arr.mean():.1f}, "
                    f"max {arr.max()} (total {arr.sum()})"
                )
            else:
                dist = "no features read"
            lines.append(f"split {s.name}: {s.videos} videos, {s.instances} instances; {dist}")
        return lines


def _check_video(store: NpyFeatureStore, video_id: str, quick: bool) -> tuple[int, int]:
    """Snippet count and width of one video, raising InputError on any problem."""
    length = store.num_snippets(video_id)
    if not quick:
        features = store.load(video_id)
        return length, int(features.shape[1])
    return length, store.feature_dim


def check_dataset(
    root: str | os.PathLike[str],
    *,
    quick: bool = False,
    progress: Callable[[int], object] | None = None,
    train_split: str = "train",
) -> CheckReport:
    """Check every file of the dataset folder ``root``; never raises for problems in the data."""
    report = CheckReport(Path(root))
    try:
        folder = DatasetFolder(root, train_split=_guess_train_split(Path(root), train_split))
    except InputError as exc:
        report.problems.append(exc)
        return report
    report.classes = folder.class_index.names
    overruns = []  # seconds by which an instance ends after its video
    for name, video in folder.ground_truth.items():
        for seg in video.segments:
            if seg.label not in folder.class_index:
                report.problems.append(
                    InputError(folder.root / "gt.json", f"video {name}: unknown label {seg.label!r}")
                )
                break
        if video.duration is not None and video.segments:
            overruns += [seg.end - video.duration for seg in video.segments if seg.end > video.duration]
    if overruns:
        report.warnings.append(
            f"{folder.root / 'gt.json'}: {len(overruns)} instance(s) end after their video's duration, by "
            f"{min(overruns):.2f} to {max(overruns):.2f} s (median {float(np.median(overruns)):.2f} s); "
            "the evaluation uses them as they are"
        )
    widths: set[int] = set()
    for split in split_names(root) or []:
        summary = SplitSummary(split)
        report.splits.append(summary)
        try:
            store = open_store(folder.root, split)
            ids = folder.split_ids(split, store)
        except InputError as exc:
            report.problems.append(exc)
            continue
        listed = set(ids)
        available = set(store.video_ids)
        for vid in sorted(listed - available):
            path = store.path(vid, "rgb") if isinstance(store, NpyFeatureStore) else folder.root / split / vid
            report.problems.append(
                InputError(path, f"feature file missing (video listed in split {split!r})")
            )
        for vid in sorted(available - listed):
            path = store.path(vid, "rgb") if isinstance(store, NpyFeatureStore) else folder.root / split / vid
            report.problems.append(
                InputError(path, f"extra feature file: video not listed in split {split!r}")
            )
        if isinstance(store, NpyFeatureStore):
            for stream, (missing, extra) in store.missing_and_extra().items():
                for vid in missing:
                    report.problems.append(InputError(store.path(vid, stream), "feature file missing"))
                for vid in extra:
                    report.problems.append(
                        InputError(store.path(vid, stream), f"has no {store.streams[0]} partner")
                    )
        for vid in ids:
            annotation = folder.ground_truth.get(vid)
            if folder.ground_truth and annotation is None:
                report.problems.append(
                    InputError(folder.root / "gt.json", f"video {vid} of split {split!r} is not annotated")
                )
            if annotation is not None:
                summary.instances += len(annotation.segments)
            summary.videos += 1
            if vid not in available:
                continue
            try:
                if isinstance(store, NpyFeatureStore):
                    length, width = _check_video(store, vid, quick)
                else:
                    features = store.load(vid)
                    length, width = int(features.shape[0]), int(features.shape[1])
            except InputError as exc:
                report.problems.append(exc)
            else:
                summary.lengths.append(length)
                widths.add(width)
            if progress is not None:
                progress(1)
    if not report.splits:
        report.problems.append(InputError(folder.root / "features", "no feature splits found"))
    if len(widths) > 1:
        report.problems.append(
            InputError(folder.root / "features", f"splits differ in feature width: {sorted(widths)}")
        )
    report.feature_dim = next(iter(widths)) if len(widths) == 1 else None
    return report


def _guess_train_split(root: Path, default: str) -> str:
    """``train`` unless the folder only has ActivityNet-style ``training``."""
    names = split_names(root)
    if default not in names and "training" in names:
        return "training"
    return default
