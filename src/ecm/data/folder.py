"""A dataset folder on disk: annotations + split lists + features, opened one split at a time.

Layout (the common WTAL layout; what ``ecm synth`` writes)::

    ROOT/gt.json                          ActivityNet-style annotations (optional for inference)
    ROOT/split_<split>.txt                one video id per line (optional: else gt.json's subset)
    ROOT/features/<split>/{rgb,flow}/VID.npy
    ROOT/classes.txt                      optional class list (else sorted labels of the train split)

ECM's ``.npz`` layout is also accepted: ``ROOT/<split>/VID.npz`` (or ``ROOT/features/<split>/VID.npz``).

A split's name is at once the feature sub-folder, the split-file suffix and the ``subset`` value in
``gt.json`` (``train``/``test`` for THUMOS14, ``training``/``validation`` for ActivityNet).

Video order within a split: the split file's order, else sorted ids. Feature files that belong to no
listed video are reported by :func:`ecm.data.check.check_dataset` and ignored (with a warning) when
training or localizing, so a folder with extra videos stays usable.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecm.data.annotations import (
    ClassIndex,
    VideoAnnotation,
    check_plain_name,
    load_activitynet_json,
    read_split_file,
    select_subset,
)
from ecm.data.features import FeatureStore, NpyFeatureStore, NpzFeatureStore
from ecm.data.timing import SnippetTiming, VideoTiming, resolve_timing
from ecm.errors import InputError
from ecm.files import read_json

log = logging.getLogger(__name__)

CLASS_FILE = "classes.txt"  # optional class list of a dataset folder (also written beside a saved CAS)


@dataclass(frozen=True)
class VideoRecord:
    """One video of a split.

    Attributes:
        video_id: plain file name.
        labels: (C,) float32 multi-hot video-level target (zeros when unannotated).
        annotation: ground truth, or ``None`` for videos without annotations.
        timing: snippets ↔ seconds ↔ frames.
    """

    video_id: str
    labels: np.ndarray
    annotation: VideoAnnotation | None
    timing: VideoTiming


@dataclass(frozen=True)
class SplitData:
    """One split of a dataset folder: its videos, in order, and where their features live."""

    name: str
    store: FeatureStore
    videos: tuple[VideoRecord, ...]
    class_index: ClassIndex
    ground_truth: dict[str, VideoAnnotation]

    @property
    def feature_dim(self) -> int:
        """D, feature channels per snippet."""
        return self.store.feature_dim

    def __len__(self) -> int:
        return len(self.videos)

    def features(self, index: int) -> np.ndarray:
        """Checked features of video ``index``: float32 (T, D)."""
        return self.store.load(self.videos[index].video_id)


def open_store(root: Path, split: str) -> FeatureStore:
    """The feature store for ``split`` under ``root``, whichever supported layout is there.

    ``split`` must be a plain name. Feature folders may be symbolic links to another disk (a common way
    to share features); when one resolves outside ``root`` a warning names it, once per split.
    """
    check_plain_name(split, "split name")
    common = root / "features" / split
    warn_if_outside(root, common)
    if (common / "rgb").is_dir() or (common / "flow").is_dir():
        return NpyFeatureStore(root, split)
    for folder in (common, root / split):
        if folder.is_dir() and any(p.suffix == ".npz" for p in folder.iterdir()):
            return NpzFeatureStore(folder)
    raise InputError(common, "no features found (expected features/<split>/{rgb,flow}/*.npy or *.npz files)")


VIDEO_INFO = "video_info"  # ROOT/video_info/VID.json, written by `ecm extract`: the timing of its snippets


def read_video_timing(root: Path, video_id: str) -> tuple[float, float] | None:
    """``ROOT/video_info/VID.json`` → (duration s, fps) of the video's snippets; None without the file.

    ``gt.json``'s duration and fps come first; this file times videos it does not annotate (features
    extracted from video files, with no annotation at all).
    """
    path = root / VIDEO_INFO / f"{video_id}.json"
    data = read_json(path, missing_ok=True)
    if data is None:
        return None
    duration = data.get("duration") if isinstance(data, dict) else None
    fps = data.get("fps") if isinstance(data, dict) else None
    numbers = [v for v in (duration, fps) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) != 2 or not all(math.isfinite(v) and v > 0 for v in numbers):
        raise InputError(path, "needs a positive duration and fps")
    return float(numbers[0]), float(numbers[1])


def warn_if_outside(root: Path, folder: Path) -> bool:
    """Log a warning when ``folder`` (through symbolic links) lies outside ``root``; returns whether it did."""
    try:
        inside = folder.resolve().is_relative_to(root.resolve())
    except OSError:
        return False
    if not inside and folder.exists():
        log.warning("ecm: %s resolves outside the dataset folder, to %s", folder, folder.resolve())
        return True
    return False


def load_class_index(root: Path, ground_truth: dict[str, VideoAnnotation], train_split: str) -> ClassIndex:
    """``ROOT/classes.txt`` when present, else the sorted labels of the training split."""
    class_file = root / CLASS_FILE
    if class_file.exists():
        return ClassIndex.from_file(class_file)
    classes = ClassIndex.from_annotations(ground_truth.values(), subset=train_split)
    if not classes.names:
        raise InputError(
            root / "gt.json", f"no labelled videos in subset {train_split!r} to take classes from"
        )
    return classes


class DatasetFolder:
    """A dataset folder (see module docstring). Cheap to open: features are read per video, on demand.

    Args:
        root: the folder.
        train_split: the split whose labels define the class index (when no ``classes.txt``).
        timing: default snippet timing for videos without duration/fps.
        class_index: an explicit class index (overrides ``classes.txt`` and the train labels).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        train_split: str = "train",
        timing: SnippetTiming | None = None,
        class_index: ClassIndex | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "dataset folder not found")
        self.timing = timing or SnippetTiming()
        gt_path = self.root / "gt.json"
        self.ground_truth: dict[str, VideoAnnotation] = (
            load_activitynet_json(gt_path) if gt_path.exists() else {}
        )
        if class_index is not None:
            self.class_index = class_index
        elif self.ground_truth or (self.root / CLASS_FILE).exists():
            self.class_index = load_class_index(self.root, self.ground_truth, train_split)
        else:
            self.class_index = ClassIndex(())

    def split_ids(self, split: str, store: FeatureStore | None = None) -> list[str]:
        """Video ids of ``split``: split file, else gt.json subset, else every feature file."""
        split_file = self.root / f"split_{split}.txt"
        if split_file.exists():
            return read_split_file(split_file)
        subset = select_subset(self.ground_truth, split)
        if subset:
            return sorted(subset)
        if store is not None:
            return store.video_ids
        raise InputError(self.root, f"no split file, annotations or features for split {split!r}")

    def open_split(self, split: str, *, require_labels: bool = False) -> SplitData:
        """Index ``split``: check every listed video has features of one width; read lengths from headers.

        Raises :class:`InputError` for a listed video without features, a label outside the class index,
        or (with ``require_labels``) a video without annotation.
        """
        store = open_store(self.root, split)
        ids = self.split_ids(split, store)
        available = set(store.video_ids)
        missing = [v for v in ids if v not in available]
        if missing:
            path = store.path(missing[0], "rgb") if isinstance(store, NpyFeatureStore) else self.root
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InputError(path, f"feature file missing for video {missing[0]} of split {split!r}{more}")
        extra = len(available) - len(set(ids))
        if extra > 0:
            log.warning(
                "%s: %d feature files of split %r are not listed and are ignored", self.root, extra, split
            )
        gt_path = self.root / "gt.json"
        records = []
        for vid in ids:
            annotation = self.ground_truth.get(vid)
            if annotation is None and require_labels:
                raise InputError(gt_path, f"video {vid} of split {split!r} has no annotation")
            labels = (
                self.class_index.multi_hot(annotation.labels, gt_path)
                if annotation is not None
                else np.zeros(len(self.class_index), dtype=np.float32)
            )
            known = (
                read_video_timing(self.root, vid)
                if annotation is None or annotation.duration is None
                else None
            )
            duration, fps = known if known is not None else (None, None)
            timing = resolve_timing(
                store.num_snippets(vid), annotation, self.timing, duration=duration, fps=fps
            )
            records.append(VideoRecord(vid, labels, annotation, timing))
        gt = {v.video_id: v.annotation for v in records if v.annotation is not None}
        return SplitData(split, store, tuple(records), self.class_index, gt)


def split_names(root: str | os.PathLike[str]) -> Sequence[str]:
    """Splits present (sorted): the folders of ``ROOT/features``, and ``ROOT/<split>`` folders of ECM ``.npz`` files."""
    base = Path(root)
    names: set[str] = set()
    features = base / "features"
    if features.is_dir():
        names.update(p.name for p in features.iterdir() if p.is_dir())
    if base.is_dir():
        names.update(
            p.name
            for p in base.iterdir()
            if p.is_dir() and p.name != "features" and any(q.suffix == ".npz" for q in p.iterdir())
        )
    return sorted(names)
