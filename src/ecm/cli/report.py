"""``ecm report RUN --out report.html``: one self-contained HTML page to look at a run and its errors."""

from __future__ import annotations

import argparse
from typing import Any

from ecm.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    parser = subparsers.add_parser(
        "report",
        help="one self-contained HTML page: recipe, curves, results, errors, every video's timeline",
        description=(
            "Localize a split with a trained run and write one HTML file that opens from disk in any browser, "
            "with nothing fetched: the run's settings against the paper recipe, its three protocols, training "
            "curves, mAP per tIoU, per-class AP, the error diagnosis, and one row per video (its AP, its "
            "detections by error type, a timeline of CAS, ground truth and detections coloured by match), "
            "sortable and filterable in the page."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN", help="run folder written by `ecm train`")
    parser.add_argument("--out", required=True, metavar="report.html", help="the page to write")
    parser.add_argument(
        "--data", metavar="ROOT", help="dataset folder with ground truth (default: the run's data.root)"
    )
    parser.add_argument("--split", help="split to report on (default: the run's data.test_split)")
    parser.add_argument(
        "--pred",
        metavar="PRED.json",
        help="show and score these detections (ActivityNet format) instead of the checkpoint's own",
    )
    parser.add_argument(
        "--tiou",
        type=float,
        default=0.5,
        help="tIoU of per-class AP, diagnosis and per-video AP (default 0.5)",
    )
    parser.add_argument(
        "--checkpoint", default="best", metavar="best|last|PATH", help="which checkpoint (default: best)"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``ecm report``: check the arguments and the output path, write the page, print where and how big."""
    from ecm.files import check_writable_target

    if not 0.0 < args.tiou <= 1.0:
        raise InputError(None, f"--tiou must lie in (0, 1], got {args.tiou}")
    check_writable_target(args.out, "--out")
    from ecm.report.run import write_run_report

    written = write_run_report(
        args.run_dir,
        args.out,
        data=args.data,
        split=args.split,
        predictions_file=args.pred,
        checkpoint=args.checkpoint,
        tiou=args.tiou,
        device=args.device,
        quiet=args.quiet,
    )
    print(
        f"wrote {written.path} ({written.size / 1e6:.2f} MB, {written.videos} videos) in {written.seconds:.1f} s"
    )
    return 0
