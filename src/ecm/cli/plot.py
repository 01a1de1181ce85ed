"""``ecm plot RUN --video VID``: one video's CAS, ground truth and detections as a PNG (paper Fig. 5 style).

The model of ``RUN`` is run on that one video of the split (as ``ecm localize`` would), its CAS is
post-processed with the run's settings, and :func:`ecm.viz.plot_video` draws the normalised CAS of the
classes kept by τ above one row of ground-truth instances and the best detections. Default output:
``RUN/plots/VID.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecm.cli.localize import check_output_file
from ecm.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ecm.data.folder import SplitData, VideoRecord
    from ecm.engine import TrainedRun
    from ecm.evaluation import Detection
    from ecm.inference import VideoPrediction


def register(subparsers: Any) -> None:
    """Add the ``plot`` sub-command."""
    parser = subparsers.add_parser(
        "plot",
        help="plot one video's CAS with its ground truth and detections (PNG)",
        description=(
            "Run a trained model on one video and draw the normalised class activation sequence of the classes "
            "kept by τ over time (seconds), with the ground-truth instances and the best detections beneath it."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN", help="run folder written by `ecm train`")
    parser.add_argument("--video", required=True, metavar="VID", help="video id (a feature file name)")
    parser.add_argument("--out", metavar="FILE.png", help="output file (default: RUN/plots/VID.png)")
    parser.add_argument(
        "--data", metavar="ROOT", help="dataset or feature folder (default: the run's data.root)"
    )
    parser.add_argument("--split", help="split holding the video (default: the run's data.test_split)")
    parser.add_argument(
        "--checkpoint", default="best", metavar="best|last|PATH", help="which checkpoint (default: best)"
    )
    parser.add_argument("--top", type=int, default=10, help="detections drawn, best first (default: 10)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.set_defaults(func=run)


def video_figure(
    trained: TrainedRun,
    record: VideoRecord,
    prediction: VideoPrediction,
    detections: Sequence[Detection],
    *,
    top: int = 10,
) -> Figure:
    """One localized video as a figure, drawn with the run's post-processing settings (τ, thresholds)."""
    from ecm.viz import plot_video

    post = trained.config.postprocess
    return plot_video(
        video_id=record.video_id,
        cas=prediction.cas,
        probabilities=prediction.probabilities,
        duration=record.timing.duration,
        class_names=trained.class_names,
        tau=post.tau,
        thresholds=post.thresholds,
        ground_truth=record.annotation.segments if record.annotation is not None else (),
        detections=detections,
        max_detections=top,
    )


def plot_split_video(
    trained: TrainedRun, split: SplitData, video_id: str, out: str | os.PathLike[str], *, top: int = 10
) -> Path:
    """Localize ``video_id`` of ``split`` with ``trained`` and save its plot to ``out`` (PNG, atomic)."""
    from ecm.cli.localize import localize_split
    from ecm.viz import save_figure

    matches = [r for r in split.videos if r.video_id == video_id]
    if not matches:
        examples = ", ".join(r.video_id for r in split.videos[:3])
        raise InputError(None, f"video {video_id!r} is not in split {split.name!r} (it has e.g. {examples})")
    record = matches[0]
    one = dataclasses.replace(
        split,
        videos=(record,),
        ground_truth={k: v for k, v in split.ground_truth.items() if k == video_id},
    )
    result = localize_split(trained, one, batch_size=1, quiet=True)
    figure = video_figure(trained, record, result.predictions[video_id], result.detections[video_id], top=top)
    path = Path(out)
    save_figure(figure, path)
    return path


def run(args: argparse.Namespace) -> int:
    """``ecm plot``: check, load, localize the one video, save the PNG; print its path."""
    from ecm.data.annotations import check_video_id

    check_video_id(args.video)
    if args.top < 0:
        raise InputError(None, f"--top must be ≥ 0, got {args.top}")
    out = Path(args.out) if args.out else Path(args.run_dir) / "plots" / f"{args.video}.png"
    check_output_file(out, "--out")

    from ecm.cli.localize import open_split_for_run
    from ecm.engine import load_run

    trained = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    split = open_split_for_run(trained, args.data, args.split)
    print(plot_split_video(trained, split, args.video, out, top=args.top))
    return 0
