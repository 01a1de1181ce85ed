"""Temporal action annotations: readers for every format `ecm` accepts, and the class index.

Formats (all give the same :class:`VideoAnnotation` records):

* ActivityNet-style JSON (``gt.json``, ``activity_net.v1-3.min.json``):
  ``{"database": {vid: {"subset": …, "annotations": [{"segment": [s, e], "label": name}],
  "duration"?: seconds, "fps"?: frames per second}}}``. Segment bounds may be numbers or strings
  (THUMOS14's ``gt.json`` stores strings).
* THUMOS14 official per-class text files ``<Class>_<split>.txt`` (``video_id start end`` per line, seconds)
  and ``Ambiguous_<split>.txt`` (spans to be ignored, same layout).
* W-TALC ``*-Annotations/*.npy`` files. Some are pickled object arrays; reading a pickle can execute
  code, so :func:`load_wtalc_annotations` refuses unless ``allow_pickle=True``.

No torch here: the evaluator and ``ecm data check`` import this module.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecm.errors import InputError
from ecm.files import check_input_file, read_json, read_text
from ecm.structures import Segment

# Characters a video id may not contain: it names a file, never a path.
_BAD_ID = re.compile(r"[/\\\x00]")


def check_plain_name(value: object, what: str, path: str | os.PathLike[str] | None = None) -> str:
    """Return ``value`` if it is a plain file name, else raise :class:`InputError` naming ``what``.

    Video ids and split names become parts of paths (``features/<split>/rgb/<id>.npy``), so ``/``, ``\\``,
    NUL, ``.``, ``..`` and the empty string are refused: a crafted file or argument must not read or write
    outside the dataset folder.

    >>> check_plain_name("video_test_0000004", "video id")
    'video_test_0000004'
    """
    if not isinstance(value, str) or not value:
        raise InputError(path, f"{what} {value!r} is not a non-empty string")
    if _BAD_ID.search(value) or value in (".", "..") or value.startswith(".."):
        raise InputError(path, f"{what} {value!r} is not a plain file name")
    return value


def check_video_id(video_id: object, path: str | os.PathLike[str] | None = None) -> str:
    """Return ``video_id`` if it is a plain file name (:func:`check_plain_name`), else raise :class:`InputError`."""
    return check_plain_name(video_id, "video id", path)


@dataclass(frozen=True)
class VideoAnnotation:
    """Everything known about one video's labels.

    Attributes:
        video_id: a plain file name (see :func:`check_video_id`).
        subset: e.g. ``"train"``, ``"test"``, ``"training"``, ``"validation"``.
        segments: the action instances, in file order.
        duration: video length in seconds, if known.
        fps: frames per second of the source video, if known.
    """

    video_id: str
    subset: str
    segments: tuple[Segment, ...] = ()
    duration: float | None = None
    fps: float | None = None

    @property
    def labels(self) -> frozenset[str]:
        """The set of class names present in the video (its weak, video-level label)."""
        return frozenset(s.label for s in self.segments)


@dataclass(frozen=True)
class ClassIndex:
    """An ordered list of class names; position = class index used by the model (C classes)."""

    names: tuple[str, ...]
    _lookup: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError("class names must be unique")
        object.__setattr__(self, "_lookup", {n: i for i, n in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._lookup

    def index(self, name: str) -> int:
        """Index of ``name``; ``KeyError`` if unknown."""
        return self._lookup[name]

    @classmethod
    def from_annotations(cls, videos: Iterable[VideoAnnotation], subset: str | None = None) -> ClassIndex:
        """Sorted label names of the videos in ``subset`` (all videos when ``None``)."""
        names = {s.label for v in videos if subset is None or v.subset == subset for s in v.segments}
        return cls(tuple(sorted(names)))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ClassIndex:
        """Read one class name per line (blank lines ignored); order is kept."""
        lines = read_text(path, "class list").splitlines()
        names = tuple(line.strip() for line in lines if line.strip())
        if not names:
            raise InputError(path, "class list is empty")
        if len(set(names)) != len(names):
            raise InputError(path, "class list repeats a name")
        return cls(names)

    def multi_hot(self, labels: Iterable[str], path: str | os.PathLike[str] | None = None) -> np.ndarray:
        """Multi-hot float32 vector of shape (C,) for a set of label names."""
        target = np.zeros(len(self.names), dtype=np.float32)
        for name in labels:
            if name not in self._lookup:
                raise InputError(path, f"unknown label {name!r} (not in the class list)")
            target[self._lookup[name]] = 1.0
        return target


def _number(value: Any, what: str, path: str | os.PathLike[str]) -> float:
    """Parse a finite float from a JSON number or numeric string."""
    if isinstance(value, bool):
        raise InputError(path, f"{what} is {value!r}, not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InputError(path, f"{what} is {value!r:.40}…, beyond any float") from None
    except (TypeError, ValueError):
        raise InputError(path, f"{what} is {value!r:.40}, not a number") from None
    if not math.isfinite(number):
        raise InputError(path, f"{what} is {value!r}, not a finite number")
    return number


def _positive(value: Any, what: str, path: str | os.PathLike[str]) -> float:
    """A finite number > 0 (a duration in seconds, a frame rate)."""
    number = _number(value, what, path)
    if number <= 0:
        raise InputError(path, f"{what} is {value!r}, not > 0")
    return number


def _segment(start: float, end: float, label: str, where: str, path: str | os.PathLike[str]) -> Segment:
    if start < 0.0:
        raise InputError(path, f"{where}: segment start {start} is negative")
    if end < start:
        raise InputError(path, f"{where}: segment end {end} is before its start {start}")
    return Segment(start, end, label)


_NUMBERS = (int, float, str)  # what a segment bound may be (THUMOS14's gt.json has strings); not bool


def _annotation(ann: Any, where: str, path: str | os.PathLike[str]) -> Segment:
    """One ``{"segment": [start, end], "label": name}`` entry, checked; ``where`` names it in errors."""
    if not isinstance(ann, dict) or "segment" not in ann or "label" not in ann:
        raise InputError(path, f'{where}: needs "segment" and "label"')
    seg, label = ann["segment"], ann["label"]
    if not isinstance(seg, (list, tuple)) or len(seg) != 2:
        raise InputError(path, f"{where}: segment must be [start, end]")
    if not isinstance(label, str) or not label:
        raise InputError(path, f"{where}: label must be a non-empty string")
    start = _number(seg[0], f"{where} start", path)
    end = _number(seg[1], f"{where} end", path)
    return _segment(start, end, label, where, path)


def parse_activitynet_database(data: Any, path: str | os.PathLike[str]) -> dict[str, VideoAnnotation]:
    """Validate an ActivityNet-style object (already parsed JSON) into annotations keyed by video id."""
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise InputError(path, 'expected a JSON object with a "database" object')
    videos: dict[str, VideoAnnotation] = {}
    for vid, entry in data["database"].items():
        check_video_id(vid, path)
        if not isinstance(entry, dict):
            raise InputError(path, f"video {vid}: entry is not an object")
        subset = entry.get("subset")
        if not isinstance(subset, str):
            raise InputError(path, f'video {vid}: missing "subset"')
        raw_annotations = entry.get("annotations", [])
        if not isinstance(raw_annotations, list):
            raise InputError(path, f'video {vid}: "annotations" is not a list')
        segments = []
        for i, ann in enumerate(raw_annotations):
            try:  # the common case, checked without building messages: a few ms for THUMOS14's 6318
                seg, label = ann["segment"], ann["label"]
                first, second = seg
                if type(seg) is list and type(first) in _NUMBERS and type(second) in _NUMBERS:
                    start, end = float(first), float(second)
                    if 0.0 <= start <= end < math.inf and type(label) is str and label:
                        segments.append(Segment(start, end, label))
                        continue
            except (TypeError, KeyError, ValueError, OverflowError):
                pass  # the checks below name the problem
            segments.append(_annotation(ann, f"video {vid} annotation {i}", path))
        duration, fps = entry.get("duration"), entry.get("fps")
        videos[vid] = VideoAnnotation(
            video_id=vid,
            subset=subset,
            segments=tuple(segments),
            duration=None if duration is None else _positive(duration, f"video {vid} duration", path),
            fps=None if fps is None else _positive(fps, f"video {vid} fps", path),
        )
    return videos


def load_activitynet_json(path: str | os.PathLike[str]) -> dict[str, VideoAnnotation]:
    """Read an ActivityNet-style ground-truth JSON file (THUMOS14 ``gt.json``, ActivityNet v1.2/v1.3)."""
    return parse_activitynet_database(read_json(path), path)


def dump_activitynet_json(videos: Iterable[VideoAnnotation], version: str = "ecm") -> dict[str, Any]:
    """The ActivityNet-style JSON object for ``videos`` (inverse of :func:`parse_activitynet_database`)."""
    database: dict[str, Any] = {}
    for v in videos:
        entry: dict[str, Any] = {
            "subset": v.subset,
            "annotations": [{"segment": [s.start, s.end], "label": s.label} for s in v.segments],
        }
        if v.duration is not None:
            entry["duration"] = v.duration
        if v.fps is not None:
            entry["fps"] = v.fps
        database[v.video_id] = entry
    return {"version": version, "database": database}


def read_span_file(path: str | os.PathLike[str]) -> list[tuple[str, float, float]]:
    """Read a THUMOS14 text file of ``video_id start end`` lines (seconds)."""
    lines = read_text(path).splitlines()
    spans = []
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise InputError(path, f"line {lineno}: expected 'video_id start end', got {line.strip()!r}")
        vid = check_video_id(fields[0], path)
        start = _number(fields[1], f"line {lineno} start", path)
        end = _number(fields[2], f"line {lineno} end", path)
        if end < start:
            raise InputError(path, f"line {lineno}: segment end {end} is before its start {start}")
        spans.append((vid, start, end))
    return spans


def load_thumos_ambiguous(path: str | os.PathLike[str]) -> dict[str, list[tuple[float, float]]]:
    """``Ambiguous_<split>.txt`` → ``{video_id: [(start_s, end_s), …]}``."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for vid, start, end in read_span_file(path):
        spans.setdefault(vid, []).append((start, end))
    return spans


