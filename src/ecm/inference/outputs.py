"""Writing a localization: ActivityNet JSON, CSV rows and per-video CAS arrays, each all or nothing.

* ActivityNet result format (:func:`ecm.evaluation.write_predictions`), every video present;
* CSV, one detection per row: ``video_id,label,score,start,end`` (seconds);
* a CAS folder: one ``VID.npy`` per video, float32 ``(C, T)`` raw CAS logits of the pre-classification
  stream (one column per evaluated snippet), and ``classes.txt`` with the row order. It is built beside
  its target and renamed into place; an existing folder is replaced only when it holds nothing but such
  files.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ecm.data.folder import CLASS_FILE
from ecm.errors import InputError
from ecm.evaluation.io import predictions_to_json
from ecm.files import staged
from ecm.inference.predict import VideoPrediction
from ecm.inference.run import Localization
from ecm.structures import Detection

CSV_COLUMNS: tuple[str, ...] = ("video_id", "label", "score", "start", "end")


def detections_csv(detections: Mapping[str, Sequence[Detection]]) -> str:
    """CSV text: a ``video_id,label,score,start,end`` header, then one row per detection (seconds)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for vid, dets in detections.items():
        for det in dets:
            writer.writerow((vid, det.label, repr(det.score), repr(det.start), repr(det.end)))
    return buffer.getvalue()


def _is_cas_folder(folder: Path) -> bool:
    """True when ``folder`` holds only what :func:`write_cas_folder` writes (safe to replace)."""
    entries = list(folder.iterdir())
    return any(p.name == CLASS_FILE for p in entries) and all(
        p.is_file() and (p.name == CLASS_FILE or p.suffix == ".npy") for p in entries
    )


def check_cas_target(folder: Path) -> None:
    """Refuse a ``--save-cas`` target that is a file, or a non-empty folder of something else."""
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "--save-cas needs a folder, this is a file")
    if folder.is_dir() and any(folder.iterdir()) and not _is_cas_folder(folder):
        raise InputError(
            folder, "exists and holds files other than a saved CAS; choose a new or empty folder"
        )


def _write_cas(folder: Path, predictions: Mapping[str, VideoPrediction], class_names: Sequence[str]) -> None:
    (folder / CLASS_FILE).write_text("".join(f"{c}\n" for c in class_names), encoding="utf-8")
    for vid, pred in predictions.items():
        with open(folder / f"{vid}.npy", "wb") as handle:
            np.save(handle, np.asarray(pred.cas, dtype=np.float32), allow_pickle=False)


def write_cas_folder(
    folder: str | os.PathLike[str], predictions: Mapping[str, VideoPrediction], class_names: Sequence[str]
) -> None:
    """Write ``VID.npy`` (float32 ``(C, T)`` CAS logits) per video and ``classes.txt``, all or nothing."""
    target = Path(folder)
    check_cas_target(target)
    with staged() as staging:
        _write_cas(staging.folder(target), predictions, class_names)


def check_distinct_outputs(outputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Refuse two flags naming the same output path (one would overwrite the other)."""
    seen: dict[Path, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        resolved = Path(path).resolve()
        if resolved in seen:
            raise InputError(path, f"{flag} and {seen[resolved]} name the same file")
        seen[resolved] = flag


def write_outputs(
    result: Localization,
    class_names: Sequence[str],
    *,
    out: str | os.PathLike[str],
    csv_path: str | os.PathLike[str] | None = None,
    cas_dir: str | os.PathLike[str] | None = None,
    version: str = "ecm",
) -> None:
    """Write the ActivityNet JSON, and the CSV and CAS folder when asked, all published together.

    Every output is staged beside its target first; none appears unless all were written.
    """
    check_distinct_outputs({"--out": out, "--csv": csv_path, "--save-cas": cas_dir})
    if cas_dir is not None:
        check_cas_target(Path(cas_dir))
    with staged() as staging:
        if cas_dir is not None:
            _write_cas(staging.folder(cas_dir), result.predictions, class_names)
        if csv_path is not None:
            staging.file(csv_path).write_text(detections_csv(result.detections), encoding="utf-8")
        text = json.dumps(predictions_to_json(result.detections, version)) + "\n"
        staging.file(out).write_text(text, encoding="utf-8")
