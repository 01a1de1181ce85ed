"""Everything ``ecm report`` shows, gathered into one JSON-able dict (the page draws it in the browser).

The dict holds plain lists and numbers, kept small: seconds rounded to 0.01 s, scores to 1e-4, and each
video's CAS max-pooled to at most :data:`CAS_SAMPLES` points per class and quantised to one byte
(base64). Its keys:

* ``run``: folder, checkpoint and epoch, data folder and split, the closest paper recipe and every
  setting that differs from it (``differences``: ``[key, paper value, run value]``);
* ``protocols``: the three protocols of ``summary.json`` (best on test, last epoch, validation-selected);
* ``curves``: per epoch, every loss term; per evaluated epoch, the selection metric on test and validation;
* ``results``: mAP per tIoU, the averages, and per class its instances and AP at the report's tIoU, its
  videos (``videos``) and how many of them the τ gate on softmax(s_pre) shuts (``gated``: the model
  localizes no class whose video-level probability is below ``tau``, or ``tau · max p`` when ``gate`` is
  ``"relative"``);
* ``diagnosis``: the error breakdown of ``ecm diagnose`` at that tIoU;
* ``videos``: per video its AP at that tIoU, its ground truth, its detections with their category, their
  counts per category, the CAS of its ground-truth classes and of its top false-positive class, and its
  ground-truth classes below the gate with their probability and the gate's bar in that video (``gated``:
  ``[class, p, bar]``).
"""

from __future__ import annotations

import base64
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ecm.config import config_differences, load_config
from ecm.data.folder import SplitData
from ecm.errors import InputError
from ecm.evaluation import (
    CATEGORIES,
    DetectionResult,
    DetectionTable,
    GroundTruthTable,
    diagnose_errors,
    evaluate_detections,
    video_breakdown,
)
from ecm.evaluation.diagnosis import CATEGORY_TITLES
from ecm.postprocess.proposals import Gate, gate_bar, kept_classes, normalize_cas
from ecm.training.run_dir import EpochRecord, RunDir, RunSummary

if TYPE_CHECKING:
    from ecm.inference import Localization, TrainedRun
    from ecm.inference.predict import VideoPrediction

CAS_SAMPLES = 600  # per class and video: enough for a 1000-pixel-wide timeline
CAS_RANGE = (
    -0.5,
    1.0,
)  # the normalised CAS is drawn (and quantised) within this range, as `ecm plot` cuts it
PAPER_RECIPES = ("thumos14", "activitynet12", "activitynet13")
_WHERE_DATA_LIVES = ("data.root",)


def closest_paper_recipe(config: Any) -> tuple[str, list[tuple[str, Any, Any]]]:
    """The paper recipe with the fewest settings different from ``config``, and those differences."""
    best: tuple[str, list[tuple[str, Any, Any]]] | None = None
    for name in PAPER_RECIPES:
        changed = config_differences(load_config(name), config, ignore=_WHERE_DATA_LIVES)
        if best is None or len(changed) < len(best[1]):
            best = (name, changed)
    assert best is not None
    return best


def _protocols(summary: RunSummary | None) -> list[dict[str, Any]]:
    if summary is None:
        return []
    rows = []
    for name, chosen in (
        ("best on test (the paper's protocol)", summary.best_on_test),
        ("last epoch", summary.last),
        ("validation-selected", summary.val_selected),
    ):
        if chosen is not None:
            rows.append(
                {
                    "name": name,
                    "epoch": chosen.epoch,
                    "value": chosen.value,
                    "average": chosen.test.average,
                }
            )
    return rows


