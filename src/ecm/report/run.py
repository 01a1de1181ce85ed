"""``ecm report``'s work: restore a run, localize a split (or read a predictions file), write the page."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ecm.evaluation import read_predictions
from ecm.report.collect import check_reportable, collect_report
from ecm.report.page import write_page


@dataclass(frozen=True)
class ReportWritten:
    """What :func:`write_run_report` wrote: the page, its size in bytes, its videos and the seconds it took."""

    path: Path
    size: int
    videos: int
    seconds: float


def write_run_report(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    split: str | None = None,
    predictions_file: str | os.PathLike[str] | None = None,
    checkpoint: str = "best",
    tiou: float = 0.5,
    device: str = "auto",
    quiet: bool = True,
) -> ReportWritten:
    """Report on ``run_dir``'s checkpoint over a split: the model gives the CAS; the detections are its own
    (the run's post-processing) or those of ``predictions_file``. Checks everything before the forward pass."""
    from ecm.inference import localize_split, open_split_for_run
    from ecm.training import load_run

    started = time.perf_counter()
    table = read_predictions(predictions_file) if predictions_file is not None else None
    trained = load_run(run_dir, checkpoint=checkpoint, device=device)
    opened = open_split_for_run(trained, data, split)
    check_reportable(opened, data if data is not None else trained.config.data.root)
    localized = localize_split(trained, opened, quiet=quiet)
    page = collect_report(
        trained,
        opened,
        localized,
        data_root=data if data is not None else trained.config.data.root,
        tiou=tiou,
        detections=table,
        predictions_file=predictions_file,
    )
    size = write_page(out, page)
    return ReportWritten(Path(out), size, len(opened), time.perf_counter() - started)
