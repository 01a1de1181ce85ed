"""``ecm pseudo-label RUN --out PSEUDO.json``: a trained ECM run's detections on the training videos, as labels.

The teacher's proposals on every video of the split (the run's ``data.train_split`` by default), kept only
for the classes each video is labelled with, filtered (density prior, NMS, relative score threshold; see
the options) and written in the ``gt.json`` layout with a score per annotation. Where the split has
temporal annotations the pseudo labels' own mAP against them is printed: the quality of what a student
trained on them learns from. ``ecm train thumos14-student`` makes the same labels itself.
"""

from __future__ import annotations

import argparse
from typing import Any

from ecm.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``pseudo-label`` sub-command."""
    from ecm.student import StudentConfig

    defaults = StudentConfig()
    parser = subparsers.add_parser(
        "pseudo-label",
        help="turn a trained ECM run's detections on the training videos into pseudo labels",
        description=(
            "Localize every video of a split with a trained ECM run (the teacher), keep the proposals of "
            "each video's known labels, filter them and write them as ground truth with scores, for a "
            "second-stage detector to train on (see `ecm train thumos14-student`)."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN", help="a finished ECM run folder (the teacher)")
    parser.add_argument(
        "--checkpoint", default="last", metavar="last|best", help="the teacher's checkpoint (default: last)"
    )
    parser.add_argument("--data", metavar="ROOT", help="dataset folder (default: the run's data.root)")
    parser.add_argument("--split", help="split to label (default: the run's data.train_split)")
    parser.add_argument("--out", required=True, metavar="PSEUDO.json", help="pseudo labels, gt.json layout")
    parser.add_argument(
        "--relative",
        type=float,
        default=defaults.pseudo_relative,
        help=f"keep labels scoring ≥ this × the video's best of their class (default {defaults.pseudo_relative})",
    )
    parser.add_argument(
        "--density",
        type=int,
        default=defaults.pseudo_density,
        help="keep proposals with at least this many overlapping proposals of their class; 0: off "
        f"(default {defaults.pseudo_density})",
    )
    parser.add_argument(
        "--density-iou",
        type=float,
        default=defaults.pseudo_density_iou,
        help=f"IoU at which proposals count as overlapping (default {defaults.pseudo_density_iou})",
    )
    parser.add_argument(
        "--nms-iou",
        type=float,
        default=defaults.pseudo_nms_iou,
        help=f"NMS among the kept proposals, continuous IoU (default {defaults.pseudo_nms_iou})",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``ecm pseudo-label``: check, label, write; print the count (and the labels' mAP when annotated)."""
    from ecm.files import check_writable_target
    from ecm.inference import open_split_for_run
    from ecm.student import StudentConfig, dump_pseudo_labels, write_pseudo_labels
    from ecm.training.teacher import make_pseudo_labels, open_teacher, pseudo_label_quality

    check_writable_target(args.out, "--out")
    if args.checkpoint not in ("last", "best"):
        raise InputError(None, f"--checkpoint must be last or best, got {args.checkpoint!r}")
    try:
        cfg = StudentConfig(
            pseudo_relative=args.relative,
            pseudo_density=args.density,
            pseudo_density_iou=args.density_iou,
            pseudo_nms_iou=args.nms_iou,
        )
    except InputError as exc:  # name the option, not the config key
        option = {
            "pseudo_relative": "--relative",
            "pseudo_density_iou": "--density-iou",
            "pseudo_density": "--density",
            "pseudo_nms_iou": "--nms-iou",
        }
        problem = exc.problem
        for key, flag in option.items():
            problem = problem.replace(f"student.{key}", flag)
        raise InputError(None, problem) from None
    teacher = open_teacher(args.run_dir, args.checkpoint, device=args.device)
    split = open_split_for_run(teacher, args.data, args.split or teacher.config.data.train_split)
    labelled = [v for v in split.videos if v.labels.any()]
    if not labelled:
        raise InputError(None, f"split {split.name!r} has no video-level labels to restrict the labels to")
    pseudo = make_pseudo_labels(teacher, split, cfg)
    count = sum(map(len, pseudo.values()))
    if count == 0:
        raise InputError(
            args.run_dir, f"the teacher found nothing on the {len(split)} videos: no pseudo labels"
        )
    timing = {v.video_id: (v.timing.duration, v.timing.fps) for v in split.videos}
    data = dump_pseudo_labels(pseudo, timing, subset=split.name, teacher=str(teacher.run_dir))
    write_pseudo_labels(args.out, data)
    print(
        f"{count} pseudo labels on {sum(1 for v in pseudo.values() if v)} of {len(split)} videos of split "
        f"{split.name!r} from {teacher.checkpoint} (epoch {teacher.epoch}) → {args.out}"
    )
    quality = pseudo_label_quality(pseudo, split, teacher.config.eval.tious)
    if quality is not None:
        averages = "".join(f", average {k} {v:.2f}" for k, v in quality.averages.items() if k != "0.1:0.9")
        print(f"their mAP against the split's annotations: mAP@0.5 {quality.map_at(0.5):.2f}{averages}")
    return 0
