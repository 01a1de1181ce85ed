"""``ecm data check ROOT``: validate a dataset folder and print a summary."""

from __future__ import annotations

import argparse
from typing import Any

from ecm.cli.common import print_check_report
from ecm.progress import progress_bar


def register(subparsers: Any) -> None:
    """Add the ``data`` sub-command group."""
    parser = subparsers.add_parser(
        "data", help="dataset folder tools (check)", description="Dataset folder tools."
    )
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    check = commands.add_parser(
        "check",
        help="validate a dataset folder and print a summary",
        description=(
            "Validate ROOT (gt.json, split_*.txt, classes.txt, features/<split>/{rgb,flow}/*.npy or ECM .npz): "
            "malformed annotations, unknown labels, end < start, bad video ids, missing/extra feature files, "
            "rgb/flow length mismatch, wrong width, non-float dtype, NaN/Inf. Prints videos per split, classes, "
            "instances, snippet-length distribution and feature width. Exit status 2 if anything is wrong."
        ),
    )
    check.add_argument("root", help="dataset folder")
    check.add_argument("--quick", action="store_true", help="read .npy headers only (skip the NaN/Inf scan)")
    check.add_argument("--quiet", action="store_true", help="no progress bar")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Entry point of ``ecm data check``."""
    from ecm.data.check import check_dataset

    with progress_bar(None, "checking", quiet=args.quiet) as bar:
        report = check_dataset(args.root, quick=args.quick, progress=bar.update)
    return print_check_report(report)
