"""Pseudo labels: the teacher's proposals on the training videos, filtered into the student's ground truth.

Per video, from every proposal of the teacher before its NMS (:func:`select_pseudo_labels`):

1. only classes the video is labelled with (the weak label is known on the training videos);
2. the density prior: a proposal with fewer than ``pseudo_density`` other proposals of its class at IoU
   ≥ ``pseudo_density_iou`` is dropped (true actions collect dense proposals across ECM's thresholds;
   FuSTAL, Feng et al. 2024, make the same observation);
3. per-class hard NMS at ``pseudo_nms_iou`` (continuous IoU);
4. the relative threshold: a label must score at least ``pseudo_relative`` × the best of its class in
   the video.

The file is the ``gt.json`` layout (ActivityNet style), every annotation with its ``score``, so
``ecm evaluate`` and any other reader of ground truth take it as it is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ecm.errors import InputError
from ecm.files import read_json, write_json
from ecm.ops.segments import interval_iou
from ecm.postprocess.nms import batched_nms
from ecm.structures import Detection
from ecm.student.config import StudentConfig

FORMAT = "ecm pseudo labels 1"


def select_pseudo_labels(
    proposals: Sequence[Detection], labels: frozenset[str], cfg: StudentConfig
) -> list[Detection]:
    """One video's pseudo labels from its teacher proposals (see the module docstring), best first."""
    kept = [p for p in proposals if p.label in labels and p.end > p.start]
    if not kept:
        return []
    starts = np.array([p.start for p in kept])
    ends = np.array([p.end for p in kept])
    scores = np.array([p.score for p in kept])
    names = sorted({p.label for p in kept})
    group = np.array([names.index(p.label) for p in kept])
    if cfg.pseudo_density > 0:
        same = group[:, None] == group[None, :]
        iou = interval_iou(starts[:, None], ends[:, None], starts[None, :], ends[None, :], legacy=False)
        neighbours = ((iou >= cfg.pseudo_density_iou) & same).sum(axis=1) - 1  # not itself
        dense = np.flatnonzero(neighbours >= cfg.pseudo_density)
    else:
        dense = np.arange(len(kept))
    chosen = dense[
        batched_nms(
            starts[dense],
            ends[dense],
            scores[dense],
            group[dense],
            threshold=cfg.pseudo_nms_iou,
            legacy=False,
        )
    ]
    if chosen.size == 0:
        return []
    best = {g: scores[chosen][group[chosen] == g].max() for g in np.unique(group[chosen])}
    chosen = np.array(
        [i for i in chosen if scores[i] >= cfg.pseudo_relative * best[group[i]]], dtype=np.int64
    )
    chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
    return [kept[i] for i in chosen]


def dump_pseudo_labels(
    labels: Mapping[str, Sequence[Detection]],
    timing: Mapping[str, tuple[float, float]],
    *,
    subset: str,
    teacher: str,
) -> dict[str, Any]:
    """The JSON object of pseudo labels: ``timing`` maps each video to (duration s, fps)."""
    database = {}
    for video_id, found in labels.items():
        duration, fps = timing[video_id]
        database[video_id] = {
            "subset": subset,
            "duration": duration,
            "fps": fps,
            "annotations": [{"segment": [d.start, d.end], "label": d.label, "score": d.score} for d in found],
        }
    return {"version": FORMAT, "teacher": teacher, "database": database}


def write_pseudo_labels(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write :func:`dump_pseudo_labels`' object atomically."""
    write_json(path, data)


def _finite(value: Any, what: str, path: str | os.PathLike[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(path, f"{what} is not a finite number: {value!r}")
    return float(value)


def read_pseudo_labels(path: str | os.PathLike[str]) -> dict[str, list[Detection]]:
    """Pseudo labels per video (best first as written); :class:`InputError` naming the first problem."""
    data = read_json(path)
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise InputError(path, "not a pseudo-label file (no 'database' mapping)")
    out: dict[str, list[Detection]] = {}
    for video_id, entry in database.items():
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        if not isinstance(annotations, list):
            raise InputError(path, f"video {video_id!r} has no 'annotations' list")
        found = []
        for k, ann in enumerate(annotations):
            where = f"video {video_id!r}, annotation {k}"
            segment = ann.get("segment") if isinstance(ann, dict) else None
            if not isinstance(segment, list) or len(segment) != 2 or not isinstance(ann.get("label"), str):
                raise InputError(path, f"{where} needs a [start, end] segment and a label")
            start, end = (_finite(v, f"{where}: segment", path) for v in segment)
            if not start < end:
                raise InputError(path, f"{where}: segment ends at or before its start")
            found.append(
                Detection(ann["label"], _finite(ann.get("score"), f"{where}: score", path), start, end)
            )
        out[str(video_id)] = found
    return out
