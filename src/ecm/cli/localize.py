"""``ecm localize RUN --out PRED.json``: detections for every video of a split, from a trained run.

The data folder is the run's ``data.root`` unless ``--data`` names another; it may be a full dataset
folder (annotations are then used for timing and a one-line score) or just a folder of feature files with
no ``gt.json`` at all — the real-user case: video ids come from the file names, timing from the run's
``data.frames_per_snippet``/``data.feature_fps``, and the classes are the checkpoint's. Every output is
written atomically, and only once everything has been computed (:mod:`ecm.inference.outputs`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ecm.cli.common import add_extraction_options, add_shard_option, extraction_options
from ecm.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``localize`` sub-command."""
    parser = subparsers.add_parser(
        "localize",
        help="detect action instances in every video of a split with a trained run",
        description=(
            "Run a trained model on every video of a split (or on a folder of feature files without "
            "annotations), post-process its class activation sequences and write the detections "
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
    add_shard_option(parser, "localize")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    videos = parser.add_argument_group(
        "video files",
        "With --video, the files are first turned into I3D features (as `ecm extract` does; the video extra and "
        "weight files needed) in --cache, then localized. Extract them as the run's training features were.",
    )
    videos.add_argument(
        "--video", nargs="+", metavar="FILE", help="video files to localize, instead of a split"
    )
    videos.add_argument(
        "--cache",
        metavar="DIR",
        help="feature folder for --video (default: RUN/video_cache; reused when re-run)",
    )
    add_extraction_options(videos)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``ecm localize``: load, check, localize, write; print a summary (and the score when annotated)."""
    from ecm.files import check_writable_target
    from ecm.inference.outputs import check_cas_target, check_distinct_outputs, write_outputs

    check_distinct_outputs({"--out": args.out, "--csv": args.csv, "--save-cas": args.save_cas})
    check_writable_target(args.out, "--out")
    if args.csv is not None:
        check_writable_target(args.csv, "--csv")
    if args.save_cas is not None:
        check_cas_target(Path(args.save_cas))
    if args.batch_size < 1:
        raise InputError(None, f"--batch-size must be ≥ 1, got {args.batch_size}")

    from ecm.distributed import choose_shard, gather_to_main, init_from_environment, process_device
    from ecm.inference import (
        localize_split,
        merge_localizations,
        open_split_for_run,
        select_videos,
        shard_split,
    )
    from ecm.training import load_run

    group = init_from_environment(args.device)
    shard = choose_shard(group, args.shard)
    trained = load_run(args.run_dir, checkpoint=args.checkpoint, device=process_device(group, args.device))
    if args.video:
        if args.data is not None or args.split is not None:
            raise InputError(None, "--video localizes video files: give no --data or --split with it")
        from ecm.video.extract import VIDEO_SPLIT, extract_files, video_ids

        cache = Path(args.cache) if args.cache else Path(args.run_dir) / "video_cache"
        report = extract_files(
            args.video,
            cache,
            split=VIDEO_SPLIT,
            options=extraction_options(args),
            rgb_weights=args.rgb_weights,
            flow_weights=args.flow_weights,
            device=args.device,
            quiet=args.quiet,
        )
        if report.failed:
            raise InputError(None, f"{len(report.failed)} video(s) failed, first: {report.failed[0]}")
        split = select_videos(open_split_for_run(trained, cache, VIDEO_SPLIT), video_ids(args.video))
    else:
        split = open_split_for_run(trained, args.data, args.split)
    mine = shard_split(split, shard)
    result = localize_split(trained, mine, batch_size=args.batch_size, quiet=args.quiet or not group.is_main)
    if group.distributed:  # rank 0 writes one file for all
        parts = gather_to_main(group, result)
        if parts is None:
            return 0
        result = merge_localizations(parts, split)
    else:
        split = mine
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