def load_thumos_txt(
    folder: str | os.PathLike[str], split: str, subset: str | None = None
) -> dict[str, VideoAnnotation]:
    """Read the official THUMOS14 per-class files ``<folder>/<Class>_<split>.txt``.

    ``Ambiguous_<split>.txt`` is not a class and is skipped (read it with
    :func:`load_thumos_ambiguous`). Videos are those named in at least one class file; ``subset``
    (default: ``split``) is stored on each record. Instances keep file order within a class, classes in
    sorted order.
    """
    root = Path(folder)
    files = sorted(p for p in root.glob(f"*_{split}.txt") if not p.name.startswith("Ambiguous_"))
    if not files:
        raise InputError(folder, f"no THUMOS14 class files '*_{split}.txt' found")
    per_video: dict[str, list[Segment]] = {}
    for file in files:
        label = file.name[: -len(f"_{split}.txt")]
        for vid, start, end in read_span_file(file):
            per_video.setdefault(vid, []).append(Segment(start, end, label))
    name = subset or split
    return {vid: VideoAnnotation(vid, name, tuple(segs)) for vid, segs in sorted(per_video.items())}


def _decode(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def load_wtalc_annotations(
    folder: str | os.PathLike[str], *, allow_pickle: bool = False
) -> dict[str, VideoAnnotation]:
    """Read W-TALC's ``*-Annotations`` folder (``videoname``, ``subset``, ``segments``, ``labels``, …).

    ``segments.npy`` and ``labels.npy`` are pickled object arrays: loading them can execute code from the
    file, so this refuses unless ``allow_pickle=True`` (the ``--allow-pickle`` flag on the command line).
    ``duration.npy`` and ``original_fps.npy`` are used when present.
    """
    root = Path(folder)
    if not allow_pickle:
        raise InputError(
            folder,
            "W-TALC annotations are pickled numpy object arrays; loading them can run code from the "
            "file — pass allow_pickle=True (--allow-pickle) if you trust it",
        )

    def load(name: str, required: bool = True) -> np.ndarray | None:
        path = root / f"{name}.npy"
        if not path.exists() and not required:
            return None
        check_input_file(path)
        try:
            return np.asarray(np.load(path, allow_pickle=True, encoding="bytes"))
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(path, f"cannot read numpy array ({exc})") from None

    names = load("videoname")
    subsets = load("subset")
    segments = load("segments")
    labels = load("labels")
    durations = load("duration", required=False)
    fps = load("original_fps", required=False)
    assert names is not None and subsets is not None and segments is not None and labels is not None
    n = len(names)
    for arr, what in ((subsets, "subset"), (segments, "segments"), (labels, "labels")):
        if len(arr) != n:
            raise InputError(root / f"{what}.npy", f"has {len(arr)} rows, videoname.npy has {n}")
    videos: dict[str, VideoAnnotation] = {}
    for i in range(n):
        vid = check_video_id(_decode(names[i]), root / "videoname.npy")
        segs = []
        video_segments: Sequence[Any] = list(segments[i])
        video_labels: Sequence[Any] = list(labels[i])
        if len(video_segments) != len(video_labels):
            raise InputError(root / "segments.npy", f"video {vid}: segments and labels differ in count")
        for j, (seg, lab) in enumerate(zip(video_segments, video_labels, strict=True)):
            where = f"video {vid} segment {j}"
            start = _number(seg[0], f"{where} start", root / "segments.npy")
            end = _number(seg[1], f"{where} end", root / "segments.npy")
            segs.append(_segment(start, end, _decode(lab), where, root / "segments.npy"))
        duration = None if durations is None else float(np.ravel(durations[i])[0])
        video_fps = None if fps is None else float(fps[i])
        videos[vid] = VideoAnnotation(vid, _decode(subsets[i]), tuple(segs), duration, video_fps)
    return videos


def read_split_file(path: str | os.PathLike[str]) -> list[str]:
    """Read a ``split_<name>.txt`` file: one video id per line, blank lines ignored."""
    lines = read_text(path, "split file").splitlines()
    return [check_video_id(line.strip(), path) for line in lines if line.strip()]


def select_subset(videos: Mapping[str, VideoAnnotation], subset: str) -> dict[str, VideoAnnotation]:
    """The videos whose ``subset`` equals ``subset``, in input order."""
    return {vid: v for vid, v in videos.items() if v.subset == subset}
