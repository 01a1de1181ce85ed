"""``ecm data check ROOT``: validate a dataset folder and print a summary."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ecm.progress import progress_bar

MAX_PROBLEM_LINES = 20


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


def report_check(root: str, *, quick: bool, quiet: bool) -> int:
    """Check ``root``, print the summary on stdout and problems on stderr; 0 if valid else 2."""
    from ecm.data.check import check_dataset

    with progress_bar(None, "checking", quiet=quiet) as bar:
        report = check_dataset(root, quick=quick, progress=bar.update)
    for line in report.summary_lines():
        print(line)
    if report.ok:
        print("ok")
        return 0
    for problem in report.problems[:MAX_PROBLEM_LINES]:
        print(f"ecm: error: {problem}", file=sys.stderr)
    if len(report.problems) > MAX_PROBLEM_LINES:
        print(f"ecm: error: … and {len(report.problems) - MAX_PROBLEM_LINES} more problems", file=sys.stderr)
    return 2


def run_check(args: argparse.Namespace) -> int:
    """Entry point of ``ecm data check``."""
    return report_check(args.root, quick=args.quick, quiet=args.quiet)
