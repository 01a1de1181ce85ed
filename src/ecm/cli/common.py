"""Printing shared by several commands (not a command itself)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecm.data.check import CheckReport
    from ecm.video.extract import ExtractOptions

MAX_PROBLEM_LINES = 20


def print_check_report(report: CheckReport) -> int:
    """The summary on stdout, the warnings on stderr, then ``ok`` or the problems on stderr; returns the exit
    status (0 or 2: warnings alone are not problems)."""
    for line in report.summary_lines():
        print(line)
    for warning in report.warnings:
        print(f"ecm: warning: {warning}", file=sys.stderr)
    if report.ok:
        print("ok")
        return 0
    for problem in report.problems[:MAX_PROBLEM_LINES]:
        print(f"ecm: error: {problem}", file=sys.stderr)
    if len(report.problems) > MAX_PROBLEM_LINES:
        print(f"ecm: error: … and {len(report.problems) - MAX_PROBLEM_LINES} more problems", file=sys.stderr)
    return 2


def add_extraction_options(parser: argparse.ArgumentParser) -> None:
    """The weight files and the options that shape the features (shared by ``extract`` and ``localize --video``)."""
    parser.add_argument("--rgb-weights", metavar="FILE.pt", help="I3D RGB weights (e.g. rgb_imagenet.pt)")
    parser.add_argument(
        "--flow-weights",
        metavar="FILE.pt",
        help="I3D flow weights (e.g. flow_imagenet.pt); not with --flow none",
    )
    parser.add_argument(
        "--flow",
        choices=("tvl1", "farneback", "none"),
        default="tvl1",
        help="optical flow: TV-L1 (as the released features; default), Farnebäck (faster, an approximation), "
        "or none (RGB features only)",
    )
    parser.add_argument(
        "--flow-backend",
        choices=("auto", "opencv", "torch"),
        default="auto",
        help="who computes TV-L1: opencv (OpenCV's CPU code, one pair at a time, in the decoding processes), "
        "torch (the same flow, batched, on the networks' device), or auto (default: torch on CUDA, else opencv). "
        "Recorded with the features: a change extracts again",
    )
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second sampled (default: 25)")
    parser.add_argument(
        "--snippet", type=int, default=16, help="frames per snippet and feature (default: 16)"
    )
    parser.add_argument(
        "--short-side", type=int, default=256, help="resize the shorter side to (default: 256)"
    )
    parser.add_argument("--crop", type=int, default=224, help="centre crop, pixels (default: 224)")
    parser.add_argument("--batch", type=int, default=8, help="snippets per network forward (default: 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes decoding video (and computing OpenCV's flow); 0: in this process "
        "(default: 2 when the networks run on CUDA, else 0)",
    )


def add_shard_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--shard i/N``: this process's share of the videos, for processes a scheduler starts independently."""
    parser.add_argument(
        "--shard",
        metavar="i/N",
        help=f"{what} only shard i of N (videos balanced by length), for processes a scheduler starts; "
        "under torchrun the ranks share the work by themselves",
    )


def extraction_options(args: argparse.Namespace) -> ExtractOptions:
    """The :class:`~ecm.video.extract.ExtractOptions` of parsed :func:`add_extraction_options` flags."""
    from ecm.video.extract import ExtractOptions

    return ExtractOptions(
        fps=args.fps,
        snippet=args.snippet,
        short_side=args.short_side,
        crop=args.crop,
        flow=args.flow,
        flow_backend=args.flow_backend,
        batch=args.batch,
        workers=args.workers,
    )