def _curves(history: Sequence[EpochRecord], metric: str) -> dict[str, Any]:
    terms = list(dict.fromkeys(k for h in history for k in h.loss))
    evaluated = [h for h in history if h.test is not None]
    return {
        "metric": metric,
        "epoch": [h.epoch for h in history],
        "loss": {k: [_round(h.loss.get(k), 4) for h in history] for k in terms},
        "eval_epoch": [h.epoch for h in evaluated],
        "test": [_round(h.test.value(metric), 3) for h in evaluated if h.test is not None],
        "val": [_round(h.val.value(metric), 3) if h.val is not None else None for h in evaluated],
    }


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _results(scored: DetectionResult, tiou: float, gates: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    """``gates``: per class name, (videos with the class, those of them below τ)."""
    column = int(np.argmin([abs(t - tiou) for t in scored.tious]))
    return {
        "tious": list(scored.tious),
        "mAP": [round(float(v), 3) for v in scored.mAP],
        "averages": {k: round(v, 3) for k, v in scored.averages.items()},
        "map_at_tiou": round(float(scored.mAP[column]), 3),
        "per_class": [
            {
                "name": name,
                "instances": int(n),
                "ap": round(float(ap), 3),
                "videos": gates.get(name, (0, 0))[0],
                "gated": gates.get(name, (0, 0))[1],
            }
            for name, n, ap in zip(
                scored.class_names, scored.num_ground_truth, scored.ap[:, column], strict=True
            )
        ],
    }


def _gates(
    split: SplitData,
    predictions: Mapping[str, VideoPrediction],
    class_names: Sequence[str],
    tau: float,
    gate: Gate,
) -> tuple[dict[str, list[tuple[int, float, float]]], dict[str, tuple[int, int]]]:
    """Per video of ``split`` with a prediction, its ground-truth classes whose softmax(s_pre) is below
    ``tau`` (shut by :func:`~ecm.postprocess.proposals.kept_classes`, so not localized there) as
    (class index, probability, the gate's bar there); and per class name, (videos with the class, those
    of them shut)."""
    class_of = {name: k for k, name in enumerate(class_names)}
    shut: dict[str, list[tuple[int, float, float]]] = {}
    videos: Counter[str] = Counter()
    below: Counter[str] = Counter()
    for record in split.videos:
        prediction = predictions.get(record.video_id)
        if prediction is None:
            continue
        segments = record.annotation.segments if record.annotation is not None else ()
        present = sorted({class_of[s.label] for s in segments if s.label in class_of})
        p = prediction.probabilities
        kept = set(kept_classes(p, tau, gate).tolist())
        bar = gate_bar(p, tau, gate)
        shut[record.video_id] = [(k, float(p[k]), bar) for k in present if k not in kept]
        videos.update(class_names[k] for k in present)
        below.update(class_names[k] for k, _, _ in shut[record.video_id])
    return shut, {name: (videos[name], below[name]) for name in videos}


def encode_cas(cas: np.ndarray) -> str:
    """``(T,)`` normalised CAS → at most :data:`CAS_SAMPLES` bytes (max-pooled, ``CAS_RANGE`` → 0…255), base64."""
    values = np.clip(np.asarray(cas, dtype=np.float64), *CAS_RANGE)
    if len(values) > CAS_SAMPLES:
        edges = np.linspace(0, len(values), CAS_SAMPLES + 1).astype(np.int64)
        values = np.maximum.reduceat(values, edges[:-1])
    low, high = CAS_RANGE
    quantised = np.rint((values - low) / (high - low) * 255).astype(np.uint8)
    return base64.b64encode(quantised.tobytes()).decode("ascii")


def _video_rows(
    split: SplitData,
    table: DetectionTable,
    categories: np.ndarray,
    video_ap: Mapping[str, float | None],
    predictions: Mapping[str, VideoPrediction],
    class_names: Sequence[str],
    gated: Mapping[str, Sequence[tuple[int, float, float]]],
) -> list[dict[str, Any]]:
    class_of = {name: k for k, name in enumerate(class_names)}
    order = np.argsort(table.video, kind="stable")
    bounds = np.searchsorted(table.video[order], np.arange(len(table.video_ids) + 1))
    rows_of = {vid: order[bounds[i] : bounds[i + 1]] for i, vid in enumerate(table.video_ids)}
    out = []
    for record in split.videos:
        vid = record.video_id
        rows = rows_of.get(vid, np.zeros(0, np.int64))
        rows = rows[np.argsort(-table.scores[rows], kind="stable")]  # best first
        labels = [class_of[table.labels[k]] for k in table.label[rows]]
        category = categories[rows]
        segments = record.annotation.segments if record.annotation is not None else ()
        gt_classes = sorted({class_of[s.label] for s in segments if s.label in class_of})
        false = [lab for lab, c in zip(labels, category.tolist(), strict=True) if c != 0]  # best first
        top_fp = next((lab for lab in false if lab not in gt_classes), None)
        cas_classes = gt_classes + ([top_fp] if top_fp is not None else [])
        prediction = predictions.get(vid)
        cas: dict[str, Any] | None = None
        if prediction is not None and cas_classes:
            normalised = normalize_cas(prediction.cas[cas_classes])
            cas = {"classes": cas_classes, "fp": top_fp, "data": [encode_cas(row) for row in normalised]}
        out.append(
            {
                "id": vid,
                "duration": round(record.timing.duration, 2),
                "ap": _round(video_ap.get(vid), 3),
                "gt": [[round(s.start, 2), round(s.end, 2), class_of.get(s.label, -1)] for s in segments],
                "det": {
                    "start": np.round(table.segments[rows, 0], 2).tolist(),
                    "end": np.round(table.segments[rows, 1], 2).tolist(),
                    "score": np.round(table.scores[rows], 4).tolist(),
                    "label": labels,
                    "category": category.tolist(),
                },
                "counts": np.bincount(category, minlength=len(CATEGORIES)).tolist(),
                "cas": cas,
                "gated": [[k, round(p, 3), round(bar, 3)] for k, p, bar in gated.get(vid, ())],
            }
        )
    return out


def check_reportable(split: SplitData, data_root: str | os.PathLike[str]) -> None:
    """Refuse a split without ground truth: the page scores and classifies detections against it."""
    if not any(v.segments for v in split.ground_truth.values()):
        raise InputError(
            data_root,
            f"split {split.name!r} has no annotated instances (gt.json): ecm report scores the detections "
            "against them; `ecm localize` and `ecm plot` work without",
        )


def collect_report(
    trained: TrainedRun,
    split: SplitData,
    localized: Localization,
    *,
    data_root: str | os.PathLike[str],
    tiou: float,
    detections: DetectionTable | None = None,
    predictions_file: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The report's data (module docstring) for one split localized with ``trained``.

    Args:
        trained: the restored run (its folder's ``metrics.jsonl`` and ``summary.json`` give the curves and
            protocols; its config, checkpoint and classes the rest).
        split: the localized split, with its ground truth.
        localized: the model's CAS per video and its own detections.
        detections: the detections shown and scored instead of ``localized``'s (those of
            ``predictions_file``).
        tiou: θ of the per-class AP, the diagnosis and the per-video view.
    """
    class_names, config = trained.class_names, trained.config
    if detections is None:
        detections = DetectionTable.from_detections(localized.detections)
    check_reportable(split, data_root)
    unknown = sorted(set(detections.labels) - set(class_names))
    if unknown:
        raise InputError(
            predictions_file,
            f"predicted label {unknown[0]!r} is not one of the run's {len(class_names)} classes "
            f"({len(unknown)} unknown label(s))",
        )
    shown = {r.video_id for r in split.videos}
    if len(detections) and not shown.intersection(detections.video_ids):
        raise InputError(
            predictions_file,
            f"none of its {len(detections.video_ids)} videos (e.g. {detections.video_ids[0]!r}) is in split "
            f"{split.name!r} of {data_root}",
        )
    folder = RunDir(trained.run_dir)
    history = folder.read_history() if folder.metrics_file.is_file() else []
    summary = folder.read_summary()
    recipe, differences = closest_paper_recipe(config)
    gt = GroundTruthTable.from_annotations(split.ground_truth)
    tious = sorted({*config.eval.tious, tiou})
    scored = evaluate_detections(gt, detections, tious)
    breakdown = video_breakdown(gt, detections, tiou)
    diagnosis = diagnose_errors(gt, detections, tiou)
    tau, gate = config.postprocess.tau, config.postprocess.gate
    gated, gate_counts = _gates(split, localized.predictions, class_names, tau, gate)
    return {
        "title": trained.run_dir.resolve().name,
        "run": {
            "folder": os.fspath(trained.run_dir),
            "checkpoint": str(trained.checkpoint),
            "epoch": trained.epoch,
            "data": os.fspath(data_root),
            "split": split.name,
            "predictions": None if predictions_file is None else os.fspath(predictions_file),
            "paper_recipe": recipe,
            "differences": [[key, paper, ours] for key, paper, ours in differences],
        },
        "protocols": _protocols(summary),
        "metric": config.eval.selection,
        "curves": _curves(history, config.eval.selection),
        "tiou": tiou,
        "tau": tau,
        "gate": gate,
        "results": _results(scored, tiou, gate_counts),
        "diagnosis": {
            "num_predictions": diagnosis.num_predictions,
            "num_given": diagnosis.num_given,
            "base_map": round(diagnosis.base_map, 3),
            "rows": [
                {
                    "name": CATEGORY_TITLES[name],
                    "count": diagnosis.counts[name],
                    "share": round(diagnosis.shares[name], 2),
                    "gain": _round(diagnosis.map_gain.get(name), 3),
                }
                for name in CATEGORIES
            ],
        },
        "classes": list(class_names),
        "categories": [CATEGORY_TITLES[name] for name in CATEGORIES],
        "cas_range": list(CAS_RANGE),
        "videos": _video_rows(
            split,
            detections,
            breakdown.categories,
            breakdown.video_ap,
            localized.predictions,
            class_names,
            gated,
        ),
    }
