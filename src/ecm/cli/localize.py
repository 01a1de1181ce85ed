"""``ecm localize RUN --out PRED.json``: detections for every video of a split, from a trained run.

The data folder is the run's ``data.root`` unless ``--data`` names another; it may be a full dataset
folder (annotations are then used for timing and a one-line score) or just a folder of feature files with
no ``gt.json`` at all — the real-user case: video ids come from the file names, timing from the run's
``data.frames_per_snippet``/``data.feature_fps``, and the classes are the checkpoint's.

Outputs (each written atomically, and only once everything has been computed, so an error leaves
nothing behind):

* ``--out PRED.json`` — ActivityNet result format, every video of the split present (possibly ``[]``);
* ``--csv PRED.csv`` — one detection per row: ``video_id,label,score,start,end`` (seconds);
* ``--save-cas DIR`` — one ``VID.npy`` per video, float32 ``(C, T)``: the raw CAS logits of the
  pre-classification stream, one column per evaluated snippet (the full sequence, or ``model.train_length``
  uniform samples when the run's ``data.test_sampling`` is ``uniform``), rows in the order of
  ``DIR/classes.txt``. The folder is built beside ``DIR`` and renamed into place; an existing ``DIR`` is
  replaced only when it holds nothing but such files.

The helpers here (:func:`open_split_for_run`, :func:`localize_split`, :func:`write_outputs`) are shared
with ``ecm plot`` and ``ecm demo``. Torch is imported only inside them.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecm.atomic import atomic_dir
from ecm.errors import InputError
from ecm.progress import progress_bar

if TYPE_CHECKING:
    from ecm.data.folder import SplitData
    from ecm.engine import TrainedRun
    from ecm.evaluation import Detection
    from ecm.inference import VideoPrediction

CSV_COLUMNS: tuple[str, ...] = ("video_id", "label", "score", "start", "end")
CLASS_FILE = "classes.txt"


def register(subparsers: Any) -> None:
    """Add the ``localize`` sub-command."""
    parser = subparsers.add_parser(
        "localize",
        help="detect action instances in every video of a split with a trained run",
        description=(
            "Run a trained model on every video of a split (or on a folder of feature files without "
            "annotations), post-process its class activation sequences (SPEC §7) and write the detections "
            "as ActivityNet JSON (every video present), optionally as CSV and the per-video CAS arrays."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN", help="run folder written by `ecm train`")
    parser.add_argument(
        "--checkpoint",
        default="best",
        metavar="best|last|PATH",
        help="which checkpoint: best (default; falls back to last), last, or a .pt file",
    )
    parser.add_argument(
        "--data", metavar="ROOT", help="dataset or feature folder (default: the run's data.root)"
    )
    parser.add_argument("--split", help="split to localize (default: the run's data.test_split)")
    parser.add_argument("--out", required=True, metavar="PRED.json", help="detections, ActivityNet format")
    parser.add_argument("--csv", metavar="PRED.csv", help="also write video_id,label,score,start,end rows")
    parser.add_argument(
        "--save-cas",
        metavar="DIR",
        help="also write DIR/VID.npy, float32 (C, T) CAS logits, and DIR/classes.txt",
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="videos per forward pass (equal lengths only; default 16)"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class Localization:
    """A split localized in memory.

    Attributes:
        predictions: per video, the model's CAS ``(C, T)`` and video logits ``(C,)``.
        detections: per video (every video of the split), detections in seconds.
        forward_seconds: wall time of the model forward passes, feature loading included.
        postprocess_seconds: wall time of the SPEC §7 post-processing.
    """

    predictions: dict[str, VideoPrediction]
    detections: dict[str, list[Detection]]
    forward_seconds: float
    postprocess_seconds: float

    @property
    def num_detections(self) -> int:
        """Detections over all videos."""
        return sum(len(d) for d in self.detections.values())


def dataset_classes(root: Path, ground_truth: dict[str, Any], train_split: str) -> tuple[str, ...] | None:
    """The classes a dataset folder defines itself (``classes.txt``, else its labelled training videos), or None."""
    from ecm.data.folder import load_class_index

    try:
        return load_class_index(root, ground_truth, train_split).names
    except InputError:
        if (root / CLASS_FILE).is_file():
            raise  # a classes.txt that does not read is an error, not "no classes"
        return None


def open_split_for_run(run: TrainedRun, data: str | os.PathLike[str] | None, split: str | None) -> SplitData:
    """Open the split to localize with ``run``, checking it fits the model.

    Args:
        run: the restored run (its config gives the default folder, split and snippet timing).
        data: dataset or feature folder; ``None`` → the run's ``data.root``.
        split: split name; ``None`` → the run's ``data.test_split``.

    Raises:
        InputError: the folder's classes differ from the checkpoint's, a label is not one of them, or the
            features' width is not the model's input width.
    """
    from ecm.data.annotations import ClassIndex
    from ecm.data.folder import DatasetFolder
    from ecm.data.timing import SnippetTiming

    cfg = run.config.data
    root = Path(data if data is not None else cfg.root)
    folder = DatasetFolder(
        root,
        train_split=cfg.train_split,
        timing=SnippetTiming(cfg.frames_per_snippet, cfg.feature_fps),
        class_index=ClassIndex(run.class_names),
    )
    own = dataset_classes(root, folder.ground_truth, cfg.train_split)
    if own is not None and set(own) != set(run.class_names):
        only_data = sorted(set(own) - set(run.class_names))
        only_model = sorted(set(run.class_names) - set(own))
        example = (
            f"{only_data[0]!r} is not one of the model's"
            if only_data
            else f"the model's {only_model[0]!r} is not"
        )
        raise InputError(
            root,
            f"the dataset's {len(own)} classes are not the {len(run.class_names)} the checkpoint "
            f"{run.checkpoint} was trained on ({example})",
        )
    opened = folder.open_split(split or cfg.test_split)
    if opened.feature_dim != run.feature_dim:
        raise InputError(
            root / "features" / opened.name,
            f"features are {opened.feature_dim} channels wide, the model {run.checkpoint} expects "
            f"{run.feature_dim}",
        )
    if not opened.videos:
        raise InputError(root, f"split {opened.name!r} has no videos")
    return opened


def localize_split(
    run: TrainedRun,
    split: SplitData,
    *,
    batch_size: int = 16,
    quiet: bool = True,
    progress: Callable[[int], object] | None = None,
) -> Localization:
    """Forward every video of ``split`` through ``run.model``, then post-process each CAS (SPEC §7).

    Equal-length videos share a forward pass (``batch_size`` at most); with the run's
    ``data.test_sampling == "uniform"`` every video is ``model.train_length`` snippets long.
    """
    from ecm.inference import localize_predictions, predict_split

    cfg = run.config
    uniform = cfg.model.train_length if cfg.data.test_sampling == "uniform" else None
    started = time.perf_counter()
    with progress_bar(len(split), "localize", quiet=quiet) as bar:

        def advance(done: int) -> None:
            bar.update(done)
            if progress is not None:
                progress(done)

        predictions = predict_split(
            run.model,
            split,
            device=run.device,
            batch_size=max(1, batch_size),
            uniform_length=uniform,
            progress=advance,
        )
    forward = time.perf_counter() - started
    started = time.perf_counter()
    detections = localize_predictions(predictions, split, cfg.postprocess)
    return Localization(predictions, detections, forward, time.perf_counter() - started)


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


def write_cas_folder(
    folder: str | os.PathLike[str], predictions: Mapping[str, VideoPrediction], class_names: Sequence[str]
) -> None:
    """Write ``VID.npy`` (float32 ``(C, T)`` CAS logits) per video and ``classes.txt``, all or nothing."""
    import numpy as np

    target = Path(folder)
    check_cas_target(target)
    with atomic_dir(target) as tmp:
        (tmp / CLASS_FILE).write_text("".join(f"{c}\n" for c in class_names), encoding="utf-8")
        for vid, pred in predictions.items():
            with open(tmp / f"{vid}.npy", "wb") as handle:
                np.save(handle, np.asarray(pred.cas, dtype=np.float32), allow_pickle=False)


def check_output_file(path: str | os.PathLike[str], flag: str) -> None:
    """Refuse an output path that is an existing folder."""
    if Path(path).is_dir():
        raise InputError(path, f"{flag} names a folder; give a file name")


def write_outputs(
    result: Localization,
    class_names: Sequence[str],
    *,
    out: str | os.PathLike[str],
    csv_path: str | os.PathLike[str] | None = None,
    cas_dir: str | os.PathLike[str] | None = None,
    version: str = "ecm",
) -> None:
    """Write the CAS folder, the CSV and the ActivityNet JSON (each atomically; JSON last)."""
    from ecm.atomic import write_text
    from ecm.evaluation import write_predictions

    if cas_dir is not None:
        write_cas_folder(cas_dir, result.predictions, class_names)
    if csv_path is not None:
        write_text(csv_path, detections_csv(result.detections))
    write_predictions(out, result.detections, version=version)


def run(args: argparse.Namespace) -> int:
    """``ecm localize``: load, check, localize, write; print a summary (and the score when annotated)."""
    check_output_file(args.out, "--out")
    if args.csv is not None:
        check_output_file(args.csv, "--csv")
    if args.save_cas is not None:
        check_cas_target(Path(args.save_cas))
    if args.batch_size < 1:
        raise InputError(None, f"--batch-size must be ≥ 1, got {args.batch_size}")

    from ecm.engine import load_run

    trained = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    split = open_split_for_run(trained, args.data, args.split)
    result = localize_split(trained, split, batch_size=args.batch_size, quiet=args.quiet)
    write_outputs(
        result,
        trained.class_names,
        out=args.out,
        csv_path=args.csv,
        cas_dir=args.save_cas,
        version=f"ecm localize {trained.checkpoint} (epoch {trained.epoch})",
    )
    print(
        f"localized {len(split)} videos of split {split.name!r} with {trained.checkpoint} (epoch {trained.epoch}): "
        f"{result.num_detections} detections; forward {result.forward_seconds:.2f} s, "
        f"post-processing {result.postprocess_seconds:.2f} s → {args.out}"
    )
    if split.ground_truth:
        from ecm.inference import score_detections

        scored = score_detections(result.detections, split, trained.config.eval.tious)
        has_half = any(abs(t - 0.5) < 1e-9 for t in scored.tious)
        headline = f"mAP@0.5 {scored.map_at(0.5):.2f}" if has_half else f"average {scored.average:.2f}"
        averages = "".join(f", average {k} {v:.2f}" for k, v in scored.averages.items() if k != "0.1:0.9")
        print(f"against the split's annotations: {headline}{averages} (`ecm evaluate` for the full table)")
    return 0
