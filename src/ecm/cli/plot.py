"""``ecm plot RUN --video VID``: one video's CAS, ground truth and detections as a PNG (paper Fig. 5 style).

The model of ``RUN`` is run on that one video of the split (as ``ecm localize`` would), its CAS is
post-processed with the run's settings, and :func:`ecm.viz.plot_video` draws the normalised CAS of the
classes kept by τ above one row of ground-truth instances and the best detections. Default output:
``RUN/plots/VID.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ecm.errors import InputError


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


def run(args: argparse.Namespace) -> int:
    """``ecm plot``: check, load, localize the one video, save the PNG; print its path."""
    from ecm.data.annotations import check_video_id
    from ecm.files import check_writable_target

    check_video_id(args.video)
    if args.top < 0:
        raise InputError(None, f"--top must be ≥ 0, got {args.top}")
    out = Path(args.out) if args.out else Path(args.run_dir) / "plots" / f"{args.video}.png"
    check_writable_target(out, "--out")
    from ecm.viz import figure_format

    figure_format(out, "--out")  # a format matplotlib can write, before any work

    from ecm.inference import open_split_for_run
    from ecm.training import load_run
    from ecm.viz import plot_split_video

    trained = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    split = open_split_for_run(trained, args.data, args.split)
    print(plot_split_video(trained, split, args.video, out, top=args.top))
    return 0
