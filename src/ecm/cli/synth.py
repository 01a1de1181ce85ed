"""``ecm synth OUT --preset NAME``: write a synthetic dataset folder in the common feature layout."""

from __future__ import annotations

import argparse
from typing import Any

from ecm.cli.common import print_check_report
from ecm.progress import progress_bar


def register(subparsers: Any) -> None:
    """Add the ``synth`` sub-command."""
    from ecm.data import SYNTH_PRESETS as PRESETS

    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic dataset (real THUMOS14/ActivityNet structure, I3D-like features)",
        description=(
            "Write a synthetic WTAL dataset: gt.json, split files, classes.txt and "
            "features/<split>/{rgb,flow}/VID.npy (float32, snippets × channels). The thumos14 presets use "
            "the real THUMOS14 videos, instances, labels, durations and fps; features follow a documented "
            "model of scene context, peaked action signal, confusable classes, smooth noise, per-video "
            "gain/offset, Ambiguous spans and ReLU sparsity (see `ecm.data.synthetic`)."
        ),
    )
    parser.add_argument("out", help="output folder (must not exist unless --overwrite)")
    parser.add_argument(
        "--preset", choices=PRESETS, default="thumos14-lite", help="dataset to imitate (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed; same seed → identical files (default: 0)"
    )
    parser.add_argument(
        "--feature-dim", type=int, default=None, metavar="D", help="total width D = rgb + flow (even)"
    )
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.05,
        help="activitynet13 only: share of videos kept per subset (default: 0.05)",
    )
    parser.add_argument(
        "--videos",
        type=int,
        default=1000,
        help="corpus only: how many unlabelled videos (features only, to measure localization at scale)",
    )
    parser.add_argument(
        "--set",
        dest="knobs",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="override a feature-model knob of the preset, e.g. context_strength=1.5 (repeatable; "
        "the knobs are the fields of ecm.data.synthetic.SynthConfig, all recorded in OUT/synth.json)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--check", action="store_true", help="run `ecm data check` on the result")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and write the dataset; print a one-line summary."""
    from ecm.data.synth_presets import preset_config, preset_structure, write_dataset
    from ecm.errors import InputError

    if args.seed < 0:
        raise InputError(None, f"--seed must be ≥ 0, got {args.seed}")
    if not 0.0 < args.fraction <= 1.0:
        raise InputError(None, f"--fraction must lie in (0, 1], got {args.fraction}")

    config = preset_config(args.preset, args.feature_dim, args.knobs)
    structure = preset_structure(args.preset, seed=args.seed, fraction=args.fraction, videos=args.videos)
    with progress_bar(len(structure.videos), f"synth {args.preset}", quiet=args.quiet) as bar:
        summary = write_dataset(
            args.out,
            structure,
            config,
            seed=args.seed,
            preset=args.preset,
            overwrite=args.overwrite,
            progress=bar.update,
        )
    print(
        f"wrote {summary.root}: {summary.videos} videos, {summary.snippets} snippets, D={summary.feature_dim}, "
        f"{summary.bytes / 2**20:.1f} MiB in {summary.seconds:.1f} s"
    )
    if args.check:
        from ecm.data.check import check_dataset

        with progress_bar(None, "checking", quiet=args.quiet) as bar:
            report = check_dataset(summary.root, quick=False, progress=bar.update)
        return print_check_report(report)
    return 0
