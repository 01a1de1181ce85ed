"""Prediction files in the ActivityNet result format: read (validated), write (atomically).

Format: ``{"version": …, "results": {video_id: [{"label": name, "score": x, "segment": [start_s, end_s]}, …]},
"external_data": {}}``. Only ``"results"`` is required on reading. Scores and segment bounds are JSON numbers
or numeric strings, finite; ``end >= start``; video ids are plain file names. The order of videos in the
file, then of each list, is kept: it is the order that breaks score ties (see :mod:`ecm.evaluation.detection`).
"""

from __future__ import annotations

import gc
import logging
import math
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    except (ValueError, OverflowError):  # OverflowError: an integer beyond the float range
        return False


_NUMBER_TYPES = frozenset({float, int})  # exact types: bool (a subclass of int) is not a number here


def _only(values: Iterable[Any], types: frozenset[type]) -> bool:
    """Whether every value's exact type is one of ``types`` (a C-speed scan, no Python loop)."""
    return set(map(type, values)) <= types


def _well_formed_table(results: dict[str, Any], path: str | os.PathLike[str]) -> DetectionTable | None:
    """The table of ``results`` in one pass over all videos, or ``None`` if anything is off.

    The fast path for the usual file: plain-name video ids, lists of objects with a non-empty string
    label, a JSON-number score and a ``[start, end]`` pair of JSON numbers, all finite with
    ``end >= start``. It accepts nothing that :func:`_video_table` rejects and builds the same arrays;
    on ``None`` the caller checks video by video to name the first problem (numeric strings are also valid
    there, so a file using them is read correctly, only more slowly).
    """
    lists = list(results.values())
    if not _only(lists, frozenset({list})):
        return None
    try:
        for vid in results:
            check_video_id(vid, path)
    except InputError:
        return None
    entries = list(chain.from_iterable(lists))
    if not _only(entries, frozenset({dict})):
        return None
    try:
        names = list(map(_LABEL, entries))
        scores = list(map(_SCORE, entries))
        pairs = list(map(_SEGMENT, entries))
    except KeyError:
        return None
    if not (_only(names, frozenset({str})) and "" not in names and _only(scores, _NUMBER_TYPES)):
        return None
    if not (_only(pairs, frozenset({list})) and set(map(len, pairs)) <= {2}):
        return None
    bounds = list(chain.from_iterable(pairs))
    if not _only(bounds, _NUMBER_TYPES):
        return None
    try:
        values = np.array(scores, dtype=np.float64)
        segments = np.array(bounds, dtype=np.float64).reshape(len(entries), 2)
    except OverflowError:  # an integer beyond the float range
        return None
    if (
        not (np.isfinite(values).all() and np.isfinite(segments).all())
        or (segments[:, 1] < segments[:, 0]).any()
    ):
        return None
    return _table(tuple(results), names, list(map(len, lists)), values, segments)


def _video_table(
    vid: str, entries: Any, path: str | os.PathLike[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One video's ``(labels, scores (n,), segments (n, 2))``; :class:`InputError` names its first problem."""
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
        if not (np.isfinite(block).all() and np.isfinite(values).all()) or (block[:, 1] < block[:, 0]).any():
            raise ValueError
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        for i, entry in enumerate(entries):
            problem = _explain(entry, f"video {vid} prediction {i}")
            if problem:
                raise InputError(path, problem) from None
        raise InputError(path, f"video {vid}: malformed predictions") from None
    return names, values, block


def _table(
    video_ids: tuple[str, ...], names: list[str], counts: list[int], scores: np.ndarray, segments: np.ndarray
) -> DetectionTable:
    """The :class:`DetectionTable` of flat per-prediction columns; labels are numbered in first-seen order."""
    labels = {name: i for i, name in enumerate(dict.fromkeys(names))}
    return DetectionTable(
        video_ids=video_ids,
        labels=tuple(labels),
        video=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
        label=np.fromiter(map(labels.__getitem__, names), np.int64, len(names)),
        segments=segments,
        scores=scores,
    )


def parse_predictions(data: Any, path: str | os.PathLike[str]) -> DetectionTable:
    """Validate a parsed prediction object into a :class:`DetectionTable`; errors name ``path``."""
    if not isinstance(data, dict) or "results" not in data:
        raise InputError(path, 'expected a JSON object with a "results" object (ActivityNet result format)')
    results = data["results"]
    if not isinstance(results, dict):
        raise InputError(path, '"results" is not an object of video id → list of predictions')
    table = _well_formed_table(results, path)
    if table is not None:
        return table
    all_names: list[str] = []
    scores: list[np.ndarray] = []
    segments: list[np.ndarray] = []
    for vid, entries in results.items():
        names, values, block = _video_table(vid, entries, path)
        all_names.extend(names)
        scores.append(values)
        segments.append(block)
    return _table(
        tuple(results),
        all_names,
        [len(values) for values in scores],
        np.concatenate(scores) if scores else np.zeros(0),
        np.concatenate(segments) if segments else np.zeros((0, 2)),
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restoring its state after).

    Parsing a prediction file allocates two containers per prediction (its object and its segment list)
    and creates no reference cycle; the collector would otherwise run over every live object again and
    again meanwhile: a fifth to a quarter of the time to read a 60k-prediction file.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_predictions(path: str | os.PathLike[str]) -> DetectionTable:
    """Read and validate a prediction file; any problem raises :class:`InputError` naming ``path``."""
    with _gc_paused():
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
