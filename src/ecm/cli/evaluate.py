"""``ecm evaluate`` and ``ecm diagnose``: score an ActivityNet-format prediction file against ground truth.

Neither command imports torch (start-up time), and the library is imported only when a command runs, so
registering them costs every other command nothing. Defaults:

* ``--subset``: the only subset in the ground truth; otherwise ``test``, else ``validation`` (said on
  stderr); otherwise the user must choose.
* ``--tiou`` (evaluate): ``0.5:0.95:0.05`` when the ground truth looks like ActivityNet (a subset is named
  ``training`` or ``validation``), else the THUMOS14 ``0.1:0.9:0.1``.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING, Any

from ecm.errors import InputError

if TYPE_CHECKING:
    from ecm.data.annotations import VideoAnnotation
    from ecm.evaluation.detection import DetectionTable, GroundTruthTable

log = logging.getLogger(__name__)

_ACTIVITYNET_SUBSETS = frozenset({"training", "validation"})


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` and ``diagnose`` sub-commands."""
    evaluate = subparsers.add_parser(
        "evaluate",
        help="mAP of a prediction file (ActivityNet detection protocol)",
        description=(
            "Score predictions with the ActivityNet detection protocol: mAP per tIoU and the usual averages. "
            "Ties (equal scores, equal tIoUs) are broken exactly as the official ActivityNet evaluator breaks "
            "them, unless --ties stable."
        ),
    )
    _add_common(evaluate)
    evaluate.add_argument(
        "--tiou",
        metavar="LIST",
        help=(
            "tIoU thresholds: first:last:step (last included) or a,b,c; default 0.1:0.9:0.1, or 0.5:0.95:0.05 "
            "when the ground truth has a 'training' or 'validation' subset (ActivityNet)"
        ),
    )
    evaluate.add_argument("--per-class", action="store_true", help="also report AP per class")
    evaluate.add_argument(
        "--ties",
        choices=("official", "stable"),
        default="official",
        help=(
            "official (default): equal scores and equal tIoUs are ordered as the official evaluator's "
            "argsort()[::-1] orders them, so the numbers are its own; stable: equal scores keep the file "
            "order (videos, then each list) and equal tIoUs go to the instance first in the ground truth"
        ),
    )
    evaluate.set_defaults(func=run_evaluate)

    diagnose = subparsers.add_parser(
        "diagnose",
        help="false-positive error breakdown (TP/double detection/wrong label/localization/confusion/background)",
        description=(
            "Classify the top 10×(instances) predictions of each class at one tIoU and report the share of each "
            "error type and the mAP gained by removing it."
        ),
    )
    _add_common(diagnose)
    diagnose.add_argument("--tiou", metavar="T", default="0.5", help="the tIoU threshold (default 0.5)")
    diagnose.set_defaults(func=run_diagnose)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, metavar="GT.json", help="ActivityNet-style ground truth")
    parser.add_argument(
        "--pred", required=True, metavar="PRED.json", help="predictions (ActivityNet result format)"
    )
    parser.add_argument(
        "--subset", help="ground-truth subset to evaluate (default: see `ecm evaluate --help`)"
    )
    parser.add_argument(
        "--ambiguous",
        metavar="FILE",
        help="drop predictions overlapping these spans of the same video (THUMOS14 Ambiguous_test.txt; W-TALC style)",
    )
    parser.add_argument(
        "--ignore-unknown-labels",
        action="store_true",
        help="drop predictions whose label is not in the ground truth instead of failing",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def choose_subset(videos: dict[str, VideoAnnotation], requested: str | None, path: str) -> str:
    """The subset to evaluate: ``requested``, the only one present, else ``test``/``validation``."""
    subsets = sorted({v.subset for v in videos.values()})
    if not subsets:
        raise InputError(path, "the ground truth has no videos")
    if requested is not None:
        if requested not in subsets:
            raise InputError(path, f"no video in subset {requested!r} (subsets: {', '.join(subsets)})")
        return requested
    if len(subsets) == 1:
        return subsets[0]
    for name in ("test", "validation"):
        if name in subsets:
            return name
    raise InputError(path, f"several subsets ({', '.join(subsets)}): choose one with --subset")


def _load(args: argparse.Namespace) -> tuple[GroundTruthTable, DetectionTable, str, frozenset[str]]:
    """Ground truth of the chosen subset, the filtered predictions, the subset and all subset names."""
    from ecm.data.annotations import load_activitynet_json, load_thumos_ambiguous
    from ecm.evaluation.detection import GroundTruthTable, drop_overlapping
    from ecm.evaluation.io import drop_unknown_labels, read_predictions

    videos = load_activitynet_json(args.gt)
    subset = choose_subset(videos, args.subset, args.gt)
    gt = GroundTruthTable.from_annotations(videos, subset)
    if not len(gt.video):
        raise InputError(args.gt, f"subset {subset!r} has no annotated action instance")
    table = read_predictions(args.pred)
    table, unknown = drop_unknown_labels(
        table, gt.known_labels, ignore=args.ignore_unknown_labels, path=args.pred
    )
    if unknown:
        log.warning("ecm: dropped %d prediction(s) whose label is not in the ground truth", unknown)
    if args.ambiguous:
        table, ambiguous = drop_overlapping(table, load_thumos_ambiguous(args.ambiguous))
        log.info("ecm: dropped %d prediction(s) overlapping ambiguous spans", ambiguous)
    if args.subset is None and len(subsets := sorted({v.subset for v in videos.values()})) > 1:
        log.info("ecm: evaluating subset %r of %s (--subset to choose)", subset, ", ".join(subsets))
    outside = len(set(table.video_ids) - set(gt.video_ids))
    if outside:
        log.info(
            "ecm: %d predicted video(s) are not in subset %r: their predictions are false positives",
            outside,
            subset,
        )
    return gt, table, subset, frozenset(v.subset for v in videos.values())


def default_tious(subsets: frozenset[str]) -> str:
    """``0.5:0.95:0.05`` for ActivityNet-like ground truth (a training/validation subset), else ``0.1:0.9:0.1``."""
    from ecm.evaluation.result import ACTIVITYNET_TIOUS, THUMOS_TIOUS

    return ACTIVITYNET_TIOUS if subsets & _ACTIVITYNET_SUBSETS else THUMOS_TIOUS


def run_evaluate(args: argparse.Namespace) -> int:
    """``ecm evaluate``: print mAP per tIoU and the averages (table or ``--json``)."""
    from ecm.evaluation.detection import evaluate_detections
    from ecm.evaluation.result import format_table, parse_tious

    requested = parse_tious(args.tiou) if args.tiou is not None else None  # a bad --tiou fails first
    gt, table, subset, subsets = _load(args)
    tious = requested if requested is not None else parse_tious(default_tious(subsets))
    result = evaluate_detections(gt, table, tious, ties=args.ties)
    if args.json:
        print(json.dumps(result.to_json(per_class=args.per_class)))
        return 0
    print(
        f"subset {subset}: {len(gt.video_ids)} videos, {len(gt.class_names)} classes, {len(gt.video)} instances; "
        f"{result.num_predictions} predictions scored"
    )
    print(format_table(result, per_class=args.per_class))
    return 0


def run_diagnose(args: argparse.Namespace) -> int:
    """``ecm diagnose``: print the error breakdown at one tIoU (table or ``--json``)."""
    from ecm.evaluation.diagnosis import diagnose_errors
    from ecm.evaluation.result import parse_tious

    tious = parse_tious(args.tiou)
    if len(tious) != 1:
        raise InputError(None, f"--tiou {args.tiou!r}: diagnose takes one threshold")
    gt, table, _, _ = _load(args)
    result = diagnose_errors(gt, table, tious[0])
    print(json.dumps(result.to_json()) if args.json else result.format_table())
    return 0
