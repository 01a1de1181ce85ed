"""``ecm train CONFIG.yaml --out RUN``: train a model, evaluating on the test split as it goes."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train a model from a shipped recipe or a YAML config",
        description=(
            "Train ECM (or a variant) from a shipped recipe (`ecm config list`) or a YAML config file. Writes "
            "RUN/config.yaml, "
            "RUN/metrics.jsonl (one line per epoch), RUN/checkpoints/{last,best}.pt and RUN/summary.json "
            "(best-on-test — the paper's protocol —, last-epoch and validation-selected results)."
        ),
    )
    parser.add_argument(
        "config",
        metavar="RECIPE|CONFIG.yaml",
        help="a shipped recipe (thumos14, activitynet13, synthetic-tiny, …; see `ecm config list`) or a YAML file",
    )
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. train.epochs=20 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue RUN from checkpoints/last.pt")
    parser.add_argument("--overwrite", action="store_true", help="delete an existing RUN first")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: train.device)")
    parser.add_argument("--seed", type=int, default=None, help="shorthand for --set train.seed=N")
    parser.add_argument("--epochs", type=int, default=None, help="shorthand for --set train.epochs=N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and print the run summary."""
    from ecm.config import load_config
    from ecm.training import Trainer

    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    config = load_config(args.config, overrides)
    trainer = Trainer(
        config, args.out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet, device=args.device
    )
    summary = trainer.fit()
    if not trainer.group.is_main:  # under torchrun, rank 0 reports
        return 0
    for label, chosen in (
        ("best on test (paper protocol)", summary.best_on_test),
        ("last epoch", summary.last),
        ("validation-selected", summary.val_selected),
    ):
        if chosen is None:
            print(f"{label:32s} n/a")
        else:
            print(f"{label:32s} epoch {chosen.epoch:4d}  {summary.metric} {chosen.value:6.2f}")
    if summary.decline is not None:
        print(f"{'best − last (lost after the peak)':32s}             {summary.decline:6.2f}")
    print(json.dumps({"run": str(args.out)}))
    return 0
