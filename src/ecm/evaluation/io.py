"""Prediction files in the ActivityNet result format: read (validated), write (atomically).

Format: ``{"version": …, "results": {video_id: [{"label": name, "score": x, "segment": [start_s, end_s]}, …]},
"external_data": {}}``. Only ``"results"`` is required on reading. Scores and segment bounds are JSON numbers
or numeric strings, finite; ``end >= start``; video ids are plain file names. The order of videos in the
file, then of each list, is kept: it is the order that breaks score ties (see :mod:`ecm.evaluation.detection`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Collection, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from ecm.data.annotations import check_video_id
from ecm.errors import InputError
from ecm.evaluation.detection import Detection, DetectionTable
from ecm.files import read_json, write_json

log = logging.getLogger(__name__)

_LABEL, _SCORE, _SEGMENT = itemgetter("label"), itemgetter("score"), itemgetter("segment")


def _explain(entry: Any, where: str) -> str:
    """The first problem with one prediction entry (slow path, for the error message)."""
    if not isinstance(entry, dict):
        return f"{where} is not an object"
    for key in ("label", "score", "segment"):
        if key not in entry:
            return f'{where} has no "{key}"'
    label, score, segment = entry["label"], entry["score"], entry["segment"]
    if not isinstance(label, str) or not label:
        return f"{where}: label {label!r} is not a non-empty string"
    if not _is_number(score):
        return f"{where}: score {score!r} is not a finite number"
    if not isinstance(segment, (list, tuple)) or len(segment) != 2:
        return f"{where}: segment {segment!r} is not [start, end]"
    if not all(_is_number(x) for x in segment):
        return f"{where}: segment {segment!r} holds a value that is not a finite number"
    start, end = float(segment[0]), float(segment[1])
    if end < start:
        return f"{where}: segment end {end} is before its start {start}"
    return ""


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def parse_predictions(data: Any, path: str | os.PathLike[str]) -> DetectionTable:
    """Validate a parsed prediction object into a :class:`DetectionTable`; errors name ``path``."""
    if not isinstance(data, dict) or "results" not in data:
        raise InputError(path, 'expected a JSON object with a "results" object (ActivityNet result format)')
    results = data["results"]
    if not isinstance(results, dict):
        raise InputError(path, '"results" is not an object of video id → list of predictions')
    all_names: list[str] = []
    scores: list[Any] = []
    segments: list[Any] = []
    counts: list[int] = []
    for vid, entries in results.items():
        check_video_id(vid, path)
        if not isinstance(entries, list):
            raise InputError(path, f"video {vid}: predictions are not a list")
        try:
            names = list(map(_LABEL, entries))
            video_scores = list(map(_SCORE, entries))
            video_segments = list(map(_SEGMENT, entries))
            if (names and set(map(type, names)) != {str}) or "" in names:
                raise TypeError
            if bool in set(map(type, video_scores)) or bool in set(
                map(type, chain.from_iterable(video_segments))
            ):
                raise TypeError
            block = np.array(video_segments, dtype=np.float64).reshape(len(entries), 2)
            values = np.array(video_scores, dtype=np.float64).reshape(len(entries))
            if (
                not (np.isfinite(block).all() and np.isfinite(values).all())
                or (block[:, 1] < block[:, 0]).any()
            ):
                raise ValueError
        except (KeyError, TypeError, ValueError, IndexError):
            for i, entry in enumerate(entries):
                problem = _explain(entry, f"video {vid} prediction {i}")
                if problem:
                    raise InputError(path, problem) from None
            raise InputError(path, f"video {vid}: malformed predictions") from None
        all_names.extend(names)
        scores.append(values)
        segments.append(block)
        counts.append(len(entries))
    labels = {name: i for i, name in enumerate(dict.fromkeys(all_names))}  # first-seen order
    return DetectionTable(
        video_ids=tuple(results),
        labels=tuple(labels),
        video=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
        label=np.fromiter(map(labels.__getitem__, all_names), np.int64, len(all_names)),
        segments=np.concatenate(segments) if segments else np.zeros((0, 2)),
        scores=np.concatenate(scores) if scores else np.zeros(0),
    )


def read_predictions(path: str | os.PathLike[str]) -> DetectionTable:
    """Read and validate a prediction file; any problem raises :class:`InputError` naming ``path``."""
    table = parse_predictions(read_json(path), path)
    log.debug("%s: %d predictions on %d videos", path, len(table), len(table.video_ids))
    return table


def drop_unknown_labels(
    predictions: DetectionTable,
    known: Collection[str],
    *,
    ignore: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> tuple[DetectionTable, int]:
    """Check every predicted label is in ``known``.

    Raises :class:`InputError` naming the first unknown label, or with ``ignore=True`` drops those
    predictions. Returns the kept table and the number dropped.
    """
    used = np.bincount(predictions.label, minlength=len(predictions.labels))
    unknown = [i for i, name in enumerate(predictions.labels) if used[i] and name not in known]
    if not unknown:
        return predictions, 0
    bad = np.isin(predictions.label, unknown)
    if not ignore:
        raise InputError(
            path,
            f"predicted label {predictions.labels[unknown[0]]!r} is not a class of the ground truth "
            f"({len(unknown)} unknown label(s), {int(bad.sum())} prediction(s)); --ignore-unknown-labels drops them",
        )
    return predictions.select(~bad), int(bad.sum())


def predictions_to_json(
    predictions: DetectionTable | Mapping[str, Sequence[Detection]], version: str = "ecm"
) -> dict[str, Any]:
    """The ActivityNet result object for ``predictions`` (every video present, possibly empty)."""
    table = (
        predictions
        if isinstance(predictions, DetectionTable)
        else DetectionTable.from_detections(predictions)
    )
    results: dict[str, list[dict[str, Any]]] = {vid: [] for vid in table.video_ids}
    for v, label, (start, end), score in zip(
        table.video.tolist(),
        table.label.tolist(),
        table.segments.tolist(),
        table.scores.tolist(),
        strict=True,
    ):
        results[table.video_ids[v]].append(
            {"label": table.labels[label], "score": score, "segment": [start, end]}
        )
    return {"version": version, "results": results, "external_data": {}}


def write_predictions(
    path: str | os.PathLike[str],
    predictions: DetectionTable | Mapping[str, Sequence[Detection]],
    version: str = "ecm",
) -> None:
    """Write a prediction file atomically (a reader never sees half a file)."""
    write_json(path, predictions_to_json(predictions, version))
